/* policy.c - the caps. Admits a connect when the process and destination caps allow; otherwise
 * refuses it, makes a blocking connect wait, or parks a non-blocking one: its socket is kept at
 * a hidden own fd while a never-ready placeholder (a loopback listener nobody knows) holds its
 * number, so poll/select/epoll see a connect in progress. Slots freed are granted to waiters
 * oldest first. The queue is guarded by table_mu (grants must be atomic with slot counts); the
 * system calls made under it (dup3, connect on a non-blocking socket, epoll_ctl) never block. */
#define _GNU_SOURCE
#include "policy.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "log.h"
#include "ownfd.h"
#include "real.h"
#include "sock.h"

enum { W_WAITING, W_ADMITTED, W_TIMEDOUT };
enum { K_BLOCKING, K_PARKED };
#define MAX_REGS 8

struct waiter {
  struct waiter *next, *prev; /* the queue, oldest first; or the failed list */
  int kind, state;
  struct cw_addr peer;
  struct cw_dest *dest;
  int64_t since_ns, deadline_ns;
  pthread_cond_t cv; /* blocking: signalled when admitted */
  /* parked */
  int fd, aside, err;
  uint64_t ph_ino; /* the placeholder's inode: the fd number must still name it to be restored */
  struct sockaddr_storage sa;
  socklen_t salen;
  struct cw_bt *bt;
  struct {
    int epfd;
    struct epoll_event ev;
  } regs[MAX_REGS];
  int nregs;
};

/* guarded by table_mu */
static struct waiter *head, *tail; /* waiting, blocking and parked */
static struct waiter *failed;      /* parked connects that timed out, until the host looks */

void (*cw_policy_on_park)(void); /* set once by the reaper before any park */

