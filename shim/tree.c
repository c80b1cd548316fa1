/* tree.c - the shared state of a process tree (CONNWARDEN_CAP_SCOPE=tree). See tree.h.
 *
 * The file. The tree's first process creates it in the run directory (0600, in the 0700 run
 * directory, space reserved with fallocate so that no page of it can fail later on a full disk)
 * and names it in the environment; a process that execs with that environment maps it again,
 * after checking its owner, mode, size, magic and version. A forked child has it mapped already.
 *
 * Members. Each process is a member, a row of the file, alive exactly as long as an open file
 * description of the file holds a write lock on the member's byte (an OFD lock, in an unused range
 * beyond the end of the file). The kernel drops the lock when the last fd of that description
 * closes, which is when the process dies (SIGKILL included) or execs without handing it on: so a
 * member's life is tested with one F_OFD_GETLK, with no PID to be reused. A fork's child gets its
 * row and its lock in the parent's prepare handler (a description opened for it and inherited), so
 * that it holds the parent's sockets from the first instant; the parent closes its copy after the
 * fork, and a fork that failed leaves a row whose lock is gone, reclaimed like a dead member.
 *
 * Sockets. A row per kernel socket (by inode) that a member tracks, with the set of members that
 * hold it: the socket is one connection of the tree, counted once and holding at most one slot,
 * however many members hold it after forks; the slot and the count go when the last holder's hold
 * ends. A dead member's holds end when it is reclaimed.
 *
 * The queue. A connect that finds no slot waits in the tree's queue under a ticket. Whoever frees
 * a slot, in any process, hands it to the oldest waiter that fits: the slot is taken in the
 * waiter's name (its process's hold on the socket) and the waiter's process is woken (a futex in
 * its row, which its reaper sleeps on), which starts the real connect on its own socket.
 *
 * The lock is a robust process-shared mutex: a member that dies holding it makes the next locker
 * repair what it may have left half done (the socket rows are re-hashed and every count
 * recomputed), so the tree is never wedged. Under it only non-blocking system calls are made. */
#define _GNU_SOURCE
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "lifecycle.h"
#include "log.h"
#include "ownfd.h"
#include "procname.h"
#include "real.h"
#include "rundir.h"
#include "table.h"

#define MAGIC 0x636f6e6e74726565ULL /* "conntree" */
#define VERSION 2 /* 2: destinations by name */
#define NSOCK 32768 /* power of two */
#define NDEST 1024  /* power of two */
#define NWAIT CW_TREE_WAITS
#define LOCK_BASE ((off_t)1 << 30) /* member m's life: a write lock on byte LOCK_BASE + m */
#define LOCK_INUSE (LOCK_BASE - 1) /* every member holds a read lock here: the file is in use */
#define SWEEP_NS (250 * 1000000LL)

enum { M_FREE = 0, M_LIVE = 1, M_RESERVED = 2 };
enum { W_FREE = 0, W_WAITING = 1, W_GRANTED = 2 };
enum { CFG_MAX, CFG_MAX_DEST, CFG_IDLE, CFG_LIFE, CFG_EVICT, NCFG };

struct sock {
  uint64_t ino; /* 0: empty */
  uint64_t holders[CW_TREE_MEMBERS / 64];
  int32_t dest; /* its destination row when it holds a slot, else -1 */
  uint8_t dir, slot, counted, pad;
};

struct dest {
  struct cw_dkey key;
  uint32_t used;
  int32_t slots;
};

struct wait {
  uint64_t ticket, ino;
  int64_t since_ns;
  int32_t member, dest;
  uint32_t state, pad;
};

struct member {
  int32_t pid;
  uint32_t state;
  uint32_t seq; /* the futex its reaper sleeps on: bumped by whoever wakes it */
  uint32_t pad;
  struct cw_tree_pub pub;
};

struct shm {
  uint64_t magic;
  uint32_t version, size, uid, pad;
  pthread_mutex_t mu;
  char name[CW_NAME_MAX + 1];
  int32_t root_pid;
  uint32_t cfg_gen;
  int64_t cfg[NCFG];
  int64_t active[2], peak[2], peak_total, opened[2], closed[2], slots;
  int32_t nsocks, nwaits;
  uint64_t next_ticket;
  int64_t sweep_next_ns;
  struct cw_tree_pub gone; /* the counters of members that have left */
  struct member members[CW_TREE_MEMBERS];
  struct dest dests[NDEST];
  struct wait waits[NWAIT];
  struct sock socks[NSOCK];
};

int cw_tree_on;
static struct shm *T;
static int me = -1;
static int mfd = -1;                /* own fd: its description holds this member's locks */
/* the row and description reserved for a fork's child: set under the tree's lock in the prepare
 * handler, cleared without it after the fork, read by the reaper's sweep (atomics there) */
static int resv_fd = -1, resv = -1;
static uint32_t my_gen;
static char tpath[CW_PATH_MAX];
static int repaired; /* under the tree's lock: repair_l ran, tunlock says so */

/* ---- small pieces --------------------------------------------------------------------------- */

