/* stderr_sock.c - a host whose stderr becomes a TCP connection, as a daemon's does when it starts
 * with its stdio closed and its first socket gets number 2. Usage: stderr_sock SINK_PORT. Reads
 * stdin lines, each answered by one stdout line:
 *   sink        connect to 127.0.0.1:SINK_PORT and put that socket on fd 2 (a socket made while
 *               fd 2 is closed gets number 2 by itself): "sink fd=2"
 *   restore     put the stderr it started with back on fd 2 (or close fd 2, if it had none)
 *   hold        one connection to a listener of its own (made at its first use), kept open:
 *               "hold ok" or "hold ERRNO"
 *   connect N   N blocking connects to that listener, each closed at once:
 *               "connect ok=N refused=N other=N"
 *   say TEXT    write TEXT and a newline on fd 2
 * Exits when stdin ends. Runs the same with or without the preload. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hostlib.h"

static struct sockaddr_in target;
static int listening;

static int connect_to(const struct sockaddr_in *a) {
  /* the listener is made at first use: made at start, it would take number 2 before the sink */
  if (a == &target && !listening++ && loopback_listener(&target, 64) < 0) {
    perror("listener");
    exit(1);
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -errno;
  if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s SINK_PORT\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in sink = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)atoi(argv[1]))};
  int orig = fcntl(2, F_DUPFD_CLOEXEC, 100); /* -1 when started without stderr */
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(line, "sink") == 0) {
      int fd = connect_to(&sink);
      if (fd >= 0 && fd != 2) {
        dup2(fd, 2);
        close(fd);
      }
      printf("sink fd=%d\n", fd);
    } else if (strcmp(line, "restore") == 0) {
      if (orig >= 0)
        dup2(orig, 2);
      else
        close(2);
      printf("restored\n");
    } else if (strcmp(line, "hold") == 0) {
      int fd = connect_to(&target);
      if (fd >= 0)
        printf("hold ok\n");
      else
        printf("hold %s\n", strerror(-fd));
    } else if (strncmp(line, "connect ", 8) == 0) {
      int n = atoi(line + 8), ok = 0, refused = 0, other = 0;
      for (int i = 0; i < n; i++) {
        int fd = connect_to(&target);
        if (fd >= 0) {
          ok++;
          close(fd);
        } else if (fd == -ECONNREFUSED) {
          refused++;
        } else {
          other++;
        }
      }
      printf("connect ok=%d refused=%d other=%d\n", ok, refused, other);
    } else if (strncmp(line, "say ", 4) == 0) {
      dprintf(2, "%s\n", line + 4);
      printf("said\n");
    } else {
      printf("unknown %s\n", line);
    }
  }
  return 0;
}
