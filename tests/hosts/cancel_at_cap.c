/* cancel_at_cap.c - threads cancelled inside connect() and close() while a connection cap is in
 * force. A thread with a cancellation pending calls, depending on MODE:
 *   connect: connect() on a non-blocking socket while one held connection fills the cap (run it
 *            with CONNWARDEN_MAX_CONNS=1 in queue mode: the shim would park this connect);
 *   close:   close() on one of two held connections (run it with CONNWARDEN_MAX_CONNS=2 and
 *            CONNWARDEN_ON_CAP=refuse).
 * Either way the thread must end cancelled, as without any preload, and the process must go on:
 * afterwards one slot is free again (connect mode: the held connection is closed first; close
 * mode: the cancelled close's slot comes back), so a new connection is made at once. A lost slot
 * refuses it, a lock left held hangs it (alarm() ends the process then). Prints one line,
 * "cancelled=1 reconnect=0" when all is well (reconnect: connect()'s errno, 0 for success).
 *   inflight: a connect cancelled while its SYN is out goes on in the kernel, as after EINTR, so
 *            it must keep its slot until its fd is closed. Run it with CONNWARDEN_MAX_CONNS=2.
 *            The listener's accept queue is full (one connection, the filler, holding a slot),
 *            so thread A's blocking connect waits for its SYN's retransmission (1 s). A is
 *            cancelled at 100 ms; its cleanup handler closes its fd only at 1.6 s. Meanwhile the
 *            queue is emptied and thread B connects. Prints "inflight: A=... B=... at once=N"
 *            (N: the most connections the listener had at once while A's fd was open, the filler
 *            included: 3 without a cap, 2 under a cap of 2, where B waits for A's close).
 * Usage: cancel_at_cap connect|close|inflight */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "hostlib.h"

static struct sockaddr_in addr;
static int victim_fd = -1; /* close mode: the connection the cancelled thread closes */

static int dial(int nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0)
    return -errno;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* Make this thread's cancellation pending, then run into the call named by arg: a cancellation
 * point, where the thread must end. */
static void *victim(void *arg) {
  int old;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  pthread_cancel(pthread_self());
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
  if (strcmp(arg, "connect") == 0)
    dial(1);
  else
    close(victim_fd);
  return NULL; /* reached only when the cancellation was lost */
}

/* ---- inflight ---- */

static int inflight_fd = -1;          /* A's socket: written by A, read by its cleanup handler */
static int a_closed, b_err;           /* atomics */

static void close_later(void *arg) {
  (void)arg;
  usleep(1500000); /* a cleanup handler with other work to do first */
  close(__atomic_load_n(&inflight_fd, __ATOMIC_ACQUIRE));
  __atomic_store_n(&a_closed, 1, __ATOMIC_RELEASE);
}

static void *inflight_a(void *arg) {
  (void)arg;
  pthread_cleanup_push(close_later, NULL);
  __atomic_store_n(&inflight_fd, socket(AF_INET, SOCK_STREAM, 0), __ATOMIC_RELEASE);
  connect(__atomic_load_n(&inflight_fd, __ATOMIC_ACQUIRE), (struct sockaddr *)&addr, sizeof addr);
  pthread_cleanup_pop(1);
  return NULL;
}

static void *inflight_b(void *arg) {
  int fd = dial(0);
  __atomic_store_n(&b_err, fd < 0 ? -fd : 0, __ATOMIC_RELAXED);
  *(int *)arg = fd;
  return NULL;
}

static int run_inflight(void) {
  int lfd = loopback_listener(&addr, 0);
  int filler = dial(0); /* fills the accept queue (one connection with a backlog of 0) */
  if (lfd < 0 || filler < 0) {
    fprintf(stderr, "cancel_at_cap: inflight setup failed\n");
    return 2;
  }
  usleep(50000);
  pthread_t a, b;
  int bfd = -1;
  pthread_create(&a, NULL, inflight_a, NULL);
  usleep(100000); /* A's SYN is out and dropped: A waits in connect */
  pthread_cancel(a);
  int accepted[4], n = 0, most = 0;
  accepted[n++] = accept(lfd, NULL, NULL); /* the filler: the queue has room again */
  pthread_create(&b, NULL, inflight_b, &bfd);
  fcntl(lfd, F_SETFL, O_NONBLOCK);
  while (!__atomic_load_n(&a_closed, __ATOMIC_ACQUIRE) && n < 4) {
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, 10) == 1) {
      int c = accept(lfd, NULL, NULL);
      if (c >= 0)
        accepted[n++] = c;
    }
    if (n > most && !__atomic_load_n(&a_closed, __ATOMIC_ACQUIRE))
      most = n;
  }
  void *res = NULL;
  pthread_join(a, &res);
  pthread_join(b, NULL);
  int berr = __atomic_load_n(&b_err, __ATOMIC_RELAXED);
  printf("inflight: A=%s B=%s at once=%d\n", res == PTHREAD_CANCELED ? "cancelled" : "returned",
         berr ? strerror(berr) : "connected", most);
  for (int i = 0; i < n; i++)
    close(accepted[i]);
  close(bfd);
  close(filler);
  close(lfd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "connect") != 0 && strcmp(argv[1], "close") != 0 &&
                    strcmp(argv[1], "inflight") != 0)) {
    fprintf(stderr, "usage: cancel_at_cap connect|close|inflight\n");
    return 2;
  }
  alarm(20); /* a deadlock ends the process rather than the test's patience */
  if (strcmp(argv[1], "inflight") == 0)
    return run_inflight();
  int lfd = loopback_listener(&addr, 16);
  if (lfd < 0) {
    perror("cancel_at_cap: listener");
    return 2;
  }
  if (strcmp(argv[1], "close") == 0 && (victim_fd = dial(0)) < 0) {
    fprintf(stderr, "cancel_at_cap: victim connect: %s\n", strerror(-victim_fd));
    return 2;
  }
  int held = dial(0);
  if (held < 0) {
    fprintf(stderr, "cancel_at_cap: connect: %s\n", strerror(-held));
    return 2;
  }
  pthread_t t;
  void *res = NULL;
  if (pthread_create(&t, NULL, victim, argv[1]) != 0 || pthread_join(t, &res) != 0) {
    perror("cancel_at_cap: thread");
    return 2;
  }
  /* a close cancelled before the kernel saw it leaves the fd open, as without the shim */
  if (victim_fd >= 0)
    close(victim_fd);
  else
    close(held);
  int again = dial(0);
  printf("cancelled=%d reconnect=%d\n", res == PTHREAD_CANCELED, again < 0 ? -again : 0);
  if (again >= 0)
    close(again);
  if (victim_fd >= 0)
    close(held);
  close(lfd);
  return res == PTHREAD_CANCELED && again >= 0 ? 0 : 1;
}
