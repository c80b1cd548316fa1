/* ownfd.c - the registry of the shim's own fds, and moving them out of the host's way. Called by
 * the server, policy and reaper (registering theirs) and by interpose (protecting them). */
#define _GNU_SOURCE
#include "ownfd.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "real.h"

int cw_own_count; /* written under own_mu; read lock-free by cw_own_is */
static int *own_refs[CW_OWN_MAX]; /* guarded by own_mu */
static pthread_mutex_t own_mu = PTHREAD_MUTEX_INITIALIZER;

static void own_mark(int fd, int on) { cw_fdflag_set(fd, CW_FD_OWN, on); }

int cw_own_add(int *ref) {
  int rc = -ENOSPC;
  cw_own_lock();
  for (int i = 0; i < CW_OWN_MAX; i++)
    if (!own_refs[i]) {
      own_refs[i] = ref;
      own_mark(*ref, 1);
      __atomic_add_fetch(&cw_own_count, 1, __ATOMIC_RELAXED);
      rc = 0;
      break;
    }
  cw_own_unlock();
  return rc;
}

void cw_own_del(int *ref) {
  cw_own_lock();
  for (int i = 0; i < CW_OWN_MAX; i++)
    if (own_refs[i] == ref) {
      own_refs[i] = NULL;
      own_mark(*ref, 0);
      __atomic_sub_fetch(&cw_own_count, 1, __ATOMIC_RELAXED);
      break;
    }
  cw_own_unlock();
}

int cw_own_list(int *out, int max) {
  int n = 0;
  cw_own_lock();
  for (int i = 0; i < CW_OWN_MAX && n < max; i++)
    if (own_refs[i])
      out[n++] = __atomic_load_n(own_refs[i], __ATOMIC_RELAXED);
  cw_own_unlock();
  return n;
}

/* Where our fds live: out of the host's way, and out of its budget. The host can only be given
 * numbers below its soft RLIMIT_NOFILE, so when the hard limit leaves room ours go just above the
 * soft one. The limit is the whole process's, and raising it even for a moment would let a host
 * thread at its limit be handed a number past it (and overflow its FD_SET), so the raise happens
 * in a short-lived clone that shares our memory and fd table but has limits of its own (no
 * CLONE_THREAD), which takes the fd above the limit for us and exits. Without room (soft == hard)
 * or without the clone (a sandbox), the top OWN_ROOM numbers below the limit: there the host
 * meets them only when nearly out of fds. */
#define OWN_ROOM 64

static long nofile(struct rlimit *set, struct rlimit *old) {
  return CW_RAW(SYS_prlimit64, 0, RLIMIT_NOFILE, set, old);
}

enum { ABOVE_DUP, ABOVE_ACCEPT };
struct above {
  int op, fd, result; /* result: the new fd, or -errno */
};

extern int __clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);

/* The clone: raw system calls only (it runs on the caller's TLS), no instrumentation. */
__attribute__((no_sanitize("address", "thread", "undefined"))) static int above_child(void *arg) {
  struct above *a = arg;
  struct rlimit rl;
  long r = cw_sys4(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&rl);
  if (r == 0) {
    rlim_t soft = rl.rlim_cur;
    rl.rlim_cur = soft + OWN_ROOM < rl.rlim_max ? soft + OWN_ROOM : rl.rlim_max;
    r = cw_sys4(SYS_prlimit64, 0, RLIMIT_NOFILE, (long)&rl, 0);
    if (r == 0)
      r = a->op == ABOVE_DUP ? cw_sys3(SYS_fcntl, a->fd, F_DUPFD_CLOEXEC, (long)soft)
                             : cw_sys4(SYS_accept4, a->fd, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
  }
  a->result = (int)r;
  return 0;
}

/* Run op past the soft limit; the new fd, or -1 (errno kept) when there is no room or no clone. */
static int above_soft(int op, int fd) {
  struct rlimit rl;
  if (nofile(NULL, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= rl.rlim_max ||
      rl.rlim_cur + OWN_ROOM > cw_slot_cap)
    return -1;
  int e = errno;
  struct above a = {op, fd, -ENOSYS};
  char stack[8192] __attribute__((aligned(64)));
  uint64_t all = ~0ULL, old;
  CW_RAW(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8); /* no host handler runs in the clone */
  int pid = __clone(above_child, stack + sizeof stack, CLONE_VM | CLONE_FILES | CLONE_VFORK, &a);
  if (pid > 0) /* it has exited (CLONE_VFORK); exit signal 0: only __WCLONE waits see it */
    CW_RAW(SYS_wait4, pid, NULL, __WCLONE, NULL);
  CW_RAW(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
  errno = e;
  return pid > 0 && a.result >= 0 ? a.result : -1;
}

int cw_own_accept(int lfd) {
  int fd = CW_REAL(accept4)(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0 || errno != EMFILE)
    return fd;
  fd = above_soft(ABOVE_ACCEPT, lfd);
  if (fd < 0)
    errno = EMFILE;
  return fd;
}

static int dup_high(int fd, int low_ok) {
  struct rlimit rl;
  if (nofile(NULL, &rl) < 0)
    return -1;
  int nfd = above_soft(ABOVE_DUP, fd);
  if (nfd >= 0)
    return nfd;
  long top = cw_slot_cap;
  if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < top)
    top = (long)rl.rlim_cur;
  nfd = top > 4 * OWN_ROOM ? CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, (int)(top - OWN_ROOM)) : -1;
  if (nfd < 0 && low_ok)
    nfd = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
  return nfd;
}

int cw_own_high_fd(int fd) {
  if (fd < 0)
    return fd;
  struct rlimit rl;
  if (nofile(NULL, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)fd >= rl.rlim_cur)
    return fd; /* already out of the host's reach */
  int nfd = dup_high(fd, 0);
  if (nfd < 0)
    return fd;
  CW_REAL(close)(fd);
  return nfd;
}

void cw_own_relocate(int fd) {
  cw_own_lock();
  for (int i = 0; i < CW_OWN_MAX; i++)
    if (own_refs[i] && __atomic_load_n(own_refs[i], __ATOMIC_RELAXED) == fd) {
      int nfd = dup_high(fd, 1); /* low numbers too: the host may own everything above */
      if (nfd < 0)
        break;
      own_mark(nfd, 1);
      __atomic_store_n(own_refs[i], nfd, __ATOMIC_RELEASE);
      own_mark(fd, 0);
      /* the host's dup2/dup3 now replaces the old number, closing our old copy */
    }
  cw_own_unlock();
}

void cw_own_lock(void) { cw_lock(&own_mu); }
void cw_own_unlock(void) { cw_unlock(&own_mu); }
void cw_own_fork_child(void) { cw_mutex_remake(&own_mu); }
