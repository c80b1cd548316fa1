/* reaper.c - the reaper thread. Each tick it finds connections past the idle timeout or the
 * maximum lifetime and shuts them down (the host's own error path then closes them); releases
 * the kernel socket of one the host has not closed after the grace period, by dup3() of a dead
 * placeholder onto its number; counts close-wait leaks and abandoned connections; and fails
 * parked connects whose queue timeout passed. It never closes a host fd number, and acts on an fd
 * only under table_mu after checking that the number still names the socket inode it recorded.
 * Everything it knows it learns at its looks (TCP_INFO, SIOCINQ): the read and write wrappers do
 * nothing for it. Runs with all signals blocked and cw_guard set. */
#define _GNU_SOURCE
#include "reaper.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <linux/tcp.h> /* glibc's tcp_info lacks tcpi_bytes_acked */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "backtrace.h"
#include "config.h"
#include "leakcheck.h"
#include "log.h"
#include "ownfd.h"
#include "policy.h"
#include "real.h"
#include "sock.h"
#include "table.h"
#include "tree.h"

/* The thread's state. running and dead_fd are written by cw_reaper_start (under lifecycle's
 * start lock) and the fork-child handler; kick under reaper_mu. */
static pthread_mutex_t reaper_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cv;
static int running, kick;
static int dead_fd = -1;     /* one end of a socketpair whose other end is closed: reads EOF */
static uint64_t dead_ino;

/* An evicted connection is shut down at once, so that the program sees its end (EOF, and EPOLLIN
 * and EPOLLHUP in its epoll set) and closes it; its kernel socket is released this long after if
 * the program has not. Releasing it at once would take it out of the program's epoll set before
 * the program saw the end (the kernel drops a registration with its file), and an event loop
 * would keep the dead fd in its pool. The slot goes to the first waiter when the connection
 * ends, by the program's close or this release. */
#define EVICT_GRACE_NS (100 * 1000000LL)

static const char *const reason_names[CW_NREASONS] = {"idle", "lifetime", "manual", "evicted"};
static int64_t starve_log_ns; /* the reaper thread's own */
static int64_t reuses;        /* pool reuses seen while the queue waited; under table_mu */

void cw_reaper_wake(void) {
  cw_mutex_lock(&reaper_mu);
  kick = 1;
  if (cw_tree_member())
    cw_tree_wake_self(); /* in tree scope the reaper sleeps on its row's futex */
  else
    pthread_cond_signal(&reaper_cv);
  cw_mutex_unlock(&reaper_mu);
}

/* Tree scope: this process's counters, for the tree's sums (the tree counts its connections,
 * active and peak itself; these are the rest). */
void cw_reaper_publish_tree(void) {
  if (!cw_tree_member())
    return;
  struct cw_tree_pub p;
  memset(&p, 0, sizeof p);
  cw_table_lock();
  const struct cw_counters *k = &cw_tab.c;
  p.refused = k->refused;
  p.waited = k->waited;
  p.wait_ms = k->wait_ms;
  p.queue_timeouts = k->queue_timeouts;
  memcpy(p.reaped, k->reaped, sizeof p.reaped);
  p.released = k->released;
  p.close_wait_leaks = k->close_wait_leaks;
  p.abandoned = k->abandoned;
  p.bytes_in = k->bytes_in_closed;
  p.bytes_out = k->bytes_out_closed;
  struct cw_conn *c, *tmp;
  CW_FOREACH_CONN(c, tmp) {
    if (c->failed)
      continue;
    p.bytes_in += (int64_t)__atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
    p.bytes_out += (int64_t)__atomic_load_n(&c->bytes_out, __ATOMIC_RELAXED);
    p.abandoned_now += c->abandoned != CW_AB_NO;
    p.close_wait_now += c->cw_logged;
  }
  cw_table_unlock();
  cw_tree_publish(&p);
}

/* The reaper's sleep until wake (monotonic ns), or a kick. In tree scope, seq is the futex's value
 * read before the round that ends here looked at anything: a grant another member made during
 * the round changed it, and the sleep returns at once. */
static void sleep_until(int64_t wake, uint32_t seq) {
  cw_mutex_lock(&reaper_mu);
  if (cw_tree_member()) {
    int k = kick;
    kick = 0;
    cw_mutex_unlock(&reaper_mu);
    if (!k)
      cw_tree_sleep(seq, wake);
    return;
  }
  struct timespec ts = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
  while (!kick && cw_cond_timedwait(&reaper_cv, &reaper_mu, &ts) != ETIMEDOUT)
    ;
  kick = 0;
  cw_mutex_unlock(&reaper_mu);
}

/* The tick: often enough to cut a connection within a tenth of its timeout, at most once a
 * second when only close-wait leaks are watched. */