static int bit(const uint64_t *h, int m) { return (int)((h[m >> 6] >> (m & 63)) & 1); }
static void bit_set(uint64_t *h, int m) { h[m >> 6] |= 1ULL << (m & 63); }
static void bit_clear(uint64_t *h, int m) { h[m >> 6] &= ~(1ULL << (m & 63)); }
static int bits_none(const uint64_t *h) {
  for (int i = 0; i < CW_TREE_MEMBERS / 64; i++)
    if (h[i])
      return 0;
  return 1;
}

static uint32_t hash_ino(uint64_t k) { return (uint32_t)((k * 0x9E3779B97F4A7C15ULL) >> 40) & (NSOCK - 1); }

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, uaddr, op, val, ts, NULL, op == FUTEX_WAIT_BITSET ? FUTEX_BITSET_MATCH_ANY : 0);
}

static void wake_member(int m) {
  __atomic_add_fetch(&T->members[m].seq, 1, __ATOMIC_RELEASE);
  futex(&T->members[m].seq, FUTEX_WAKE, 1, NULL);
}

static int lock_range(int fd, int cmd, short type, off_t at) {
  struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1, .l_pid = 0};
  return CW_REAL(fcntl)(fd, cmd, &fl);
}

/* Does any other description hold a lock that conflicts with a write lock on byte at? */
static int held(int fd, off_t at) {
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1, .l_pid = 0};
  if (CW_REAL(fcntl)(fd, F_OFD_GETLK, &fl) < 0)
    return 1; /* cannot tell: alive */
  return fl.l_type != F_UNLCK;
}

/* ---- sockets: open addressing, linear probing, deletion by backward shift ------------------- */

static struct sock *sock_find(uint64_t ino) {
  for (uint32_t i = hash_ino(ino), n = 0; n < NSOCK; i = (i + 1) & (NSOCK - 1), n++) {
    if (T->socks[i].ino == ino)
      return &T->socks[i];
    if (!T->socks[i].ino)
      return NULL;
  }
  return NULL;
}

static struct sock *sock_add(uint64_t ino) {
  struct sock *s = sock_find(ino);
  if (s)
    return s;
  if (T->nsocks >= NSOCK - NSOCK / 8)
    return NULL;
  uint32_t i = hash_ino(ino);
  while (T->socks[i].ino)
    i = (i + 1) & (NSOCK - 1);
  s = &T->socks[i];
  memset(s, 0, sizeof *s);
  s->ino = ino;
  s->dest = -1;
  T->nsocks++;
  return s;
}

static void sock_del(struct sock *s) {
  uint32_t i = (uint32_t)(s - T->socks), j = i;
  for (;;) {
    j = (j + 1) & (NSOCK - 1);
    if (!T->socks[j].ino)
      break;
    uint32_t k = hash_ino(T->socks[j].ino);
    /* j's entry may fill the hole at i unless its home lies cyclically in (i, j] */
    if ((i <= j) ? (k <= i || k > j) : (k <= i && k > j)) {
      T->socks[i] = T->socks[j];
      i = j;
    }
  }
  memset(&T->socks[i], 0, sizeof T->socks[i]);
  T->nsocks--;
}

/* Member m's hold on s ends. Returns 1 when a slot came free. */
static int release_l(struct sock *s, int m) {
  bit_clear(s->holders, m);
  if (!bits_none(s->holders))
    return 0;
  int freed = s->slot;
  if (s->slot) {
    T->slots--;
    if (s->dest >= 0)
      T->dests[s->dest].slots--;
  }
  if (s->counted) {
    T->active[s->dir]--;
    T->closed[s->dir]++;
  }
  sock_del(s);
  return freed;
}

/* ---- destinations --------------------------------------------------------------------------- */

static int dest_row(const struct cw_dkey *k) {
  size_t klen = cw_dkey_len(k);
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < klen; i++)
    h = (h ^ ((const uint8_t *)k)[i]) * 16777619u;
  for (uint32_t i = h & (NDEST - 1), n = 0; n < NDEST; i = (i + 1) & (NDEST - 1), n++) {
    struct dest *d = &T->dests[i];
    if (d->used && d->key.len == k->len && memcmp(&d->key, k, klen) == 0)
      return (int)i;
    if (!d->used) {
      memset(&d->key, 0, sizeof d->key);
      memcpy(&d->key, k, klen);
      d->used = 1;
      return (int)i;
    }
  }
  return -1; /* full: no per-destination cap for it in the tree */
}

/* ---- the lock and its repair ---------------------------------------------------------------- */

static void grant_l(void);

/* Recount everything from the rows, and re-hash the socket rows (a holder killed in the middle of
 * a backward shift may have left one out of its probe chain). */
