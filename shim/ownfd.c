/* ownfd.c - the registry of the shim's own fds, and moving them out of the host's way. Called by
 * the server, policy and reaper (registering theirs) and by interpose (protecting them). */
#define _GNU_SOURCE
#include "ownfd.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/resource.h>
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
 * numbers below its soft RLIMIT_NOFILE, so when the hard limit leaves room we put ours just above
 * the soft one: raise the soft limit for the one fcntl, then put it back. prlimit swaps atomically;
 * if the host changes the limit in between we leave its value. Without room (soft == hard), the
 * top OWN_ROOM numbers below the limit: there the host meets them only when nearly out of fds. */
#define OWN_ROOM 64

static long nofile(struct rlimit *set, struct rlimit *old) {
  return CW_RAW(SYS_prlimit64, 0, RLIMIT_NOFILE, set, old);
}

/* Raise the soft limit by OWN_ROOM; 0 and the old limits in *was, or -1 when there is no room. */
static int room_open(struct rlimit rl, struct rlimit *was, struct rlimit *up) {
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= rl.rlim_max || rl.rlim_cur + OWN_ROOM > cw_slot_cap)
    return -1;
  *up = (struct rlimit){rl.rlim_cur + OWN_ROOM, rl.rlim_max};
  if (up->rlim_cur > rl.rlim_max)
    up->rlim_cur = rl.rlim_max;
  return nofile(up, was) < 0 ? -1 : 0;
}

static void room_close(const struct rlimit *was, const struct rlimit *up) {
  struct rlimit now;
  if (nofile(NULL, &now) == 0 && now.rlim_cur == up->rlim_cur && now.rlim_max == up->rlim_max)
    nofile((struct rlimit *)was, NULL);
}

static int dup_above_soft(int fd, struct rlimit rl) {
  struct rlimit was, up;
  if (room_open(rl, &was, &up) < 0)
    return -1;
  int nfd = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, (int)was.rlim_cur);
  room_close(&was, &up);
  return nfd;
}

int cw_own_accept(int lfd) {
  int fd = CW_REAL(accept4)(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  struct rlimit rl, was, up;
  if (fd >= 0 || errno != EMFILE || nofile(NULL, &rl) < 0 || room_open(rl, &was, &up) < 0)
    return fd;
  fd = CW_REAL(accept4)(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  int e = errno;
  room_close(&was, &up);
  errno = e;
  return fd;
}

static int dup_high(int fd, int low_ok) {
  struct rlimit rl;
  if (nofile(NULL, &rl) < 0)
    return -1;
  int nfd = dup_above_soft(fd, rl);
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

void cw_own_lock(void) {
  pthread_mutex_lock(&own_mu);
  cw_locked++;
}

void cw_own_unlock(void) {
  cw_locked--;
  pthread_mutex_unlock(&own_mu);
}
void cw_own_fork_child(void) { pthread_mutex_init(&own_mu, NULL); }
