/* policy.c - the caps. Admits a connect when the process and destination caps allow; otherwise
 * refuses it or queues it, and hands freed slots to the queue oldest first. Called by interpose
 * (host threads), the reaper (queue timeouts, grants) and the server (`set`). The queue is
 * guarded by table_mu: a grant must be atomic with the slot counts. Under it only non-blocking
 * system calls are made.
 *
 * Why a queued connect looks exactly like a connect in progress: it is one. The host's own socket
 * starts a connect to a black hole of the shim's (a loopback listener whose accept queue is
 * full: the kernel drops its SYNs), so it sits in SYN_SENT, and every call the host makes on it,
 * poll, select, epoll in any mode and any order, reads, writes, SO_ERROR, getpeername, dup,
 * shutdown, fork, exec, is answered by the kernel as for a slow peer. Nothing is swapped and no
 * fd is borrowed: the host's fd budget is untouched and its number always names its own socket.
 * When the slot comes, the granting thread switches the socket to its real peer: connect
 * AF_UNSPEC, then the real connect (non-blocking), on the same socket. That switch is the one
 * moment the kernel shows what a slow peer never would (CLOSE with ECONNRESET, for a few
 * microseconds), so it runs under table_mu with cw_switch_gen odd, the host's epoll registrations
 * of the socket taken off around it (follow.c), and the poll/select/SO_ERROR wrappers look again
 * when a switch ran while they looked. A blocking connect at the cap is the same queued connect,
 * with the host's thread waiting in the kernel's own connect: the switch wakes it, and it waits
 * again for the real connect; signals, SO_SNDTIMEO and cancellation act on it as on any connect.
 * At the queue timeout a non-blocking one is switched to a loopback port that refuses (a bound
 * socket that does not listen): it fails as a refused connect does. */
#define _GNU_SOURCE
#include "policy.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "follow.h"
#include "lifecycle.h"
#include "log.h"
#include "ownfd.h"
#include "real.h"
#include "sock.h"
#include "tree.h"

#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif

union cw_sa {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
};

/* A queued connect: the record's place in the queue, and what its real connect needs. */
struct cw_wait {
  struct cw_wait *next, *prev; /* the queue, oldest first */
  struct cw_conn *rec;
  struct cw_dest *dest;
  int64_t since_ns, deadline_ns;
  union cw_sa to;
  socklen_t tolen;
  int fastopen; /* TCP_FASTOPEN_CONNECT was on: off while queued, on again for the real connect */
  unsigned gen; /* the process's fork count when it queued */
  /* An orphan: this process closed its last fd of it after forking, so another process may still
   * hold the socket and wait for it. It keeps its place through an own fd (rec NULL), and its turn
   * starts the real connect for whoever holds it, with no slot here. */
  int own;
  uint64_t own_ino;
  /* Tree scope: its place in the tree's queue (tree.h), the socket it is for, and whether its
   * grant is taken (the slot goes on with the connection) or came before it had a place. */
  int tidx;
  uint64_t ino;
  int taken, granted;
};

/* guarded by table_mu */
static struct cw_wait *head, *tail;
static unsigned forks; /* forks this process made: a queued socket may since be shared */

/* Set once by the reaper as it is prepared, atomically: a host thread may park a connect while
 * another one starts the reaper (that park finds it NULL; the reaper's first round sees it). */
void (*cw_policy_on_park)(void);

int cw_policy_scoped(int dir, const struct cw_addr *peer, const char *host, uint16_t hport) {
  if (host && !*host)
    host = NULL;
  if (cw_cfg.n_only && !cw_filters_match(cw_cfg.only, cw_cfg.n_only, dir, peer, host, hport))
    return 0;
  if (cw_cfg.n_exclude && cw_filters_match(cw_cfg.exclude, cw_cfg.n_exclude, dir, peer, host, hport))
    return 0;
  return 1;
}

/* ---- slots ---------------------------------------------------------------------------------- */

static int global_full(void) {
  int64_t max = cw_cfg_get(&cw_cfg.max_conns);
  return max && cw_tab.c.slots >= max;
}

static int fits(const struct cw_dest *d) {
  int64_t maxd = cw_cfg_get(&cw_cfg.max_conns_per_dest);
  return !global_full() && !(maxd && d && d->slots >= maxd);
}

static void take(struct cw_dest *d) {
  cw_tab.c.slots++;
  if (d)
    d->slots++;
}

static void count_refused(struct cw_dest *d, const struct cw_conn_info *info, int fd, const char *why) {
  cw_tab.c.refused++;
  if (d)
    d->refused++;
  char p[CW_WHERE_STRLEN];
  cw_log(CW_LOG_WARN, CW_EV_REFUSED, "refused: connect fd %d to %s %s (cap %lld, per destination %lld)", fd,
         cw_where(&info->peer, info->host, info->peer.port, 0, p, sizeof p), why,
         (long long)cw_cfg_get(&cw_cfg.max_conns), (long long)cw_cfg_get(&cw_cfg.max_conns_per_dest));
}

static void count_timeout(struct cw_conn *c) {
  cw_tab.c.queue_timeouts++;
  if (c->wait && c->wait->dest)
    c->wait->dest->refused++;
  char p[CW_WHERE_STRLEN];
  cw_log(CW_LOG_WARN, CW_EV_QUEUE_TIMEOUT, "queue timeout: connect fd %d to %s waited %lldms for a slot",
         c->fd, cw_where_conn(c, p, sizeof p), (long long)cw_cfg.queue_timeout_ms);
}

