/* failed_calls.c - calls that fail on a held connection, and connects that fail, under a cap of
 * one. It holds one connection A to 127.0.0.1:PORT and makes, on A's number, calls that the kernel
 * refuses and that change nothing: close_range with invalid flags or an inverted range, dup3 onto
 * itself or with invalid flags (A as the old fd and as the new one), dup2 from a closed fd onto A,
 * F_DUPFD with a negative floor, and the same through syscall(). A must still echo after them.
 * Then ("pause held") a non-blocking connect B, which a cap of one holds back, and a poll of B for
 * 300 ms ("pause queued"). Then B and A are closed, a blocking and a non-blocking connect to
 * 127.0.0.1:REFUSED (nothing listens) fail, and a last blocking connect D to PORT must be made at
 * once, with the time it took ("pause end"). One normalised line per step ("ok", "-1 ERRNAME",
 * never an fd number), so runs with and without the preload compare line by line; the pauses wait
 * for a line on stdin (20 s at most). Usage: failed_calls PORT REFUSED */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "hostlib.h"

static struct sockaddr_in to_port, to_refused;

static int dial(const struct sockaddr_in *a, int nonblock, int *err) {
  int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) {
    perror("failed_calls: socket");
    exit(2);
  }
  *err = connect(fd, (const struct sockaddr *)a, sizeof *a) < 0 ? errno : 0;
  return fd;
}

/* A sends "ping\n" and gets it back. */
static const char *echo(int fd) {
  char b[8];
  if (write(fd, "ping\n", 5) != 5)
    return res(-1, errno);
  size_t got = 0;
  while (got < 5) {
    ssize_t r = read(fd, b + got, sizeof b - got);
    if (r <= 0)
      return r < 0 ? res(-1, errno) : "eof";
    got += (size_t)r;
  }
  return memcmp(b, "ping\n", 5) == 0 ? "ok" : "garbled";
}

#define TRY(label, call)                                                                           \
  do {                                                                                             \
    errno = 0;                                                                                     \
    long r_ = (call);                                                                              \
    printf("%s %s\n", label, res(r_, errno));                                                      \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: failed_calls PORT REFUSED\n");
    return 2;
  }
  alarm(60);
  to_port = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  to_refused = to_port;
  to_refused.sin_port = htons((uint16_t)atoi(argv[2]));
  int err;
  int a = dial(&to_port, 0, &err);
  printf("connect A %s\n", res(err ? -1 : 0, err));
  if (err)
    return 1;
  int devnull = open("/dev/null", O_RDONLY);
  int closed = dup(devnull); /* a number that names nothing once closed */
  close(closed);

  TRY("close_range A..A bad flags", close_range((unsigned)a, (unsigned)a, 1u << 30));
  TRY("close_range A..A unshare|bad flags", close_range((unsigned)a, (unsigned)a, CLOSE_RANGE_UNSHARE | (1u << 29)));
  TRY("close_range A+1..A inverted", close_range((unsigned)a + 1, (unsigned)a, 0));
  TRY("close_range 0..A inverted", close_range((unsigned)a, 0, 0));
  TRY("syscall close_range A..A bad flags", syscall(SYS_close_range, a, a, 1u << 30));
  TRY("dup3 A onto A", dup3(a, a, 0));
  TRY("dup3 A onto A cloexec", dup3(a, a, O_CLOEXEC));
  TRY("dup3 A onto devnull bad flags", dup3(a, devnull, O_NONBLOCK));
  TRY("dup3 devnull onto A bad flags", dup3(devnull, a, O_NONBLOCK));
  TRY("dup3 devnull onto A cloexec|bad flags", dup3(devnull, a, O_CLOEXEC | O_APPEND));
  TRY("syscall dup3 A onto A", syscall(SYS_dup3, a, a, 0));
  TRY("syscall dup3 devnull onto A bad flags", syscall(SYS_dup3, devnull, a, 1 << 30));
  TRY("dup2 closed onto A", dup2(closed, a));
  TRY("dup2 -1 onto A", dup2(-1, a));
  TRY("dup3 closed onto A", dup3(closed, a, 0));
  TRY("fcntl A F_DUPFD -1", fcntl(a, F_DUPFD, -1));
  TRY("fcntl A F_DUPFD_CLOEXEC -1", fcntl(a, F_DUPFD_CLOEXEC, -1));
  errno = 0;
  long same = dup2(a, a); /* succeeds, and changes nothing */
  printf("dup2 A onto A %s (%s)\n", res(same, errno), same == a ? "same number" : "another number");
  printf("echo A %s\n", echo(a));
  pause_for("held");

  int b = dial(&to_port, 1, &err);
  printf("connect B %s\n", res(err ? -1 : 0, err));
  struct pollfd p = {.fd = b, .events = POLLOUT};
  int n = poll(&p, 1, 300);
  printf("poll B %d\n", n); /* 1 without the cap (connected), 0 while the cap holds it back */
  pause_for("queued");
  TRY("close B", close(b));
  TRY("close A", close(a));

  int c = dial(&to_refused, 0, &err);
  printf("connect C (refused, blocking) %s\n", res(err ? -1 : 0, err));
  TRY("close C", close(c));
  int e = dial(&to_refused, 1, &err);
  printf("connect E (refused, non-blocking) %s\n", res(err ? -1 : 0, err));
  p = (struct pollfd){.fd = e, .events = POLLOUT};
  n = poll(&p, 1, 5000);
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  getsockopt(e, SOL_SOCKET, SO_ERROR, &soerr, &sl);
  printf("poll E %d%s, SO_ERROR %s\n", n, (p.revents & POLLERR) ? " POLLERR" : "", res(soerr ? -1 : 0, soerr));
  TRY("close E", close(e));

  double t0 = mono();
  int d = dial(&to_port, 0, &err);
  double took = (mono() - t0) * 1e3;
  printf("connect D %s\n", res(err ? -1 : 0, err));
  printf("echo D %s\n", echo(d));
  fprintf(stderr, "connect D took %.1f ms\n", took);
  printf("connect D at once: %s\n", took < 500 ? "yes" : "no");
  pause_for("end");
  close(d);
  close(devnull);
  return 0;
}