static int64_t tick_ns(void) {
  int64_t t = 1000;
  int64_t idle = cw_cfg_get(&cw_cfg.idle_timeout_ms), life = cw_cfg_get(&cw_cfg.max_lifetime_ms);
  if (idle && idle / 10 < t)
    t = idle / 10;
  if (life && life / 10 < t)
    t = life / 10;
  int64_t evict = cw_cfg_get(&cw_cfg.evict_idle_ms);
  if (evict && evict / 10 < t)
    t = evict / 10;
  if (cw_cfg.reap_grace_ms / 10 < t)
    t = cw_cfg.reap_grace_ms / 10;
  if (cw_cfg.abandon_after_ms && cw_cfg.abandon_after_ms / 10 < t)
    t = cw_cfg.abandon_after_ms / 10;
  /* While connects wait, the activity clock moves on at least ten times a second: the starvation
   * check tells activity after a connect began to wait from activity before it by that clock. */
  if (__atomic_load_n(&cw_tab.c.queued, __ATOMIC_RELAXED) && t > 100)
    t = 100;
  return (t < 10 ? 10 : t) * 1000000;
}

/* Is fd still the socket c recorded? Caller holds table_mu, so the host cannot close it under us
 * through any wrapper. */
static int same_socket(const struct cw_conn *c, int fd) { return cw_sock_ino(fd) == c->ino; }

/* One event line about a connection: "LABEL: fd 7 out 10.0.0.7:443, age 12.0s, idle 11.9s" and
 * extra. */
/* where: the peer, with its name when one is known (cw_where) */
static void log_line(enum cw_level lvl, enum cw_event ev, int fd, int dir, const char *where,
                     int64_t age_ns, int64_t idle_ns, const char *extra) {
  cw_log(lvl, ev, "%s: fd %d %s %s, age %.1fs, idle %.1fs%s", cw_log_label(ev), fd, dir ? "in" : "out",
         where, (double)age_ns / 1e9, (double)idle_ns / 1e9, extra);
}

static void log_conn(enum cw_level lvl, enum cw_event ev, const struct cw_conn *c, int64_t now,
                     const char *extra) {
  char w[CW_WHERE_STRLEN];
  log_line(lvl, ev, c->fd, c->dir, cw_where_conn(c, w, sizeof w), now - c->opened_ns, now - c->last_ns, extra);
}

/* Shut c down. Caller holds table_mu and has checked its identity. */
static void reap_locked(struct cw_conn *c, int reason, int64_t now) {
  if (c->local.family == 0)
    cw_sock_local(c->fd, &c->local); /* kept for reports: the socket may be released */
  /* The peer's bytes waiting unread now (a stream the program stopped reading, its event loop's
   * reading paused): if it is released, the program kept a stream it had stopped reading. */
  c->ab_kept = cw_sock_unread(c->fd) > 0;
  CW_REAL(shutdown)(c->fd, SHUT_RDWR);
  __atomic_store_n(&c->peer_closed, CW_EOF_UNSEEN, __ATOMIC_RELAXED); /* a read of the end sets 1 */
  c->reaped = 1u + (unsigned)reason;
  c->reaped_ns = now;
  cw_tab.c.reaped[reason]++;
  if (c->dest)
    c->dest->reaped++;
  char why[64];
  snprintf(why, sizeof why, " (%s)", reason_names[reason]);
  log_conn(CW_LOG_INFO, CW_EV_REAPED, c, now, why);
}

/* The host kept a reaped connection past the grace period: free the kernel socket (and the
 * peer's) by putting the dead placeholder on its number; the number stays the host's. */
static void release_locked(struct cw_conn *c, int64_t now, enum cw_level lvl, const char *why) {
  /* An abortive close: the last reference, dropped below, must not linger (block) under the lock
   * on a peer that stopped reading; the peer gets a reset. */
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  /* every fd number naming it gets the placeholder, or the socket would live on through a dup */
  int done = 0;
  for (int fd = 0; fd < cw_tab.hiwater; fd++) {
    if (cw_slots[fd] != c || !same_socket(c, fd))
      continue;
    int fdfl = CW_REAL(fcntl)(fd, F_GETFD);
    if (CW_REAL(dup3)(dead_fd, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) >= 0)
      done++;
  }
  if (!done)
    return;
  c->released = 1;
  uint64_t ino = c->ino;
  c->ino = dead_ino; /* its fds name the placeholder now */
  if (c->holds_slot) {
    c->holds_slot = 0;
    cw_table_slot_put_locked(c->dest, ino);
  } else if (cw_tree_member()) {
    cw_tree_drop(ino); /* this process holds the socket no more */
  }
  cw_tab.c.released++;
  log_conn(lvl, CW_EV_RELEASED, c, now, why);
}