static void repair_l(void) {
  struct sock *keep = mmap(NULL, sizeof T->socks, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (keep == MAP_FAILED)
    return; /* counts may be off; the rows stay as they are */
  int n = 0;
  for (int i = 0; i < NSOCK; i++)
    if (T->socks[i].ino)
      keep[n++] = T->socks[i];
  memset(T->socks, 0, sizeof T->socks);
  T->nsocks = 0;
  T->slots = T->active[0] = T->active[1] = 0;
  for (int i = 0; i < NDEST; i++)
    T->dests[i].slots = 0;
  for (int i = 0; i < n; i++) {
    if (bits_none(keep[i].holders)) { /* a release that died before its row went: it goes now */
      if (keep[i].counted)
        T->closed[keep[i].dir & 1]++;
      continue;
    }
    struct sock *s = sock_find(keep[i].ino);
    if (s) { /* a backward shift that died half way left a copy of a row: counted once */
      for (int w = 0; w < CW_TREE_MEMBERS / 64; w++)
        s->holders[w] |= keep[i].holders[w];
      continue;
    }
    s = sock_add(keep[i].ino);
    if (!s)
      break;
    *s = keep[i];
    T->slots += s->slot;
    if (s->slot && s->dest >= 0)
      T->dests[s->dest].slots++;
    if (s->counted)
      T->active[s->dir & 1]++;
  }
  T->nwaits = 0;
  for (int i = 0; i < NWAIT; i++)
    T->nwaits += T->waits[i].state != W_FREE;
  munmap(keep, sizeof T->socks);
  repaired = 1; /* said once the lock is let go: nothing that may block under it */
  grant_l();    /* the slots it found free go to the queue now */
}

static int tlock(void) {
  int rc = pthread_mutex_lock(&T->mu);
  if (rc == EOWNERDEAD) {
    repair_l();
    pthread_mutex_consistent(&T->mu);
    rc = 0;
  }
  return rc == 0 ? 0 : -1;
}

static void tunlock(void) {
  int said = repaired;
  repaired = 0;
  pthread_mutex_unlock(&T->mu);
  if (said)
    cw_log(CW_LOG_WARN, CW_EV_CONFIG, "process tree: a member died holding the tree's lock; its state was repaired");
}

/* The lock, for what a member does: refused (-1) once this process has left the tree (at exit,
 * while other threads of it may still run), so that nothing of it is written after it left. */
static int member_lock(void) {
  if (tlock() < 0)
    return -1;
  if (!cw_tree_on) {
    tunlock();
    return -1;
  }
  return 0;
}

/* ---- grants --------------------------------------------------------------------------------- */

static int fits_l(int d) {
  int64_t max = T->cfg[CFG_MAX], maxd = T->cfg[CFG_MAX_DEST];
  if (max && T->slots >= max)
    return 0;
  return !(maxd && d >= 0 && T->dests[d].slots >= maxd);
}

/* Take a slot for socket ino, in member m's name. */
static int take_l(uint64_t ino, int d, int m) {
  struct sock *s = sock_add(ino);
  if (!s)
    return -1;
  bit_set(s->holders, m);
  if (!s->slot) {
    s->slot = 1;
    s->dest = d;
    T->slots++;
    if (d >= 0)
      T->dests[d].slots++;
  }
  return 0;
}

/* Free slots to waiters, by ticket: the oldest that fits first. */
static void grant_l(void) {
  if (!T->nwaits)
    return;
  int order[NWAIT], n = 0;
  for (int i = 0; i < NWAIT; i++) {
    if (T->waits[i].state != W_WAITING)
      continue;
    int k = n++;
    while (k > 0 && T->waits[order[k - 1]].ticket > T->waits[i].ticket) {
      order[k] = order[k - 1];
      k--;
    }
    order[k] = i;
  }
  for (int k = 0; k < n; k++) {
    struct wait *w = &T->waits[order[k]];
    int64_t max = T->cfg[CFG_MAX];
    if (max && T->slots >= max)
      break;
    if (!fits_l(w->dest) || take_l(w->ino, w->dest, w->member) < 0)
      continue; /* its destination is full: others behind it may still go */
    __atomic_store_n(&w->state, W_GRANTED, __ATOMIC_RELEASE);
    wake_member(w->member);
  }
}

/* ---- members -------------------------------------------------------------------------------- */

/* Member m has left (it exited, or died): its holds end, its waits go, its counters stay. */
static int reclaim_l(int m) {
  int freed = 0;
  for (int i = 0; i < NSOCK; i++) {
    struct sock *s = &T->socks[i];
    while (s->ino && bit(s->holders, m)) /* a deletion may shift another row into i */
      freed |= release_l(s, m);
  }
  for (int i = 0; i < NWAIT; i++) {
    struct wait *w = &T->waits[i];
    if (w->state != W_FREE && w->member == m) {
      w->state = W_FREE;
      T->nwaits--;
    }
  }
  struct cw_tree_pub *g = &T->gone, *p = &T->members[m].pub;
  int64_t *gs = (int64_t *)g, *ps = (int64_t *)p;
  for (size_t i = 0; i < sizeof *g / sizeof(int64_t); i++)
    gs[i] += ps[i];
  memset(&T->members[m], 0, sizeof T->members[m]);
  return freed;
}

/* A new row, locked by a new description of the file (opened here; its fd returned). */
static int member_new(int *fd_out) {
  char self[32];
  snprintf(self, sizeof self, "/proc/self/fd/%d", mfd);
  /* a new description of the file this process has open (its path may be gone from the
   * environment, or the run directory renamed), else by its path */
  int fd = mfd >= 0 ? (int)CW_RAW(SYS_openat, AT_FDCWD, self, O_RDWR | O_CLOEXEC) : -1;
  if (fd < 0)
    fd = (int)CW_RAW(SYS_openat, AT_FDCWD, tpath, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -1;
  for (int m = 0; m < CW_TREE_MEMBERS; m++) {
    if (T->members[m].state != M_FREE || lock_range(fd, F_OFD_SETLK, F_WRLCK, LOCK_BASE + m) < 0)
      continue;
    if (lock_range(fd, F_OFD_SETLK, F_RDLCK, LOCK_INUSE) < 0)
      break;
    memset(&T->members[m], 0, sizeof T->members[m]);
    T->members[m].state = M_RESERVED;
    *fd_out = cw_own_high_fd(fd);
    return m;
  }
  CW_REAL(close)(fd);
  return -1;
}

/* fd is this member's description from now on; registered as the shim's own, so that a host that
 * closes every fd it does not know leaves it (and the member's life) alone. */
static void use_fd(int fd) {
  mfd = fd;
  cw_own_add(&mfd); /* -ENOSPC: unprotected, still ours */
}

/* Membership on or off: the table's hooks with it. */
static void on(int yes) {
  __atomic_store_n(&cw_tree_on, yes, __ATOMIC_RELEASE);
  __atomic_store_n(&cw_table_on_hold, yes ? cw_tree_open : NULL, __ATOMIC_RELEASE);
  __atomic_store_n(&cw_table_on_unhold, yes ? cw_tree_drop : NULL, __ATOMIC_RELEASE);
}

/* ---- start-up ------------------------------------------------------------------------------- */

static int map_fd(int fd, const char *what) {
  struct stat st;
  if (CW_RAW(SYS_fstat, fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: %s is not a regular file: caps are per process", what);
    return -1;
  }
  if (st.st_uid != geteuid() || (st.st_mode & 077)) {
    cw_log(CW_LOG_ERROR, CW_EV_CONFIG,
           "process tree: %s belongs to uid %u with mode %03o (expected uid %u, mode 0600): caps are per process",
           what, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777), (unsigned)geteuid());
    return -1;
  }
  if (st.st_size != (off_t)sizeof(struct shm)) {
    const uint32_t *v = NULL;
    uint64_t magic = 0;
    uint32_t ver = 0;
    if (st.st_size >= 12 && pread(fd, &magic, 8, 0) == 8 && pread(fd, &ver, 4, 8) == 4 && magic == MAGIC)
      v = &ver;
    if (v)
      cw_log(CW_LOG_ERROR, CW_EV_CONFIG,
             "process tree: %s was made by another version of connwarden (format %u, this one reads %u): caps are per process",
             what, (unsigned)*v, VERSION);
    else
      cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: %s is not a connwarden tree (size %lld): caps are per process",
             what, (long long)st.st_size);
    return -1;
  }
  /* populated: its pages are faulted in now, not one by one on the host's connects */
  void *p = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) {
    cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: cannot map %s (%s): caps are per process", what, strerror(errno));
    return -1;
  }
  struct shm *s = p;
  if (s->magic != MAGIC || s->version != VERSION || s->size != sizeof(struct shm) || s->uid != geteuid()) {
    if (s->magic == MAGIC && s->version != VERSION)
      cw_log(CW_LOG_ERROR, CW_EV_CONFIG,
             "process tree: %s was made by another version of connwarden (format %u, this one reads %u): caps are per process",
             what, (unsigned)s->version, VERSION);
    else
      cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: %s is corrupt (bad header): caps are per process", what);
    munmap(p, sizeof(struct shm));
    return -1;
  }
  T = s;
  return 0;
}