/* ---- the queue ------------------------------------------------------------------------------ */

static void enqueue(struct cw_wait *w) {
  w->next = NULL;
  w->gen = forks;
  w->own = -1;
  w->prev = tail;
  if (tail)
    tail->next = w;
  else
    head = w;
  tail = w;
  cw_tab.c.waited++;
  __atomic_store_n(&cw_tab.c.queued, cw_tab.c.queued + 1, __ATOMIC_RELAXED);
}

/* Take w off the queue and free it; the wait it did counts. Its record keeps no pointer to it. */
static void dequeue(struct cw_wait *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    tail = w->prev;
  __atomic_store_n(&cw_tab.c.queued, cw_tab.c.queued - 1, __ATOMIC_RELAXED);
  cw_tab.c.wait_ms += (cw_now() - w->since_ns) / 1000000;
  if (w->rec && w->rec->wait == w)
    w->rec->wait = NULL;
  if (w->own >= 0) {
    cw_own_del(&w->own);
    CW_REAL(close)(w->own);
  }
  if (cw_tree_on && w->tidx >= 0)
    cw_tree_dequeue(w->tidx, w->ino, w->taken); /* a grant not taken goes on to the next */
  cw_table_defer_free(w);
}

/* The table tells us a queued or failed record lost its last fd (the host closes it now). If the
 * process forked since it queued, a child may hold the same socket and wait for it as for any
 * connect in progress: the wait goes on as an orphan (see struct cw_wait). */
static void on_unqueue(struct cw_conn *c) {
  struct cw_wait *w = c->wait;
  if (!c->queued || !w)
    return;
  w->rec = NULL;
  c->wait = NULL;
  if (w->gen != forks && cw_sock_ino(c->fd) == c->ino) {
    int d = CW_REAL(fcntl)(c->fd, F_DUPFD_CLOEXEC, 3);
    if (d >= 0) {
      w->own = cw_own_high_fd(d);
      w->own_ino = c->ino;
      if (cw_own_add(&w->own) == 0)
        return;
      CW_REAL(close)(w->own);
      w->own = -1;
    }
  }
  dequeue(w);
}

void cw_policy_fork_prepare(void) {
  if (cw_tree_on)
    cw_tree_fork_prepare();
}

void cw_policy_forked(void) { forks++; }

int64_t cw_policy_waiting_ms_locked(int64_t now) {
  int64_t ms = 0;
  for (struct cw_wait *w = head; w; w = w->next)
    ms += (now - w->since_ns) / 1000000;
  return ms;
}

int64_t cw_policy_queued_since_locked(const struct cw_conn *c) {
  return c->queued && c->wait ? c->wait->since_ns : 0;
}

/* ---- the black hole and the refusing port --------------------------------------------------- */

/* Per family ([0] IPv4, [1] IPv6): a listener whose accept queue is full (listen backlog 0 and
 * one connection in it that nobody accepts), and a bound socket that does not listen. Made on the
 * first queued connect, kept for the process's life; own fds, out of the host's way. */
struct hole {
  int lfd, filler, refuser;
  union cw_sa at, refuse;
  socklen_t len;
  int tried;
};
static struct hole holes[2] = {{-1, -1, -1, {{0}}, {{0}}, 0, 0}, {-1, -1, -1, {{0}}, {{0}}, 0, 0}};

