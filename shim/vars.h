/* vars.h - the CONNWARDEN_* variable names: which are known, and the start-up check that refuses
 * an unknown one (naming the closest known variable). */
#ifndef CW_VARS_H
#define CW_VARS_H

#include <stddef.h>
#include "cw.h"

/* Check every CONNWARDEN_* entry of envp (NAME=VALUE strings, NULL-terminated; NULL is empty).
 * 0, or -EINVAL with one line in err: an unknown name, with the closest known variable when one
 * is close. */
CW_HIDDEN int cw_vars_check(char *const *envp, char *err, size_t errlen);

/* Is name a CONNWARDEN_* variable connwarden knows (read by the library or the command, the
 * library's own mark, or named by the contract)? */
CW_HIDDEN int cw_vars_known(const char *name);

/* The known variable closest to name (len bytes, CONNWARDEN_ and more), ignoring case, or NULL
 * when none is close enough to be what was meant. The library's own mark is never offered. */
CW_HIDDEN const char *cw_vars_closest(const char *name, size_t len);

#endif
