/* table.c - the connection table. Written by interpose (through these functions) and, later, the
 * reaper; read by snapshot. Never blocks, logs, or calls policy; takes only table_mu. */
#define _GNU_SOURCE
#include "table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include "config.h"
#include "log.h"

struct cw_table cw_tab = {.mu = PTHREAD_MUTEX_INITIALIZER, .next_id = 1};
/* Before cw_table_init (another library's constructor), and if mapping fails, every fd masks
 * into these zeroes (untouched .bss: no memory until read, and only ever read): nothing is
 * tracked. */
static struct cw_conn *zero_slots[CW_SLOTS];
static unsigned char zero_flags[CW_SLOTS];
struct cw_conn **cw_slots = zero_slots; /* see table.h */
unsigned char *cw_fdflags = zero_flags; /* see table.h */
int64_t cw_tick_ns;                     /* see table.h */
__thread int cw_locked __attribute__((tls_model("initial-exec")));      /* see cw.h */
__thread int cw_lock_cancel __attribute__((tls_model("initial-exec"))); /* see cw.h */
unsigned cw_switch_gen;                 /* see table.h */
void (*cw_table_on_unqueue)(struct cw_conn *c); /* see table.h; set once by policy */
void (*cw_table_on_end)(const struct cw_conn *c, int missed); /* see table.h; set at start-up */
void (*cw_table_on_hold)(uint64_t ino, int dir);               /* see table.h; set by tree.c */
void (*cw_table_on_unhold)(uint64_t ino);                      /* see table.h; set by tree.c */
static struct cw_conn anchor;           /* the permanent record, id 0 */

/* Deferred frees: a list threaded through the blocks themselves. Guarded by table_mu. */
static void *deferred;

/* This thread's slots to give back after its real close. */
#define MAX_PENDING 16
static __thread struct cw_dest *pending[MAX_PENDING] __attribute__((tls_model("initial-exec")));
static __thread uint64_t pending_ino[MAX_PENDING] __attribute__((tls_model("initial-exec")));
static __thread int npending __attribute__((tls_model("initial-exec")));
static __thread int defer_slots __attribute__((tls_model("initial-exec")));
unsigned cw_slot_cap;       /* immutable after cw_table_init */

const double cw_hist_bounds_s[CW_HIST_BUCKETS] = {0.005, 0.01, 0.05, 0.1, 0.5, 1,   5,
                                                  10,    30,   60,   300, 1800, 3600};

/* records per allocation: as many as 64 KiB of pages hold */
#define CHUNK ((64 * 1024 - CW_MEM_OVERHEAD) / sizeof(struct cw_conn))
#define MAX_DESTS 4096

/* Records are type-stable: once allocated they are only ever recycled as records, never handed
 * back to the allocator, so a wrapper that loaded a slot just before a racing close writes into a live
 * record's memory, never into freed memory. Guarded by table_mu. */
static struct cw_conn *free_list;

void cw_table_lock(void) { cw_lock(&cw_tab.mu); }

void cw_table_unlock(void) {
  if (!cw_unlock(&cw_tab.mu))
    cw_log_flush();
}

void cw_table_defer_free(void *p) {
  if (!p)
    return;
  *(void **)p = deferred;
  deferred = p;
}

void cw_table_free_deferred(void) {
  cw_table_lock();
  void *list = deferred;
  deferred = NULL;
  cw_table_unlock();
  while (list) {
    void *next = *(void **)list;
    cw_mem_free(list);
    list = next;
  }
}

int cw_table_defer_slots(int on) {
  int was = defer_slots;
  defer_slots = on;
  return was;
}

int cw_table_slots_pending(void) { return npending; }

void cw_table_settle_locked(int from) {
  for (int i = from; i < npending; i++)
    cw_table_slot_put_locked(pending[i], pending_ino[i]);
  if (from < npending)
    npending = from;
}

