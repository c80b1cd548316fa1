/* statspath.h - the stats socket's path for one process, and the environment mark by which the
 * first process given a CONNWARDEN_STATS path without %p keeps that exact path its own. */
#ifndef CW_STATSPATH_H
#define CW_STATSPATH_H

#include <stddef.h>
#include <sys/types.h>
#include "config.h"

/* Set by the first process (lifecycle.c, at start-up) to "PID:PATH", so that a descendant that
 * execs, and reads CONNWARDEN_STATS afresh, knows the exact path is taken. */
#define CW_STATS_OWNER_VAR "CONNWARDEN_STATS_OWNER"

/* cfg->stats_path for process pid: RUNDIR/PID.sock by default; else cfg->stats_spec with each %p
 * replaced by the PID and, when it has no %p, ".PID" appended unless cfg->stats_first; cfg->rundir
 * becomes its directory. 0, or -ENAMETOOLONG when the path does not fit in sun_path (stats_path
 * then holds it uncut). Writes only cfg, allocates nothing: safe in a fork child. */
CW_HIDDEN int cw_statspath_build(struct cw_config *cfg, pid_t pid);

/* Is process pid, given path, a descendant of the process that took path first, by the mark
 * (CW_STATS_OWNER_VAR's value, or NULL)? A mark for another path, or not one at all, is none. */
CW_HIDDEN int cw_statspath_is_descendant(const char *mark, const char *path, pid_t pid);

/* Should process pid, configured as cfg, mark the environment? 1 with the mark in out, else 0 (no
 * explicit path, a %p in it, not the first process, or no room in out). */
CW_HIDDEN int cw_statspath_mark(const struct cw_config *cfg, pid_t pid, char *out, size_t outlen);

#endif
