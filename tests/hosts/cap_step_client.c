/* cap_step_client.c - connections opened, used and closed one command at a time, for the tests
 * of runtime settings and policy scope. Reads stdin lines: "open K PORT" (a blocking connect to
 * 127.0.0.1:PORT in its own thread), "ping K" (send "ping\n", await the echo), "read K" (a thread
 * blocked in read() until EOF), "close K", "listen" and "accept K" (an inbound connection). Every
 * result is one stdout line naming K; "at=" is CLOCK_REALTIME in ns. Exits when stdin ends (at
 * most 30 s). Runs the same with or without the preload. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_K 64

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int fds[MAX_K]; /* written by the main thread and the connect/accept threads */
/* set by a reader thread as it ends: the test closes a connection only after its reader said eof,
   and the close reads this flag so that ThreadSanitizer sees that order too */
static int read_done[MAX_K];
static int listen_fd = -1;

static void say(const char *fmt, ...) {
  pthread_mutex_lock(&out_mu);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
}

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct job {
  int k, port;
};

static void *open_one(void *arg) {
  struct job *j = arg;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)j->port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  double t0 = mono();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
    __atomic_store_n(&fds[j->k], fd, __ATOMIC_RELEASE);
    say("opened %d fd=%d secs=%.3f at=%lld\n", j->k, fd, mono() - t0, wall_ns());
  } else {
    say("failed %d errno=%s secs=%.3f\n", j->k, strerrorname_np(errno), mono() - t0);
    if (fd >= 0)
      close(fd);
  }
  free(j);
  return NULL;
}

static void *read_one(void *arg) {
  struct job *j = arg;
  int fd = __atomic_load_n(&fds[j->k], __ATOMIC_ACQUIRE);
  double t0 = mono();
  char buf[4096];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r > 0)
      continue;
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0)
      say("eof %d secs=%.3f at=%lld\n", j->k, mono() - t0, wall_ns());
    else
      say("error %d errno=%s secs=%.3f\n", j->k, strerrorname_np(errno), mono() - t0);
    break;
  }
  __atomic_store_n(&read_done[j->k], 1, __ATOMIC_RELEASE);
  free(j);
  return NULL;
}

static void *accept_one(void *arg) {
  struct job *j = arg;
  int fd = accept(listen_fd, NULL, NULL);
  if (fd >= 0) {
    __atomic_store_n(&fds[j->k], fd, __ATOMIC_RELEASE);
    say("accepted %d fd=%d\n", j->k, fd);
  } else {
    say("failed %d errno=%s\n", j->k, strerrorname_np(errno));
  }
  free(j);
  return NULL;
}

static void spawn(void *(*fn)(void *), int k, int port) {
  struct job *j = malloc(sizeof *j);
  pthread_t t;
  if (!j)
    return;
  j->k = k;
  j->port = port;
  if (pthread_create(&t, NULL, fn, j) == 0)
    pthread_detach(t);
  else
    free(j);
}

static void ping(int k) {
  int fd = __atomic_load_n(&fds[k], __ATOMIC_ACQUIRE);
  struct timeval tv = {.tv_sec = 2};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char got[6] = {0};
  size_t n = 0;
  if (write(fd, "ping\n", 5) == 5)
    while (n < 5) {
      ssize_t r = read(fd, got + n, 5 - n);
      if (r <= 0)
        break;
      n += (size_t)r;
    }
  if (n == 5 && strcmp(got, "ping\n") == 0)
    say("pong %d\n", k);
  else
    say("noping %d errno=%s\n", k, strerrorname_np(errno));
}

static void start_listening(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
      listen(listen_fd, 16) < 0 || getsockname(listen_fd, (struct sockaddr *)&a, &al) < 0) {
    say("listen failed errno=%s\n", strerrorname_np(errno));
    return;
  }
  say("listening port=%d\n", ntohs(a.sin_port));
}

int main(void) {
  alarm(30); /* never outlive a broken test */
  for (int i = 0; i < MAX_K; i++)
    fds[i] = -1;
  say("pid=%d\n", (int)getpid());
  char line[128], cmd[16];
  while (fgets(line, sizeof line, stdin)) {
    int k = -1, port = 0;
    int n = sscanf(line, "%15s %d %d", cmd, &k, &port);
    if (n >= 1 && strcmp(cmd, "listen") == 0) {
      start_listening();
      continue;
    }
    if (n < 2 || k < 0 || k >= MAX_K) {
      say("bad command %s", line);
      continue;
    }
    if (strcmp(cmd, "open") == 0 && n == 3)
      spawn(open_one, k, port);
    else if (strcmp(cmd, "accept") == 0)
      spawn(accept_one, k, 0);
    else if (strcmp(cmd, "ping") == 0)
      ping(k);
    else if (strcmp(cmd, "read") == 0)
      spawn(read_one, k, 0);
    else if (strcmp(cmd, "close") == 0) {
      (void)__atomic_load_n(&read_done[k], __ATOMIC_ACQUIRE);
      say("closed %d rc=%d\n", k, close(__atomic_exchange_n(&fds[k], -1, __ATOMIC_ACQ_REL)));
    } else
      say("bad command %s", line);
  }
  return 0;
}
