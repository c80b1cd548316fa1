/* fork_server.c - a classic forking TCP server on 127.0.0.1 ("pid=P port=L"): accepts N
 * connections, forks a child for each and closes its own copy ("child=C fd=F"); a child greets
 * with "child C peer IP:PORT", echoes until EOF and exits 0; the parent then reaps them and exits.
 * Usage: fork_server N. Everything ends within 30 s. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "hostlib.h"

static void serve_client(int fd) {
  struct sockaddr_in peer;
  socklen_t pl = sizeof peer;
  char buf[4096], ip[INET_ADDRSTRLEN] = "?";
  if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
  int n = snprintf(buf, sizeof buf, "child %d peer %s:%d\n", (int)getpid(), ip, ntohs(peer.sin_port));
  if (write_all(fd, buf, (size_t)n) < 0)
    exit(3);
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0)
    if (write_all(fd, buf, (size_t)r) < 0)
      exit(3);
  close(fd);
  exit(r == 0 ? 0 : 3);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  alarm(30); /* never outlive a broken test (a fork child does not inherit it: sets its own) */
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 16) < 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
    perror("fork_server: listener");
    return 2;
  }
  printf("pid=%d port=%d\n", (int)getpid(), ntohs(a.sin_port));
  for (int i = 0; i < n; i++) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      perror("fork_server: accept");
      return 2;
    }
    pid_t child = fork();
    if (child < 0) {
      perror("fork_server: fork");
      return 2;
    }
    if (child == 0) {
      alarm(30);
      close(lfd);
      serve_client(fd);
    }
    close(fd);
    printf("child=%d fd=%d\n", (int)child, fd);
  }
  close(lfd);
  int bad = 0;
  for (int i = 0; i < n; i++) {
    int st;
    if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad++;
  }
  printf("reaped=%d bad=%d\n", n, bad);
  return bad ? 1 : 0;
}