/* What the kernel says about c: TCP state and bytes acknowledged. */
static int tcp_look(int fd, struct tcp_info *ti) {
  socklen_t l = sizeof *ti;
  return CW_REAL(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, ti, &l);
}

/* The settings a tick works with: read once per tick. */
struct limits {
  int64_t idle, life, grace; /* ns; 0 = off */
  int64_t abandon;           /* ns; 0 = off */
  int64_t stop;              /* how soon after a connection whose last transfer was a read goes
                              * quiet it is looked at for unread bytes: an eighth of `abandon`,
                              * from 10 ms to a second (see quiet_enough) */
};

/* A look for a check on a connection quiet since last: `first` after it went quiet, then less and
 * less often the longer it stays quiet (the gap as long as the quiet so far, at most cap), spread
 * by its id so that a crowd that went quiet together is not all due in one tick. */
static int64_t quiet_look(const struct cw_conn *c, int64_t last, int64_t now, int64_t first,
                          int64_t cap) {
  int64_t look = last + first;
  if (look <= now) {
    int64_t quiet = now - last, gap = quiet < first ? first : quiet;
    if (gap > cap)
      gap = cap;
    look = now + gap + (int64_t)(c->id % 1024) * (first / 1024);
  }
  return look;
}

/* An abandoned connection is looked at this often, to see whether it reads again. */
static int64_t reread_gap(const struct limits *lim) {
  return lim->abandon < 1000000000 ? lim->abandon : 1000000000;
}

/* How long c must have been quiet (since last) for a look at it to be worth a system call, for
 * abandonment: `stop` when its last transfer was a read (it may have stopped reading a stream), a
 * grace period (at most ABANDON_AFTER) when it was a write: it waits for its answer, and an
 * answer that comes and is not read is timed by the kernel's last receive (see unread_look). */
static int64_t quiet_enough(int64_t last, const struct limits *lim) {
  int64_t wrote = lim->grace < lim->abandon ? lim->grace : lim->abandon;
  return !(last & CW_LAST_WROTE) && lim->stop < wrote ? lim->stop : wrote;
}

/* When c needs looking at next: its idle or lifetime deadline; until its close-wait leak is
 * counted, a look at its TCP state (a grace period after it went quiet, then up to 16 graces
 * apart); and for abandonment, whether it reads again once abandoned, the moment the bytes it
 * has unread will have waited long enough (while it has done nothing since they began to wait),
 * or else `stop` after it went quiet, then less often, at least every ABANDON_AFTER (so that
 * bytes arriving on a connection quiet for long are seen in time). A connection in use is thus
 * visited every `stop`: a visit without a look is a few heap steps. Never in the past. */
static int64_t next_look(const struct cw_conn *c, int64_t now, const struct limits *lim) {
  int64_t last = __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED), next = INT64_MAX;
  if (c->policed && lim->idle && last + lim->idle < next)
    next = last + lim->idle;
  if (c->policed && lim->life && c->opened_ns + lim->life < next)
    next = c->opened_ns + lim->life;
  if (!c->cw_logged) {
    int64_t look = c->peer_closed_ns ? c->peer_closed_ns + lim->grace
                                     : quiet_look(c, last, now, lim->grace, 16 * lim->grace);
    if (look < next)
      next = look;
  }
  if (lim->abandon) {
    int64_t look;
    if (c->abandoned)
      look = now + reread_gap(lim);
    else if (c->unread_ns && last <= c->unread_ns)
      look = c->unread_ns + lim->abandon;
    else
      look = quiet_look(c, last, now, lim->stop, lim->abandon);
    if (look < next)
      next = look;
  }
  return next <= now ? now + 1000000 : next;
}

/* ---- abandoned connections ------------------------------------------------------------------- */

/* Connections found abandoned in this tick, noted under table_mu and logged after it: naming
 * where one was opened reads the loader's tables, which must not be done holding table_mu (a
 * thread inside dlopen holds the loader's lock and may connect). The reaper thread's own. */
struct abandon_note {
  int fd, dir, inherited, why;
  int reason; /* released: its reap's enum cw_reason */
  char where[CW_WHERE_STRLEN]; /* the peer, with its name (cw_where) */
  int64_t age_ns, idle_ns, waited_ns;
  uint32_t unread;
  struct cw_bt *bt; /* a copy (mem.c), freed once the line is written */
};
static struct abandon_note notes[16];
static int nnotes;
static int hinted; /* the line that says how to see where connections are opened: once a process */

