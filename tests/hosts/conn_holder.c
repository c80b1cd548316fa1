/* conn_holder.c - holds N outbound TCP connections to its own 127.0.0.1 listener (never
 * accepted: the kernel completes them from the backlog), sends "hello" on each, prints
 * "pid=P port=L conns=N" and waits until stdin ends (at most 30 s). Then it closes them and exits
 * with STATUS. Usage: conn_holder [N [STATUS]]. Runs the same with or without the preload. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 64

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1, status = argc > 2 ? atoi(argv[2]) : 0;
  if (n < 0 || n > MAX_CONNS) {
    fprintf(stderr, "conn_holder: N must be 0..%d\n", MAX_CONNS);
    return 2;
  }
  alarm(30); /* never outlive a broken test */
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, MAX_CONNS) < 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
    perror("conn_holder: listener");
    return 2;
  }
  int fds[MAX_CONNS];
  for (int i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a) < 0 ||
        write(fds[i], "hello", 5) != 5) {
      perror("conn_holder: connect");
      return 2;
    }
  }
  printf("pid=%d port=%d conns=%d\n", (int)getpid(), ntohs(a.sin_port), n);
  char buf[256];
  while (read(0, buf, sizeof buf) > 0)
    ;
  for (int i = 0; i < n; i++)
    close(fds[i]);
  close(lfd);
  printf("done\n");
  return status;
}
