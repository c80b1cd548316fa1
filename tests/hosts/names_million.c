/* names_million.c N - resolves N distinct names (h0.fake.test ... through preload_fakedns.so),
 * printing its resident memory after the first 20,000 and after all of them as one JSON line:
 * {"names": N, "rss_kb_20k": .., "rss_kb_end": .., "secs": ..}. Then resolves final.fake.test
 * (127.0.0.1), connects to a listener of its own by that answer, prints "connected" and waits
 * until its stdin closes (so that a test can read its connections). */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "../bench/bench.h" /* bench_rss_kb */

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000, at20k = -1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    char name[64];
    snprintf(name, sizeof name, "h%ld.fake.test", i);
    struct addrinfo *res;
    if (getaddrinfo(name, "80", NULL, &res) != 0) {
      fprintf(stderr, "%s did not resolve: is preload_fakedns.so preloaded?\n", name);
      return 1;
    }
    freeaddrinfo(res);
    if (i == 19999)
      at20k = bench_rss_kb();
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("{\"names\": %ld, \"rss_kb_20k\": %ld, \"rss_kb_end\": %ld, \"secs\": %.2f}\n", n, at20k, bench_rss_kb(),
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
  socklen_t len = sizeof sa;
  if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0 ||
      getsockname(l, (struct sockaddr *)&sa, &len) < 0)
    return 1;
  char port[16];
  snprintf(port, sizeof port, "%u", ntohs(sa.sin_port));
  struct addrinfo *res;
  if (getaddrinfo("final.fake.test", port, NULL, &res) != 0)
    return 1;
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, res->ai_addr, res->ai_addrlen) < 0)
    return 1;
  freeaddrinfo(res);
  printf("connected\n");
  fflush(stdout);
  char b;
  while (read(0, &b, 1) > 0)
    ;
  return 0;
}