/* c is abandoned now, for why (enum cw_abandon), with inq bytes unread. The first time, it is
 * counted and noted for its line. Returns 0, or -EAGAIN when this tick's notes are full: c is left
 * as it was, for a later tick. Caller holds table_mu and has checked c's identity. */
static int abandon_locked(struct cw_conn *c, int why, int64_t now, int inq) {
  if (!c->ab_counted) {
    if (nnotes == (int)CW_ARRAY_LEN(notes))
      return -EAGAIN;
    struct abandon_note *n = &notes[nnotes++];
    n->fd = c->fd;
    n->dir = c->dir;
    n->inherited = c->inherited;
    n->why = why;
    n->reason = c->reaped ? (int)c->reaped - 1 : 0;
    cw_where_conn(c, n->where, sizeof n->where);
    n->age_ns = now - c->opened_ns;
    n->idle_ns = now - (__atomic_load_n(&c->last_ns, __ATOMIC_RELAXED) & ~(int64_t)CW_LAST_WROTE);
    n->waited_ns = why == CW_AB_UNREAD ? now - c->unread_ns : now - c->reaped_ns;
    n->unread = inq > 0 ? (uint32_t)inq : 0;
    n->bt = cw_bt_dup(c->bt);
    c->ab_counted = 1;
    cw_tab.c.abandoned++;
  }
  c->abandoned = (unsigned)why;
  return 0;
}

/* The line of each connection noted this tick. Called without table_mu. */
static void log_abandoned(void) {
  for (int i = 0; i < nnotes; i++) {
    const struct abandon_note *n = &notes[i];
    char what[96], where[256], from[320], b[32];
    if (n->why == CW_AB_UNREAD)
      snprintf(what, sizeof what, ", %s unread for %.1fs", cw_fmt_bytes(n->unread, b, sizeof b),
               (double)n->waited_ns / 1e9);
    else if (n->reason == CW_REAP_EVICTED)
      snprintf(what, sizeof what, ", not closed %.1fs after its eviction", (double)n->waited_ns / 1e9);
    else
      snprintf(what, sizeof what, ", not closed %.1fs after its reap (%s)", (double)n->waited_ns / 1e9,
               reason_names[n->reason]);
    from[0] = '\0';
    if (n->inherited) {
      snprintf(from, sizeof from, ", inherited (opened before this process had it)");
    } else if (*cw_bt_where(n->bt, where, sizeof where)) {
      snprintf(from, sizeof from, ", opened at %s", where);
    } else if (!cw_cfg.backtrace && !hinted) {
      hinted = 1;
      snprintf(from, sizeof from, " (CONNWARDEN_BACKTRACE=1 records where connections are opened)");
    }
    char extra[sizeof what + sizeof from];
    snprintf(extra, sizeof extra, "%s%s", what, from);
    log_line(CW_LOG_WARN, CW_EV_ABANDONED, n->fd, n->dir, n->where, n->age_ns, n->idle_ns, extra);
    cw_mem_free(n->bt);
  }
  nnotes = 0;
}

/* The abandonment clock at a look that found inq bytes unread, the last data received
 * last_recv_ms ago. moved says whether bytes moved on the socket since the last look (TCP_INFO:
 * acknowledged, or taken off it by any holder's read: this process's wrappers, stdio inside libc,
 * a fork's other half; for a connection opened here, since it opened): when they did, it may
 * have been a read, and the clock starts at this look; when they did not, nothing was read
 * since, and with nothing unread at the last look every byte waiting now came after it, the
 * latest of them last_recv_ms ago: the clock starts then. Either way never before the bytes
 * began to wait, so that bytes that arrived a moment ago on a connection quiet for long are not
 * taken for abandoned. Moved bytes clear "abandoned now" (a released connection never gets
 * here). Caller holds table_mu. */
static void unread_look(struct cw_conn *c, int64_t now, int moved, int inq, uint32_t last_recv_ms) {
  if (moved && c->abandoned == CW_AB_UNREAD)
    c->abandoned = CW_AB_NO;
  if (inq <= 0) {
    c->unread_ns = 0;
  } else if (moved) {
    c->unread_ns = now;
  } else if (!c->unread_ns) {
    int64_t at = now - (int64_t)last_recv_ms * 1000000;
    c->unread_ns = at < c->opened_ns ? c->opened_ns : at > now ? now : at;
  }
}

/* A released connection the host still holds a whole grace period after its reap is abandoned
 * (an eviction's release comes a tenth of a second after it: the host had no time to close it
 * then), if the host saw its end and still kept it: it read the end the reap made (an event loop
 * that went on reading a stream nobody consumes), or the peer's bytes lay unread when it was
 * reaped or released (a stream it had stopped reading). One that shows none of these (a pool
 * member whose reading is paused, which httpx closes only at its next use; or a stream lost while
 * its reading was paused) is abandoned once the host has kept it ABANDON_AFTER past the release:
 * a pool in use closes it before that.
 * Returns 1 when it acted. Caller holds table_mu. */
