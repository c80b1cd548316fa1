/* names_gai_async.c wait|poll - resolves localhost with getaddrinfo_a, waiting for the answer
 * (GAI_WAIT) or polling gai_error (GAI_NOWAIT), connects by the answer to a listener of its own on
 * 127.0.0.1, prints "connected" and waits for its stdin to close (a test reads its connections
 * meanwhile). links: -lanl */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int connect_to(const struct addrinfo *ai) {
  int c = socket(AF_INET, SOCK_STREAM, 0);
  return c >= 0 && connect(c, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  int poll = argc > 1 && strcmp(argv[1], "poll") == 0;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
  socklen_t len = sizeof sa;
  if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 4) < 0 ||
      getsockname(l, (struct sockaddr *)&sa, &len) < 0)
    return 1;
  char port[16];
  snprintf(port, sizeof port, "%u", ntohs(sa.sin_port));
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct gaicb req = {.ar_name = "localhost", .ar_service = port, .ar_request = &hints};
  struct gaicb *list[] = {&req};
  if (getaddrinfo_a(poll ? GAI_NOWAIT : GAI_WAIT, list, 1, NULL) != 0)
    return 2;
  int e;
  for (int i = 0; (e = gai_error(&req)) == EAI_INPROGRESS && i < 5000; i++)
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  if (e != 0 || connect_to(req.ar_result) < 0)
    return 3;
  printf("connected\n");
  fflush(stdout);
  char b;
  while (read(0, &b, 1) > 0)
    ;
  return 0;
}
