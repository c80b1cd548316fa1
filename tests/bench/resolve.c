/* resolve.c - N times getaddrinfo("localhost", "80") for a stream socket, then freeaddrinfo: the
 * resolver's round trip through the C library's files source (/etc/hosts), which the shim's
 * wrapper adds its bookkeeping to (the name learned for the addresses). Usage: resolve N. Prints
 * ns_per_op. */
#include "bench.h"
#include <netdb.h>

static BENCH_NOINLINE long bench_work(long n) {
  const struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  for (long i = 0; i < n; i++) {
    struct addrinfo *res;
    if (getaddrinfo("localhost", "80", &hints, &res) != 0)
      return -1;
    freeaddrinfo(res);
  }
  return n;
}

int main(int argc, char **argv) {
  long n = bench_arg(argc, argv, 1, 20000);
  if (bench_work(100) < 0) /* warm */
    bench_die("getaddrinfo");
  int64_t t0 = bench_now_ns();
  long r = bench_work(n);
  int64_t t1 = bench_now_ns();
  if (r < 0)
    bench_die("getaddrinfo");
  printf("ns_per_op=%.3f\n", (double)(t1 - t0) / (double)n);
  return 0;
}
