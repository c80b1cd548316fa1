/* fd_exhaust.c - a host that runs out of fds: under a small soft RLIMIT_NOFILE it connects to and
 * accepts from its own 127.0.0.1 listener until a call fails with EMFILE, probes other fd-making
 * calls there, closes 3 pairs and goes on to EMFILE again, echoes over every pair and prints one
 * normalised line per step ("ok" or "-1 ERRNAME", never an fd number), so runs with and without
 * the preload can be compared line by line. It stops at "pause NAME" lines until a line arrives
 * on stdin (20 s at most). Usage: fd_exhaust inherit|setrlimit LIMIT [busy] (inherit: the soft
 * limit was set before exec and must be LIMIT; setrlimit: the host lowers it itself first; busy:
 * one more pause at the limit, spent calling dup() and counting the calls that succeed). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "hostlib.h"

#define MAXP 4096
#define MSG 100

static struct sockaddr_in addr;
static int lfd;
static int cli[MAXP], srv[MAXP], npairs; /* -1 once closed */
static int pending = -1;                 /* a connected client its accept() could not take */
static long opened_out, opened_in, closed_out, closed_in, bytes_out, bytes_in;

static void close_pair(int i) {
  int r = close(cli[i]);
  printf("  close client %s", res(r, errno));
  r = close(srv[i]);
  printf(" server %s\n", res(r, errno));
  cli[i] = srv[i] = -1;
  closed_out++;
  closed_in++;
}

/* Make connected pairs until a call fails. */
static void fill(const char *phase) {
  for (;;) {
    if (npairs >= MAXP) {
      printf("%s: more than %d pairs: the limit did not hold\n", phase, MAXP);
      exit(1);
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0) {
      printf("%s pair %d socket %s\n", phase, npairs + 1, res(c, errno));
      return;
    }
    int r = connect(c, (struct sockaddr *)&addr, sizeof addr);
    if (r < 0) {
      printf("%s pair %d socket ok connect %s\n", phase, npairs + 1, res(r, errno));
      close(c);
      return;
    }
    opened_out++;
    int s = accept(lfd, NULL, NULL);
    if (s < 0) {
      printf("%s pair %d socket ok connect ok accept %s\n", phase, npairs + 1, res(s, errno));
      pending = c;
      return;
    }
    opened_in++;
    cli[npairs] = c;
    srv[npairs++] = s;
    printf("%s pair %d socket ok connect ok accept ok\n", phase, npairs);
  }
}

/* Other calls that make fds, at the limit. Any that succeeds is closed again. */
static void probe(const char *phase) {
  int p[2], fd;
  printf("%s probes:", phase);
#define PROBE(name, call)                                                                          \
  do {                                                                                             \
    fd = (call);                                                                                   \
    printf(" %s %s", name, res(fd, errno));                                                        \
    if (fd >= 0)                                                                                   \
      close(fd);                                                                                   \
  } while (0)
  PROBE("dup", dup(0));
  PROBE("fcntl_dupfd", fcntl(0, F_DUPFD, 0));
  PROBE("open", open("/dev/null", O_RDONLY));
  PROBE("socket", socket(AF_INET, SOCK_STREAM, 0));
  PROBE("accept4", accept4(lfd, NULL, NULL, SOCK_NONBLOCK));
  int r = pipe(p);
  printf(" pipe %s", res(r, errno));
  if (r == 0)
    close(p[0]), close(p[1]);
  r = socketpair(AF_UNIX, SOCK_STREAM, 0, p);
  printf(" socketpair %s\n", res(r, errno));
  if (r == 0)
    close(p[0]), close(p[1]);
#undef PROBE
}

/* Exactly n bytes each way through read/write, counting what each call moved. */
static int full(int fd, char *buf, int out) {
  for (size_t done = 0; done < MSG;) {
    ssize_t r = out ? write(fd, buf + done, MSG - done) : read(fd, buf + done, MSG - done);
    if (r <= 0)
      return -1;
    done += (size_t)r;
    *(out ? &bytes_out : &bytes_in) += r;
  }
  return 0;
}

