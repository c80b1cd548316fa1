/* fastopen_client.c - N TCP Fast Open connections to 127.0.0.1:PORT, each sending "hello\n",
 * reading the echo, holding the connection HOLD_MS and closing it. How each connection starts:
 *   sendto   sendto(fd, data, n, MSG_FASTOPEN, addr): connect and send in one call
 *   sendmsg  the same through sendmsg (msg_name is the address)
 *   connect  setsockopt TCP_FASTOPEN_CONNECT, then connect() and write()
 * block: N threads at once, blocking sockets. nonblock: one thread, N non-blocking sockets started
 * together, then each served as poll says it became writable (its SO_ERROR read, the data sent
 * unless the first call sent it). Without a server that takes data in the SYN (a Fast Open
 * cookie), the first call sends nothing when non-blocking (-1 EINPROGRESS: the data goes after
 * the handshake) and everything when blocking (it waits for the handshake).
 * Prints one line per connection, "conn first=RESULT echo=ok" (RESULT: "sent N" or "-1 ERRNAME"),
 * then "done ok=N", and waits for a line or the end of stdin (20 s at most) before it exits, so
 * that its stats can be read. Usage: fastopen_client PORT sendto|sendmsg|connect block|nonblock N HOLD_MS */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "hostlib.h"

#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#define MAXN 64
static const char data[] = "hello\n";
#define LEN (sizeof data - 1)

static struct sockaddr_in to;
static const char *mode;
static int hold_ms;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int ok_count; /* guarded by out_mu */

/* Start fd's connection the mode's way. Returns what the first call returned (bytes sent, 0 for
 * a connect, -1 with errno). */
static ssize_t start(int fd) {
  if (strcmp(mode, "sendto") == 0)
    return sendto(fd, data, LEN, MSG_FASTOPEN, (struct sockaddr *)&to, sizeof to);
  if (strcmp(mode, "sendmsg") == 0) {
    struct iovec iov = {.iov_base = (void *)data, .iov_len = LEN};
    struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1};
    return sendmsg(fd, &m, MSG_FASTOPEN);
  }
  int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof on) < 0)
    return -1;
  return connect(fd, (struct sockaddr *)&to, sizeof to);
}

/* The data not sent yet, then the echo, the hold and the close. Returns "ok" or what failed. */
static const char *finish(int fd, size_t sent) {
  while (sent < LEN) {
    ssize_t w = send(fd, data + sent, LEN - sent, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      poll(&p, 1, 1000);
      continue;
    }
    if (w <= 0)
      return "send failed";
    sent += (size_t)w;
  }
  char buf[16];
  size_t got = 0;
  while (got < LEN) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1)
      return "no echo";
    ssize_t r = recv(fd, buf + got, sizeof buf - got, 0);
    if (r <= 0)
      return r == 0 ? "eof" : "recv failed";
    got += (size_t)r;
  }
  if (got != LEN || memcmp(buf, data, LEN) != 0)
    return "garbled";
  usleep((useconds_t)hold_ms * 1000);
  close(fd);
  return "ok";
}

static void report(ssize_t first, int err, const char *how) {
  char f[64];
  pthread_mutex_lock(&out_mu); /* res() and stdout are shared */
  if (first >= 0)
    snprintf(f, sizeof f, "sent %zd", first);
  else
    snprintf(f, sizeof f, "%s", res(-1, err));
  printf("conn first=%s echo=%s\n", f, how);
  fflush(stdout);
  ok_count += strcmp(how, "ok") == 0;
  pthread_mutex_unlock(&out_mu);
}

static void *one_blocking(void *arg) {
  (void)arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ssize_t r = start(fd);
  int err = errno;
  size_t sent = strcmp(mode, "connect") == 0 || r < 0 ? 0 : (size_t)r;
  report(r, err, r < 0 ? "start failed" : finish(fd, sent));
  return NULL;
}

static int run_nonblocking(int n) {
  int fds[MAXN];
  ssize_t first[MAXN];
  int err[MAXN], done[MAXN] = {0}, left = n;
  for (int i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    first[i] = start(fds[i]);
    err[i] = errno;
    if (first[i] < 0 && err[i] != EINPROGRESS) {
      report(first[i], err[i], "start failed");
      done[i] = 1;
      left--;
    }
  }
  while (left > 0) {
    struct pollfd p[MAXN];
    int idx[MAXN], m = 0;
    for (int i = 0; i < n; i++)
      if (!done[i]) {
        p[m] = (struct pollfd){.fd = fds[i], .events = POLLOUT};
        idx[m++] = i;
      }
    if (poll(p, (nfds_t)m, 15000) <= 0) {
      printf("timed out with %d connections not writable\n", left);
      return 1;
    }
    for (int k = 0; k < m; k++) {
      if (!p[k].revents)
        continue;
      int i = idx[k], soerr = 0;
      socklen_t sl = sizeof soerr;
      getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &soerr, &sl);
      size_t sent = strcmp(mode, "connect") == 0 || first[i] < 0 ? 0 : (size_t)first[i];
      report(first[i], err[i], soerr ? res(-1, soerr) : finish(fds[i], sent));
      done[i] = 1;
      left--;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 6 || (strcmp(argv[3], "block") != 0 && strcmp(argv[3], "nonblock") != 0)) {
    fprintf(stderr, "usage: fastopen_client PORT sendto|sendmsg|connect block|nonblock N HOLD_MS\n");
    return 2;
  }
  alarm(30);
  to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  mode = argv[2];
  int n = atoi(argv[4]);
  hold_ms = atoi(argv[5]);
  if (n < 1 || n > MAXN)
    return 2;
  if (strcmp(argv[3], "nonblock") == 0) {
    if (run_nonblocking(n))
      return 1;
  } else {
    pthread_t t[MAXN];
    for (int i = 0; i < n; i++)
      pthread_create(&t[i], NULL, one_blocking, NULL);
    for (int i = 0; i < n; i++)
      pthread_join(t[i], NULL);
  }
  printf("done ok=%d\n", ok_count);
  fflush(stdout);
  struct pollfd p = {.fd = 0, .events = POLLIN};
  char b[64];
  if (poll(&p, 1, 20000) == 1 && read(0, b, sizeof b) < 0)
    return 1;
  return ok_count == n ? 0 : 1;
}
