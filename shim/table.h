/* table.h - the connection table: a uthash of records (keyed by id) owning every tracked
 * connection, per-destination aggregates, the process counters, and an fd-indexed slot array
 * that the read/write wrappers consult without a lock.
 *
 * Lock order, the one place it is written: start_mu (lifecycle) -> table_mu -> own_mu (ownfd)
 * or reaper_mu (reaper), then mem_mu (mem), a leaf under any of them. Under table_mu only non-blocking system calls
 * are made (the policy's parking and the reaper's shutdown/dup2 must be atomic with the slots),
 * and the only wait is a blocking connect's condition wait, which releases it. */
#ifndef CW_TABLE_H
#define CW_TABLE_H

#include <pthread.h>
#include <stdint.h>
#include "addr.h"
#include "cw.h"
#include "mem.h"
#include "names.h"
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) cw_mem_alloc(sz) /* buckets grow inside wrappers: see mem.h */
#define uthash_free(ptr, sz) cw_mem_free(ptr)
#include <uthash.h>

/* Where a connection was opened: native frames (pc), or in a CPython host the Python frames
 * (py: npy strings "file:line in function", each ending in a NUL, innermost first). One
 * allocation of cw_bt_size() bytes from mem.c, immutable once made. */
#define CW_BT_MAX 16
#define CW_PY_MAX 32
enum {
  CW_BT_NO_CALLER = 1, /* no frame of the program's own lies above the event loop: the connect
                        * ran in a task of a library's, and no awaiting task was found */
};
struct cw_bt {
  uint8_t n;      /* native frames in pc */
  uint8_t npy;    /* Python frames in py */
  uint8_t own;    /* index of the program's own innermost Python frame; npy when none */
  uint8_t join;   /* Python frames from here on are the awaiting task's (npy: none) */
  uint8_t flags;  /* CW_BT_* */
  uint32_t lib;   /* bit i: Python frame i is an installed library's or the standard library's */
  uint32_t pylen; /* bytes in py */
  void *pc[CW_BT_MAX];
  char py[];
};
static inline size_t cw_bt_size(const struct cw_bt *bt) { return sizeof *bt + bt->pylen; }

/* Per destination (CONNWARDEN_DEST_BY: a name and port, or an address), outbound only. Guarded
 * by table_mu. Allocated to the length of its key. */
struct cw_dest {
  int64_t active, opened, refused, reaped;
  int64_t slots; /* cap slots held (admitted connects, including ones still connecting) */
  int32_t tree_row; /* tree scope: its row in the tree's destinations + 1 (tree.c), 0 unknown */
  struct cw_addr peer; /* the address of its latest connection */
  UT_hash_handle hh;
  struct cw_dkey key; /* the hash key: its first cw_dkey_len bytes; keep last */
};

enum cw_reason { CW_REAP_IDLE = 0, CW_REAP_LIFETIME = 1, CW_REAP_MANUAL = 2, CW_REAP_EVICTED = 3 };
#define CW_NREASONS 4

/* Why a connection is abandoned now: the peer's bytes waited unread CONNWARDEN_ABANDON_AFTER with
 * no read, or connwarden released it because the program did not close it after a reap. */
enum cw_abandon { CW_AB_NO = 0, CW_AB_UNREAD = 1, CW_AB_RELEASED = 2 };