static void echo_all(void) {
  int open = 0, bad = 0;
  for (int i = 0; i < npairs; i++) {
    if (cli[i] < 0)
      continue;
    char want[MSG], buf[MSG];
    for (int k = 0; k < MSG; k++)
      want[k] = buf[k] = (char)(i * 13 + k);
    open++;
    if (full(cli[i], buf, 1) || full(srv[i], buf, 0) || full(srv[i], buf, 1) || full(cli[i], buf, 0) ||
        memcmp(buf, want, MSG) != 0)
      bad++;
  }
  printf("echo pairs=%d bad=%d\n", open, bad);
}

/* A pause spent at the limit calling dup(), which must keep failing. */
static void busy_pause(void) {
  printf("pause busy\n");
  fflush(stdout);
  long ok = 0;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct pollfd p = {.fd = 0, .events = POLLIN};
    char b[64];
    if (poll(&p, 1, 0) == 1) {
      if (read(0, b, sizeof b) < 0)
        exit(1);
      break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec > 20) {
      printf("pause busy: not released\n");
      exit(1);
    }
    for (int i = 0; i < 1000; i++) {
      int fd = dup(0);
      if (fd >= 0) {
        ok++;
        close(fd);
      }
    }
  }
  printf("busy: dup at the limit succeeded %ld times\n", ok);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4 || (strcmp(argv[1], "inherit") != 0 && strcmp(argv[1], "setrlimit") != 0) ||
      (argc == 4 && strcmp(argv[3], "busy") != 0)) {
    fprintf(stderr, "usage: fd_exhaust inherit|setrlimit LIMIT [busy]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  rlim_t limit = (rlim_t)atol(argv[2]);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (strcmp(argv[1], "setrlimit") == 0) {
    rl.rlim_cur = limit;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
      perror("fd_exhaust: setrlimit");
      return 2;
    }
  } else if (rl.rlim_cur != limit) {
    fprintf(stderr, "fd_exhaust: soft RLIMIT_NOFILE is %ld, not %ld\n", (long)rl.rlim_cur, (long)limit);
    return 2;
  }
  printf("limit soft=%ld\n", (long)limit);
  lfd = loopback_listener(&addr, 8);
  printf("listener %s\n", res(lfd, errno));
  if (lfd < 0)
    return 1;

  fill("fill");
  probe("exhausted");
  pause_for("exhausted");
  if (argc == 4)
    busy_pause();

  printf("closing 3 pairs\n");
  for (int i = 0; i < 3 && i < npairs; i++)
    close_pair(i);
  if (pending >= 0) {
    int s = accept(lfd, NULL, NULL);
    printf("accept the pending one %s\n", res(s, errno));
    if (s >= 0) {
      opened_in++;
      cli[npairs] = pending;
      srv[npairs++] = s;
      pending = -1;
    }
  }
  fill("refill");
  probe("refilled");
  echo_all();
  printf("closing the last pair\n");
  close_pair(npairs - 1);
  printf("totals opened_out=%ld opened_in=%ld closed_out=%ld closed_in=%ld bytes_out=%ld bytes_in=%ld\n",
         opened_out, opened_in, closed_out, closed_in, bytes_out, bytes_in);
  pause_for("settled");

  int left = 0, bad = 0;
  for (int i = 0; i < npairs; i++)
    if (cli[i] >= 0) {
      bad += close(cli[i]) < 0;
      bad += close(srv[i]) < 0;
      left++;
    }
  if (pending >= 0)
    bad += close(pending) < 0;
  printf("closed the other %d pairs%s, bad closes %d\n", left, pending >= 0 ? " and the pending client" : "", bad);
  close(lfd);
  return bad ? 1 : 0;
}
