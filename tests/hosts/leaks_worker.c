/* leaks_worker.c - a C program of the leak-check tests: opens a connection to the cache service on
 * 127.0.0.1:PORT in open_cache_connection, asks it one question, and then, in mode "leak", exits
 * without closing it, or in mode "close", closes it first. Exits with STATUS. Prints
 * "pid=P local=L". Usage: leaks_worker leak|close PORT [STATUS]. Built with -rdynamic (mk/leaks.mk)
 * so the loader can name its functions. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* noinline, and work after connect: the connect's caller must be this frame */
__attribute__((noinline)) int open_cache_connection(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
    return -1;
  static const char q[] = "get session\n";
  char reply[64];
  if (write(fd, q, sizeof q - 1) != (ssize_t)(sizeof q - 1) || read(fd, reply, sizeof reply) <= 0)
    return -1;
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 3 || (strcmp(argv[1], "leak") != 0 && strcmp(argv[1], "close") != 0)) {
    fprintf(stderr, "usage: leaks_worker leak|close PORT [STATUS]\n");
    return 2;
  }
  int fd = open_cache_connection(atoi(argv[2]));
  if (fd < 0) {
    perror("leaks_worker: cache");
    return 2;
  }
  struct sockaddr_in l;
  socklen_t ll = sizeof l;
  getsockname(fd, (struct sockaddr *)&l, &ll);
  printf("pid=%d local=%d\n", (int)getpid(), ntohs(l.sin_port));
  if (strcmp(argv[1], "close") == 0)
    close(fd);
  return argc > 3 ? atoi(argv[3]) : 0;
}
