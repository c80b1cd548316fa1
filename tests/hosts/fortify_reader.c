/* fortify_reader.c - reads a connection to 127.0.0.1:PORT until EOF through the fortified reads
 * (-D_FORTIFY_SOURCE=2 makes them __read_chk, __recv_chk, __recvfrom_chk), prints its own count as
 * "pid=P fd=F bytes=B calls=C", waits until stdin ends (at most 30 s) and exits.
 * Usage: fortify_reader PORT CHUNK read|recv|recvfrom|mix (mix: the three in turn) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[65536]; /* a known size: the fortified wrappers check CHUNK against it */

static ssize_t read_once(int fd, const char *how, size_t chunk, unsigned long n) {
  if (strcmp(how, "mix") == 0)
    how = n % 3 == 0 ? "read" : n % 3 == 1 ? "recv" : "recvfrom";
  if (strcmp(how, "read") == 0)
    return read(fd, buf, chunk);
  if (strcmp(how, "recv") == 0)
    return recv(fd, buf, chunk, 0);
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  return recvfrom(fd, buf, chunk, 0, (struct sockaddr *)&from, &fl);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fortify_reader PORT CHUNK read|recv|recvfrom|mix\n");
    return 2;
  }
  /* not checked against sizeof buf here: the compiler would then prove every call safe and drop
   * the checking variants; the fortified calls themselves stop an oversized CHUNK */
  size_t chunk = strtoul(argv[2], NULL, 10);
  if (chunk == 0)
    return 2;
  alarm(30); /* never outlive a broken test */
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("fortify_reader: connect");
    return 2;
  }
  unsigned long bytes = 0, calls = 0;
  for (;;) {
    ssize_t r = read_once(fd, argv[3], chunk, calls);
    if (r < 0) {
      perror("fortify_reader: read");
      return 2;
    }
    if (r == 0)
      break;
    bytes += (unsigned long)r;
    calls++;
  }
  printf("pid=%d fd=%d bytes=%lu calls=%lu\n", (int)getpid(), fd, bytes, calls);
  char line[64];
  while (fgets(line, sizeof line, stdin))
    ;
  close(fd);
  return 0;
}