static int map_table(void) {
  struct rlimit rl;
  rlim_t cap = CW_SLOTS;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < cap)
    cap = rl.rlim_max;
  /* Reserved, not committed: only the pages under fds in use are ever touched. */
  void *p = mmap(NULL, (size_t)CW_SLOTS * sizeof(struct cw_conn *), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return -errno;
  void *f = mmap(NULL, CW_SLOTS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (f == MAP_FAILED) {
    munmap(p, (size_t)CW_SLOTS * sizeof(struct cw_conn *));
    return -errno;
  }
  cw_slots = p;
  cw_fdflags = f;
  cw_slot_cap = (unsigned)cap;
  cw_tick_publish();
  /* The anchor keeps the hash's buckets between connections. Without memory for them now, the
   * buckets come and go with the records instead: nothing else depends on it. */
#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(e) (void)0
  HASH_ADD(hh, cw_tab.conns, id, sizeof anchor.id, &anchor);
  return 0;
}

int cw_table_off;

int cw_table_init(void) {
  int rc = map_table();
  if (rc < 0)
    cw_table_off = 1;
  return rc;
}

void cw_fdflag_set(int fd, int flag, int on) {
  if ((unsigned)fd >= cw_slot_cap)
    return;
  if (on)
    __atomic_or_fetch(&cw_fdflags[fd], (unsigned char)flag, __ATOMIC_RELAXED);
  else
    __atomic_and_fetch(&cw_fdflags[fd], (unsigned char)~flag, __ATOMIC_RELAXED);
}

static struct cw_conn *conn_alloc(void) {
  if (!free_list) {
    struct cw_conn *chunk = cw_mem_alloc(CHUNK * sizeof *chunk);
    if (!chunk)
      return NULL;
    for (size_t i = 0; i < CHUNK; i++) {
      chunk[i].next_free = free_list;
      free_list = &chunk[i];
    }
  }
  struct cw_conn *c = free_list;
  free_list = c->next_free;
  memset(c, 0, sizeof *c);
  return c;
}

struct cw_dest *cw_table_dest_locked(const struct cw_dkey *k) {
  struct cw_dest *d;
  size_t klen = cw_dkey_len(k);
  HASH_FIND(hh, cw_tab.dests, k, klen, d);
  if (d || cw_tab.ndests >= MAX_DESTS)
    return d;
  d = cw_mem_alloc(offsetof(struct cw_dest, key) + klen + 1);
  if (!d)
    return NULL;
  memcpy(&d->key, k, klen);
#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(e) oom = 1
  int oom = 0;
  HASH_ADD_KEYPTR(hh, cw_tab.dests, &d->key, klen, d);
  if (oom) {
    cw_mem_free(d);
    return NULL;
  }
  cw_tab.ndests++;
  return d;
}

struct cw_dest *cw_table_dest_for_locked(const struct cw_addr *peer, const char *host) {
  struct cw_dkey k;
  cw_dkey_make(&k, peer, host && *host ? host : NULL, peer->port);
  struct cw_dest *d = cw_table_dest_locked(&k);
  if (d)
    d->peer = *peer;
  return d;
}

/* c's destination, as DEST_BY counts them */
static struct cw_dest *dest_of(const struct cw_conn *c) {
  struct cw_dkey k;
  cw_dkey_make(&k, &c->peer, c->host ? c->host->name : NULL, c->host ? c->host->port : 0);
  struct cw_dest *d = cw_table_dest_locked(&k);
  if (d)
    d->peer = c->peer;
  return d;
}

int cw_table_rename_locked(struct cw_conn *c, const char *host, uint16_t port, int via) {
  if (c->dir != CW_DIR_OUT || (c->host && !via))
    return 0;
  struct cw_host *h = cw_host_get(host, port);
  if (!h)
    return 0;
  cw_host_put(c->host);
  c->host = h;
  c->via = via != 0;
  if (c->queued || c->failed)
    return 0;
  struct cw_dest *old = c->dest, *nd = dest_of(c);
  if (nd == old)
    return 0;
  if (old) /* it was opened there, and still counts in its opened: counters never go down */
    old->active--;
  if (nd) {
    nd->active++;
    nd->opened++;
  }
  c->dest = nd;
  if (!c->holds_slot)
    return 0;
  if (old)
    old->slots--;
  if (nd)
    nd->slots++;
  return old != NULL;
}

static void set_slot(int fd, struct cw_conn *c) {
  __atomic_store_n(&cw_slots[fd], c, __ATOMIC_RELEASE);
  if (c && fd >= cw_tab.hiwater)
    cw_tab.hiwater = fd + 1;
}

static void hist_add(struct cw_counters *k, double s) {
  int i = 0;
  while (i < CW_HIST_BUCKETS && s > cw_hist_bounds_s[i])
    i++;
  k->hist[i]++;
  k->hist_sum_s += s;
}

static void conn_free(struct cw_conn *c) {
  HASH_DELETE(hh, cw_tab.conns, c);
  cw_host_put(c->host);
  c->host = NULL;
  cw_table_defer_free(c->bt);
  c->bt = NULL;
  c->next_free = free_list;
  free_list = c;
}

/* End a connection whose last fd is gone. Caller holds table_mu; no slot points at c. */
static void conn_end(struct cw_conn *c, int missed) {
  if (c->queued || c->failed) { /* never a connection: nothing was counted */
    if (cw_table_on_unqueue)
      cw_table_on_unqueue(c);
    conn_free(c);
    return;
  }
  if (cw_table_on_end)
    cw_table_on_end(c, missed);
  struct cw_counters *k = &cw_tab.c;
  k->active[c->dir]--;
  k->closed[c->dir]++;
  if (missed)
    k->missed_closes++;
  k->bytes_in_closed += (int64_t)__atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
  k->bytes_out_closed += (int64_t)__atomic_load_n(&c->bytes_out, __ATOMIC_RELAXED);
  if (!c->inherited)
    hist_add(k, (double)(cw_now() - c->opened_ns) / 1e9);
  if (c->dest)
    c->dest->active--;
  cw_table_unsched_locked(c);
  if (c->holds_slot) {
    if (defer_slots && npending < MAX_PENDING) {
      pending_ino[npending] = c->ino;
      pending[npending++] = c->dest;
    } else {
      cw_table_slot_put_locked(c->dest, c->ino);
    }
  } else {
    void (*unhold)(uint64_t) = __atomic_load_n(&cw_table_on_unhold, __ATOMIC_ACQUIRE);
    if (unhold) /* loaded once: the process leaving its tree at exit clears it */
      unhold(c->ino); /* this process's hold on the socket ends */
  }
  conn_free(c);
}

/* Drop fd's reference to its connection. Caller holds table_mu. */
static void detach(int fd, int missed) {
  /* Only numbers that can be tracked: a number at or above the cap (a negative one, one that
   * masks onto a live slot, python.c's reserved number) names nothing here. */
  if ((unsigned)fd >= cw_slot_cap)
    return;
  struct cw_conn *c = cw_slots[fd];
  if (!c)
    return;
  set_slot(fd, NULL);
  if (--c->nfds > 0) {
    if (c->fd == fd) { /* name it by a remaining fd */
      for (int i = 0; i < cw_tab.hiwater; i++)
        if (cw_slots[i] == c) {
          c->fd = i;
          break;
        }
    }
    return;
  }
  conn_end(c, missed);
}

/* A new record for info on its fd, in the hash, not yet counted or scheduled. NULL (info->bt
 * freed, *rc set) when fd is out of range, already names this socket, or memory ran out. */
static struct cw_conn *record_new(const struct cw_conn_info *info, int *rc) {
  *rc = 0;
  if ((unsigned)info->fd >= cw_slot_cap) {
    cw_tab.c.untracked++;
    *rc = -EBADF;
    goto out_free;
  }
  struct cw_conn *old = cw_slots[info->fd];
  if (old && old->ino == info->ino) {
    *rc = -EEXIST;
    goto out_free;
  }
  if (old)
    detach(info->fd, 1);
  struct cw_conn *c = conn_alloc();
  if (!c) {
    cw_tab.c.untracked++;
    *rc = -ENOMEM;
    goto out_free;
  }
  c->id = cw_tab.next_id++;
  c->fd = info->fd;
  c->nfds = 1;
  c->dir = info->dir & 1;
  c->inherited = info->inherited != 0;
  c->acked_base = !c->inherited; /* adopted: bytes moved before it was, unknown until a look */
  c->policed = info->policed != 0;
  c->holds_slot = info->holds_slot != 0;
  c->ino = info->ino;
  c->local = info->local;
  c->peer = info->peer;
  c->bt = info->bt;
  c->host = info->host[0] ? cw_host_get(info->host, info->peer.port) : NULL;
  if (info->host[0] && !c->host) { /* no memory for its name: its slot was taken by the name */
    c->next_free = free_list;
    free_list = c;
    cw_tab.c.untracked++;
    *rc = -ENOMEM;
    goto out_free;
  }
  c->opened_ns = cw_now();
  c->heap_idx = CW_NO_HEAP;
#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(e) oom = 1
  int oom = 0;
  HASH_ADD(hh, cw_tab.conns, id, sizeof c->id, c);
  if (oom) {
    cw_host_put(c->host);
    c->next_free = free_list;
    free_list = c;
    cw_tab.c.untracked++;
    *rc = -ENOMEM;
    goto out_free;
  }
  return c;
out_free:
  cw_mem_free(info->bt);
  return NULL;
}

/* Count c as an open connection from now, and schedule the reaper's first look at it. */
static void record_count(struct cw_conn *c) {
  /* The activity clock moves on here too: until the reaper's next tick (its first may still be
   * ahead: it starts with the first connection, or again in a fork child), reads and writes on
   * this connection would otherwise date its activity before it opened, and reap it early. */
  cw_tick_publish();
  c->last_ns = cw_tick() & ~(int64_t)CW_LAST_WROTE; /* no transfer yet: not a write's (odd clocks) */
  if (c->dir == CW_DIR_OUT && (c->dest = dest_of(c))) {
    c->dest->active++;
    c->dest->opened++;
  }
  struct cw_counters *k = &cw_tab.c;
  k->opened[c->dir]++;
  if (c->inherited)
    k->inherited++;
  if (++k->active[c->dir] > k->peak[c->dir])
    k->peak[c->dir] = k->active[c->dir];
  if (k->active[0] + k->active[1] > k->peak_total)
    k->peak_total = k->active[0] + k->active[1];
  cw_table_sched_locked(c, c->opened_ns); /* due: the reaper sets its real deadline */
  void (*hold)(uint64_t, int) = __atomic_load_n(&cw_table_on_hold, __ATOMIC_ACQUIRE);
  if (hold)
    hold(c->ino, c->dir); /* one connection of the tree, however many hold it */
}

int cw_table_open_locked(const struct cw_conn_info *info) {
  int rc;
  struct cw_conn *c = record_new(info, &rc);
  if (!c)
    return rc;
  record_count(c);
  set_slot(info->fd, c);
  return 0;
}

struct cw_conn *cw_table_open_queued_locked(const struct cw_conn_info *info) {
  int rc;
  struct cw_conn *c = record_new(info, &rc);
  if (!c)
    return NULL;
  __atomic_store_n(&c->queued, 1, __ATOMIC_RELAXED); /* read lock-free by the wrappers */
  c->holds_slot = 0;
  set_slot(info->fd, c);
  return c;
}

void cw_table_admit_locked(struct cw_conn *c) {
  __atomic_store_n(&c->queued, 0, __ATOMIC_RELAXED); /* read lock-free by the wrappers */
  c->wait = NULL;
  c->holds_slot = 1;
  c->opened_ns = cw_now();
  record_count(c);
}

int cw_table_open(const struct cw_conn_info *info) {
  cw_table_lock();
  int rc = cw_table_open_locked(info);
  cw_table_unlock();
  return rc;
}


void cw_table_fd_reused(int fd) {
  cw_table_lock();
  detach(fd, 1);
  cw_table_unlock();
}

void cw_table_dup(int oldfd, int newfd) {
  if ((unsigned)newfd >= cw_slot_cap || (unsigned)oldfd >= cw_slot_cap || oldfd == newfd)
    return;
  cw_table_lock();
  detach(newfd, 0);
  struct cw_conn *c = cw_table_get(oldfd);
  if (c) {
    c->nfds++;
    set_slot(newfd, c);
  }
  cw_table_unlock();
}

void cw_table_close(int fd) {
  if (!cw_table_get(fd))
    return;
  cw_table_lock();
  detach(fd, 0);
  cw_table_unlock();
}

void cw_table_close_range(unsigned first, unsigned last) {
  cw_table_lock();
  unsigned end = (unsigned)cw_tab.hiwater;
  if (last < end)
    end = last + 1;
  for (unsigned fd = first; fd < end; fd++)
    detach((int)fd, 0);
  cw_table_unlock();
}

void cw_table_shutdown(int fd, int how) {
  struct cw_conn *c = cw_table_get(fd);
  if (!c || (unsigned)fd >= cw_slot_cap)
    return;
  cw_table_lock();
  if (cw_slots[fd] == c)
    c->shut |= (how == 0 ? 1u : how == 1 ? 2u : 3u);
  cw_table_unlock();
}

void cw_table_replace_bt(int fd, int dir, struct cw_bt *bt) {
  cw_table_lock();
  struct cw_conn *c = (unsigned)fd < cw_slot_cap ? cw_slots[fd] : NULL;
  if (c && (int)c->dir == dir) {
    cw_table_defer_free(c->bt);
    c->bt = bt;
    bt = NULL;
  }
  cw_table_unlock();
  cw_mem_free(bt);
}

int cw_table_end_missed(int fd, uint64_t id) {
  int ended = 0;
  cw_table_lock();
  struct cw_conn *c = (unsigned)fd < cw_slot_cap ? cw_slots[fd] : NULL;
  if (c && c->id == id) {
    /* other fds of it may still name the live socket: end just this fd's share */
    ended = c->nfds == 1;
    detach(fd, 1);
  }
  cw_table_unlock();
  return ended;
}

void cw_table_fork_child(void) {
  cw_mutex_remake(&cw_tab.mu);
  struct cw_counters *k = &cw_tab.c;
  memset(k, 0, sizeof *k);
  struct cw_conn *c, *tmp;
  CW_FOREACH_CONN(c, tmp) {
    if (c->queued || c->failed) { /* the parent's queue: its socket completes (or fails) there */
      for (int i = 0; i < cw_tab.hiwater; i++)
        if (cw_slots[i] == c)
          set_slot(i, NULL);
      conn_free(c);
      continue;
    }
    c->inherited = 1;
    c->holds_slot = 0; /* the child's caps count its own connects */
    /* the child's counters start again: what it finds it counts as its own */
    c->cw_logged = 0;
    c->peer_closed_ns = 0;
    c->abandoned = CW_AB_NO;
    c->ab_counted = 0;
    if (!c->reaped)
      c->unread_ns = 0;
    cw_table_sched_locked(c, 0); /* the child's reaper looks at each once */
    k->opened[c->dir]++;
    k->active[c->dir]++;
    k->inherited++;
  }
  for (int d = 0; d < 2; d++)
    k->peak[d] = k->active[d];
  k->peak_total = k->active[0] + k->active[1];
  struct cw_dest *dd, *dt;
  HASH_ITER(hh, cw_tab.dests, dd, dt) {
    dd->opened = dd->active;
    dd->refused = dd->reaped = dd->slots = 0;
  }
}

void cw_table_slot_put_locked(struct cw_dest *d, uint64_t ino) {
  cw_tab.c.slots--;
  if (d)
    d->slots--;
  void (*unhold)(uint64_t) = __atomic_load_n(&cw_table_on_unhold, __ATOMIC_ACQUIRE);
  if (unhold)
    unhold(ino); /* the tree's slot goes when no member holds the socket */
}

struct cw_conn *cw_table_find_locked(int fd, uint64_t id) {
  struct cw_conn *c = (unsigned)fd < cw_slot_cap ? cw_slots[fd] : NULL;
  return c && c->id == id ? c : NULL;
}

/* ---- the deadline heap ---------------------------------------------------------------------- */

static struct cw_conn **heap; /* guarded by table_mu */
static uint32_t heap_n, heap_cap;

static void heap_place(uint32_t i, struct cw_conn *c) {
  heap[i] = c;
  c->heap_idx = i;
}

static void heap_up(uint32_t i) {
  struct cw_conn *c = heap[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (heap[p]->deadline_ns <= c->deadline_ns)
      break;
    heap_place(i, heap[p]);
    i = p;
  }
  heap_place(i, c);
}

static void heap_down(uint32_t i) {
  struct cw_conn *c = heap[i];
  for (;;) {
    uint32_t l = 2 * i + 1, m = i;
    int64_t best = c->deadline_ns;
    if (l < heap_n && heap[l]->deadline_ns < best)
      m = l, best = heap[l]->deadline_ns;
    if (l + 1 < heap_n && heap[l + 1]->deadline_ns < best)
      m = l + 1;
    if (m == i)
      break;
    heap_place(i, heap[m]);
    i = m;
  }
  heap_place(i, c);
}

void cw_table_sched_locked(struct cw_conn *c, int64_t deadline_ns) {
  if (c->heap_idx != CW_NO_HEAP) {
    int64_t old = c->deadline_ns;
    c->deadline_ns = deadline_ns;
    if (deadline_ns < old)
      heap_up(c->heap_idx);
    else
      heap_down(c->heap_idx);
    return;
  }
  if (heap_n == heap_cap) {
    uint32_t cap = heap_cap ? heap_cap * 2 : 256;
    struct cw_conn **h = cw_mem_alloc(cap * sizeof *h);
    if (!h)
      return; /* not scheduled: the reaper looks at it when resched_all runs */
    if (heap_n)
      memcpy(h, heap, heap_n * sizeof *h);
    cw_mem_free(heap);
    heap = h;
    heap_cap = cap;
  }
  c->deadline_ns = deadline_ns;
  heap_place(heap_n++, c);
  heap_up(heap_n - 1);
}

void cw_table_unsched_locked(struct cw_conn *c) {
  uint32_t i = c->heap_idx;
  if (i == CW_NO_HEAP)
    return;
  c->heap_idx = CW_NO_HEAP;
  struct cw_conn *last = heap[--heap_n];
  if (i == heap_n)
    return;
  heap_place(i, last);
  heap_up(i);
  heap_down(last->heap_idx);
}

struct cw_conn *cw_table_pop_due_locked(int64_t now) {
  if (heap_n == 0 || heap[0]->deadline_ns > now)
    return NULL;
  struct cw_conn *c = heap[0];
  cw_table_unsched_locked(c);
  return c;
}

void cw_table_resched_all_locked(int64_t when) {
  struct cw_conn *c, *tmp;
  CW_FOREACH_CONN(c, tmp) {
    if (!c->released && !c->queued && !c->failed)
      cw_table_sched_locked(c, when);
  }
}

void cw_table_end_locked(struct cw_conn *c, int missed) {
  /* every fd naming it: a missed close of one number ends the record */
  for (int i = 0; i < cw_tab.hiwater && c->nfds > 0; i++)
    if (cw_slots[i] == c)
      detach(i, missed);
}

void cw_table_count_untracked(void) {
  cw_table_lock();
  cw_tab.c.untracked++;
  cw_table_unlock();
}