static int released_look(struct cw_conn *c, int64_t now, const struct limits *lim) {
  if (!lim->abandon || c->ab_counted)
    return 0; /* nothing left to do but wait for the host's close */
  if (now - c->reaped_ns < lim->grace) {
    cw_table_sched_locked(c, c->reaped_ns + lim->grace);
    return 0;
  }
  if (!same_socket(c, c->fd)) { /* the placeholder's number names another file: a close we missed */
    cw_table_end_locked(c, 1);
    return 1;
  }
  if (!c->ab_kept) {
    /* No sign it saw its end: a pool member whose reading is paused looks so (closed only at
     * its next use), and so does a stream lost while its reading was paused. It is abandoned
     * once kept ABANDON_AFTER past the release, or a grace after it reads the end. */
    int read_end = __atomic_load_n(&c->peer_closed, __ATOMIC_RELAXED) == 1;
    int64_t due = c->reaped_ns + lim->grace + lim->abandon;
    if (read_end)
      c->ab_kept = 2;
    if (read_end || now < due) {
      int64_t next = read_end ? now + lim->grace : now + reread_gap(lim);
      cw_table_sched_locked(c, next < due || read_end ? next : due);
      return 0;
    }
  }
  if (abandon_locked(c, CW_AB_RELEASED, now, 0) < 0)
    cw_table_sched_locked(c, now + 1000000);
  return 1;
}

/* One due connection: reap, release, count a close-wait leak or an abandoned connection, or end
 * a missed close; otherwise schedule its next look. Returns 1 when it acted. Caller holds
 * table_mu. */
