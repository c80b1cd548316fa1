/* read_zero.c - N reads of 64 B from /dev/zero: the shim's path for an fd it never tracks.
 * Usage: read_zero N. Prints ns_per_op (the timed loop only). Run plain, under the shim and under
 * callgrind (--toggle-collect=bench_work) by scripts/bench. */
#include "bench.h"
#include <fcntl.h>

static BENCH_NOINLINE long bench_work(int fd, char *buf, long n) {
  long got = 0;
  for (long i = 0; i < n; i++)
    got += read(fd, buf, 64);
  return got;
}

int main(int argc, char **argv) {
  long n = bench_arg(argc, argv, 1, 1000000);
  int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    bench_die("/dev/zero");
  char buf[64];
  bench_work(fd, buf, 1000); /* warm: the same fixed count in every run, so it cancels */
  int64_t t0 = bench_now_ns();
  long got = bench_work(fd, buf, n);
  int64_t t1 = bench_now_ns();
  if (got != 64 * n) {
    fprintf(stderr, "read_zero: short reads (%ld of %ld bytes)\n", got, 64 * n);
    return 1;
  }
  printf("ns_per_op=%.3f\n", (double)(t1 - t0) / (double)n);
  return 0;
}