struct cw_conn {
  /* Hot: written with relaxed atomics by the thread doing I/O on one of the conn's fds, read by
   * snapshot. A load-then-store, not a locked add: one connection is read (or written) by one
   * thread at a time in every host we know, and a lost count under a racing second reader is
   * worth less than a bus lock on every call. */
  uint64_t bytes_in, bytes_out, calls_in, calls_out;
  int64_t last_ns;     /* the activity clock (cw_tick) at the last read or write; its low bit is
                        * set when that was a write (CW_LAST_WROTE) */
  uint8_t peer_closed; /* a read returned 0: EOF, if the TCP state agrees (CLOSE_WAIT); the
                        * reaper sets CW_EOF_UNSEEN at a reap, so that 1 then says the host read
                        * the end the reap made */
  /* Written under table_mu with atomic stores, read lock-free by the wrappers with atomic loads
   * (failed is stored last, with release: a wrapper that sees it sees acked). queued: a connect
   * waiting for a cap slot (policy.c); not a connection yet, counted nowhere. failed: a queued
   * connect that failed (queue timeout, or its real connect failed at once); the kernel reports
   * ECONNREFUSED once, which the wrappers turn into `acked` (the errno to report). Neither is
   * ever reaped. */
  uint8_t queued, failed;
  uint8_t pool_calls; /* the reaper's: calls_out (low bits) when it last saw it idle in a pool */
  /* Cold: written under table_mu. Flags are bit-fields: 50,000 connections fit in 12 MB. */
  unsigned dir : 1;        /* enum cw_dir */
  unsigned inherited : 1;  /* adopted at start-up or from a parent: not this process's leak */
  unsigned shut : 2;       /* shutdown() bits: 1 read side, 2 write side */
  unsigned policed : 1;    /* CONNWARDEN_ONLY/EXCLUDE let the policy act on it */
  unsigned holds_slot : 1; /* counted against the caps until it ends or is released */
  unsigned released : 1;   /* its kernel socket was replaced by the dead placeholder */
  unsigned cw_logged : 1;  /* its close-wait leak was counted and logged */
  unsigned reaped : 3;     /* 0, or 1 + enum cw_reason once shut down by the reaper */
  unsigned pool_seen : 1;  /* the reaper saw it idle in a pool (last transfer a read) while a
                            * queue waited: a write after that is a reuse ahead of the queue */
  unsigned abandoned : 2;  /* abandoned now (enum cw_abandon): cleared when it reads again */
  unsigned ab_counted : 1; /* counted in `abandoned` and logged: once per connection */
  unsigned ab_kept : 2;    /* reaped: 1 the peer's bytes lay unread at the reap or the release, or
                            * the host had read the end the reap made when it was released; 2 it
                            * read that end after the release */
  unsigned acked_base : 1; /* acked counts from the connection's start: opened in this process
                            * (or in the parent whose record a fork child copied), or looked at
                            * once since its adoption (reaper.c) */
  unsigned via : 1;        /* named by a proxy request (CONNECT): the peer is the proxy */
  int fd;                  /* an fd naming it (the first; another once that one closes) */
  int nfds;                /* fds naming it; the connection ends when this reaches 0 */
  uint32_t acked;          /* TCP_INFO bytes_acked (low bits) at the last look; failed: the errno */
  uint32_t heap_idx;       /* its place in the reaper's deadline heap, or CW_NO_HEAP */
  uint64_t id;             /* unique in the process; the hash key */
  uint64_t ino;            /* socket inode, to tell the fd number's reuse from our connection */
  int64_t opened_ns;       /* monotonic */
  int64_t deadline_ns;     /* when the reaper next looks at it (heap key) */
  union {
    int64_t reaped_ns;     /* when it was reaped (monotonic) */
    struct cw_wait *wait;  /* queued: its place in the queue (policy.c) */
    int64_t unread_ns;     /* live, before any reap: when the bytes unread now began to wait with
                            * no read since (never earlier than they did), 0 when none wait; the
                            * reaper's abandonment clock (reaper.c) */
  };
  int64_t peer_closed_ns;  /* when the reaper first saw the peer closed, 0 before */
  struct cw_addr local, peer;
  union {
    struct cw_dest *dest;      /* live: NULL for inbound or when the destination table is full */
    struct cw_conn *next_free; /* free */
  };
  struct cw_bt *bt; /* where it was opened, when backtraces are on */
  struct cw_host *host; /* the name the program resolved for its peer, or its first bytes named
                         * (a reference: names.h); NULL when none is known */
  UT_hash_handle hh;
};

#define CW_EOF_UNSEEN 2

/* last_ns's low bit: the host's last transfer on it was a write (a request waiting for its
 * answer), so it is not idle in a pool. One OR on the write path, one AND on the read path. */
#define CW_LAST_WROTE 1

#define CW_HIST_BUCKETS 13
extern CW_HIDDEN const double cw_hist_bounds_s[CW_HIST_BUCKETS];

