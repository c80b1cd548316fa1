/* lifecycle.h - start-up, fork, exec and exit: the constructor, atfork handlers, the on_exit
 * leak check, the process's identity, and the shim's own fds. The only place threads start. */
#ifndef CW_LIFECYCLE_H
#define CW_LIFECYCLE_H

#include <sys/syscall.h>
#include <sys/types.h>
#include "cw.h"
#include "ownfd.h"
#include "table.h"

/* The pid this copy of the shim belongs to: set at start-up and in a fork child. Written only by
 * those two (single-threaded at that moment); read anywhere. */
extern CW_HIDDEN pid_t cw_pid;
extern CW_HIDDEN int64_t cw_start_ns;

/* Start-up, once: from the constructor, or from the first wrapper that changes the table when
 * that runs earlier (another library's constructor). Not from inside start-up itself. */
CW_HIDDEN void cw_lifecycle_init(void);

/* Are we a vfork child sharing the parent's memory (or any child that did not pass through our
 * atfork handler)? Then the shim must change nothing. Costs one getpid system call: only on the
 * paths that change the table. */
static inline int cw_in_foreign_child(void) {
  if (CW_UNLIKELY(cw_pid == 0))
    cw_lifecycle_init();
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

/* Around exec: remove what would be left behind if the new image does not run the shim, and
 * put it back if exec fails. envp is the new image's environment. */
CW_HIDDEN void cw_lifecycle_before_exec(char *const envp[]);
CW_HIDDEN void cw_lifecycle_exec_failed(void);

#endif
