/* cancel_reader.c - a thread blocked in read() on a TCP connection is cancelled by the main
 * thread; prints "cancelled" when pthread_join reports it. Then reads N times on the connection
 * and prints the count (for a read-counting preload). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int conn;

static void *reader(void *arg) {
  (void)arg;
  char b[16];
  read(conn, b, sizeof b); /* the peer never writes: only cancellation ends this */
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al))
    return 1;
  conn = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(conn, (struct sockaddr *)&a, sizeof a))
    return 1;
  int peer = accept(l, NULL, NULL);
  /* n reads of one byte each, before any thread exists */
  for (int i = 0; i < n; i++) {
    char c;
    if (write(peer, "x", 1) != 1 || read(conn, &c, 1) != 1)
      return 1;
  }
  pthread_t t;
  void *res;
  pthread_create(&t, NULL, reader, NULL);
  usleep(100000);
  pthread_cancel(t);
  pthread_join(t, &res);
  puts(res == PTHREAD_CANCELED ? "cancelled" : "not cancelled");
  return 0;
}
