/* reap_reader.c - one outbound connection to 127.0.0.1:PORT used the way the reap tests need,
 * reporting "key=value" lines on stdout. MODE read [SECS]: blocking read() until EOF or error (or,
 * with SECS, until that long has passed), then close; skim SECS: read once, stop reading for SECS
 * while data keeps arriving, then read to the end; forget: never read or close, but obey stdin
 * lines "check" (fcntl(F_GETFD) and a read on the fd) and "close". Then it waits for stdin to
 * end (at most 30 s). Usage: reap_reader PORT MODE [SECS]. Runs the same without the preload. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_lines(const char *b, ssize_t n) {
  int k = 0;
  for (ssize_t i = 0; i < n; i++)
    k += b[i] == '\n';
  return k;
}

/* Blocking reads until EOF, an error, or max_secs (0: no limit) since t0. */
static void read_until_end(int fd, double t0, double max_secs) {
  char buf[4096];
  double last = t0;
  long bytes = 0;
  int lines = 0;
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    double t = now();
    if (r > 0) {
      bytes += r;
      lines += count_lines(buf, r);
      last = t;
      if (max_secs > 0 && t - t0 >= max_secs) {
        printf("alive secs=%.3f bytes=%ld lines=%d\n", t - t0, bytes, lines);
        break;
      }
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0)
      printf("eof secs=%.3f idle=%.3f bytes=%ld lines=%d\n", t - t0, t - last, bytes, lines);
    else
      printf("error errno=%s secs=%.3f idle=%.3f bytes=%ld lines=%d\n", strerrorname_np(errno),
             t - t0, t - last, bytes, lines);
    break;
  }
  printf("close=%d\n", close(fd));
}

/* Read once, leave the data that keeps arriving unread for secs, then read what is left. */
static void skim(int fd, double t0, double secs) {
  char buf[4096];
  ssize_t r = read(fd, buf, sizeof buf);
  printf("skimmed bytes=%zd\n", r);
  usleep((useconds_t)(secs * 1e6));
  printf("woke secs=%.3f\n", now() - t0);
  struct timeval tv = {.tv_sec = 2};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); /* the drain is bounded */
  long bytes = 0;
  for (int i = 0; i < 100000; i++) {
    r = read(fd, buf, sizeof buf);
    if (r > 0) {
      bytes += r;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    printf("drained bytes=%ld end=%s\n", bytes, r == 0 ? "eof" : strerrorname_np(errno));
    break;
  }
  printf("close=%d\n", close(fd));
}

/* Obey "check" and "close" from stdin; the connection is otherwise left alone. */
static void forget(int fd) {
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "check", 5) == 0) {
      int getfd = fcntl(fd, F_GETFD);
      int fderr = getfd < 0 ? errno : 0;
      struct pollfd p = {.fd = fd, .events = POLLIN};
      char c;
      if (poll(&p, 1, 1000) == 1) {
        ssize_t r = read(fd, &c, 1);
        printf("check getfd=%d%s%s read=%zd%s%s\n", getfd, fderr ? " getfd_errno=" : "",
               fderr ? strerrorname_np(fderr) : "", r, r < 0 ? " read_errno=" : "",
               r < 0 ? strerrorname_np(errno) : "");
      } else {
        printf("check getfd=%d read=blocked\n", getfd);
      }
    } else if (strncmp(line, "close", 5) == 0) {
      int r = close(fd);
      printf("close=%d%s%s\n", r, r < 0 ? " errno=" : "", r < 0 ? strerrorname_np(errno) : "");
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: reap_reader PORT read [SECS] | skim SECS | forget\n");
    return 2;
  }
  alarm(30); /* never outlive a broken test */
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *mode = argv[2];
  double secs = argc > 3 ? atof(argv[3]) : 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    printf("connect_failed errno=%s\n", strerrorname_np(errno));
    return 1;
  }
  struct sockaddr_in l;
  socklen_t ll = sizeof l;
  getsockname(fd, (struct sockaddr *)&l, &ll);
  printf("connected fd=%d lport=%d pid=%d\n", fd, ntohs(l.sin_port), (int)getpid());
  double t0 = now();
  if (strcmp(mode, "read") == 0)
    read_until_end(fd, t0, secs);
  else if (strcmp(mode, "skim") == 0)
    skim(fd, t0, secs);
  else if (strcmp(mode, "forget") == 0)
    forget(fd);
  else
    return 2;
  char buf[256];
  while (read(0, buf, sizeof buf) > 0) /* stay until stdin ends: the test reads our stats */
    ;
  printf("exit\n");
  return 0;
}