/* Process counters. Guarded by table_mu; writers: interpose (via table), policy, reaper;
 * reader: snapshot. Index [dir] is enum cw_dir. */
struct cw_counters {
  int64_t active[2], peak[2], peak_total, opened[2], closed[2];
  int64_t inherited, missed_closes, untracked;
  int64_t bytes_in_closed, bytes_out_closed; /* bytes of connections that have ended */
  int64_t refused, waited, wait_ms, queued, queue_timeouts;
  int64_t reaped[CW_NREASONS], released, close_wait_leaks;
  int64_t abandoned; /* connections found abandoned, each once */
  /* gauges: not kept here but counted by the snapshot over the records (abandoned now; counted as
   * close-wait leaks and still open) */
  int64_t abandoned_now, close_wait_now;
  int64_t slots; /* outbound cap slots held */
  int64_t hist[CW_HIST_BUCKETS + 1]; /* connection durations; last is +Inf */
  double hist_sum_s;
  int64_t log_dropped; /* not under table_mu: log.c counts it (cw_log_dropped), snapshot copies it */
};

/* The shared state. All guarded by table_mu except slots (see below). */
struct cw_table {
  pthread_mutex_t mu;
  struct cw_conn *conns; /* uthash head, by id */
  struct cw_dest *dests; /* uthash head, by peer */
  int ndests;
  struct cw_counters c;
  uint64_t next_id;
  int hiwater; /* one past the highest fd ever given a slot: scans stop there */
};
extern CW_HIDDEN struct cw_table cw_tab;

/* fd -> connection, and per-fd flag bytes. Both arrays have CW_SLOTS entries, reserved without
 * being committed (only pages under fds in use are touched), so the hot path needs no bounds
 * load: an fd is masked into range. Only fds below cw_slot_cap (the hard RLIMIT_NOFILE, at most
 * CW_SLOTS) are ever given a slot, so a masked fd that is out of range (negative, or beyond a
 * limit above CW_SLOTS) lands on a slot no open fd uses.
 * Slots: written under table_mu with release stores, read lock-free by the wrappers (a pointer
 * load: on every target we build for it is ordered after the record's initialisation).
 * Flags: written under their owner's lock (own_mu, table_mu) or by the fd's own wrapper; read
 * lock-free. cw_slot_cap is immutable after cw_table_init; before it, the arrays are static
 * zeroes. */
#define CW_SLOTS (1u << 22)
#define CW_SLOT_MASK (CW_SLOTS - 1)
enum {
  CW_FD_OWN = 1,
  CW_FD_FOLLOW = 2, /* the host's epoll registrations of it are followed (follow.c) */
  CW_FD_TCP = 4,    /* made by socket() as a TCP socket */
};
extern CW_HIDDEN struct cw_conn **cw_slots;
extern CW_HIDDEN unsigned char *cw_fdflags;
extern CW_HIDDEN unsigned cw_slot_cap;
/* set for good when cw_table_init failed: the shim then tracks nothing and starts nothing */
extern CW_HIDDEN int cw_table_off;

static inline struct cw_conn *cw_table_get(int fd) {
  return __atomic_load_n(&cw_slots[(unsigned)fd & CW_SLOT_MASK], __ATOMIC_RELAXED);
}

static inline int cw_fdflag(int fd, int flag) {
  return __atomic_load_n(&cw_fdflags[(unsigned)fd & CW_SLOT_MASK], __ATOMIC_RELAXED) & flag;
}
CW_HIDDEN void cw_fdflag_set(int fd, int flag, int on);

/* The activity clock: coarse monotonic ns, published by the reaper each tick, at start-up and
 * at each open (so activity is never dated before its connection opened), stored into a connection's last_ns by the I/O wrappers. A relaxed global: one load. */
extern CW_HIDDEN int64_t cw_tick_ns;
static inline int64_t cw_tick(void) { return __atomic_load_n(&cw_tick_ns, __ATOMIC_RELAXED); }
static inline void cw_tick_publish(void) { __atomic_store_n(&cw_tick_ns, cw_now_coarse(), __ATOMIC_RELAXED); }

