/* policy.h - the caps: admit, queue, refuse, and give slots to the queue as they free. The queue
 * is guarded by table_mu, because a slot grant must be atomic with the slot counts. Called by
 * interpose (host threads), the reaper (timeouts, grants), snapshot and the server (`set`).
 * How a queued connect stays indistinguishable from a connect in progress: policy.c's contract. */
#ifndef CW_POLICY_H
#define CW_POLICY_H

#include <sys/socket.h>
#include "table.h"

enum cw_admit_result {
  CW_ADMIT_PASS,   /* not policed: connect without a slot */
  CW_ADMIT_OK,     /* a slot is held for this connect: give it back if the connect fails */
  CW_ADMIT_REFUSE, /* fail now with cap_errno */
  CW_ADMIT_QUEUED, /* queued (record id): non-blocking, EINPROGRESS now; blocking, wait in connect */
};

struct cw_admit {
  enum cw_admit_result result;
  int policed;
  struct cw_dest *dest;
  uint64_t id;  /* CW_ADMIT_QUEUED: the queued record */
  int nonblock; /* CW_ADMIT_QUEUED: the socket's mode, read under table_mu (a granter flips it) */
  uint64_t ino; /* the socket's inode */
};

/* Is this connection to peer (named host at port hport; host NULL or "" when no name is known)
 * one the policy acts on (ONLY / EXCLUDE)? */
CW_HIDDEN int cw_policy_scoped(int dir, const struct cw_addr *peer, const char *host, uint16_t hport);

/* Decide a connect() of the TCP socket fd (probed into info) to sa. Never blocks. A queued
 * connect's record takes info->bt. */
CW_HIDDEN void cw_policy_connect(int fd, const struct sockaddr *sa, socklen_t salen,
                                 struct cw_conn_info *info, struct cw_admit *ad);

/* Give back the slot of an admitted connect that failed. */
CW_HIDDEN void cw_policy_abandon(struct cw_admit *ad);

/* Where a queued connect (fd, record id) stands, for a thread that waited in connect() on it.
 * FAILED fills *err and forgets the record (the failure is reported). */
enum { CW_Q_GONE, CW_Q_WAITING, CW_Q_STARTED, CW_Q_FAILED };
CW_HIDDEN int cw_policy_queued_state(int fd, uint64_t id, int *err);

/* The real connect of a granted queued connect failed: the connection ends, its slot goes on. */
CW_HIDDEN void cw_policy_connect_failed(int fd, uint64_t id);

/* Is fd non-blocking? Read under table_mu: a granter sets O_NONBLOCK on a queued socket for the
 * moment of its switch, and a wrapper must not take that moment for the program's mode. */
CW_HIDDEN int cw_policy_nonblocking(int fd);

/* Hand free slots to the queue, oldest first. Call after anything that may free slots or raise a
 * cap. */
CW_HIDDEN void cw_policy_grant(void);

/* After a close by this thread: give back the slots it deferred (those stacked above mark, the
 * height of cw_table_slots_pending before it began), then grant. */
CW_HIDDEN void cw_policy_closed(int mark);

/* Queued connects whose queue timeout passed: fail them. Returns the next deadline (monotonic
 * ns) or INT64_MAX. Called by the reaper. */
CW_HIDDEN int64_t cw_policy_expire(int64_t now);

/* For snapshots: the milliseconds waited so far by connects still waiting, and when a queued
 * record began to wait. Caller holds table_mu. */
CW_HIDDEN int64_t cw_policy_waiting_ms_locked(int64_t now);
CW_HIDDEN int64_t cw_policy_queued_since_locked(const struct cw_conn *c);

/* The oldest queued connect that no slot fits, for eviction and the starvation warning: its
 * destination (scope: 1 when the process cap holds it, 0 when its destination's cap does), when
 * it began to wait, and how many wait for that destination. 0 when the queue moves. Caller holds
 * table_mu. */
struct cw_stuck {
  struct cw_dest *dest;
  struct cw_dkey key; /* the destination */
  int global;
  int64_t since_ns;
  int waiting;
};
CW_HIDDEN int cw_policy_stuck_locked(struct cw_stuck *out);

/* grant, for a caller that holds table_mu. */
CW_HIDDEN void cw_policy_grant_locked(void);

/* The first bytes written on connection id (on fd) say it is for host at port (0: the peer's),
 * through a proxy when via: it is named so (names.h), policed by the filters its name matches,
 * and (DEST_BY=name) counted under that destination from now on. */
CW_HIDDEN void cw_policy_named(int fd, uint64_t id, const char *host, uint16_t port, int via);

/* How the reaper is told that the queue changed (a new deadline). Set by the reaper when it is
 * prepared (an atomic store; read with an atomic load). */
extern CW_HIDDEN void (*cw_policy_on_park)(void);

/* exec: a queued connect whose fd survives exec goes on waiting in the new program's shim, which
 * adopts it at start-up (adopt_carried returns how many); exec_failed undoes before_exec. */
CW_HIDDEN void cw_policy_before_exec(void);
CW_HIDDEN void cw_policy_exec_failed(void);
CW_HIDDEN int cw_policy_adopt_carried(void);

/* Once, at start-up: the table tells policy when a queued record's last fd goes. */
CW_HIDDEN void cw_policy_init(void);

/* At fork, in the parent (table_mu held): before it (tree scope: the child's place in the tree,
 * holding every socket it inherits from the first instant; own_mu not held), and after it (queued
 * sockets may now be shared with a child). */
CW_HIDDEN void cw_policy_fork_prepare(void);
CW_HIDDEN void cw_policy_forked(void);

/* At fork, in the child: the parent's queue is not ours. */
CW_HIDDEN void cw_policy_fork_child(void);

#endif
