/* hostile_traffic.c - a host that keeps its own loopback traffic moving while the tests attack
 * its stats socket: one TCP connection to its own listener, 64-byte ping-pongs between two
 * threads. Prints "pid=P" at start; when stdin ends it stops, prints "roundtrips=N bytes=B
 * max_gap_ms=G errors=E" (B: bytes each way; G: the longest pause between two round trips) and
 * holds the connection until SIGTERM (at most 30 s), then exits 0. Same with or without preload. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

static int stop; /* atomic: stdin has ended */
static volatile sig_atomic_t term;
static long errors;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int full(ssize_t (*io)(int, void *, size_t), int fd, char *buf) {
  for (size_t done = 0; done < MSG;) {
    ssize_t r = io(fd, buf + done, MSG - done);
    if (r <= 0)
      return -1;
    done += (size_t)r;
  }
  return 0;
}
static ssize_t rd(int fd, void *b, size_t n) { return read(fd, b, n); }
static ssize_t wr(int fd, void *b, size_t n) { return write(fd, b, n); }

/* The server side: echo every message back until the client shuts down. */
static void *echo(void *arg) {
  int fd = *(int *)arg;
  char buf[MSG];
  while (full(rd, fd, buf) == 0)
    if (full(wr, fd, buf) < 0) {
      __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
      break;
    }
  return NULL;
}

static void *watch_stdin(void *arg) {
  char b[256];
  while (read(0, b, sizeof b) > 0)
    ;
  __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
  return arg;
}

static void on_term(int sig) { term = sig; }

int main(void) {
  alarm(60);
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGTERM, on_term);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4) < 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
    perror("hostile_traffic: listener");
    return 2;
  }
  int cfd = socket(AF_INET, SOCK_STREAM, 0);
  if (cfd < 0 || connect(cfd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("hostile_traffic: connect");
    return 2;
  }
  int sfd = accept(lfd, NULL, NULL);
  if (sfd < 0) {
    perror("hostile_traffic: accept");
    return 2;
  }
  pthread_t et, st;
  pthread_create(&et, NULL, echo, &sfd);
  pthread_create(&st, NULL, watch_stdin, NULL);
  printf("pid=%d\n", (int)getpid());
  char buf[MSG];
  long n = 0;
  long long last = now_ms(), gap = 0;
  while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    for (int i = 0; i < MSG; i++)
      buf[i] = (char)(n + i);
    char want[MSG];
    for (int i = 0; i < MSG; i++)
      want[i] = buf[i];
    if (full(wr, cfd, buf) < 0 || full(rd, cfd, buf) < 0) {
      errors++;
      break;
    }
    for (int i = 0; i < MSG; i++)
      if (buf[i] != want[i]) {
        errors++;
        break;
      }
    n++;
    long long t = now_ms();
    if (t - last > gap)
      gap = t - last;
    last = t;
  }
  printf("roundtrips=%ld bytes=%ld max_gap_ms=%lld errors=%ld\n", n, n * MSG, gap,
         __atomic_load_n(&errors, __ATOMIC_RELAXED));
  for (int i = 0; i < 300 && !term; i++)
    usleep(100000);
  shutdown(cfd, SHUT_WR);
  pthread_join(et, NULL);
  close(cfd);
  close(sfd);
  close(lfd);
  printf("done\n");
  return 0;
}
