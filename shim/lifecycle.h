/* lifecycle.h - start-up, fork, exec and exit: the constructor, atfork handlers, the on_exit
 * leak check, the process's identity, and the shim's own fds. The only place threads start. */
#ifndef CW_LIFECYCLE_H
#define CW_LIFECYCLE_H

#include <sys/syscall.h>
#include <sys/types.h>
#include "cw.h"
#include "table.h"

/* The pid this copy of the shim belongs to: set at start-up and in a fork child. Written only by
 * those two (single-threaded at that moment); read anywhere. */
extern CW_HIDDEN pid_t cw_pid;
extern CW_HIDDEN int64_t cw_start_ns;

/* Are we a vfork child sharing the parent's memory (or any child that did not pass through our
 * atfork handler)? Then the shim must change nothing. Costs one getpid system call: only on the
 * paths that change the table. */
static inline int cw_in_foreign_child(void) {
  return (pid_t)cw_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0) != cw_pid;
}

/* Make sure the stats server runs (first TCP connection or listener of this process). */
extern CW_HIDDEN int cw_server_wanted;
CW_HIDDEN void cw_lifecycle_start_server(void);
static inline void cw_lifecycle_want_server(void) {
  if (CW_UNLIKELY(!__atomic_load_n(&cw_server_wanted, __ATOMIC_ACQUIRE)))
    cw_lifecycle_start_server();
}

/* In the child, right after fork() returned 0 through our wrapper: restart what the parent ran. */
CW_HIDDEN void cw_lifecycle_fork_child(void);

/* Around execve: remove what would be left behind if the new image does not run the shim, and
 * put it back if exec fails. */
CW_HIDDEN void cw_lifecycle_before_exec(void);
CW_HIDDEN void cw_lifecycle_exec_failed(void);

/* The shim's own fds (stats listener, wake-up eventfd, clients). The host cannot close them:
 * close() reports EBADF as for an fd it never opened, close_range() and closefrom() go around
 * them, and dup2() onto one moves ours to another number first. Each is registered by the
 * address of the variable that holds it, so a move updates its owner. */
#define CW_OWN_MAX 40
extern CW_HIDDEN unsigned char *cw_own_map; /* fd -> 1 when ours; sized like the slot array */
extern CW_HIDDEN int cw_own_count;          /* how many are registered: a fast "none" */
CW_HIDDEN int cw_own_add(int *ref);         /* 0 or -ENOSPC */
CW_HIDDEN void cw_own_del(int *ref);
CW_HIDDEN int cw_own_list(int *out, int max); /* the fds, unsorted */
CW_HIDDEN void cw_own_relocate(int fd);       /* move our fd off this number */
CW_HIDDEN int cw_own_high_fd(int fd);         /* move fd to a high number; returns the new fd */
static inline int cw_own_is(int fd) {
  if (CW_LIKELY(__atomic_load_n(&cw_own_count, __ATOMIC_RELAXED) == 0))
    return 0;
  return cw_own_map && (unsigned)fd < cw_slot_cap && __atomic_load_n(&cw_own_map[fd], __ATOMIC_RELAXED);
}

#endif