/* Tree files of trees with no member left (all killed): removed when a new tree starts. */
static void sweep_stale(void) {
  int dfd = (int)CW_RAW(SYS_openat, AT_FDCWD, cw_cfg.rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return;
  DIR *d = fdopendir(dfd);
  if (!d) {
    CW_REAL(close)(dfd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "tree-", 5) != 0 || !strstr(e->d_name, ".shm"))
      continue;
    int fd = (int)CW_RAW(SYS_openat, dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      continue;
    if (!held(fd, LOCK_INUSE))
      CW_RAW(SYS_unlinkat, dfd, e->d_name, 0);
    CW_REAL(close)(fd);
  }
  closedir(d);
}

static void settings_from_cfg(int64_t *cfg) {
  cfg[CFG_MAX] = cw_cfg_get(&cw_cfg.max_conns);
  cfg[CFG_MAX_DEST] = cw_cfg_get(&cw_cfg.max_conns_per_dest);
  cfg[CFG_IDLE] = cw_cfg_get(&cw_cfg.idle_timeout_ms);
  cfg[CFG_LIFE] = cw_cfg_get(&cw_cfg.max_lifetime_ms);
  cfg[CFG_EVICT] = cw_cfg_get(&cw_cfg.evict_idle_ms);
}

static int create(void) {
  int n = snprintf(tpath, sizeof tpath, "%s/tree-%d.shm", cw_cfg.rundir, (int)cw_pid);
  if (n < 0 || (size_t)n >= sizeof tpath)
    return -1;
  if (cw_rundir_ensure(cw_cfg.rundir, 0, CW_EV_CONFIG, "process tree: caps are per process") < 0)
    return -1;
  sweep_stale();
  CW_RAW(SYS_unlinkat, AT_FDCWD, tpath, 0); /* a dead tree of a process that had this PID */
  int fd = (int)CW_RAW(SYS_openat, AT_FDCWD, tpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: cannot create %s (%s): caps are per process", tpath,
           strerror(errno));
    return -1;
  }
  /* every page reserved now: a full disk fails here, never as a fault in a host's connect */
  int rc = posix_fallocate(fd, 0, sizeof(struct shm));
  if (rc != 0) {
    cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: cannot make %s (%s): caps are per process", tpath, strerror(rc));
    goto fail;
  }
  void *p = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) {
    cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: cannot map %s (%s): caps are per process", tpath, strerror(errno));
    goto fail;
  }
  T = p;
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&T->mu, &a);
  pthread_mutexattr_destroy(&a);
  T->version = VERSION;
  T->size = sizeof(struct shm);
  T->uid = geteuid();
  T->root_pid = cw_pid;
  /* the tree's name: its first process's as it started (stable, for a label: a master that
   * retitles itself later keeps its tree's name) */
  char name[CW_NAME_MAX + 1];
  cw_procname_get(cw_cfg.name, name, sizeof name);
  snprintf(T->name, sizeof T->name, "%s", name);
  settings_from_cfg(T->cfg);
  T->sweep_next_ns = 0;
  __atomic_store_n(&T->magic, MAGIC, __ATOMIC_RELEASE);
  CW_REAL(close)(fd);
  return 0;
