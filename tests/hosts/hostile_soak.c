/* hostile_soak.c - the host scripts/soak runs under the shim: until SIGTERM, 8 client threads
 * connect to its own echo listener (so a cap makes them queue), echo 100 bytes and close; every
 * 40th connection is left idle for the idle timeout to reap; every 100th round forks a child that
 * does one echo of its own. Unexpected errors are counted. On SIGTERM it prints "rounds=N
 * reaped=R forks=F errors=E" and exits 0 when E is 0. Usage: hostile_soak IDLE_MS. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLIENTS 8

static volatile sig_atomic_t term;
static long rounds, reaped, forks, errors;
static struct sockaddr_in addr;
static int lfd, idle_ms;

static void on_term(int sig) { term = sig; }
static void bad(const char *what, int e) {
  fprintf(stderr, "hostile_soak: %s: %s\n", what, strerror(e));
  __atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED);
}

static void *serve_one(void *arg) {
  int s = (int)(long)arg;
  char buf[4096];
  ssize_t r;
  while ((r = read(s, buf, sizeof buf)) > 0)
    if (write(s, buf, (size_t)r) != r)
      break;
  close(s);
  return NULL;
}

static void *acceptor(void *arg) {
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  for (;;) {
    int s = accept(lfd, NULL, NULL);
    if (s < 0) {
      if (errno != EINTR && errno != ECONNABORTED)
        bad("accept", errno);
      continue;
    }
    pthread_t t;
    if (pthread_create(&t, &at, serve_one, (void *)(long)s) != 0) {
      bad("thread", EAGAIN);
      close(s);
    }
  }
  return arg;
}

/* One echo round trip on a new connection: 0, or -1 (counted). */
static int echo_once(void) {
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0) {
    bad("socket", errno);
    return -1;
  }
  char buf[100], back[100];
  memset(buf, 'q', sizeof buf);
  size_t got = 0;
  int rc = -1;
  if (connect(c, (struct sockaddr *)&addr, sizeof addr) < 0)
    bad("connect", errno);
  else if (write(c, buf, sizeof buf) != sizeof buf)
    bad("write", errno);
  else {
    ssize_t r;
    while (got < sizeof back && (r = read(c, back + got, sizeof back - got)) > 0)
      got += (size_t)r;
    if (got != sizeof back || memcmp(buf, back, sizeof buf) != 0)
      bad("echo", errno);
    else
      rc = 0;
  }
  close(c);
  return rc;
}

/* A connection left idle until the shim reaps it: its read ends (0 or an error) without data. */
static void idle_once(void) {
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) < 0) {
    bad("idle connect", errno);
    if (c >= 0)
      close(c);
    return;
  }
  struct pollfd p = {.fd = c, .events = POLLIN};
  if (poll(&p, 1, idle_ms * 4 + 2000) == 1) {
    char x;
    if (read(c, &x, 1) <= 0)
      __atomic_fetch_add(&reaped, 1, __ATOMIC_RELAXED);
    else
      bad("idle read", EPROTO);
  } else {
    bad("idle connection was never reaped", ETIMEDOUT);
  }
  close(c);
}

static void *client(void *arg) {
  long k = (long)arg;
  for (long i = 0; !term; i++) {
    if (i % 40 == 39)
      idle_once();
    else
      echo_once();
    __atomic_fetch_add(&rounds, 1, __ATOMIC_RELAXED);
    if (k == 0 && i % 100 == 99) {
      pid_t p = fork();
      if (p == 0)
        _exit(echo_once() == 0 ? 0 : 1);
      int st;
      if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bad("fork child", p < 0 ? errno : EPROTO);
      else
        forks++;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  idle_ms = argc > 1 ? atoi(argv[1]) : 500;
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sigaction sa = {.sa_handler = on_term};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  socklen_t al = sizeof addr;
  addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 128) < 0 ||
      getsockname(lfd, (struct sockaddr *)&addr, &al) < 0) {
    perror("hostile_soak: listener");
    return 2;
  }
  pthread_t a, t[CLIENTS];
  pthread_create(&a, NULL, acceptor, NULL);
  for (long k = 0; k < CLIENTS; k++)
    pthread_create(&t[k], NULL, client, (void *)k);
  printf("pid=%d\n", (int)getpid());
  for (int k = 0; k < CLIENTS; k++)
    pthread_join(t[k], NULL);
  printf("rounds=%ld reaped=%ld forks=%ld errors=%ld\n", rounds, reaped, forks, errors);
  return errors != 0;
}
