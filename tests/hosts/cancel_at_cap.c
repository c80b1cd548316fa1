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
 * Usage: cancel_at_cap connect|close */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "connect") != 0 && strcmp(argv[1], "close") != 0)) {
    fprintf(stderr, "usage: cancel_at_cap connect|close\n");
    return 2;
  }
  alarm(20); /* a deadlock ends the process rather than the test's patience */
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