fail:
  CW_REAL(close)(fd);
  CW_RAW(SYS_unlinkat, AT_FDCWD, tpath, 0);
  return -1;
}

static int join(void) {
  int fd, m;
  if (tlock() < 0)
    return -1;
  m = member_new(&fd);
  if (m >= 0) {
    T->members[m].state = M_LIVE;
    T->members[m].pid = cw_pid;
  }
  tunlock();
  if (m < 0) {
    cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: %s has no room for another process (%d at most): this one has caps of its own",
           tpath, CW_TREE_MEMBERS);
    return -1;
  }
  me = m;
  use_fd(fd);
  __atomic_store_n(&my_gen, ~0u, __ATOMIC_RELAXED);
  on(1);
  cw_tree_sync_settings(); /* the tree's settings win over this process's environment */
  return 0;
}

void cw_tree_init(void) {
  if (cw_tree_on)
    return; /* carried across exec */
  const char *path = getenv(CW_TREE_VAR);
  if (path && *path) {
    if (strlen(path) >= sizeof tpath) {
      cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: %s is too long: caps are per process", CW_TREE_VAR);
      return;
    }
    snprintf(tpath, sizeof tpath, "%s", path);
    int fd = (int)CW_RAW(SYS_openat, AT_FDCWD, tpath, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      cw_log(CW_LOG_ERROR, CW_EV_CONFIG, "process tree: cannot open %s (%s): caps are per process", tpath,
             strerror(errno));
      return;
    }
    int rc = map_fd(fd, tpath);
    CW_REAL(close)(fd);
    if (rc == 0)
      join();
    return;
  }
  if (cw_cfg.cap_scope != CW_SCOPE_TREE)
    return;
  if (create() < 0)
    return;
  if (join() == 0 && setenv(CW_TREE_VAR, tpath, 1) < 0)
    cw_log(CW_LOG_WARN, CW_EV_CONFIG, "process tree: cannot set %s: programs this one execs have caps of their own",
           CW_TREE_VAR);
}

/* ---- slots ---------------------------------------------------------------------------------- */

int cw_tree_admit(const struct cw_dkey *dest, int32_t *row, uint64_t ino, int64_t since_ns, int *tidx) {
  *tidx = -1;
  if (member_lock() < 0)
    return 1;
  grant_l(); /* first come, first served: the tree's queue before any newcomer */
  int d = row && *row > 0 ? *row - 1 : dest_row(dest), rc = 1;
  if (row && d >= 0)
    *row = d + 1; /* rows are never freed: the number stays the destination's */
  if (fits_l(d)) {
    if (take_l(ino, d, me) < 0)
      rc = 1; /* no row for it: admitted, uncounted (the table holds NSOCK sockets) */
  } else if (!since_ns) {
    rc = 0;
  } else {
    rc = -1;
    for (int i = 0; i < NWAIT; i++) {
      struct wait *w = &T->waits[i];
      if (w->state != W_FREE)
        continue;
      w->ticket = T->next_ticket++;
      w->ino = ino;
      w->since_ns = since_ns;
      w->member = me;
      w->dest = d;
      __atomic_store_n(&w->state, W_WAITING, __ATOMIC_RELEASE);
      T->nwaits++;
      *tidx = i;
      rc = 0;
      break;
    }
  }
  tunlock();
  return rc;
}

int cw_tree_full(const struct cw_dkey *dest, int *global) {
  if (member_lock() < 0)
    return 0;
  int d = dest_row(dest);
  int64_t max = T->cfg[CFG_MAX];
  *global = max && T->slots >= max;
  int full = !fits_l(d);
  tunlock();
  return full;
}

void cw_tree_redest(uint64_t ino, const struct cw_dkey *dest) {
  if (member_lock() < 0)
    return;
  struct sock *s = sock_find(ino);
  if (s && s->slot) {
    int d = dest_row(dest);
    if (d != s->dest) {
      if (s->dest >= 0)
        T->dests[s->dest].slots--;
      if (d >= 0)
        T->dests[d].slots++;
      s->dest = d;
      grant_l();
    }
  }
  tunlock();
}

