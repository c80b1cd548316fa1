/* reaper.h - the reaper thread: idle and lifetime expiry (shutdown), release after the grace
 * period (dup2 of a dead placeholder), close-wait leaks, and queue timeouts of parked connects.
 * Prepared here; its thread started and reset by lifecycle.c; `reap FD` comes from the server. */
#ifndef CW_REAPER_H
#define CW_REAPER_H

#include "cw.h"

/* Set up (the dead placeholder, the wake-up). 1: ready for lifecycle to start cw_reaper_run on a
 * thread of its own; 0: running already; -errno: failed. */
CW_HIDDEN int cw_reaper_prepare(void);
CW_HIDDEN void *cw_reaper_run(void *arg);
CW_HIDDEN void cw_reaper_abandon(void); /* the thread could not start */
CW_HIDDEN void cw_reaper_wake(void);
CW_HIDDEN void cw_reaper_fork_child(void);

/* Reap the connection on fd now (manual). 0, or -ENOENT when fd is not a tracked connection,
 * -EALREADY when it was reaped already. */
CW_HIDDEN int cw_reaper_reap_fd(int fd);

/* One pass over the table at time now; returns how many connections it acted on. Exposed for
 * tests and the benchmark's tick measurement. */
CW_HIDDEN int cw_reaper_tick(int64_t now);

/* Tree scope: this process's counters into the tree's sums (each round of the reaper; after a
 * `reap`; at exit). No-op outside a tree. */
CW_HIDDEN void cw_reaper_publish_tree(void);

#endif