/* Map the slot and flag arrays. 0 or -errno (then nothing is tracked). */
CW_HIDDEN int cw_table_init(void);

struct cw_conn_info {
  int fd, dir, inherited, policed, holds_slot;
  uint64_t ino;
  struct cw_addr local, peer;
  struct cw_bt *bt; /* ownership passes to the table */
  char host[CW_HOST_MAX + 1]; /* the name resolved for peer (at peer's port), "" when none;
                               * keep last: probes clear the fields before it */
};

/* Start tracking a connection on fd. If fd already names the same socket (a repeated connect) it
 * is left as is; a record of another socket on that number ends as a missed close. Returns 0,
 * -EEXIST (already tracked), -EBADF (fd above the slot array) or -ENOMEM. */
CW_HIDDEN int cw_table_open(const struct cw_conn_info *info);
CW_HIDDEN int cw_table_open_locked(const struct cw_conn_info *info);

/* fd was just handed out by a call that creates fds: any record still on it was closed unseen. */
CW_HIDDEN void cw_table_fd_reused(int fd);
static inline void cw_table_newfd(int fd) {
  if (CW_UNLIKELY(cw_table_get(fd) != NULL))
    cw_table_fd_reused(fd);
}

/* newfd now names what oldfd names (dup, dup2, dup3, F_DUPFD). */
CW_HIDDEN void cw_table_dup(int oldfd, int newfd);

/* fd is being closed: forget it, ending its connection at the last fd. */
CW_HIDDEN void cw_table_close(int fd);

/* The same for every tracked fd in [first, last]. */
CW_HIDDEN void cw_table_close_range(unsigned first, unsigned last);

/* shutdown(fd, how) succeeded. */
CW_HIDDEN void cw_table_shutdown(int fd, int how);

/* End the connection with this id on fd, if it is still there, as a missed close (the fd number
 * was found to name another socket). Returns 1 when the connection ended. */
CW_HIDDEN int cw_table_end_missed(int fd, uint64_t id);


/* Give the connection of direction dir on fd the stack bt (its old one is freed); bt is freed
 * when fd has no such connection. */
CW_HIDDEN void cw_table_replace_bt(int fd, int dir, struct cw_bt *bt);

/* The records, skipping the anchor (a permanent record that keeps uthash from ever freeing its
 * buckets, which a close() in a signal handler must not do). Caller holds table_mu. */
#define CW_FOREACH_CONN(c, tmp)                                                                    \
  HASH_ITER(hh, cw_tab.conns, c, tmp)                                                              \
  if ((c)->id != 0)

/* Memory to give back once table_mu is released: the reaper frees the list, off the wrappers'
 * path (all of it is mem.c's, so a free under the lock would be safe too, only slower for the
 * wrapper). Caller holds table_mu. */
CW_HIDDEN void cw_table_defer_free(void *p);
CW_HIDDEN void cw_table_free_deferred(void);

/* Slots of connections ended by this thread's pending close are given back only after the real
 * close (cw_table_settle_locked), so the peer never sees the cap exceeded and waiters keep their
 * turn. They stack: a close in a signal handler that interrupted another close between its
 * bookkeeping and its real close adds its own above the interrupted one's, and settles only
 * those. defer_slots returns the setting it replaces, for the caller to put back;
 * slots_pending is the stack's height, the mark a close settles from. */
CW_HIDDEN int cw_table_defer_slots(int on);
CW_HIDDEN int cw_table_slots_pending(void);
CW_HIDDEN void cw_table_settle_locked(int from);

/* Queued connects (policy.c). open_queued makes a record for a connect waiting for a slot: in
 * the hash and on its fd, but counted nowhere and never scheduled. admit turns it into the
 * connection it now is (counted, holding a slot, scheduled). When the last fd of a queued or
 * failed record goes, cw_table_on_unqueue (set by policy) is told before the record is freed.
 * Caller holds table_mu. */
CW_HIDDEN struct cw_conn *cw_table_open_queued_locked(const struct cw_conn_info *info);
CW_HIDDEN void cw_table_admit_locked(struct cw_conn *c);
extern CW_HIDDEN void (*cw_table_on_unqueue)(struct cw_conn *c);

