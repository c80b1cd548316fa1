/* close_ways.c - ends TCP connections in every way a program can, one command per stdin line, so
 * a test can look at the stats between steps; prints "pid=P port=L" first, "N CMD ok fd=F" or
 * "N CMD FAIL errno-name" per command, ends at EOF (at most 30 s). Same with or without preload. */

/* Each "open" connects to the host's own 127.0.0.1 listener (never accepted: the backlog completes
 * it). F is the fd now naming the connection, -1 once it is gone. Commands:
 *   open            connect a new connection
 *   close           close(fd)                     close_range   close_range(fd, fd, 0)
 *   closefrom       closefrom(fd) (fd is the highest the host holds)
 *   fclose          fclose(fdopen(fd))            syscall_close syscall(SYS_close, fd)
 *   dup2 / dup3     dup2/dup3 of /dev/null over fd: fd stays open, naming /dev/null
 *   dupfd / dupfd_cloexec / dup   move the connection to a copy, closing the original
 *   shutdown        shutdown(fd, SHUT_RDWR) (the fd stays open)
 *   udp_over        a UDP socket dup2'd over a fresh TCP socket's number, connected to the listener's
 *                   address and closed: no TCP connection ever (the current one is untouched) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "hostlib.h"

static struct sockaddr_in listen_addr;
static int cur = -1;  /* the fd naming the current connection */
static int gone = -1; /* after dup2/dup3: the number that now names /dev/null */

static int open_conn(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) < 0 || write(fd, "hello", 5) != 5) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* dup2 or dup3 of /dev/null over the connection's fd */
static int dup_over(int three) {
  int n = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (n < 0)
    return -1;
  int r = three ? dup3(n, cur, O_CLOEXEC) : dup2(n, cur);
  int e = errno;
  close(n);
  errno = e;
  if (r < 0)
    return -1;
  gone = cur;
  cur = -1;
  return 0;
}

/* the connection moves to a copy at or above base; the original closes */
static int move_to_copy(int cmd, int base) {
  int d = cmd < 0 ? dup(cur) : fcntl(cur, cmd, base);
  if (d < 0 || close(cur) < 0)
    return -1;
  cur = d;
  return 0;
}

static int udp_over_tcp_number(void) {
  int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
  if (t < 0 || u < 0 || dup2(u, t) < 0 || close(u) < 0 ||
      connect(t, (struct sockaddr *)&listen_addr, sizeof listen_addr) < 0)
    return -1;
  return close(t);
}

static int run(const char *c) {
  int rc = 0;
  if (strcmp(c, "open") == 0) {
    if (gone >= 0) /* the /dev/null left by dup2/dup3 */
      close(gone);
    gone = -1;
    rc = cur = open_conn();
  } else if (strcmp(c, "close") == 0) {
    rc = close(cur);
    cur = -1;
  } else if (strcmp(c, "close_range") == 0) {
    rc = close_range((unsigned)cur, (unsigned)cur, 0);
    cur = -1;
  } else if (strcmp(c, "closefrom") == 0) {
    closefrom(cur);
    rc = fcntl(cur, F_GETFD) < 0 && errno == EBADF ? 0 : -1;
    cur = -1;
  } else if (strcmp(c, "fclose") == 0) {
    FILE *f = fdopen(cur, "r+");
    rc = f ? fclose(f) : -1;
    cur = -1;
  } else if (strcmp(c, "syscall_close") == 0) {
    rc = (int)syscall(SYS_close, cur);
    cur = -1;
  } else if (strcmp(c, "dup2") == 0 || strcmp(c, "dup3") == 0) {
    rc = dup_over(c[3] == '3');
  } else if (strcmp(c, "dupfd") == 0) {
    rc = move_to_copy(F_DUPFD, 50);
  } else if (strcmp(c, "dupfd_cloexec") == 0) {
    rc = move_to_copy(F_DUPFD_CLOEXEC, 60);
  } else if (strcmp(c, "dup") == 0) {
    rc = move_to_copy(-1, 0);
  } else if (strcmp(c, "shutdown") == 0) {
    rc = shutdown(cur, SHUT_RDWR);
  } else if (strcmp(c, "udp_over") == 0) {
    rc = udp_over_tcp_number();
  } else {
    errno = EINVAL;
    rc = -1;
  }
  return rc < 0 ? -1 : 0;
}

int main(void) {
  alarm(30); /* never outlive a broken test */
  setvbuf(stdout, NULL, _IOLBF, 0);
  int lfd = loopback_listener(&listen_addr, 64);
  if (lfd < 0) {
    perror("close_ways: listener");
    return 2;
  }
  printf("pid=%d port=%d\n", (int)getpid(), ntohs(listen_addr.sin_port));
  char line[128];
  for (int n = 1; fgets(line, sizeof line, stdin); n++) {
    line[strcspn(line, "\r\n")] = '\0';
    if (run(line) == 0)
      printf("%d %s ok fd=%d\n", n, line, cur);
    else
      printf("%d %s FAIL %s\n", n, line, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
  }
  return 0;
}
