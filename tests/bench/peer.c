/* peer.c - the far ends of the benchmark's connections, in a process of its own (never under the
 * shim): listens on K ports of 127.0.0.1 (prints ports=P1,P2,...), accepts every connection,
 * reads and discards what arrives, closes on EOF or error, and exits when its stdin closes. Holds
 * up to its hard fd limit. Several ports, because the kernel's search for a free ephemeral port
 * slows down with the connections already open to the same address:port. Usage: peer [K]. */
#include "bench.h"
#include <fcntl.h>
#include <sys/epoll.h>

#define MAX_PORTS 64

static int is_listener(const int *ls, int k, int fd) {
  for (int i = 0; i < k; i++)
    if (ls[i] == fd)
      return 1;
  return 0;
}

int main(int argc, char **argv) {
  int k = (int)bench_arg(argc, argv, 1, 1);
  if (k < 1 || k > MAX_PORTS)
    return 2;
  bench_raise_nofile();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  int ls[MAX_PORTS];
  printf("ports=");
  for (int i = 0; i < k; i++) {
    int port;
    ls[i] = bench_listen(&port, 4096);
    fcntl(ls[i], F_SETFL, O_NONBLOCK);
    ev.data.fd = ls[i];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls[i], &ev);
    printf("%s%d", i ? "," : "", port);
  }
  printf("\n");
  fflush(stdout);
  struct epoll_event evs[256];
  static char buf[65536];
  int warned = 0;
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0 && errno != EINTR)
      bench_die("epoll_wait");
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == 0) {
        if (read(0, buf, sizeof buf) <= 0)
          return 0;
      } else if (is_listener(ls, k, fd)) {
        for (;;) {
          int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) {
            if (errno == EMFILE && !warned++)
              fprintf(stderr, "peer: out of fds\n");
            if (errno == EMFILE)
              usleep(1000);
            break;
          }
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
      } else {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
          close(fd);
      }
    }
  }
}