void cw_tree_drop(uint64_t ino) {
  if (member_lock() < 0)
    return;
  struct sock *s = sock_find(ino);
  if (s && bit(s->holders, me) && release_l(s, me))
    grant_l();
  tunlock();
}

void cw_tree_open(uint64_t ino, int dir) {
  if (member_lock() < 0)
    return;
  struct sock *s = sock_add(ino);
  if (s) {
    bit_set(s->holders, me);
    if (!s->counted) {
      s->counted = 1;
      s->dir = (uint8_t)(dir & 1);
      T->opened[s->dir]++;
      if (++T->active[s->dir] > T->peak[s->dir])
        T->peak[s->dir] = T->active[s->dir];
      if (T->active[0] + T->active[1] > T->peak_total)
        T->peak_total = T->active[0] + T->active[1];
    }
  }
  tunlock();
}

int cw_tree_holds(uint64_t ino) {
  if (member_lock() < 0)
    return 0;
  struct sock *s = sock_find(ino);
  int r = s && s->slot && bit(s->holders, me);
  tunlock();
  return r;
}

/* ---- the queue ------------------------------------------------------------------------------ */

void cw_tree_dequeue(int idx, uint64_t ino, int taken) {
  if (idx < 0 || idx >= NWAIT || member_lock() < 0)
    return;
  struct wait *w = &T->waits[idx];
  if (w->state != W_FREE && w->member == me && w->ino == ino) {
    int given = w->state == W_GRANTED && !taken;
    w->state = W_FREE;
    T->nwaits--;
    if (given) { /* a grant nobody takes: its slot goes on to the next */
      struct sock *s = sock_find(ino);
      if (s && bit(s->holders, me))
        release_l(s, me);
      grant_l();
    }
  }
  tunlock();
}

void cw_tree_grant(void) {
  if (member_lock() < 0)
    return;
  grant_l();
  tunlock();
}

int cw_tree_granted(int idx, uint64_t ino) {
  if (idx < 0 || idx >= NWAIT)
    return 0;
  if (member_lock() < 0)
    return 0;
  struct wait *w = &T->waits[idx];
  int r = w->state == W_GRANTED && w->member == me && w->ino == ino;
  tunlock();
  return r;
}

int cw_tree_find_wait(uint64_t ino) {
  for (int i = 0; i < NWAIT; i++)
    if (T->waits[i].state != W_FREE && T->waits[i].member == me && T->waits[i].ino == ino)
      return i;
  return -1;
}

int cw_tree_stuck(struct cw_dkey *dest, int *global, int64_t *since_ns, int *waiting) {
  if (member_lock() < 0)
    return 0;
  struct wait *oldest = NULL;
  for (int i = 0; i < NWAIT; i++) {
    struct wait *w = &T->waits[i];
    if (w->state == W_WAITING && !fits_l(w->dest) && (!oldest || w->ticket < oldest->ticket))
      oldest = w;
  }
  if (oldest) {
    int64_t max = T->cfg[CFG_MAX];
    *global = (max && T->slots >= max) || oldest->dest < 0;
    memset(dest, 0, sizeof *dest);
    if (oldest->dest >= 0)
      *dest = T->dests[oldest->dest].key;
    *since_ns = oldest->since_ns;
    *waiting = 0;
    for (int i = 0; i < NWAIT; i++)
      *waiting += T->waits[i].state == W_WAITING && (*global || T->waits[i].dest == oldest->dest);
  }
  tunlock();
  return oldest != NULL;
}

/* ---- settings and the tick ------------------------------------------------------------------ */

void cw_tree_publish_settings(void) {
  if (member_lock() < 0)
    return;
  settings_from_cfg(T->cfg);
  __atomic_add_fetch(&T->cfg_gen, 1, __ATOMIC_RELEASE);
  __atomic_store_n(&my_gen, T->cfg_gen, __ATOMIC_RELAXED);
  grant_l(); /* a cap raised: waiters go now */
  for (int m = 0; m < CW_TREE_MEMBERS; m++)
    if (m != me && T->members[m].state == M_LIVE)
      wake_member(m);
  tunlock();
}

void cw_tree_sync_settings(void) {
  uint32_t g = __atomic_load_n(&T->cfg_gen, __ATOMIC_ACQUIRE);
  if (g == __atomic_load_n(&my_gen, __ATOMIC_RELAXED) || member_lock() < 0)
    return;
  int64_t *fields[NCFG] = {&cw_cfg.max_conns, &cw_cfg.max_conns_per_dest, &cw_cfg.idle_timeout_ms,
                           &cw_cfg.max_lifetime_ms, &cw_cfg.evict_idle_ms};
  for (int i = 0; i < NCFG; i++)
    __atomic_store_n(fields[i], T->cfg[i], __ATOMIC_RELAXED);
  __atomic_store_n(&my_gen, T->cfg_gen, __ATOMIC_RELAXED);
  tunlock();
}

