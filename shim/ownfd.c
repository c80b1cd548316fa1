/* ownfd.c - the registry of the shim's own fds, and moving them out of the host's way. Called by
 * the server, policy and reaper (registering theirs) and by interpose (protecting them). */
#define _GNU_SOURCE
#include "ownfd.h"

#include <fcntl.h>
#include <pthread.h>
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

/* Our fds live near the top of the fd range, out of the way of the host's low numbers. */
static int high_base(void) {
  struct rlimit rl;
  long top = cw_slot_cap;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < top)
    top = (long)rl.rlim_cur;
  return top > 256 ? (int)(top - 64) : 3;
}

int cw_own_high_fd(int fd) {
  int base = high_base();
  if (fd >= base)
    return fd;
  int nfd = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, base);
  if (nfd < 0)
    return fd;
  CW_REAL(close)(fd);
  return nfd;
}

void cw_own_relocate(int fd) {
  cw_own_lock();
  for (int i = 0; i < CW_OWN_MAX; i++)
    if (own_refs[i] && __atomic_load_n(own_refs[i], __ATOMIC_RELAXED) == fd) {
      /* low numbers too: the host may own everything above */
      int nfd = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, high_base());
      if (nfd < 0)
        nfd = CW_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
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
