/* leaker.c - opens one TCP connection to its own 127.0.0.1 listener (never accepted: the backlog
 * completes it), sends 1000 bytes, prints "pid=P port=L fd=F", then exits with STATUS, leaving the
 * connection open (leak) or closing it first (close). Usage: leaker leak|close [STATUS] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* noinline and a call after connect: the connect's caller must be this frame, not main */
__attribute__((noinline)) int open_upstream_and_forget(const struct sockaddr_in *to) {
  static char payload[1000];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof *to) < 0)
    return -1;
  memset(payload, 'x', sizeof payload);
  if (write(fd, payload, sizeof payload) != (ssize_t)sizeof payload)
    return -1;
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "leak") != 0 && strcmp(argv[1], "close") != 0)) {
    fprintf(stderr, "usage: leaker leak|close [STATUS]\n");
    return 2;
  }
  int status = argc > 2 ? atoi(argv[2]) : 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4) < 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
    perror("leaker: listener");
    return 2;
  }
  int fd = open_upstream_and_forget(&a);
  if (fd < 0) {
    perror("leaker: connect");
    return 2;
  }
  printf("pid=%d port=%d fd=%d\n", (int)getpid(), ntohs(a.sin_port), fd);
  if (strcmp(argv[1], "close") == 0)
    close(fd);
  return status;
}