/* Members whose life (their byte's lock) is gone leave; returns how many are left. */
static int sweep_l(void) {
  int freed = 0, left = 0;
  for (int m = 0; m < CW_TREE_MEMBERS; m++) {
    if (T->members[m].state == M_FREE)
      continue;
    if (m != me && m != __atomic_load_n(&resv, __ATOMIC_RELAXED) && !held(mfd, LOCK_BASE + m))
      freed |= reclaim_l(m) | 1;
    else
      left++;
  }
  if (freed)
    grant_l();
  return left;
}

static void sweep(void) {
  if (member_lock() < 0)
    return;
  sweep_l();
  tunlock();
}

int64_t cw_tree_tick(int64_t now) {
  cw_tree_sync_settings();
  int64_t due = __atomic_load_n(&T->sweep_next_ns, __ATOMIC_RELAXED);
  if (now >= due && __atomic_compare_exchange_n(&T->sweep_next_ns, &due, now + SWEEP_NS, 0, __ATOMIC_RELAXED,
                                                __ATOMIC_RELAXED))
    sweep();
  /* while slots are held or connects wait, a dead member must give them back within a second */
  int busy = 0;
  if (member_lock() == 0) {
    busy = T->slots || T->nwaits;
    tunlock();
  }
  return now + (busy ? SWEEP_NS : 4 * SWEEP_NS);
}

uint32_t cw_tree_seq(void) { return __atomic_load_n(&T->members[me].seq, __ATOMIC_ACQUIRE); }

void cw_tree_sleep(uint32_t seq, int64_t deadline_ns) {
  struct timespec ts = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
  futex(&T->members[me].seq, FUTEX_WAIT_BITSET, seq, &ts); /* absolute, CLOCK_MONOTONIC */
}

void cw_tree_wake_self(void) { wake_member(me); }

void cw_tree_publish(const struct cw_tree_pub *p) {
  if (member_lock() < 0) /* left at exit: the row may be another process's now */
    return;
  T->members[me].pub = *p;
  tunlock();
}

/* ---- fork ----------------------------------------------------------------------------------- */

void cw_tree_fork_prepare(void) {
  __atomic_store_n(&resv, -1, __ATOMIC_RELAXED);
  if (member_lock() < 0)
    return;
  resv = member_new(&resv_fd);
  /* the child holds every socket this process holds, connections and connects in flight alike
   * (fork copies every fd): a scan of the rows, so that one admitted by another thread and not
   * yet in the table is shared too */
  for (int i = 0; resv >= 0 && i < NSOCK; i++)
    if (T->socks[i].ino && bit(T->socks[i].holders, me))
      bit_set(T->socks[i].holders, resv);
  tunlock();
  if (resv >= 0)
    cw_own_add(&resv_fd); /* out of reach of another thread's close_range meanwhile */
}

void cw_tree_fork_parent(void) {
  if (resv_fd >= 0) {
    cw_own_del(&resv_fd);
    CW_REAL(close)(resv_fd); /* the child's copy keeps its row's lock */
  }
  resv_fd = -1;
  __atomic_store_n(&resv, -1, __ATOMIC_RELAXED);
}

void cw_tree_fork_child(void) {
  int parents = mfd; /* the parent's description: the parent's life, not ours */
  if (parents >= 0)
    cw_own_del(&mfd);
  if (resv < 0) {
    on(0);
    me = -1;
    join(); /* no row was reserved: a row of its own now, or caps of its own */
    if (parents >= 0)
      CW_REAL(close)(parents);
    return;
  }
  if (parents >= 0)
    CW_REAL(close)(parents);
  me = resv;
  resv = -1;
  cw_own_del(&resv_fd);
  use_fd(resv_fd);
  resv_fd = -1;
  if (tlock() == 0) {
    T->members[me].pid = cw_pid;
    T->members[me].state = M_LIVE;
    tunlock();
  }
}

/* ---- exec and exit -------------------------------------------------------------------------- */

int cw_tree_carry_line(char *buf, int size) { return snprintf(buf, (size_t)size, "tree %d %d\n", me, mfd); }

void cw_tree_before_exec(void) { CW_REAL(fcntl)(mfd, F_SETFD, 0); }

void cw_tree_exec_failed(void) { CW_REAL(fcntl)(mfd, F_SETFD, FD_CLOEXEC); }

void cw_tree_adopt(int idx, int fd) {
  if (cw_tree_on || idx < 0 || idx >= CW_TREE_MEMBERS)
    return;
  CW_REAL(fcntl)(fd, F_SETFD, FD_CLOEXEC);
  snprintf(tpath, sizeof tpath, "/proc/self/fd/%d", fd);
  if (map_fd(fd, tpath) < 0) {
    CW_REAL(close)(fd); /* the old image's row: let it go (it is reclaimed) */
    return;
  }
  /* its path, for forks when /proc is not there: the environment may have lost it */
  const char *path = getenv(CW_TREE_VAR);
  snprintf(tpath, sizeof tpath, "%s", path ? path : "");
  if (T->members[idx].pid != cw_pid || T->members[idx].state != M_LIVE) {
    munmap(T, sizeof *T);
    T = NULL;
    CW_REAL(close)(fd);
    return;
  }
  me = idx;
  use_fd(fd);
  __atomic_store_n(&my_gen, ~0u, __ATOMIC_RELAXED);
  on(1);
  cw_tree_sync_settings();
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The inodes of the sockets this process has open, sorted: *n of them (a malloc'd array), or
 * NULL when they cannot all be read. */
static uint64_t *open_sockets(int *n) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return NULL;
  int cap = 256, k = 0, self = dirfd(d);
  uint64_t *v = malloc(cap * sizeof *v);
  struct dirent *e;
  while (v && (e = readdir(d))) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    struct stat st;
    if (*end || fd < 0 || fd == self || CW_RAW(SYS_fstat, (int)fd, &st) < 0 || !S_ISSOCK(st.st_mode))
      continue;
    if (k == cap) {
      uint64_t *w = realloc(v, 2 * cap * sizeof *v);
      if (!w) {
        free(v);
        v = NULL;
        break;
      }
      v = w;
      cap *= 2;
    }
    v[k++] = (uint64_t)st.st_ino;
  }
  closedir(d);
  if (v)
    qsort(v, (size_t)k, sizeof *v, cmp_u64);
  *n = k;
  return v;
}