static int visit(struct cw_conn *c, int64_t now, int64_t tick, const struct limits *lim) {
  if (c->released)
    return released_look(c, now, lim);
  if (c->reaped) {
    int evicted = c->reaped == 1u + CW_REAP_EVICTED;
    int64_t grace = evicted ? EVICT_GRACE_NS : lim->grace;
    if (now - c->reaped_ns < grace) {
      cw_table_sched_locked(c, c->reaped_ns + grace);
      return 0;
    }
    if (!same_socket(c, c->fd)) {
      cw_table_end_locked(c, 1); /* closed where no wrapper saw it */
      return 1;
    }
    if (cw_sock_unread(c->fd) > 0 || __atomic_load_n(&c->peer_closed, __ATOMIC_RELAXED) == 1)
      c->ab_kept = 1;
    release_locked(c, now, evicted ? CW_LOG_INFO : CW_LOG_WARN,
                   evicted ? " (evicted: idle in its pool; its slot goes to a waiting connect)"
                           : " (not closed by the host within the grace period)");
    if (c->released)
      released_look(c, now, lim);
    return 1;
  }
  int64_t last = __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED), idle_for = tick - last;
  int due_life = c->policed && lim->life && now - c->opened_ns >= lim->life;
  int due_idle = c->policed && lim->idle && idle_for >= lim->idle;
  /* abandonment: whether it reads again; whether the bytes it has unread have waited long
   * enough; whether some wait since it went quiet */
  int ab_look = lim->abandon &&
                (c->abandoned || (c->unread_ns && now - c->unread_ns >= lim->abandon) ||
                 idle_for >= quiet_enough(last, lim));
  int look = due_idle || ab_look ||
             (!c->cw_logged && (__atomic_load_n(&c->peer_closed, __ATOMIC_RELAXED) ||
                                idle_for >= lim->grace || c->peer_closed_ns));
  if (look || due_life) {
    /* A look at the TCP state is one system call; the inode check (a second) waits until there
     * is something to act on, or the fd no longer answers as a TCP socket. */
    struct tcp_info ti;
    int looked = look && tcp_look(c->fd, &ti) == 0;
    int acting = due_life || due_idle || !looked ||
                 ti.tcpi_state == 8 /* TCP_CLOSE_WAIT */ || ti.tcpi_state == 9 /* TCP_LAST_ACK */;
    if (acting && !same_socket(c, c->fd)) { /* its number names another file now: a close we missed */
      cw_table_end_locked(c, 1);
      return 1;
    }
    if (looked) {
      /* Bytes that moved by a path no wrapper of this process sees are activity: the host's
       * stdio inside libc, or another process that holds the same socket (a fork's parent or
       * child), so that no holder cuts a connection another one is using. Moved: bytes the peer
       * acknowledged, and bytes some holder read (received, less what still waits unread: data
       * that arrives and is never read is not activity).
       * Shared sockets: this is the rule all holders agree on. The kernel's counts are the
       * socket's, moved by every holder alike, so each holder's reaper finds the connection
       * idle only when it is idle on the wire for all of them, and a reap by any one of them
       * is one the others' rules allow too. It needs no knowledge of who else holds it: a
       * parent that keeps an accepted connection its child serves (and never touches it) sees
       * the child's bytes here and never cuts it; a child whose parent closed its copy (accept
       * then fork: PostgreSQL's backends) is its only holder, the bytes that move are its own,
       * and it polices the connection from then on. The counts are compared with the record's
       * own only when acked counts from the connection's start (acked_base): a fork child's
       * record is its parent's copy, bytes and acked alike; one adopted across exec gets its
       * base at this first look, the bytes moved before it unknown (not activity). */
      int inq = cw_sock_unread(c->fd);
      uint64_t moved = ti.tcpi_bytes_acked + (ti.tcpi_bytes_received - (uint64_t)inq);
      uint64_t own = __atomic_load_n(&c->bytes_out, __ATOMIC_RELAXED) +
                     __atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
      int moved_since = (uint32_t)moved != c->acked; /* for an adopted one: ever */
      if (moved_since) {
        c->acked = (uint32_t)moved;
        if (c->acked_base && moved > own + 1) { /* 1: the SYN, acknowledged */
          last = __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED);
          __atomic_store_n(&c->last_ns, (tick & ~(int64_t)CW_LAST_WROTE) | (last & CW_LAST_WROTE),
                           __ATOMIC_RELAXED);
          due_idle = 0;
        }
      }
      c->acked_base = 1;
      if (lim->abandon) {
        unread_look(c, now, moved_since, inq, ti.tcpi_last_data_recv);
        if (c->unread_ns && now - c->unread_ns >= lim->abandon && c->abandoned != CW_AB_UNREAD) {
          if (!acting && !same_socket(c, c->fd)) {
            cw_table_end_locked(c, 1);
            return 1;
          }
          if (abandon_locked(c, CW_AB_UNREAD, now, inq) < 0) {
            cw_table_sched_locked(c, now + 1000000); /* this tick's notes are full: the next */
            return 0;
          }
        }
      }
      if (ti.tcpi_state == 8 /* TCP_CLOSE_WAIT */ || ti.tcpi_state == 9 /* TCP_LAST_ACK */) {
        if (!c->peer_closed_ns)
          c->peer_closed_ns = now;
        else if (now - c->peer_closed_ns >= lim->grace && !c->cw_logged) {
          c->cw_logged = 1;
          cw_tab.c.close_wait_leaks++;
          cw_leakcheck_note_close_wait(c, now);
          /* where it was opened, when that is a Python frame (text: no loader lookup under
           * table_mu; a native frame is for the leak report, symbolised off the lock) */
          char where[320], extra[400];
          if (c->bt && c->bt->npy)
            snprintf(extra, sizeof extra, " (the peer closed; the host kept it open), opened at %s",
                     cw_bt_where(c->bt, where, sizeof where));
          else
            snprintf(extra, sizeof extra, " (the peer closed; the host kept it open)");
          log_conn(CW_LOG_WARN, CW_EV_CLOSE_WAIT, c, now, extra);
        }
      }
    }
    if (due_life || due_idle) {
      reap_locked(c, due_life ? CW_REAP_LIFETIME : CW_REAP_IDLE, now);
      cw_table_sched_locked(c, now + lim->grace);
      return 1;
    }
  }
  cw_table_sched_locked(c, next_look(c, now, lim));
  return 0;
}


/* Is c in the scope of the cap that holds st (the process cap: any policed outbound connection
 * holding a slot; a destination's cap: those to that destination)? */
static int in_scope(const struct cw_conn *c, const struct cw_stuck *st) {
  return c->holds_slot && c->policed && !c->reaped && !c->released && !c->queued && !c->failed &&
         c->dir == CW_DIR_OUT && (st->global || c->dest == st->dest);
}

/* Pools reuse their idle connections ahead of any queue: a cap below a program's pool size leaves
 * the queue waiting for a close that never comes. With CONNWARDEN_EVICT_IDLE, the least recently
 * active connection in the stuck waiter's cap scope that is idle in its pool (its last transfer
 * was a read, or there was none, and it has been quiet that long) is shut down at once and
 * released after EVICT_GRACE_NS if the program has not closed it, and its slot goes to the queue. A connection whose last transfer was a write (a request waiting
 * for its answer) is never evicted. Without it (or with nothing to evict) a queue that waits
 * while connections in its scope are reused is starvation: said once a second at most. Returns
 * how many it evicted. Caller holds table_mu. */
