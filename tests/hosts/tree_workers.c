/* tree_workers.c - a prefork program for the process-tree tests: the parent forks W workers; each
 * makes K blocking connects to 127.0.0.1:PORT one after another, holds each connection H ms, then
 * closes it. Every connect prints "connect W K START_NS GOT_NS ERRNO" (monotonic clock; one
 * write, so lines from workers never mix) on stdout; the parent prints "done" once every worker
 * has exited. With a fifth argument S, the parent waits for S ms between forks (a later worker
 * starts waiting later). Usage: tree_workers PORT W K H [S]. Everything ends within 60 s. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/wait.h>
#include "hostlib.h"

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void worker(int w, int port, int k, int hold_ms) {
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < k; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    long long start = now_ns();
    int rc = connect(fd, (struct sockaddr *)&to, sizeof to), e = rc < 0 ? errno : 0;
    long long got = now_ns();
    char line[128];
    int n = snprintf(line, sizeof line, "connect %d %d %lld %lld %d\n", w, i, start, got, e);
    if (write(1, line, (size_t)n) != n)
      _exit(3);
    usleep((useconds_t)hold_ms * 1000);
    close(fd);
  }
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: tree_workers PORT W K H [S]\n");
    return 2;
  }
  int port = atoi(argv[1]), nw = atoi(argv[2]), k = atoi(argv[3]), hold = atoi(argv[4]);
  int stagger = argc > 5 ? atoi(argv[5]) : 0;
  alarm(60);
  for (int w = 0; w < nw; w++) {
    pid_t p = fork();
    if (p == 0)
      worker(w, port, k, hold);
    if (p < 0)
      return 1;
    if (stagger)
      usleep((useconds_t)stagger * 1000);
  }
  int bad = 0, st;
  while (wait(&st) > 0)
    bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  printf("done bad=%d\n", bad);
  return bad != 0;
}
