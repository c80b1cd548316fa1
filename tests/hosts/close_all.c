/* close_all.c - closes every fd above stderr, as daemons and spawners do, after its first
 * connection, and lives on; "pid=P port=L fd=F" first, one command per stdin line answered
 * "N CMD ...", ends at EOF (at most 30 s). Its answers are the same with or without the preload.
 * Usage: close_all closefrom|close_range|close_loop [LIMIT, default 4096] */

/* Commands:
 *   closeall   MODE closefrom: closefrom(3); close_range: close_range(3, ~0U, 0); close_loop:
 *              close(fd) for every fd from 3 to LIMIT-1, answering ok=/ebadf=/other= counts
 *   probe      stdin, stdout, stderr still work (std=ok, and a line on stderr), then close() and
 *              syscall(SYS_close) of every number from 3 to LIMIT-1, none opened since: counts
 *   reconnect  a new listener and connection to it (fd=F) */
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

static int limit = 4096;

/* a listener on 127.0.0.1 and one connection to it (never accepted); returns the connection */
static int connect_self(int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, al) < 0 || listen(lfd, 4) < 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &al) < 0)
    return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
    return -1;
  *port = ntohs(a.sin_port);
  return fd;
}

/* close every number from 3 to limit-1 with close(), or with syscall(SYS_close) as libuv does */
static void close_loop(char *out, size_t len, int raw) {
  int ok = 0, ebadf = 0, other = 0;
  for (int fd = 3; fd < limit; fd++) {
    if ((raw ? syscall(SYS_close, fd) : close(fd)) == 0)
      ok++;
    else if (errno == EBADF)
      ebadf++;
    else
      other++;
  }
  snprintf(out, len, "ok=%d ebadf=%d other=%d", ok, ebadf, other);
}

static int std_ok(void) {
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0)
      return 0;
  return fprintf(stderr, "stderr still works\n") > 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (argc > 2)
    limit = atoi(argv[2]);
  if (strcmp(mode, "closefrom") != 0 && strcmp(mode, "close_range") != 0 && strcmp(mode, "close_loop") != 0) {
    fprintf(stderr, "usage: close_all closefrom|close_range|close_loop [LIMIT]\n");
    return 2;
  }
  alarm(30); /* never outlive a broken test */
  setvbuf(stdout, NULL, _IOLBF, 0);
  setvbuf(stderr, NULL, _IOLBF, 0);
  int port, fd = connect_self(&port);
  if (fd < 0) {
    perror("close_all: connect");
    return 2;
  }
  printf("pid=%d port=%d fd=%d\n", (int)getpid(), port, fd);
  char line[128], res[128];
  for (int n = 1; fgets(line, sizeof line, stdin); n++) {
    line[strcspn(line, "\r\n")] = '\0';
    res[0] = '\0';
    if (strcmp(line, "closeall") == 0) {
      if (strcmp(mode, "close_loop") == 0) {
        close_loop(res, sizeof res, 0);
      } else if (strcmp(mode, "closefrom") == 0) {
        errno = 0;
        closefrom(3);
        snprintf(res, sizeof res, "errno=%d", errno);
      } else {
        int r = close_range(3, ~0U, 0);
        snprintf(res, sizeof res, "rc=%d errno=%d", r, r < 0 ? errno : 0);
      }
    } else if (strcmp(line, "probe") == 0) {
      char raw[64];
      int good = std_ok();
      close_loop(res, sizeof res, 0);
      close_loop(raw, sizeof raw, 1);
      printf("%d probe std=%s close: %s syscall: %s\n", n, good ? "ok" : "BAD", res, raw);
      continue;
    } else if (strcmp(line, "reconnect") == 0) {
      fd = connect_self(&port);
      snprintf(res, sizeof res, "fd=%d", fd);
    } else {
      snprintf(res, sizeof res, "unknown");
    }
    printf("%d %s %s\n", n, line, res);
  }
  return 0;
}