/* Told when a connection ends, before its record is freed (set at start-up; NULL: nobody). */
extern CW_HIDDEN void (*cw_table_on_end)(const struct cw_conn *c, int missed);
/* Tree scope (tree.c sets them when the process joins a tree, clears them when it leaves): a
 * socket became one of this process's connections (opened, accepted, admitted, adopted), and
 * this process's hold on a socket ended (its last fd closed, or it was released), with its slot
 * when it held one. Called under table_mu. */
extern CW_HIDDEN void (*cw_table_on_hold)(uint64_t ino, int dir);
extern CW_HIDDEN void (*cw_table_on_unhold)(uint64_t ino);

/* The switch generation: odd while policy.c moves a queued socket to its real peer (or to its
 * failure), bumped again after. The poll and select wrappers compare it before and after the
 * real call: a change means they may have seen the switch's passing state. */
extern CW_HIDDEN unsigned cw_switch_gen;
static inline unsigned cw_switch_gen_now(void) { return __atomic_load_n(&cw_switch_gen, __ATOMIC_ACQUIRE); }

/* After fork, in the child: new mutex, every connection inherited, counters restarted. */
CW_HIDDEN void cw_table_fork_child(void);

CW_HIDDEN void cw_table_lock(void);
CW_HIDDEN void cw_table_unlock(void);

/* Count a connection the shim could not track (fd too high, out of memory). */
CW_HIDDEN void cw_table_count_untracked(void);

/* The destination record for key k (created on first use; NULL when the table is full). Caller
 * holds table_mu. */
CW_HIDDEN struct cw_dest *cw_table_dest_locked(const struct cw_dkey *k);
/* The destination of a connection to peer named host (NULL or "": none known), as DEST_BY
 * counts them; its latest address is peer. Caller holds table_mu. */
CW_HIDDEN struct cw_dest *cw_table_dest_for_locked(const struct cw_addr *peer, const char *host);

/* The connection c (outbound) is for host at port, as its first bytes said (a proxy's CONNECT
 * target when via): its name becomes that unless it has one (a CONNECT target replaces the
 * resolved name, the proxy's), and with DEST_BY=name it moves to that destination, its slot
 * with it (it counts as opened in both: counters never go down). Returns 1 when a slot left a
 * destination (a waiter may now fit). Caller holds table_mu. */
CW_HIDDEN int cw_table_rename_locked(struct cw_conn *c, const char *host, uint16_t port, int via);

/* Give back the cap slot of socket ino to peer d (a connect that failed, or a released
 * connection): in tree scope, the tree's slot goes when no member holds the socket. Caller
 * holds table_mu. */
CW_HIDDEN void cw_table_slot_put_locked(struct cw_dest *d, uint64_t ino);

/* The reaper's deadline heap (an intrusive binary min-heap on deadline_ns). A connection enters
 * it when opened (due at once, so the reaper sets its real deadline) and leaves when it ends.
 * Caller holds table_mu. */
#define CW_NO_HEAP UINT32_MAX
CW_HIDDEN void cw_table_sched_locked(struct cw_conn *c, int64_t deadline_ns);
CW_HIDDEN void cw_table_unsched_locked(struct cw_conn *c);
CW_HIDDEN struct cw_conn *cw_table_pop_due_locked(int64_t now); /* NULL when none is due */
CW_HIDDEN void cw_table_resched_all_locked(int64_t when);        /* after a timeout changed */

/* End c now, as a missed close (its fd names another file) or not. Caller holds table_mu. */
CW_HIDDEN void cw_table_end_locked(struct cw_conn *c, int missed);

/* Where c goes, for log lines (cw_where). */
static inline char *cw_where_conn(const struct cw_conn *c, char *buf, size_t size) {
  return cw_where(&c->peer, c->host ? c->host->name : NULL, c->host ? c->host->port : 0, c->via, buf, size);
}

/* The connection on fd if it is still the one with this id. Caller holds table_mu. */
CW_HIDDEN struct cw_conn *cw_table_find_locked(int fd, uint64_t id);

#endif
