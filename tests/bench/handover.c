/* handover.c - the hand-over latency of a queued connect: from the moment its slot frees (the
 * connection holding it is closed) until a thread of the host waiting for the queued fd in poll,
 * select or epoll_wait returns. Run under the shim with CONNWARDEN_MAX_CONNS=1 by scripts/bench.
 * Usage: handover N MODE (poll, select or epoll). Prints p50_us, p99_us and max_us; exits 1 when
 * the connect was not queued (no shim, or no cap) or did not complete. */
#include "bench.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>

struct wait_arg {
  int fd, mode, ep;
  int64_t woke_ns;
};

static void *waiter(void *p) {
  struct wait_arg *w = p;
  if (w->mode == 0) {
    struct pollfd pf = {.fd = w->fd, .events = POLLOUT};
    poll(&pf, 1, 5000);
  } else if (w->mode == 1) {
    fd_set ws;
    FD_ZERO(&ws);
    FD_SET(w->fd, &ws);
    struct timeval tv = {.tv_sec = 5};
    select(w->fd + 1, NULL, &ws, NULL, &tv);
  } else {
    struct epoll_event ev;
    epoll_wait(w->ep, &ev, 1, 5000);
  }
  w->woke_ns = bench_now_ns();
  return NULL;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  long n = bench_arg(argc, argv, 1, 200);
  const char *m = argc > 2 ? argv[2] : "poll";
  int mode = strcmp(m, "poll") == 0 ? 0 : strcmp(m, "select") == 0 ? 1 : 2;
  int port, l = bench_listen(&port, 4096);
  struct sockaddr_in sa = bench_addr(port);
  int64_t *lat = calloc((size_t)n, sizeof *lat);
  if (!lat)
    bench_die("calloc");
  for (long i = 0; i < n; i++) {
    int hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (hold < 0 || connect(hold, (struct sockaddr *)&sa, sizeof sa) < 0)
      bench_die("connect (holding the slot)");
    int q = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (q < 0 || (connect(q, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS))
      bench_die("connect (queued)");
    struct pollfd pf = {.fd = q, .events = POLLOUT};
    usleep(1000); /* a loopback connect that was not queued is done by now */
    if (poll(&pf, 1, 0) != 0) {
      fprintf(stderr, "handover: the connect was not queued (run under the shim with a cap of 1)\n");
      return 1;
    }
    struct wait_arg w = {.fd = q, .mode = mode, .ep = -1};
    if (mode == 2) {
      struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.fd = q};
      if ((w.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(w.ep, EPOLL_CTL_ADD, q, &ev) < 0)
        bench_die("epoll");
    }
    pthread_t t;
    pthread_create(&t, NULL, waiter, &w);
    usleep(2000); /* the waiter is in its wait */
    int64_t t0 = bench_now_ns();
    close(hold);
    pthread_join(t, NULL);
    lat[i] = w.woke_ns - t0;
    int err = -1;
    socklen_t el = sizeof err;
    if (getsockopt(q, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0 || poll(&pf, 1, 0) != 1) {
      fprintf(stderr, "handover: the queued connect did not complete (SO_ERROR %d)\n", err);
      return 1;
    }
    close(q);
    if (w.ep >= 0)
      close(w.ep);
    for (int k = 0; k < 2; k++) { /* the listener's side of both */
      int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
      if (a >= 0)
        close(a);
    }
  }
  qsort(lat, (size_t)n, sizeof *lat, cmp64);
  printf("p50_us=%.1f p99_us=%.1f max_us=%.1f\n", lat[n / 2] / 1e3, lat[(n * 99) / 100] / 1e3,
         lat[n - 1] / 1e3);
  return 0;
}
