/* epoll_mod.c - N epoll_ctl(EPOLL_CTL_MOD) calls on one fd of a connected loopback TCP pair (a
 * tracked connection under the shim), or, with "fresh", on a TCP socket not yet connected (whose
 * registrations the shim follows, for a connect that may be queued). Usage: epoll_mod N [fresh].
 * Prints ns_per_op (the timed loop only). Run plain, under the shim and under callgrind by
 * scripts/bench. */
#include "bench.h"
#include <sys/epoll.h>

static BENCH_NOINLINE long bench_work(int ep, int fd, long n) {
  long bad = 0;
  struct epoll_event ev = {.data.fd = fd};
  for (long i = 0; i < n; i++) {
    ev.events = (i & 1) ? EPOLLIN : EPOLLIN | EPOLLOUT;
    bad += epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0;
  }
  return bad;
}

int main(int argc, char **argv) {
  long n = bench_arg(argc, argv, 1, 1000000);
  int fresh = argc > 2 && strcmp(argv[2], "fresh") == 0;
  int fd, port, l = bench_listen(&port, 16);
  if (fresh) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  } else {
    struct sockaddr_in sa = bench_addr(port);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
      bench_die("connect");
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
    bench_die("epoll");
  bench_work(ep, fd, 1000); /* warm: the same fixed count in every run, so it cancels */
  int64_t t0 = bench_now_ns();
  long bad = bench_work(ep, fd, n);
  int64_t t1 = bench_now_ns();
  if (bad) {
    fprintf(stderr, "epoll_mod: %ld calls failed\n", bad);
    return 1;
  }
  printf("ns_per_op=%.3f\n", (double)(t1 - t0) / (double)n);
  (void)l;
  return 0;
}
