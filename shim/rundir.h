/* rundir.h - make and check the directory the shim's files live in (rundir.c). */
#ifndef CW_RUNDIR_H
#define CW_RUNDIR_H

#include "cw.h"

/* mkdir -p dir (0700 for what is made), then check it: a run directory (named 0) must be a real
 * directory of this user's, 0700; a directory the user named must be owned by the user or root
 * and writable by no one else. 0, or -errno after one log line (event ev) that starts with off
 * ("stats off") and says why. */
CW_HIDDEN int cw_rundir_ensure(const char *dir, int named, int ev, const char *off);

#endif