static int pools_locked(int64_t now, int64_t tick) {
  struct cw_stuck st;
  int64_t evict = cw_cfg_get(&cw_cfg.evict_idle_ms) * 1000000;
  int evicted = 0;
  while (evict && cw_policy_stuck_locked(&st)) {
    struct cw_conn *victim = NULL, *c, *tmp;
    int pending = 0; /* evicted already, their slots not yet free: one per waiter is enough */
    CW_FOREACH_CONN(c, tmp) {
      int64_t last = __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED);
      pending += c->holds_slot && c->reaped == 1u + CW_REAP_EVICTED && !c->released &&
                 (st.global || c->dest == st.dest);
      if (in_scope(c, &st) && !(last & CW_LAST_WROTE) && tick - last >= evict &&
          (!victim || last < victim->last_ns))
        victim = c;
    }
    if (!victim || pending >= st.waiting)
      break;
    if (same_socket(victim, victim->fd)) {
      reap_locked(victim, CW_REAP_EVICTED, now);
      cw_table_sched_locked(victim, now + EVICT_GRACE_NS);
    } else {
      cw_table_end_locked(victim, 1); /* closed where no wrapper saw it: its slot is free anyway */
      cw_policy_grant_locked();
    }
    evicted++;
  }
  if (!cw_policy_stuck_locked(&st)) {
    reuses = 0;
    return evicted;
  }
  /* Starvation shows two ways, on connections opened before the connect began to wait (one
   * opened since was granted from the queue: the queue moving). A reuse: a connection seen idle in
   * its pool (its last transfer a read: one that has moved nothing yet is about to send its first
   * request, not back in a pool) at one look has been written to (a new request) by the next. An
   * idle hold: one has sat idle in its pool for `lim` while the connect waited that long: long
   * enough (a second at least) that a program merely holding a connection for a moment is not
   * taken for a pool. */
  int64_t waited = now - st.since_ns, half = cw_cfg.queue_timeout_ms * 1000000 / 2;
  int64_t lim = half < 2000000000 ? half : 2000000000;
  int holds = lim >= 1000000000; /* under a second, a hold is not told from a pool in time */
  int pool = 0, idle = 0;
  struct cw_conn *c, *tmp;
  CW_FOREACH_CONN(c, tmp) {
    if (!in_scope(c, &st))
      continue;
    pool++;
    uint8_t calls = (uint8_t)__atomic_load_n(&c->calls_out, __ATOMIC_RELAXED);
    int64_t last = __atomic_load_n(&c->last_ns, __ATOMIC_RELAXED);
    int before = c->opened_ns < st.since_ns;
    int in_pool = !(last & CW_LAST_WROTE) && __atomic_load_n(&c->calls_in, __ATOMIC_RELAXED) > 0;
    if (c->pool_seen && calls != c->pool_calls && before)
      reuses++;
    idle += holds && before && in_pool && tick - last >= lim;
    c->pool_seen = in_pool;
    c->pool_calls = calls;
  }
  if ((!reuses && !idle) || waited < (reuses ? (half < 1000000000 ? half : 1000000000) : lim) ||
      now - starve_log_ns < 1000000000)
    return evicted;
  int64_t reused = reuses;
  reuses = 0;
  starve_log_ns = now;
  char p[CW_DKEY_STRLEN], how[96];
  if (reused)
    snprintf(how, sizeof how, "were reused %lld time%s", (long long)reused, reused == 1 ? "" : "s");
  else
    snprintf(how, sizeof how, "held %d idle in the pool", idle);
  cw_log(CW_LOG_WARN, CW_EV_STARVATION,
         "pool starvation: %d connect%s to %s waiting %.1fs while the %d connections under the %s "
         "cap %s (the program's pool keeps idle connections ahead of the queue; pool of %d seen): "
         "cap at least the pool size, or set CONNWARDEN_EVICT_IDLE",
         st.waiting, st.waiting == 1 ? "" : "s", cw_dkey_format(&st.key, p, sizeof p),
         (double)waited / 1e9, pool, st.global ? "process" : "destination", how, pool);
  return evicted;
}

/* A tick looks only at the connections whose deadline has come (a heap, not a scan), at most
 * this many under one holding of the lock (about half a millisecond); the rest wait for the next
 * round, which then comes a millisecond later rather than a tick (behind). */
#define TICK_BUDGET 512
static int behind; /* the reaper thread's own */

