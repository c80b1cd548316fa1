/* hostlib.h - what the small C test hosts share. Header-only: each host is one .c file. */
#ifndef CW_HOSTLIB_H
#define CW_HOSTLIB_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A listener on 127.0.0.1 at a free port; *addr gets its address. The fd, or -1. */
static inline int loopback_listener(struct sockaddr_in *addr, int backlog) {
  *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof *addr;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)addr, al) < 0 || listen(fd, backlog) < 0 ||
      getsockname(fd, (struct sockaddr *)addr, &al) < 0)
    return -1;
  return fd;
}

/* A call's outcome as a line can show it whatever fd numbers it got: "ok" or "-1 ERRNAME" (r and
 * errno e). Eight results may be in use at once. Needs _GNU_SOURCE (strerrorname_np). */
static inline const char *res(long r, int e) {
  static char buf[8][64];
  static int next;
  char *b = buf[next++ % 8];
  if (r >= 0)
    return "ok";
  const char *name = strerrorname_np(e);
  snprintf(b, sizeof buf[0], "-1 %s", name ? name : "?");
  return b;
}

/* Say "pause NAME" and wait for a line on stdin, 20 s at most; otherwise (or at its end) say the
 * pause was not released and exit 1. */
static inline void pause_for(const char *name) {
  printf("pause %s\n", name);
  fflush(stdout);
  struct pollfd p = {.fd = 0, .events = POLLIN};
  char b[64];
  if (poll(&p, 1, 20000) != 1 || read(0, b, sizeof b) <= 0) {
    printf("pause %s: not released\n", name);
    exit(1);
  }
}

/* Write all of p (n bytes) to fd: 0, or -1 at an error or a 0 return. */
static inline int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Monotonic seconds. */
static inline double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
