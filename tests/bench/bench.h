/* bench.h - what the benchmark programs in tests/bench/ share: a clock, a connected loopback TCP
 * pair, the fd limit and the resident set size. Header-only; every program is single-file plus
 * this. The measured loops live in each program's bench_work(), never here, so callgrind's
 * --toggle-collect=bench_work counts exactly the work. */
#ifndef CW_BENCH_H
#define CW_BENCH_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NOINLINE __attribute__((noinline, noclone))

static inline int64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_die(const char *what) {
  fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

static inline long bench_arg(int argc, char **argv, int i, long dflt) {
  return argc > i ? strtol(argv[i], NULL, 10) : dflt;
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port, stored in *port. */
static inline int bench_listen(int *port, int backlog) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0)
    bench_die("socket");
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, backlog) < 0 ||
      getsockname(l, (struct sockaddr *)&sa, &len) < 0)
    bench_die("listen");
  *port = ntohs(sa.sin_port);
  return l;
}

static inline struct sockaddr_in bench_addr(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  return sa;
}

/* A connected TCP pair on loopback: *out from connect(), *in from accept(), Nagle off on both,
 * so both are tracked connections under the shim. */
static inline void bench_pair(int *out, int *in) {
  int port, one = 1;
  int l = bench_listen(&port, 1);
  struct sockaddr_in sa = bench_addr(port);
  *out = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (*out < 0 || connect(*out, (struct sockaddr *)&sa, sizeof sa) < 0)
    bench_die("connect");
  *in = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (*in < 0)
    bench_die("accept");
  close(l);
  setsockopt(*out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(*in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Close with an RST instead of a FIN: no TIME_WAIT, so tens of thousands of connects in one run
 * never run out of ephemeral ports. The same for plain and shimmed runs. */
static inline void bench_linger0(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* Soft RLIMIT_NOFILE up to the hard one; returns the hard limit. */
static inline long bench_raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    bench_die("getrlimit");
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  return (long)rl.rlim_max;
}

/* VmRSS of this process in KiB, from /proc/self/status. */
static inline long bench_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kb) == 1)
      break;
  if (f)
    fclose(f);
  return kb;
}

#endif