void cw_tree_after_exec(const int *keep, int nkeep) {
  if (!cw_tree_on)
    return;
  int n = 0;
  uint64_t *live = open_sockets(&n);
  if (tlock() < 0) {
    free(live);
    return;
  }
  int freed = 0;
  if (live) /* unknown: every hold stays (until this process leaves the tree) */
    for (int i = 0; i < NSOCK; i++) {
      struct sock *s = &T->socks[i];
      while (s->ino && bit(s->holders, me) && !bsearch(&s->ino, live, (size_t)n, sizeof *live, cmp_u64))
        freed |= release_l(s, me); /* a deletion may shift another row into i */
    }
  for (int i = 0; i < NWAIT; i++) {
    struct wait *w = &T->waits[i];
    if (w->state == W_FREE || w->member != me)
      continue;
    int kept = 0;
    for (int k = 0; k < nkeep && !kept; k++)
      kept = keep[k] == i;
    if (kept)
      continue;
    if (w->state == W_GRANTED) { /* its slot goes on to the next */
      struct sock *s = sock_find(w->ino);
      if (s && bit(s->holders, me))
        freed |= release_l(s, me);
    }
    w->state = W_FREE;
    T->nwaits--;
  }
  if (freed)
    grant_l();
  tunlock();
  free(live);
}

void cw_tree_exit(void) {
  if (!cw_tree_on || tlock() < 0)
    return;
  on(0);
  reclaim_l(me);
  grant_l();
  if (!sweep_l()) /* the last one out removes the file */
    CW_RAW(SYS_unlinkat, AT_FDCWD, tpath, 0);
  tunlock();
}

/* ---- what stats shows ----------------------------------------------------------------------- */

int cw_tree_view(struct cw_tree_view *v) {
  if (!cw_tree_on || member_lock() < 0)
    return -1;
  memset(v, 0, sizeof *v);
  snprintf(v->name, sizeof v->name, "%s", T->name);
  v->root_pid = T->root_pid;
  struct cw_tree_pub sum = T->gone;
  int64_t *ss = (int64_t *)&sum;
  for (int m = 0; m < CW_TREE_MEMBERS; m++) {
    if (T->members[m].state == M_FREE)
      continue;
    if (T->members[m].pid)
      v->pids[v->processes++] = T->members[m].pid;
    const int64_t *ps = (const int64_t *)&T->members[m].pub;
    for (size_t i = 0; i < sizeof sum / sizeof(int64_t); i++)
      ss[i] += __atomic_load_n(&ps[i], __ATOMIC_RELAXED);
  }
  struct cw_counts *c = &v->c;
  for (int d = 0; d < 2; d++) {
    c->active[d] = T->active[d];
    c->peak[d] = T->peak[d];
    c->opened[d] = T->opened[d];
    c->closed[d] = T->closed[d];
  }
  c->peak_total = T->peak_total;
  c->queued = T->nwaits;
  c->refused = sum.refused;
  c->waited = sum.waited;
  c->wait_ms = sum.wait_ms;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock cw_now reads, one for every process */
  int64_t now = ts.tv_sec * 1000000000LL + ts.tv_nsec;
  for (int i = 0; i < NWAIT; i++) /* waits still going on count too */
    if (T->waits[i].state == W_WAITING && T->waits[i].since_ns < now)
      c->wait_ms += (now - T->waits[i].since_ns) / 1000000;
  c->queue_timeouts = sum.queue_timeouts;
  memcpy(c->reaped, sum.reaped, sizeof c->reaped);
  c->released = sum.released;
  c->close_wait_leaks = sum.close_wait_leaks;
  c->close_wait_now = sum.close_wait_now;
  c->abandoned = sum.abandoned;
  c->abandoned_now = sum.abandoned_now;
  c->bytes_in = sum.bytes_in;
  c->bytes_out = sum.bytes_out;
  v->slots = T->slots;
  v->max_conns = T->cfg[CFG_MAX];
  v->max_conns_per_dest = T->cfg[CFG_MAX_DEST];
  v->idle_timeout_ms = T->cfg[CFG_IDLE];
  v->max_lifetime_ms = T->cfg[CFG_LIFE];
  v->evict_idle_ms = T->cfg[CFG_EVICT];
  tunlock();
  return 0;
}