int cw_reaper_tick(int64_t now) {
  static int64_t seen_idle = -1, seen_life = -1; /* the reaper thread's own */
  struct limits lim = {.idle = cw_cfg_get(&cw_cfg.idle_timeout_ms) * 1000000,
                       .life = cw_cfg_get(&cw_cfg.max_lifetime_ms) * 1000000,
                       .grace = cw_cfg.reap_grace_ms * 1000000,
                       .abandon = cw_cfg.abandon_after_ms * 1000000};
  lim.stop = lim.abandon / 8;
  lim.stop = lim.stop < 10000000 ? 10000000 : lim.stop > 1000000000 ? 1000000000 : lim.stop;
  int64_t tick = cw_tick();
  int acted = 0;
  cw_table_lock();
  if (lim.idle != seen_idle || lim.life != seen_life) { /* `set` changed a timeout: look again */
    seen_idle = lim.idle;
    seen_life = lim.life;
    cw_table_resched_all_locked(now);
  }
  struct cw_conn *c;
  int n = 0;
  for (; n < TICK_BUDGET && (c = cw_table_pop_due_locked(now)); n++)
    acted += visit(c, now, tick, &lim);
  behind = n == TICK_BUDGET;
  /* with a tree cap, a connect waiting in another member may need this one's idle pool */
  if (__atomic_load_n(&cw_tab.c.queued, __ATOMIC_RELAXED) || cw_tree_member())
    acted += pools_locked(now, tick);
  cw_table_unlock();
  log_abandoned();
  return acted;
}

int cw_reaper_reap_fd(int fd) {
  int rc = -ENOENT;
  cw_table_lock();
  struct cw_conn *c = cw_table_get(fd);
  if (c && (c->queued || c->failed))
    c = NULL; /* a queued connect is not a connection yet */
  if (c && c->reaped)
    rc = -EALREADY;
  else if (c && same_socket(c, fd)) {
    int saved = c->fd;
    int64_t now = cw_now();
    c->fd = fd; /* act on, and log, the number the operator named */
    reap_locked(c, CW_REAP_MANUAL, now);
    c->fd = saved;
    cw_table_sched_locked(c, now + cw_cfg.reap_grace_ms * 1000000); /* its release, if due */
    rc = 0;
  }
  cw_table_unlock();
  return rc;
}

void *cw_reaper_run(void *arg) {
  (void)arg;
  cw_guard = 1;
  cw_tick_publish(); /* the clock may be a whole tick old, or a parent's (a fork child) */
  int64_t next_queue = INT64_MAX, next_tree = 0;
  uint32_t seq = cw_tree_member() ? cw_tree_seq() : 0;
  for (;;) {
    int64_t now = cw_now();
    int64_t wake = now + (behind ? 1000000 : tick_ns());
    if (next_queue < wake)
      wake = next_queue;
    if (cw_tree_member() && next_tree < wake)
      wake = next_tree;
    sleep_until(wake, seq);
    seq = cw_tree_member() ? cw_tree_seq() : 0; /* before this round looks at the tree's grants */
    cw_tick_publish();
    now = cw_now();
    if (cw_tree_member() && now >= next_tree)
      next_tree = cw_tree_tick(now); /* its settings, and members that died */
    next_queue = cw_policy_expire(now);
    if (cw_reaper_tick(now) > 0)
      cw_policy_grant(); /* releases and missed closes give slots back */
    cw_reaper_publish_tree(); /* after what this round counted */
    cw_table_free_deferred();
    cw_log_flush_summaries(now); /* lines of a kind held back in a second that has ended */
  }
  return NULL;
}

int cw_reaper_prepare(void) {
  if (running)
    return 0;
  int sp[2];
  if (CW_RAW(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    return -errno;
  CW_REAL(close)(sp[1]);
  dead_fd = cw_own_high_fd(sp[0]);
  dead_ino = cw_sock_ino(dead_fd);
  cw_own_add(&dead_fd);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&reaper_cv, &attr);
  pthread_condattr_destroy(&attr);
  /* A connect may have been parked already, by a thread that found no reaper to tell (another
   * thread was starting it): the first round looks at the queue at once. */
  kick = 1;
  __atomic_store_n(&cw_policy_on_park, cw_reaper_wake, __ATOMIC_RELEASE);
  running = 1;
  return 1;
}

void cw_reaper_abandon(void) {
  cw_log(CW_LOG_ERROR, CW_EV_STARTUP, "cannot start the reaper thread: timeouts are off");
  running = 0;
}

void cw_reaper_fork_child(void) {
  pthread_mutex_init(&reaper_mu, NULL);
  if (running) { /* the parent's condition variable may have had its thread waiting on it */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&reaper_cv, &attr);
    pthread_condattr_destroy(&attr);
  }
  running = 0;
  kick = 0;
  nnotes = 0;
  behind = 0;
  hinted = 0; /* another process: it says so once too */
  if (dead_fd >= 0) {
    cw_own_del(&dead_fd);
    CW_REAL(close)(dead_fd);
    dead_fd = -1;
  }
}
