/* follow.h - the host's epoll registrations of TCP sockets that may yet be queued (created, not
 * connected, or waiting for a cap slot). A queued socket changes peers in place when its turn
 * comes (policy.c); its registrations are taken off for that moment and put back after, so no
 * epoll set ever sees the passing state. Everything here is guarded by table_mu. Called by
 * interpose (epoll_ctl, closes, connects) and policy (the switch). */
#ifndef CW_FOLLOW_H
#define CW_FOLLOW_H

#include <sys/epoll.h>
#include "table.h"

/* Does epoll_ctl on fd need following? A TCP socket with no connection record, or a queued one.
 * Lock-free: two loads. */
static inline int cw_follow_wanted(int fd) {
  if (CW_LIKELY(!cw_fdflag(fd, CW_FD_TCP)))
    return 0;
  struct cw_conn *c = cw_table_get(fd);
  return c == NULL || __atomic_load_n(&c->queued, __ATOMIC_RELAXED);
}

/* The host's epoll_ctl(epfd, op, fd, ev) succeeded: remember it. */
CW_HIDDEN void cw_follow_ctl_locked(int epfd, int op, int fd, const struct epoll_event *ev);

/* fd no longer names the socket it followed (closed, replaced) or no longer needs following
 * (connected with a slot): forget its registrations. */
CW_HIDDEN void cw_follow_drop_locked(int fd);
static inline void cw_follow_drop_if_locked(int fd) {
  if (CW_UNLIKELY(cw_fdflag(fd, CW_FD_FOLLOW)))
    cw_follow_drop_locked(fd);
}
CW_HIDDEN void cw_follow_drop_range_locked(unsigned first, unsigned last);
/* The same, taking table_mu; nothing (one load) when fd has none. */
CW_HIDDEN void cw_follow_drop_slow(int fd);
static inline void cw_follow_drop(int fd) {
  if (CW_UNLIKELY(cw_fdflag(fd, CW_FD_FOLLOW)))
    cw_follow_drop_slow(fd);
}
CW_HIDDEN void cw_follow_drop_range(unsigned first, unsigned last);

/* Take fd's registrations off their epoll sets (off) and put back those that were there (on). */
CW_HIDDEN void cw_follow_off_locked(int fd);
CW_HIDDEN void cw_follow_on_locked(int fd);

/* After fork the child keeps following what it inherited: its epoll fds are copies naming the
 * same sets, and its sockets the same sockets. */

#endif
