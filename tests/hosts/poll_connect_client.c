/* poll_connect_client.c PORT N TIMEOUT_MS RELEASE - N threads, each a GET to 127.0.0.1:PORT the way many C
 * programs connect with a timeout: a non-blocking connect(), then poll() for POLLOUT with
 * TIMEOUT_MS, SO_ERROR, then the request and the answer (to EOF: it asks for Connection: close),
 * each wait in poll() with TIMEOUT_MS. Prints {"pid": ...} first, then one JSON line: how many got
 * a whole answer, the failures by errno name, the longest wait in the connect's poll() and the
 * whole run's seconds; then stays alive until the file RELEASE exists (at most 20 s) so its stats
 * can be read. Runs the same with or without the preload. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_N 256

static int port, timeout_ms;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int ok;                      /* guarded by mu */
static double connect_wait_max;     /* guarded by mu */
static const char *errs[MAX_N];     /* each thread writes its own entry */

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* poll fd for ev with the timeout: 0 when ready, else an errno (ETIMEDOUT at the timeout) */
static int wait_for(int fd, short ev) {
  struct pollfd p = {.fd = fd, .events = ev};
  int r;
  while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
    ;
  if (r < 0)
    return errno;
  return r == 0 ? ETIMEDOUT : 0;
}

/* one request; NULL on success, else the errno name (or what went wrong) */
static const char *one(int k) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
  if (fd < 0)
    return strerrorname_np(errno);
  const char *what = NULL;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
    what = strerrorname_np(errno);
    goto out;
  }
  double t0 = mono();
  err = wait_for(fd, POLLOUT);
  double waited = mono() - t0;
  pthread_mutex_lock(&mu);
  if (waited > connect_wait_max)
    connect_wait_max = waited;
  pthread_mutex_unlock(&mu);
  socklen_t l = sizeof err;
  if (err || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
    what = strerrorname_np(err ? err : errno);
    goto out;
  }
  char req[128];
  int n = snprintf(req, sizeof req,
                   "GET /c%d?size=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", k);
  if (write(fd, req, (size_t)n) != n) {
    what = "short write";
    goto out;
  }
  char buf[4096];
  size_t got = 0;
  for (;;) {
    if ((err = wait_for(fd, POLLIN))) {
      what = strerrorname_np(err);
      goto out;
    }
    ssize_t r = read(fd, buf, sizeof buf);
    if (r == 0)
      break;
    if (r < 0 && errno != EAGAIN && errno != EINTR) {
      what = strerrorname_np(errno);
      goto out;
    }
    if (r > 0)
      got += (size_t)r;
  }
  /* the answer's head is about 100 bytes, its body 1000 */
  if (got < 1000 || got > 1200)
    what = "short answer";
out:
  close(fd);
  return what;
}

static void *run(void *arg) {
  int k = (int)(long)arg;
  errs[k] = one(k);
  if (!errs[k]) {
    pthread_mutex_lock(&mu);
    ok++;
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5 || (port = atoi(argv[1])) <= 0 || atoi(argv[2]) <= 0 || atoi(argv[2]) > MAX_N) {
    fprintf(stderr, "usage: poll_connect_client PORT N TIMEOUT_MS RELEASE\n");
    return 2;
  }
  int n = atoi(argv[2]);
  timeout_ms = atoi(argv[3]);
  pthread_t t[MAX_N];
  printf("{\"pid\": %d}\n", (int)getpid());
  fflush(stdout);
  double t0 = mono();
  for (int k = 0; k < n; k++)
    if (pthread_create(&t[k], NULL, run, (void *)(long)k) != 0)
      return 1;
  for (int k = 0; k < n; k++)
    pthread_join(t[k], NULL);
  printf("{\"ok\": %d, \"requests\": %d, \"errors\": {", ok, n);
  const char *sep = "";
  for (int k = 0; k < n; k++) {
    if (!errs[k])
      continue;
    int seen = 0, count = 0;
    for (int j = 0; j < n; j++) {
      seen |= j < k && errs[j] && strcmp(errs[j], errs[k]) == 0;
      count += errs[j] && strcmp(errs[j], errs[k]) == 0;
    }
    if (!seen) {
      printf("%s\"%s\": %d", sep, errs[k], count);
      sep = ", ";
    }
  }
  printf("}, \"connect_wait_max\": %.3f, \"secs\": [%.3f]}\n", connect_wait_max, mono() - t0);
  fflush(stdout);
  for (int i = 0; i < 1000 && access(argv[4], F_OK) != 0; i++)
    usleep(20000);
  return 0;
}
