/* ownfd.h - the shim's own fds (stats listener and clients, wake-ups, parked sockets, the dead
 * placeholder). The host cannot close them: close() reports EBADF as for an fd it never opened,
 * close_range() and closefrom() go around them, and dup2() onto one moves ours to another number
 * first. Each is registered by the address of the variable that holds it, so a move updates its
 * owner. own_mu is a leaf lock. */
#ifndef CW_OWNFD_H
#define CW_OWNFD_H

#include "table.h"

#define CW_OWN_MAX 1024
extern CW_HIDDEN int cw_own_count;            /* how many are registered: a fast "none" */
CW_HIDDEN int cw_own_add(int *ref);           /* 0 or -ENOSPC */
CW_HIDDEN void cw_own_del(int *ref);
CW_HIDDEN int cw_own_list(int *out, int max); /* the fds, unsorted */
CW_HIDDEN void cw_own_relocate(int fd);       /* move our fd off this number */
CW_HIDDEN int cw_own_high_fd(int fd);         /* move fd out of the host's way; returns the new fd */
/* accept4(lfd, NONBLOCK|CLOEXEC), past the soft fd limit when the host has used it all */
CW_HIDDEN int cw_own_accept(int lfd);
CW_HIDDEN void cw_own_fork_child(void);       /* re-create own_mu */
CW_HIDDEN void cw_own_lock(void);             /* for fork: prepare / parent */
CW_HIDDEN void cw_own_unlock(void);

static inline int cw_own_is(int fd) {
  if (CW_LIKELY(__atomic_load_n(&cw_own_count, __ATOMIC_RELAXED) == 0))
    return 0;
  return cw_fdflag(fd, CW_FD_OWN);
}

#endif
