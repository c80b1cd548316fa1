/* policy.h - the caps: admit, wait, park, refuse, and give slots to waiters as they free. The
 * queue is guarded by table_mu, because a slot grant must be atomic with the slot counts.
 * Called by interpose (host threads), the reaper (timeouts, grants) and the server (`set`). */
#ifndef CW_POLICY_H
#define CW_POLICY_H

#include <sys/epoll.h>
#include <sys/socket.h>
#include "table.h"

enum cw_admit_result {
  CW_ADMIT_PASS,    /* not policed: connect without a slot */
  CW_ADMIT_OK,      /* a slot is held for this connect: give it back if the connect fails */
  CW_ADMIT_REFUSE,  /* fail now with cap_errno */
  CW_ADMIT_TIMEOUT, /* a blocking connect waited past the queue timeout: ETIMEDOUT */
  CW_ADMIT_PARKED,  /* a non-blocking connect is parked: return EINPROGRESS */
};

struct cw_admit {
  enum cw_admit_result result;
  int policed;
  struct cw_dest *dest;
};

/* Is this outbound connection to peer one the policy acts on (ONLY / EXCLUDE)? */
CW_HIDDEN int cw_policy_scoped(int dir, const struct cw_addr *peer);

/* Decide a connect() of TCP socket fd to sa. May block (a blocking socket at the cap with
 * on_cap=queue), holding no lock while it waits. For a parked fd, the host's socket is kept
 * aside and a never-ready placeholder takes its number until a slot frees or the queue timeout
 * passes; the parked connect then owns *bt. */
CW_HIDDEN void cw_policy_connect(int fd, const struct sockaddr *sa, socklen_t salen,
                                 struct cw_bt **bt, struct cw_admit *ad);

/* Give back the slot of an admitted connect that failed. */
CW_HIDDEN void cw_policy_abandon(struct cw_admit *ad);

/* Hand free slots to waiters, oldest first: wake blocking ones, start parked ones' real
 * connects. Call after anything that may free slots or raise a cap. */
CW_HIDDEN void cw_policy_grant(void);

/* After a close by this thread: give back the slots it deferred (those stacked above mark, the
 * height of cw_table_slots_pending before it began), then grant. */
CW_HIDDEN void cw_policy_closed(int mark);

/* Parked fds: the host's calls on them. */
CW_HIDDEN int cw_policy_connect_again(int fd);            /* -errno to report, 0 none */
CW_HIDDEN int cw_policy_so_error(int fd, int *err);       /* 1 when fd's result is ours */
CW_HIDDEN void cw_policy_epoll_ctl(int epfd, int op, int fd, const struct epoll_event *ev);
CW_HIDDEN void cw_policy_forget(int fd);                  /* fd is being closed or replaced */
CW_HIDDEN void cw_policy_forget_range(unsigned first, unsigned last);

/* Parked connects whose queue timeout passed: fail them. Returns the next deadline (monotonic
 * ns) or INT64_MAX. Called by the reaper. */
CW_HIDDEN int64_t cw_policy_expire(int64_t now);

/* How the reaper is told that the queue changed (a new deadline). Set by the reaper. */
extern CW_HIDDEN void (*cw_policy_on_park)(void);

/* At fork, in the child: the parent's waiters are not ours. */
CW_HIDDEN void cw_policy_fork_child(void);

#endif
