/* stream_proxy.c - a plain TCP proxy for the streaming tests: listens on 127.0.0.1 (prints
 * "port=P"), accepts one client, connects to 127.0.0.1:UPSTREAM and relays both ways with read()
 * and write() under one poll loop, passing each half-close on. When both ways are done it prints
 * "up=U down=D" (bytes relayed each way) and holds its sockets until SIGTERM (at most 60 s), then
 * exits 0. Usage: stream_proxy UPSTREAM_PORT. Runs the same with or without the preload. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (64 * 1024)

static volatile int term;
static void on_term(int sig) { term = sig; }

/* Move what is readable on from into to (all of it, blocking on to). 1 moved, 0 EOF, -1 error. */
static int relay(int from, int to, char *buf, long long *count) {
  ssize_t r = read(from, buf, BUF);
  if (r < 0)
    return errno == EINTR || errno == EAGAIN ? 1 : -1;
  if (r == 0)
    return 0;
  for (ssize_t done = 0; done < r;) {
    ssize_t w = write(to, buf + done, (size_t)(r - done));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    done += w;
  }
  *count += r;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: stream_proxy UPSTREAM_PORT\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGTERM, on_term);
  alarm(90);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_in up = a;
  up.sin_port = htons((uint16_t)atoi(argv[1]));
  socklen_t al = sizeof a;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4) < 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
    perror("stream_proxy: listener");
    return 2;
  }
  printf("port=%d\n", ntohs(a.sin_port));
  int cfd = accept(lfd, NULL, NULL);
  int ufd = socket(AF_INET, SOCK_STREAM, 0);
  if (cfd < 0 || ufd < 0 || connect(ufd, (struct sockaddr *)&up, sizeof up) < 0) {
    perror("stream_proxy: accept or connect");
    return 2;
  }
  static char buf[BUF];
  long long n_up = 0, n_down = 0;
  int up_open = 1, down_open = 1;
  while (up_open || down_open) {
    struct pollfd p[2] = {{.fd = up_open ? cfd : -1, .events = POLLIN},
                          {.fd = down_open ? ufd : -1, .events = POLLIN}};
    if (poll(p, 2, 30000) <= 0) {
      perror("stream_proxy: poll");
      return 3;
    }
    int r;
    if (p[0].revents && (r = relay(cfd, ufd, buf, &n_up)) <= 0) {
      if (r < 0)
        return 3;
      shutdown(ufd, SHUT_WR);
      up_open = 0;
    }
    if (p[1].revents && (r = relay(ufd, cfd, buf, &n_down)) <= 0) {
      if (r < 0)
        return 3;
      shutdown(cfd, SHUT_WR);
      down_open = 0;
    }
  }
  printf("up=%lld down=%lld\n", n_up, n_down);
  for (int i = 0; i < 600 && !term; i++)
    usleep(100000);
  close(cfd);
  close(ufd);
  close(lfd);
  return 0;
}