static void loopback(union cw_sa *a, int v6) {
  memset(a, 0, sizeof *a);
  if (v6) {
    a->in6.sin6_family = AF_INET6;
    a->in6.sin6_addr = in6addr_loopback;
  } else {
    a->in.sin_family = AF_INET;
    a->in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
}

static int own_socket(int fam, int *ref) {
  int fd = CW_REAL(socket)(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  *ref = cw_own_high_fd(fd);
  if (cw_own_add(ref) < 0) {
    CW_REAL(close)(*ref);
    *ref = -1;
    return -1;
  }
  return 0;
}

static void own_close(int *ref) {
  if (*ref < 0)
    return;
  cw_own_del(ref);
  CW_REAL(close)(*ref);
  *ref = -1;
}

static void hole_close(struct hole *h) {
  own_close(&h->lfd);
  own_close(&h->filler);
  own_close(&h->refuser);
}

static int hole_open(struct hole *h, int v6) {
  int fam = v6 ? AF_INET6 : AF_INET;
  h->len = v6 ? sizeof h->at.in6 : sizeof h->at.in;
  loopback(&h->at, v6);
  loopback(&h->refuse, v6);
  socklen_t l = h->len;
  if (own_socket(fam, &h->lfd) < 0 || CW_RAW(SYS_bind, h->lfd, &h->at, h->len) < 0 ||
      CW_REAL(listen)(h->lfd, 0) < 0 || CW_RAW(SYS_getsockname, h->lfd, &h->at.sa, &l) < 0)
    goto fail;
  /* the filler fills the accept queue: on loopback its handshake completes at once */
  if (own_socket(fam, &h->filler) < 0)
    goto fail;
  if (CW_REAL(connect)(h->filler, &h->at.sa, h->len) < 0 && errno != EINPROGRESS)
    goto fail;
  struct pollfd p = {.fd = h->filler, .events = POLLOUT};
  if (CW_RAW(SYS_poll, &p, 1, 1000) != 1 || (p.revents & (POLLERR | POLLHUP)))
    goto fail;
  l = h->len;
  if (own_socket(fam, &h->refuser) < 0 || CW_RAW(SYS_bind, h->refuser, &h->refuse, h->len) < 0 ||
      CW_RAW(SYS_getsockname, h->refuser, &h->refuse.sa, &l) < 0)
    goto fail;
  return 0;
fail:
  hole_close(h);
  return -1;
}

/* The hole a socket of this family can reach: an IPv6 socket uses the IPv6 hole, or the IPv4 one
 * through a mapped address when the machine has no IPv6 loopback. */
static int hole_for(int fam, union cw_sa *at, union cw_sa *refuse, socklen_t *len) {
  int v6 = fam == AF_INET6;
  for (int i = v6; i >= 0; i--) {
    struct hole *h = &holes[i];
    if (h->lfd < 0 && !h->tried) {
      h->tried = 1;
      hole_open(h, i);
    }
    if (h->lfd < 0)
      continue;
    if (i == v6) {
      *at = h->at;
      *refuse = h->refuse;
      *len = h->len;
      return 0;
    }
    /* an IPv6 socket to the IPv4 hole: ::ffff:127.0.0.1 */
    for (int k = 0; k < 2; k++) {
      union cw_sa *out = k ? refuse : at;
      const union cw_sa *src = k ? &h->refuse : &h->at;
      memset(out, 0, sizeof *out);
      out->in6.sin6_family = AF_INET6;
      out->in6.sin6_port = src->in.sin_port;
      out->in6.sin6_addr.s6_addr[10] = 0xff;
      out->in6.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&out->in6.sin6_addr.s6_addr[12], &src->in.sin_addr, 4);
    }
    *len = sizeof at->in6;
    return 0;
  }
  return -1;
}

/* ---- moving a socket between peers ---------------------------------------------------------- */

/* connect fd to sa without blocking, whatever the host's mode: the file's flags are changed for
 * the call only (under table_mu; a thread blocked in connect() on it keeps the timeout it entered
 * with). Returns 0 (connected or in progress) or -errno. */
static int connect_nonblocking(int fd, const struct sockaddr *sa, socklen_t len, int strict) {
  int fl = CW_REAL(fcntl)(fd, F_GETFL);
  if (fl >= 0 && !(fl & O_NONBLOCK))
    CW_REAL(fcntl)(fd, F_SETFL, fl | O_NONBLOCK);
  int rc = CW_REAL(connect)(fd, sa, len), err = rc < 0 ? errno : 0;
  if (fl >= 0 && !(fl & O_NONBLOCK))
    CW_REAL(fcntl)(fd, F_SETFL, fl);
  if (rc < 0 && err != EINPROGRESS && (strict || (err != EALREADY && err != EISCONN)))
    return -err;
  return strict && rc == 0 ? -EISCONN : 0;
}

/* Every fd number naming c: the one, or all when it was dup'd. */
#define FOREACH_FD(c, i)                                                                           \
  for (int i = (c)->nfds > 1 ? 0 : (c)->fd; i < ((c)->nfds > 1 ? cw_tab.hiwater : (c)->fd + 1); i++) \
    if (cw_slots[i] == (c))

/* Move the socket of c (or of an orphan's own fd, c NULL) from the black hole to sa (its real
 * peer, or the refusing port), or only off the hole when sa is NULL. Returns 0 or -errno of the
 * new connect. */
static int switch_locked(struct cw_conn *c, int fd, const struct sockaddr *sa, socklen_t len) {
  static const struct sockaddr unspec = {.sa_family = AF_UNSPEC};
  __atomic_store_n(&cw_switch_gen, cw_switch_gen + 1, __ATOMIC_RELEASE); /* odd: switching */
  if (c)
    FOREACH_FD(c, i) cw_follow_off_locked(i);
  CW_REAL(connect)(fd, &unspec, sizeof unspec);
  int rc = sa ? connect_nonblocking(fd, sa, len, 0) : 0;
  if (c)
    FOREACH_FD(c, i) cw_follow_on_locked(i);
  __atomic_store_n(&cw_switch_gen, cw_switch_gen + 1, __ATOMIC_RELEASE);
  return rc;
}

static int is_blocking(int fd) {
  int fl = CW_REAL(fcntl)(fd, F_GETFL);
  return fl >= 0 && !(fl & O_NONBLOCK);
}

/* c's connect failed: at the queue timeout, or its real connect failed at once (err). A
 * non-blocking socket is sent to the refusing port, so the kernel reports the failure the way
 * it reports a refused connect (EPOLLERR, SO_ERROR, the next read or write); the wrappers turn its
 * ECONNREFUSED into err. A blocking one is taken off the hole: the thread waiting in connect()
 * wakes and returns err. The record stays on the fd, counted
 * nowhere, until the host closes it. */
static void fail_locked(struct cw_conn *c, int err) {
  union cw_sa at, refuse;
  socklen_t len;
  int blocking = is_blocking(c->fd);
  /* marked before the socket fails, so that the wrappers never see its refusal untranslated */
  __atomic_store_n(&c->acked, (uint32_t)err, __ATOMIC_RELAXED);
  __atomic_store_n(&c->failed, 1, __ATOMIC_RELEASE); /* read lock-free by the wrappers */
  __atomic_store_n(&c->queued, 0, __ATOMIC_RELAXED);
  if (!blocking && hole_for(c->peer.family == AF_INET6 ? AF_INET6 : AF_INET, &at, &refuse, &len) == 0)
    switch_locked(c, c->fd, &refuse.sa, len);
  else
    switch_locked(c, c->fd, NULL, 0);
  if (c->wait)
    dequeue(c->wait);
}

/* The errno a queued connect reports at its queue timeout: a blocking connect() returns
 * ETIMEDOUT; a non-blocking one fails as refused, with the cap errno. */
static int timeout_errno(struct cw_conn *c) { return is_blocking(c->fd) ? ETIMEDOUT : cw_cfg.cap_errno; }

/* Is fd still the socket ino, still connecting to the hole? (The host may have shut it down,
 * or closed its number where no wrapper saw it.) */
static int still_queued(int fd, uint64_t ino) {
  if (cw_sock_ino(fd) != ino)
    return 0;
  struct tcp_info ti;
  socklen_t l = sizeof ti;
  return CW_REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 &&
         ti.tcpi_state == TCP_SYN_SENT;
}

/* An orphan's turn (start its real connect), or its timeout (fail it as refused): then it leaves
 * the queue. No slot: the connection is not this process's. */
static void orphan_done(struct cw_wait *w, int turn) {
  union cw_sa at, refuse;
  socklen_t len;
  if (still_queued(w->own, w->own_ino)) {
    if (turn)
      switch_locked(NULL, w->own, &w->to.sa, w->tolen);
    else if (hole_for(w->to.sa.sa_family, &at, &refuse, &len) == 0)
      switch_locked(NULL, w->own, &refuse.sa, len);
  }
  dequeue(w);
}

/* The slot is w's (taken): start its real connect. */
static void hand_over(struct cw_wait *w) {
  struct cw_conn *c = w->rec;
  if (w->fastopen) {
    int on = 1;
    CW_RAW(SYS_setsockopt, c->fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof on);
  }
  union cw_sa to = w->to;
  socklen_t tolen = w->tolen;
  struct cw_dest *d = w->dest;
  dequeue(w);
  int rc = switch_locked(c, c->fd, &to.sa, tolen);
  if (rc < 0) {
    cw_table_slot_put_locked(d, c->ino);
    fail_locked(c, -rc);
    return;
  }
  cw_table_admit_locked(c);
  cw_follow_drop_if_locked(c->fd);
}

static void grant_tree_locked(void);

static void grant_locked(void) {
  if (cw_tree_on) {
    grant_tree_locked();
    return;
  }
  for (struct cw_wait *w = head, *next; w; w = next) {
    next = w->next;
    if (global_full())
      break;
    if (!fits(w->dest))
      continue; /* its destination is full; others behind it may still go */
    if (!w->rec) {
      orphan_done(w, 1);
      continue;
    }
    if (!still_queued(w->rec->fd, w->rec->ino)) { /* the host ended it: no slot for it */
      cw_table_end_locked(w->rec, 0);
      continue;
    }
    take(w->dest);
    hand_over(w);
  }
}

/* Tree scope: the tree hands slots out (to this process's waiters and other members'); this
 * process starts the connects it was granted. */
static void grant_tree_locked(void) {
  cw_tree_grant();
  for (struct cw_wait *w = head, *next; w; w = next) {
    next = w->next;
    if (!w->granted && !cw_tree_granted(w->tidx, w->ino))
      continue;
    if (!w->rec) {
      orphan_done(w, 1);
      continue;
    }
    if (!still_queued(w->rec->fd, w->rec->ino)) { /* the host ended it: its slot goes on */
      cw_table_end_locked(w->rec, 0);
      continue;
    }
    take(w->dest); /* this process's own count; the tree's slot is taken already */
    w->taken = 1;
    hand_over(w);
  }
}

void cw_policy_grant(void) { cw_policy_closed(cw_table_slots_pending()); }

void cw_policy_grant_locked(void) {
  if (head)
    grant_locked();
}

/* The destination key of waiter w */
static void wait_key(struct cw_dkey *k, const struct cw_wait *w) {
  if (w->dest) {
    memset(k, 0, sizeof *k);
    memcpy(k, &w->dest->key, cw_dkey_len(&w->dest->key));
  } else {
    const struct cw_host *h = w->rec->host;
    cw_dkey_make(k, &w->rec->peer, h ? h->name : NULL, h ? h->port : 0);
  }
}

int cw_policy_stuck_locked(struct cw_stuck *out) {
  if (cw_tree_on) { /* the tree's queue: a waiter in another process counts as much as ours */
    if (!cw_tree_stuck(&out->key, &out->global, &out->since_ns, &out->waiting))
      return 0;
    out->dest = out->global ? NULL : cw_table_dest_locked(&out->key);
    return 1;
  }
  for (struct cw_wait *w = head; w; w = w->next) {
    if (!w->rec || fits(w->dest))
      continue;
    out->dest = w->dest;
    wait_key(&out->key, w);
    out->global = global_full();
    out->since_ns = w->since_ns;
    out->waiting = 0;
    for (struct cw_wait *x = head; x; x = x->next)
      out->waiting += x->dest == w->dest;
    return 1;
  }
  return 0;
}

void cw_policy_closed(int mark) {
  cw_table_lock();
  cw_table_settle_locked(mark); /* slots this thread's close freed, now that the close is done */
  if (head)
    grant_locked();
  cw_table_unlock();
}

/* ---- connect -------------------------------------------------------------------------------- */

/* Queue the connect of fd (described by info) to sa: its socket starts connecting to the hole.
 * Returns the record, or NULL (nothing changed) when it cannot be queued. */
static struct cw_conn *queue(int fd, const struct sockaddr *sa, socklen_t salen, struct cw_dest *d,
                             struct cw_conn_info *info, int tidx) {
  union cw_sa at, refuse;
  socklen_t len;
  if (salen > sizeof(union cw_sa) || hole_for(sa->sa_family, &at, &refuse, &len) < 0)
    return NULL;
  struct cw_wait *w = cw_mem_alloc(sizeof *w);
  if (!w)
    return NULL;
  memset(w, 0, sizeof *w);
  memcpy(&w->to, sa, salen);
  w->tolen = salen;
  w->tidx = tidx;
  w->ino = info->ino;
  /* with TCP_FASTOPEN_CONNECT on, a connect sends no SYN until the first write: off while
   * queued, so the socket really is connecting */
  int on = 0, off = 0;
  socklen_t ol = sizeof on;
  if (CW_REAL(getsockopt)(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, &ol) == 0 && on) {
    w->fastopen = 1;
    CW_RAW(SYS_setsockopt, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &off, sizeof off);
  }
  if (connect_nonblocking(fd, &at.sa, len, 1) < 0) /* only a connect now in progress will do */
    goto fail;
  struct cw_conn_info qi = *info;
  qi.policed = 1;
  qi.holds_slot = 0;
  struct cw_conn *c = cw_table_open_queued_locked(&qi); /* takes qi.bt */
  info->bt = NULL;
  if (!c) { /* the socket is off to the hole: bring it back */
    static const struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    CW_REAL(connect)(fd, &unspec, sizeof unspec);
    goto fail;
  }
  w->rec = c;
  w->dest = d;
  w->since_ns = cw_now();
  w->deadline_ns = w->since_ns + cw_cfg.queue_timeout_ms * 1000000;
  c->wait = w;
  enqueue(w);
  void (*kick)(void) = __atomic_load_n(&cw_policy_on_park, __ATOMIC_ACQUIRE); /* set by the reaper */
  if (kick)
    kick();
  return c;
fail:
  if (w->fastopen) {
    on = 1;
    CW_RAW(SYS_setsockopt, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof on);
  }
  cw_mem_free(w);
  return NULL;
}

/* Tree scope: the tree admits, or queues the connect in its queue (and here, where its socket
 * waits), in one step under its lock, so that a slot freed in another process meanwhile finds it. */
static void connect_tree_locked(int fd, const struct sockaddr *sa, socklen_t salen, struct cw_conn_info *info,
                                struct cw_admit *ad, struct cw_dest *d) {
  cw_tree_sync_settings(); /* a `set` in another process of the tree */
  if (head)
    grant_locked();
  int queue_it = cw_cfg.on_cap != CW_ON_CAP_REFUSE, tidx = -1;
  struct cw_dkey k;
  if (d) {
    memset(&k, 0, sizeof k);
    memcpy(&k, &d->key, cw_dkey_len(&d->key));
  } else {
    cw_dkey_make(&k, &info->peer, info->host, info->peer.port);
  }
  int r = cw_tree_admit(&k, d ? &d->tree_row : NULL, info->ino, queue_it ? cw_now() : 0, &tidx);
  if (r == 1) {
    take(d);
    ad->result = CW_ADMIT_OK;
    cw_follow_drop_if_locked(fd);
    return;
  }
  if (!queue_it) {
    count_refused(d, info, fd, "at the tree's cap");
    ad->result = CW_ADMIT_REFUSE;
    return;
  }
  struct cw_conn *c = r == 0 ? queue(fd, sa, salen, d, info, tidx) : NULL;
  if (!c) {
    if (r == 0)
      cw_tree_dequeue(tidx, info->ino, 0);
    count_refused(d, info, fd, "at the tree's cap (could not queue it)");
    ad->result = CW_ADMIT_REFUSE;
    return;
  }
  ad->result = CW_ADMIT_QUEUED;
  ad->id = c->id;
  ad->nonblock = !is_blocking(fd);
}

void cw_policy_connect(int fd, const struct sockaddr *sa, socklen_t salen, struct cw_conn_info *info,
                       struct cw_admit *ad) {
  ad->policed = cw_policy_scoped(CW_DIR_OUT, &info->peer, info->host, info->peer.port);
  ad->dest = NULL;
  ad->ino = info->ino;
  ad->result = CW_ADMIT_PASS;
  ad->id = 0;
  if (!ad->policed)
    return;
  cw_table_lock();
  struct cw_dest *d = ad->dest = cw_table_dest_for_locked(&info->peer, info->host);
  if (cw_tree_on) {
    connect_tree_locked(fd, sa, salen, info, ad, d);
    cw_table_unlock();
    return;
  }
  if (head)
    grant_locked(); /* first come, first served: the queue before any newcomer */
  if (fits(d)) {
    take(d); /* anyone still waiting is held by their own destination's cap */
    ad->result = CW_ADMIT_OK;
    cw_follow_drop_if_locked(fd);
  } else if (cw_cfg.on_cap == CW_ON_CAP_REFUSE) {
    count_refused(d, info, fd, "at the cap");
    ad->result = CW_ADMIT_REFUSE;
  } else {
    struct cw_conn *c = queue(fd, sa, salen, d, info, -1);
    if (c) {
      ad->result = CW_ADMIT_QUEUED;
      ad->id = c->id;
      ad->nonblock = !is_blocking(fd);
    } else {
      count_refused(d, info, fd, "at the cap (could not queue it)");
      ad->result = CW_ADMIT_REFUSE;
    }
  }
  cw_table_unlock();
}

void cw_policy_abandon(struct cw_admit *ad) {
  if (ad->result != CW_ADMIT_OK)
    return;
  ad->result = CW_ADMIT_PASS; /* once */
  cw_table_lock();
  cw_table_slot_put_locked(ad->dest, ad->ino);
  if (head)
    grant_locked();
  cw_table_unlock();
}

void cw_policy_named(int fd, uint64_t id, const char *host, uint16_t port, int via) {
  cw_table_lock();
  struct cw_conn *c = cw_table_find_locked(fd, id);
  /* an adopted or inherited connection's first write here is the middle of its stream: its name,
   * if any, came with it */
  if (c && c->dir == CW_DIR_OUT && !c->inherited && (via || !c->host)) {
    if (!port)
      port = c->peer.port;
    struct cw_dest *old = c->dest;
    int freed = cw_table_rename_locked(c, host, port, via), moved = 0;
    if (c->host) {
      unsigned was = c->policed;
      c->policed = cw_policy_scoped(CW_DIR_OUT, &c->peer, c->host->name, c->host->port);
      if (c->policed != was && !c->queued && !c->failed)
        cw_table_sched_locked(c, cw_now()); /* its timeouts start or stop applying: look now */
    }
    if (cw_tree_on && c->holds_slot && c->dest != old && !c->queued && !c->failed) {
      struct cw_dkey k;
      cw_dkey_make(&k, &c->peer, c->host ? c->host->name : NULL, c->host ? c->host->port : 0);
      cw_tree_redest(c->ino, &k); /* may grant this process's waiters their tree slots */
      moved = 1;
    }
    if ((freed || moved) && head)
      grant_locked();
  }
  cw_table_unlock();
}

int cw_policy_queued_state(int fd, uint64_t id, int *err) {
  cw_table_lock();
  struct cw_conn *c = cw_table_find_locked(fd, id);
  int st = CW_Q_GONE;
  if (c && c->queued) {
    st = CW_Q_WAITING;
  } else if (c && c->failed) {
    st = CW_Q_FAILED;
    *err = (int)c->acked;
    cw_table_end_locked(c, 0); /* reported now: nothing left to translate */
  } else if (c) {
    st = CW_Q_STARTED;
  }
  cw_table_unlock();
  return st;
}

int cw_policy_nonblocking(int fd) {
  cw_table_lock();
  int nb = !is_blocking(fd);
  cw_table_unlock();
  return nb;
}

void cw_policy_connect_failed(int fd, uint64_t id) {
  cw_table_lock();
  struct cw_conn *c = cw_table_find_locked(fd, id);
  if (c && !c->queued && !c->failed)
    cw_table_end_locked(c, 0); /* its slot goes back, and on to a waiter */
  if (head)
    grant_locked();
  cw_table_unlock();
}

/* ---- time ----------------------------------------------------------------------------------- */

int64_t cw_policy_expire(int64_t now) {
  int64_t next = INT64_MAX;
  cw_table_lock();
  if (head)
    grant_locked(); /* slots freed where no wrapper saw it (missed closes, releases) */
  for (struct cw_wait *w = head, *nw; w; w = nw) {
    nw = w->next;
    if (w->deadline_ns > now) {
      if (w->deadline_ns < next)
        next = w->deadline_ns;
      continue;
    }
    struct cw_conn *c = w->rec;
    if (!c) {
      orphan_done(w, 0);
      continue;
    }
    count_timeout(c);
    fail_locked(c, timeout_errno(c));
  }
  cw_table_unlock();
  return next;
}

void cw_policy_fork_child(void) {
  /* The queue is the parent's: its sockets complete, or fail, there (the child's copies with
   * them). The table forgets the records; the holes are the parent's too. */
  for (struct cw_wait *w = head, *next; w; w = next) {
    next = w->next;
    if (w->own >= 0) {
      cw_own_del(&w->own);
      CW_REAL(close)(w->own);
    }
    cw_mem_free(w);
  }
  head = tail = NULL;
  for (int i = 0; i < 2; i++) {
    hole_close(&holes[i]);
    holes[i].tried = 0;
  }
  if (!cw_tree_on)
    return;
  /* Tree scope: the child holds the tree's slots of the sockets it shares with its parent (they
   * go when the last holder closes), and counts them as its own. */
  cw_tree_fork_child();
  struct cw_conn *c, *tmp;
  CW_FOREACH_CONN(c, tmp) {
    if (cw_tree_on && !c->released && c->dir == CW_DIR_OUT && cw_tree_holds(c->ino)) {
      c->holds_slot = 1;
      take(c->dest);
    }
  }
}

/* ---- exec ----------------------------------------------------------------------------------- */

/* exec keeps the process and its fds: its caps go on in the new program. A queued connect whose
 * fd survives exec goes on waiting there, as the kernel's connect would go on (the holes survive
 * exec too), and a connection that survives it keeps its slot. A file in the run directory, named
 * by the PID that exec keeps, tells the new program's shim (cw_policy_adopt_carried) which fds
 * are queued (for where, since when) and which hold slots. Where that file cannot be written,
 * the queued connects start now, slot or not, and the connections are adopted as inherited. */
static char carry_path[CW_PATH_MAX + 32];

static int carry_name(pid_t pid) {
  if (!cw_cfg.rundir[0])
    return -1;
  int n = snprintf(carry_path, sizeof carry_path, "%s/%d.queue", cw_cfg.rundir, (int)pid);
  return n > 0 && (size_t)n < sizeof carry_path ? 0 : -1;
}

static void holes_cloexec(int on) {
  for (int i = 0; i < 2; i++) {
    int *fds[] = {&holes[i].lfd, &holes[i].filler, &holes[i].refuser};
    for (int k = 0; k < 3; k++)
      if (*fds[k] >= 0)
        CW_REAL(fcntl)(*fds[k], F_SETFD, on ? FD_CLOEXEC : 0);
  }
}

static int survives_exec(int fd) {
  int fl = CW_REAL(fcntl)(fd, F_GETFD);
  return fl >= 0 && !(fl & FD_CLOEXEC);
}

/* One line each: "hole V4OR6 LFD FILLER REFUSER" (when queued connects survive: the holes do
 * with them), "q FD INO SINCE_NS DEADLINE_NS FASTOPEN HEX [HOST]" (a queued connect, with the
 * name it was resolved from), "s FD INO [HOST PORT VIA]" (a connection holding a slot, with its
 * name, the name's port and whether a proxy request named it). */
static int carry_write(int out, int survivors) {
  char line[1024];
  int n = 0;
  if (cw_tree_on) { /* first: the new image joins the tree as this member before anything */
    int l = cw_tree_carry_line(line, sizeof line);
    if (CW_RAW(SYS_write, out, line, l) != l)
      return -1;
    n++;
  }
  struct cw_conn *c, *tmp;
  CW_FOREACH_CONN(c, tmp) {
    if (!c->holds_slot || c->queued || c->failed)
      continue;
    FOREACH_FD(c, i) {
      if (!survives_exec(i))
        continue;
      int l = c->host ? snprintf(line, sizeof line, "s %d %llu %s %u %d\n", i, (unsigned long long)c->ino,
                                 c->host->name, (unsigned)c->host->port, (int)c->via)
                      : snprintf(line, sizeof line, "s %d %llu\n", i, (unsigned long long)c->ino);
      if (CW_RAW(SYS_write, out, line, l) != l)
        return -1;
      n++;
      break;
    }
  }
  for (int i = 0; i < 2 && survivors; i++)
    if (holes[i].lfd >= 0) {
      int l = snprintf(line, sizeof line, "hole %d %d %d %d\n", i, holes[i].lfd, holes[i].filler,
                       holes[i].refuser);
      if (CW_RAW(SYS_write, out, line, l) != l)
        return -1;
    }
  for (struct cw_wait *w = head; w; w = w->next) {
    if (!w->rec)
      continue;
    int l = snprintf(line, sizeof line, "q %d %llu %lld %lld %d ", w->rec->fd,
                     (unsigned long long)w->rec->ino, (long long)w->since_ns,
                     (long long)w->deadline_ns, w->fastopen);
    for (socklen_t k = 0; k < w->tolen && l < (int)sizeof line - 3; k++)
      l += snprintf(line + l, sizeof line - (size_t)l, "%02x", ((unsigned char *)&w->to)[k]);
    if (w->rec->host && l + 2 + w->rec->host->len < (int)sizeof line)
      l += snprintf(line + l, sizeof line - (size_t)l, " %s", w->rec->host->name);
    line[l++] = '\n';
    if (CW_RAW(SYS_write, out, line, l) != l)
      return -1;
    n++;
  }
  return n;
}

void cw_policy_before_exec(void) {
  if (!__atomic_load_n(&cw_tab.c.queued, __ATOMIC_RELAXED) && !cw_tab.c.slots && !cw_tree_on)
    return;
  cw_table_lock();
  int survivors = 0;
  for (struct cw_wait *w = head; w; w = w->next) {
    if (!w->rec)
      continue;
    FOREACH_FD(w->rec, i) survivors += survives_exec(i);
  }
  if (carry_name(cw_pid) == 0) {
    int out = (int)CW_RAW(SYS_openat, AT_FDCWD, carry_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out >= 0) {
      int ok = carry_write(out, survivors) > 0;
      CW_REAL(close)(out);
      if (ok) {
        if (survivors)
          holes_cloexec(0);
        if (cw_tree_on)
          cw_tree_before_exec();
        cw_table_unlock();
        return;
      }
      CW_RAW(SYS_unlink, carry_path);
    }
  }
  carry_path[0] = '\0';
  for (struct cw_wait *w = head, *next; w && survivors; w = next) {
    next = w->next;
    if (w->rec && still_queued(w->rec->fd, w->rec->ino)) {
      take(w->dest); /* above the cap, for a moment: the process is being replaced */
      hand_over(w);
    }
  }
  cw_table_unlock();
}

void cw_policy_exec_failed(void) {
  if (!carry_path[0])
    return;
  cw_table_lock();
  holes_cloexec(1);
  if (cw_tree_on)
    cw_tree_exec_failed();
  CW_RAW(SYS_unlink, carry_path);
  carry_path[0] = '\0';
  cw_table_unlock();
}

static int unhex(const char *h, unsigned char *out, size_t max) {
  size_t n = 0;
  for (; h[0] && h[1] && h[0] != '\n' && n < max; h += 2) {
    unsigned v;
    if (sscanf(h, "%2x", &v) != 1)
      return -1;
    out[n++] = (unsigned char)v;
  }
  return (int)n;
}

int cw_policy_adopt_carried(void) {
  if (carry_name(getpid()) < 0)
    return 0;
  FILE *f = fopen(carry_path, "re");
  if (!f)
    return 0;
  unlink(carry_path);
  char line[1024];
  int n = 0, keep[CW_TREE_WAITS], nkeep = 0, tree = 0;
  cw_table_lock();
  while (fgets(line, sizeof line, f)) {
    int i, a, b, c, fd, fo;
    unsigned long long ino;
    long long since, deadline;
    char hex[300], host[CW_HOST_MAX + 1];
    unsigned port;
    int via, fields;
    if (sscanf(line, "tree %d %d", &a, &b) == 2) {
      cw_tree_adopt(a, b);
      tree = cw_tree_on;
    } else if (sscanf(line, "hole %d %d %d %d", &i, &a, &b, &c) == 4 && (i == 0 || i == 1) &&
        holes[i].lfd < 0) {
      struct hole *h = &holes[i];
      int *fds[] = {&h->lfd, &h->filler, &h->refuser}, vals[] = {a, b, c};
      for (int k = 0; k < 3; k++) {
        *fds[k] = vals[k];
        if (CW_REAL(fcntl)(vals[k], F_SETFD, FD_CLOEXEC) < 0 || cw_own_add(fds[k]) < 0)
          *fds[k] = -1;
      }
      socklen_t l = sizeof h->at;
      h->len = i ? sizeof h->at.in6 : sizeof h->at.in;
      socklen_t l2 = sizeof h->refuse;
      if (h->lfd < 0 || h->filler < 0 || h->refuser < 0 ||
          CW_RAW(SYS_getsockname, h->lfd, &h->at.sa, &l) < 0 ||
          CW_RAW(SYS_getsockname, h->refuser, &h->refuse.sa, &l2) < 0) {
        hole_close(h);
        h->tried = 0; /* the next queued connect makes a new one */
      } else {
        h->tried = 1;
      }
    } else if ((fields = sscanf(line, "s %d %llu %253s %u %d", &fd, &ino, host, &port, &via)) >= 2) {
      struct cw_conn_info info;
      if (cw_sock_probe_inherited(fd, &info) == 0 && info.ino == ino) {
        info.dir = CW_DIR_OUT; /* only outbound connections hold slots */
        info.policed = cw_policy_scoped(info.dir, &info.peer, NULL, 0);
        info.bt = NULL;
        if (cw_table_open_locked(&info) == 0) {
          struct cw_conn *rec = cw_table_get(fd);
          if (fields == 5 && port < 65536) { /* its name, and (with DEST_BY=name) its destination */
            struct cw_dest *first = rec->dest;
            rec->policed = cw_policy_scoped(info.dir, &info.peer, host, (uint16_t)port);
            cw_table_rename_locked(rec, host, (uint16_t)port, 1);
            rec->via = via != 0;
            if (first && first != rec->dest)
              first->opened--; /* counted there a moment ago, in this same step: never seen */
          }
          rec->holds_slot = 1; /* now that it is where its name puts it */
          take(rec->dest);
          n++; /* a connection here now: the new image serves stats */
        }
      }
    } else if ((fields = sscanf(line, "q %d %llu %lld %lld %d %299s %253s", &fd, &ino, &since, &deadline, &fo,
                                hex, host)) >= 6 && still_queued(fd, ino)) {
      struct cw_wait *w = cw_mem_alloc(sizeof *w);
      if (!w)
        continue;
      memset(w, 0, sizeof *w);
      int len = unhex(hex, (unsigned char *)&w->to, sizeof w->to);
      struct cw_conn_info info = {.fd = fd, .dir = CW_DIR_OUT, .policed = 1, .ino = ino};
      if (fields == 7)
        memcpy(info.host, host, sizeof info.host);
      struct cw_conn *rec = NULL;
      if (len > 0 && (w->to.sa.sa_family == AF_INET || w->to.sa.sa_family == AF_INET6)) {
        cw_addr_from_sockaddr(&info.peer, &w->to.sa, (socklen_t)len);
        rec = cw_table_open_queued_locked(&info);
      }
      if (!rec) {
        cw_mem_free(w);
        continue;
      }
      w->tolen = (socklen_t)len;
      w->fastopen = fo;
      w->rec = rec;
      w->dest = cw_table_dest_for_locked(&info.peer, info.host);
      w->since_ns = since;
      w->deadline_ns = deadline;
      w->ino = ino;
      w->tidx = cw_tree_on ? cw_tree_find_wait(ino) : -1;
      if (cw_tree_on && w->tidx < 0) { /* its place is lost: a new one (or a slot now) */
        struct cw_dkey k;
        cw_dkey_make(&k, &info.peer, info.host[0] ? info.host : NULL, info.peer.port);
        w->granted = cw_tree_admit(&k, NULL, ino, since, &w->tidx) == 1;
      }
      if (w->tidx >= 0 && nkeep < (int)(sizeof keep / sizeof keep[0]))
        keep[nkeep++] = w->tidx;
      rec->wait = w;
      enqueue(w);
      cw_tab.c.waited--; /* counted by the process it began in */
      n++;
    }
  }
  if (tree) /* what the exec closed, and waits this image does not take up, end in the tree */
    cw_tree_after_exec(keep, nkeep);
  cw_table_unlock();
  fclose(f);
  return n;
}

void cw_policy_init(void) { cw_table_on_unqueue = on_unqueue; }
