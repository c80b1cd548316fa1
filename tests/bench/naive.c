/* naive.c - the shim the issue measures against: one global mutex and a hash lookup on every
 * read() and write(), records made at connect()/accept() and dropped at close(). Built as
 * build/bench/libnaive.so; scripts/bench runs it beside connwarden so the table shows that the
 * harness sees lock and lookup costs (instructions, and throughput with two threads). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NBUCKETS 1024

struct rec {
  int fd;
  uint64_t bytes_in, bytes_out, calls_in, calls_out;
  int64_t last_ns;
  struct rec *next;
};

/* Guarded by mu; written by every wrapper below. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct rec *buckets[NBUCKETS];

/* Resolved once by the constructor (or the first call before it), then immutable. */
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_close)(int);

__attribute__((constructor)) static void resolve(void) {
  real_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
  real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  real_accept = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
  real_accept4 = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
  real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
}

static struct rec **slot_of(int fd) {
  struct rec **p = &buckets[(unsigned)fd % NBUCKETS];
  while (*p && (*p)->fd != fd)
    p = &(*p)->next;
  return p;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void track(int fd) {
  int saved = errno;
  struct rec *r = calloc(1, sizeof *r);
  if (r) {
    r->fd = fd;
    pthread_mutex_lock(&mu);
    struct rec **p = slot_of(fd);
    if (!*p)
      *p = r;
    else
      free(r);
    pthread_mutex_unlock(&mu);
  }
  errno = saved;
}

static void count(int fd, ssize_t n, int in) {
  int saved = errno;
  pthread_mutex_lock(&mu);
  struct rec *r = *slot_of(fd);
  if (r && n > 0) {
    if (in) {
      r->bytes_in += (uint64_t)n;
      r->calls_in++;
    } else {
      r->bytes_out += (uint64_t)n;
      r->calls_out++;
    }
    r->last_ns = now_ns();
  }
  pthread_mutex_unlock(&mu);
  errno = saved;
}

ssize_t read(int fd, void *buf, size_t n) {
  if (!real_read)
    resolve();
  ssize_t r = real_read(fd, buf, n);
  count(fd, r, 1);
  return r;
}

ssize_t write(int fd, const void *buf, size_t n) {
  if (!real_write)
    resolve();
  ssize_t r = real_write(fd, buf, n);
  count(fd, r, 0);
  return r;
}

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
  if (!real_connect)
    resolve();
  int r = real_connect(fd, sa, len);
  if (r == 0 || errno == EINPROGRESS)
    track(fd);
  return r;
}

int accept(int fd, struct sockaddr *sa, socklen_t *len) {
  if (!real_accept)
    resolve();
  int r = real_accept(fd, sa, len);
  if (r >= 0)
    track(r);
  return r;
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int fl) {
  if (!real_accept4)
    resolve();
  int r = real_accept4(fd, sa, len, fl);
  if (r >= 0)
    track(r);
  return r;
}

int close(int fd) {
  if (!real_close)
    resolve();
  pthread_mutex_lock(&mu);
  struct rec **p = slot_of(fd), *r = *p;
  if (r)
    *p = r->next;
  pthread_mutex_unlock(&mu);
  free(r);
  return real_close(fd);
}