int cw_policy_scoped(int dir, const struct cw_addr *peer) {
  if (cw_cfg.n_only && !cw_filters_match(cw_cfg.only, cw_cfg.n_only, dir, peer))
    return 0;
  if (cw_cfg.n_exclude && cw_filters_match(cw_cfg.exclude, cw_cfg.n_exclude, dir, peer))
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

static void count_refused(struct cw_dest *d, const struct cw_addr *peer, int fd, const char *why) {
  cw_tab.c.refused++;
  if (d)
    d->refused++;
  char p[CW_ADDR_STRLEN];
  cw_log(CW_LOG_WARN, CW_EV_REFUSED, "refused: connect fd %d to %s %s (cap %lld, per destination %lld)", fd,
         cw_addr_format(peer, p, sizeof p), why, (long long)cw_cfg_get(&cw_cfg.max_conns),
         (long long)cw_cfg_get(&cw_cfg.max_conns_per_dest));
}

/* ---- the queue ------------------------------------------------------------------------------ */

static void enqueue(struct waiter *w) {
  w->next = NULL;
  w->prev = tail;
  if (tail)
    tail->next = w;
  else
    head = w;
  tail = w;
  cw_tab.c.waited++;
  cw_tab.c.queued++;
}

static void dequeue(struct waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    tail = w->prev;
  w->next = w->prev = NULL;
  cw_tab.c.queued--;
  cw_tab.c.wait_ms += (cw_now() - w->since_ns) / 1000000;
}

static struct waiter *find(struct waiter *list, int fd) {
  for (struct waiter *w = list; w; w = w->next)
    if (w->kind == K_PARKED && w->fd == fd)
      return w;
  return NULL;
}

static void failed_remove(struct waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    failed = w->next;
  if (w->next)
    w->next->prev = w->prev;
}

/* ---- parking -------------------------------------------------------------------------------- */

/* A loopback listener of the host socket's family that nobody knows the port of: never readable,
 * never writable, no error, a socket to getsockopt/setsockopt. */
static int placeholder(int family) {
  int ph = CW_REAL(socket)(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (ph < 0)
    return -1;
  struct sockaddr_storage ss = {0};
  socklen_t len;
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  }
  if (CW_RAW(SYS_bind, ph, &ss, len) < 0 || CW_REAL(listen)(ph, 0) < 0) {
    CW_REAL(close)(ph);
    return family == AF_INET6 ? placeholder(AF_INET) : -1;
  }
  return ph;
}

/* Put fd's number back on the host's socket (kept at w->aside) and re-create the epoll
 * registrations the host made on the placeholder: closing the placeholder dropped them.
 * still_ours: the fd's result is still ours to report (a timeout, a connect that failed at
 * once): the mark stays on before any registration can wake the host. */
static int restore(struct waiter *w, int still_ours) {
  int rc = -1;
  cw_table_park_slot_locked(w->fd, 0);
  if (cw_sock_ino(w->fd) == w->ph_ino) { /* still our placeholder: not closed and reused unseen */
    /* what the host set on the number while it was parked: blocking mode, close-on-exec */
    int fl = CW_REAL(fcntl)(w->fd, F_GETFL), fdfl = CW_REAL(fcntl)(w->fd, F_GETFD);
    if (fl >= 0)
      CW_REAL(fcntl)(w->aside, F_SETFL, fl);
    rc = CW_REAL(dup3)(w->aside, w->fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
  }
  cw_own_del(&w->aside);
  CW_REAL(close)(w->aside);
  w->aside = -1;
  cw_fdflag_set(w->fd, CW_FD_PARKED, rc >= 0 && still_ours);
  if (rc < 0)
    return -1;
  for (int i = 0; i < w->nregs; i++) {
    struct epoll_event ev = w->regs[i].ev;
    if (CW_REAL(epoll_ctl)(w->regs[i].epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 && errno == EEXIST)
      CW_REAL(epoll_ctl)(w->regs[i].epfd, EPOLL_CTL_MOD, w->fd, &ev);
  }
  return 0;
}

static int park(int fd, const struct sockaddr *sa, socklen_t salen, struct cw_dest *d,
                const struct cw_addr *peer, struct cw_bt **bt) {
  if (salen > sizeof(struct sockaddr_storage))
    return -EINVAL;
  struct waiter *w = cw_mem_alloc(sizeof *w);
  if (!w)
    return -ENOMEM;
  int fdfl = CW_REAL(fcntl)(fd, F_GETFD);
  w->fd = fd;
  w->aside = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
  int ph = placeholder(sa->sa_family);
  if (w->aside < 0 || ph < 0)
    goto fail;
  w->aside = cw_own_high_fd(w->aside);
  if (cw_own_add(&w->aside) < 0)
    goto fail;
  w->ph_ino = cw_sock_ino(ph);
  if (CW_REAL(dup3)(ph, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
    cw_own_del(&w->aside);
    goto fail;
  }
  CW_REAL(close)(ph);
  cw_fdflag_set(fd, CW_FD_PARKED, 1);
  cw_table_park_slot_locked(fd, 1);
  memcpy(&w->sa, sa, salen);
  w->salen = salen;
  w->kind = K_PARKED;
  w->peer = *peer;
  w->dest = d;
  w->bt = *bt;
  *bt = NULL;
  w->since_ns = cw_now();
  w->deadline_ns = w->since_ns + cw_cfg.queue_timeout_ms * 1000000;
  enqueue(w);
  if (cw_policy_on_park)
    cw_policy_on_park();
  return 0;
fail:
  if (ph >= 0)
    CW_REAL(close)(ph);
  if (w->aside >= 0)
    CW_REAL(close)(w->aside);
  cw_mem_free(w);
  return -EMFILE;
}

/* A slot was granted to a parked connect: start the real connect on the host's socket and give
 * the number back to it. Caller holds table_mu and has taken the slot. */
static void unpark(struct waiter *w) {
  int rc = CW_REAL(connect)(w->aside, (struct sockaddr *)&w->sa, w->salen);
  int err = rc < 0 ? errno : 0;
  if (restore(w, !(rc == 0 || err == EINPROGRESS)) < 0) {
    cw_table_slot_put_locked(w->dest);
    cw_table_defer_free(w->bt);
    cw_table_defer_free(w);
    return;
  }
  if (rc == 0 || err == EINPROGRESS) {
    struct cw_conn_info info;
    if (cw_sock_probe(w->fd, CW_DIR_OUT, (struct sockaddr *)&w->sa, w->salen, 1, &info) == 0) {
      info.policed = 1;
      info.holds_slot = 1;
      info.bt = w->bt;
      w->bt = NULL;
      if (cw_table_open_locked(&info) == 0) {
        cw_table_defer_free(w);
        return;
      }
    }
    cw_table_slot_put_locked(w->dest);
    cw_table_defer_free(w->bt);
    cw_table_defer_free(w);
    return;
  }
  /* it failed at once (a loopback port with no listener): report it through SO_ERROR, as the
   * kernel would have for a connect that was in progress */
  cw_table_slot_put_locked(w->dest);
  cw_table_defer_free(w->bt);
  w->bt = NULL;
  w->err = err;
  w->next = failed; /* still marked ours until the host reads the error */
  w->prev = NULL;
  if (failed)
    failed->prev = w;
  failed = w;
}

static void grant_locked(void) {
  struct waiter *w = head, *next;
  for (; w; w = next) {
    next = w->next;
    if (global_full())
      break;
    if (!fits(w->dest))
      continue; /* its destination is full; others behind it may still go */
    take(w->dest);
    dequeue(w);
    w->state = W_ADMITTED;
    if (w->kind == K_BLOCKING)
      pthread_cond_signal(&w->cv);
    else
      unpark(w);
  }
}

void cw_policy_grant(void) { cw_policy_closed(cw_table_slots_pending()); }

void cw_policy_closed(int mark) {
  cw_table_lock();
  cw_table_settle_locked(mark); /* slots this thread's close freed, now that the close is done */
  if (head)
    grant_locked();
  cw_table_unlock();
}

/* ---- connect -------------------------------------------------------------------------------- */

/* Wait for a grant. Not a cancellation point: a cancelled wait would leave table_mu locked and
 * this stack frame in the queue (cancellation is off while table_mu is held: cw_lock). */
static int64_t wait_blocking(struct cw_dest *d, const struct cw_addr *peer) {
  struct waiter w = {.kind = K_BLOCKING, .state = W_WAITING, .peer = *peer, .dest = d, .fd = -1};
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&w.cv, &attr);
  pthread_condattr_destroy(&attr);
  w.since_ns = cw_now();
  w.deadline_ns = w.since_ns + cw_cfg.queue_timeout_ms * 1000000;
  enqueue(&w);
  struct timespec ts = {.tv_sec = w.deadline_ns / 1000000000, .tv_nsec = w.deadline_ns % 1000000000};
  while (w.state == W_WAITING) {
    int rc = cw_cond_timedwait(&w.cv, &cw_tab.mu, &ts);
    if (rc == ETIMEDOUT && w.state == W_WAITING) {
      dequeue(&w);
      w.state = W_TIMEDOUT;
    }
  }
  pthread_cond_destroy(&w.cv);
  return w.state == W_ADMITTED ? 0 : -ETIMEDOUT;
}

void cw_policy_connect(int fd, const struct sockaddr *sa, socklen_t salen, struct cw_bt **bt,
                       struct cw_admit *ad) {
  struct cw_addr peer;
  cw_addr_from_sockaddr(&peer, sa, salen);
  ad->policed = cw_policy_scoped(CW_DIR_OUT, &peer);
  ad->dest = NULL;
  ad->result = CW_ADMIT_PASS;
  if (!ad->policed)
    return;
  cw_table_lock();
  struct cw_dest *d = ad->dest = cw_table_dest_locked(&peer);
  if (head)
    grant_locked(); /* first come, first served: the queue before any newcomer */
  if (fits(d)) {
    take(d); /* anyone still waiting is held by their own destination's cap */
    ad->result = CW_ADMIT_OK;
  } else if (cw_cfg.on_cap == CW_ON_CAP_REFUSE) {
    count_refused(d, &peer, fd, "at the cap");
    ad->result = CW_ADMIT_REFUSE;
  } else {
    int fl = CW_REAL(fcntl)(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) {
      int rc = park(fd, sa, salen, d, &peer, bt);
      if (rc == 0) {
        ad->result = CW_ADMIT_PARKED;
      } else {
        count_refused(d, &peer, fd, "at the cap (could not queue it)");
        ad->result = CW_ADMIT_REFUSE;
      }
    } else if (wait_blocking(d, &peer) == 0) {
      ad->result = CW_ADMIT_OK; /* the granter took the slot for us */
    } else {
      char p[CW_ADDR_STRLEN];
      cw_tab.c.refused++;
      if (d)
        d->refused++;
      cw_log(CW_LOG_WARN, CW_EV_QUEUE_TIMEOUT, "queue timeout: connect fd %d to %s waited %lldms for a slot", fd,
             cw_addr_format(&peer, p, sizeof p), (long long)cw_cfg.queue_timeout_ms);
      ad->result = CW_ADMIT_TIMEOUT;
    }
  }
  cw_table_unlock();
}

void cw_policy_abandon(struct cw_admit *ad) {
  if (ad->result != CW_ADMIT_OK)
    return;
  ad->result = CW_ADMIT_PASS; /* once */
  cw_table_lock();
  cw_table_slot_put_locked(ad->dest);
  if (head)
    grant_locked();
  cw_table_unlock();
}

/* ---- the host's calls on parked fds --------------------------------------------------------- */

static int take_failure(int fd) {
  struct waiter *w = find(failed, fd);
  if (!w)
    return 0;
  int err = w->err;
  failed_remove(w);
  cw_fdflag_set(fd, CW_FD_PARKED, 0);
  cw_table_defer_free(w);
  return err;
}

int cw_policy_connect_again(int fd) {
  cw_table_lock();
  int rc = find(head, fd) ? -EALREADY : -take_failure(fd);
  cw_table_unlock();
  return rc;
}

int cw_policy_so_error(int fd, int *err) {
  cw_table_lock();
  int mine = 1;
  if (find(head, fd))
    *err = 0; /* still connecting */
  else if (!(*err = take_failure(fd)))
    mine = 0;
  cw_table_unlock();
  return mine;
}

void cw_policy_epoll_ctl(int epfd, int op, int fd, const struct epoll_event *ev) {
  cw_table_lock();
  struct waiter *w = find(head, fd);
  if (w) {
    int i;
    for (i = 0; i < w->nregs && w->regs[i].epfd != epfd; i++)
      ;
    if (op == EPOLL_CTL_DEL && i < w->nregs) {
      w->regs[i] = w->regs[--w->nregs];
    } else if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && ev && i < MAX_REGS) {
      w->regs[i].epfd = epfd;
      w->regs[i].ev = *ev;
      if (i == w->nregs)
        w->nregs++;
    }
  }
  cw_table_unlock();
}

static void forget_locked(struct waiter *w) {
  if (w->state == W_WAITING && w->kind == K_PARKED && w->aside >= 0) {
    dequeue(w);
    cw_own_del(&w->aside);
    CW_REAL(close)(w->aside);
    cw_table_park_slot_locked(w->fd, 0);
  } else {
    failed_remove(w);
  }
  cw_fdflag_set(w->fd, CW_FD_PARKED, 0);
  cw_table_defer_free(w->bt);
  cw_table_defer_free(w);
}

void cw_policy_forget(int fd) {
  cw_table_lock();
  struct waiter *w = find(head, fd);
  if (!w)
    w = find(failed, fd);
  if (w)
    forget_locked(w);
  cw_table_unlock();
}

void cw_policy_forget_range(unsigned first, unsigned last) {
  cw_table_lock();
  struct waiter *lists[] = {head, failed};
  for (int l = 0; l < 2; l++)
    for (struct waiter *w = lists[l], *next; w; w = next) {
      next = w->next;
      if (w->kind == K_PARKED && (unsigned)w->fd >= first && (unsigned)w->fd <= last)
        forget_locked(w);
    }
  cw_table_unlock();
}

int64_t cw_policy_expire(int64_t now) {
  int64_t next = INT64_MAX;
  cw_table_lock();
  if (head)
    grant_locked(); /* slots freed where no wrapper saw it (missed closes, releases) */
  for (struct waiter *w = head, *nw; w; w = nw) {
    nw = w->next;
    if (w->kind != K_PARKED)
      continue;
    if (w->deadline_ns > now) {
      if (w->deadline_ns < next)
        next = w->deadline_ns;
      continue;
    }
    /* the queue timeout: the fd reports the failure as a refused connect does */
    dequeue(w);
    w->state = W_TIMEDOUT;
    w->err = cw_cfg.cap_errno;
    char p[CW_ADDR_STRLEN];
    cw_tab.c.refused++;
    if (w->dest)
      w->dest->refused++;
    cw_log(CW_LOG_WARN, CW_EV_QUEUE_TIMEOUT, "queue timeout: connect fd %d to %s waited %lldms for a slot", w->fd,
           cw_addr_format(&w->peer, p, sizeof p), (long long)cw_cfg.queue_timeout_ms);
    cw_table_defer_free(w->bt);
    w->bt = NULL;
    if (restore(w, 1) < 0) {
      cw_table_defer_free(w);
      continue;
    }
    w->next = failed;
    w->prev = NULL;
    if (failed)
      failed->prev = w;
    failed = w;
  }
  cw_table_unlock();
  return next;
}

void cw_policy_fork_child(void) {
  /* The parent's waiters are its threads' and its fds' business. The child keeps copies of the
   * parked numbers (placeholders) and of the hidden sockets: it lets go of the hidden copies,
   * which would otherwise keep the parent's sockets alive, and of the parked marks. Blocking
   * waiters live on stacks of threads the child does not have: only unlinked. */
  struct waiter *lists[] = {head, failed};
  for (int l = 0; l < 2; l++)
    for (struct waiter *w = lists[l], *next; w; w = next) {
      next = w->next;
      if (w->kind != K_PARKED)
        continue;
      cw_fdflag_set(w->fd, CW_FD_PARKED, 0);
      cw_table_park_slot_locked(w->fd, 0);
      if (w->aside >= 0) {
        cw_own_del(&w->aside);
        CW_REAL(close)(w->aside);
      }
      cw_mem_free(w->bt);
      cw_mem_free(w);
    }
  head = tail = failed = NULL;
}
