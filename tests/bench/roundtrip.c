/* roundtrip.c - N round trips of 64 B on connected loopback TCP pairs: write() on the connect()ed
 * end, read() of the same 64 B on the accept()ed end. Both ends are tracked under the shim. With
 * T = 1 the work runs on the main thread of a single-threaded program (an event-loop server's
 * shape); with T > 1, or with "threaded", on T threads of their own, each with its own pair,
 * started together. Usage: roundtrip N [T [threaded]]. Prints ns_per_op (T = 1) or ops_per_s
 * (aggregate over T threads, wall clock). */
#include "bench.h"
#include <pthread.h>

static BENCH_NOINLINE long bench_work(int out, int in, char *buf, long n) {
  long got = 0;
  for (long i = 0; i < n; i++) {
    if (write(out, buf, 64) != 64)
      return -1;
    ssize_t r = 0;
    for (ssize_t k = 0; k < 64; k += r) /* one read on loopback; more only if the stack splits */
      if ((r = read(in, buf + k, (size_t)(64 - k))) <= 0)
        return -1;
    got += 64;
  }
  return got;
}

struct worker {
  pthread_t t;
  long n, got;
  int out, in;
  pthread_barrier_t *go;
};

static void *run(void *arg) {
  struct worker *w = arg;
  char buf[64] = {0};
  bench_work(w->out, w->in, buf, 1000); /* warm */
  pthread_barrier_wait(w->go);
  w->got = bench_work(w->out, w->in, buf, w->n);
  return NULL;
}

int main(int argc, char **argv) {
  long n = bench_arg(argc, argv, 1, 100000);
  int nt = (int)bench_arg(argc, argv, 2, 1);
  int threaded = nt > 1 || (argc > 3 && strcmp(argv[3], "threaded") == 0);
  if (nt < 1 || nt > 64)
    return 2;
  if (!threaded) {
    int out, in;
    char buf[64] = {0};
    bench_pair(&out, &in);
    bench_work(out, in, buf, 1000); /* warm */
    int64_t t0 = bench_now_ns();
    long got = bench_work(out, in, buf, n);
    int64_t t1 = bench_now_ns();
    if (got != 64 * n) {
      fprintf(stderr, "roundtrip: failed\n");
      return 1;
    }
    printf("ns_per_op=%.3f\n", (double)(t1 - t0) / (double)n);
    return 0;
  }
  struct worker w[64];
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, (unsigned)nt + 1);
  for (int i = 0; i < nt; i++) {
    w[i] = (struct worker){.n = n, .go = &go};
    bench_pair(&w[i].out, &w[i].in);
  }
  for (int i = 0; i < nt; i++)
    pthread_create(&w[i].t, NULL, run, &w[i]);
  pthread_barrier_wait(&go);
  int64_t t0 = bench_now_ns();
  for (int i = 0; i < nt; i++)
    pthread_join(w[i].t, NULL);
  int64_t t1 = bench_now_ns();
  for (int i = 0; i < nt; i++)
    if (w[i].got != 64 * n) {
      fprintf(stderr, "roundtrip: thread %d failed\n", i);
      return 1;
    }
  if (nt == 1)
    printf("ns_per_op=%.3f\n", (double)(t1 - t0) / (double)n);
  else
    printf("ops_per_s=%.1f\n", (double)n * nt * 1e9 / (double)(t1 - t0));
  return 0;
}
