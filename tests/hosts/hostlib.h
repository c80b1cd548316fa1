/* hostlib.h - what the small C test hosts share. Header-only: each host is one .c file. */
#ifndef CW_HOSTLIB_H
#define CW_HOSTLIB_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

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

#endif
