/* many_conns.c - how the shim's costs move with the number of open tracked connections. Opens
 * connections to the peer program up to 100, measures, opens up to TOP, measures, closes back to
 * 100 and measures again. Each measurement: the round trip of roundtrip.c on a fresh in-process
 * pair (its fds are the highest numbers open), and socket+connect+close to the peer's first port,
 * which holds none of the open connections (they are spread over the other ports, so that the
 * kernel's ephemeral port search stays short). VmRSS at 100 and at TOP. "touched=1": every
 * connection was just written to. At each "phase=NAME" line it waits for a line on stdin, so the
 * driver can sample the reaper thread meanwhile.
 * Usage: many_conns PORT,PORT,... TOP [RT_N] [CC_N]. Prints key=value lines. */
#include "bench.h"

#define REPS 7

static BENCH_NOINLINE long roundtrips(int out, int in, char *buf, long n) {
  for (long i = 0; i < n; i++) {
    if (write(out, buf, 64) != 64)
      return -1;
    ssize_t r = 0;
    for (ssize_t k = 0; k < 64; k += r)
      if ((r = read(in, buf + k, (size_t)(64 - k))) <= 0)
        return -1;
  }
  return n;
}

static BENCH_NOINLINE long connect_closes(const struct sockaddr_in *sa, long n) {
  for (long i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return -1;
    bench_linger0(fd);
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    close(fd);
    if (rc < 0)
      return -1;
  }
  return n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median ns per op over REPS repetitions of n. */
static double median(double *v) {
  qsort(v, REPS, sizeof *v, cmp_double);
  return v[REPS / 2];
}

static void measure(const char *label, const struct sockaddr_in *sa, long rt_n, long cc_n) {
  int out, in;
  char buf[64] = {0};
  bench_pair(&out, &in);
  double rt[REPS], cc[REPS];
  roundtrips(out, in, buf, 1000);
  for (int i = 0; i < REPS; i++) {
    int64_t t0 = bench_now_ns();
    if (roundtrips(out, in, buf, rt_n) < 0)
      bench_die("round trip");
    rt[i] = (double)(bench_now_ns() - t0) / (double)rt_n;
    t0 = bench_now_ns();
    if (connect_closes(sa, cc_n) < 0)
      bench_die("connect");
    cc[i] = (double)(bench_now_ns() - t0) / (double)cc_n;
  }
  printf("%s_pair_fd=%d\n%s_rt_ns=%.1f\n%s_cc_ns=%.1f\n", label, in, label, median(rt), label,
         median(cc));
  close(out);
  close(in);
}

/* Open connections fds[have..want-1], spread over the nhold peer addresses. Returns want. */
static long open_to(int *fds, long have, long want, const struct sockaddr_in *hold, int nhold) {
  for (; have < want; have++) {
    const struct sockaddr_in *to = &hold[have % nhold];
    fds[have] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[have] < 0)
      bench_die("socket");
    bench_linger0(fds[have]);
    if (connect(fds[have], (const struct sockaddr *)to, sizeof *to) < 0)
      bench_die("connect");
  }
  return want;
}

static void phase(const char *name) {
  char line[64];
  printf("phase=%s\n", name);
  fflush(stdout);
  if (!fgets(line, sizeof line, stdin))
    exit(1);
}

int main(int argc, char **argv) {
  int ports[64], nports = 0;
  for (char *p = argc > 1 ? argv[1] : ""; *p && nports < 64; p += *p == ',')
    ports[nports++] = (int)strtol(p, &p, 10);
  if (nports < 2) {
    fprintf(stderr, "many_conns: give the peer's ports, at least two\n");
    return 2;
  }
  long top = bench_arg(argc, argv, 2, 1000);
  long rt_n = bench_arg(argc, argv, 3, 20000);
  long cc_n = bench_arg(argc, argv, 4, 500);
  long hard = bench_raise_nofile();
  if (top < 200 || top > hard - 32) {
    fprintf(stderr, "many_conns: TOP must be in [200, %ld]\n", hard - 32);
    return 2;
  }
  struct sockaddr_in sa = bench_addr(ports[0]), hold[64];
  for (int i = 1; i < nports; i++)
    hold[i - 1] = bench_addr(ports[i]);
  int *fds = calloc((size_t)top, sizeof *fds);
  long open_n = 0;
  if (!fds)
    bench_die("calloc");
  open_n = open_to(fds, open_n, 100, hold, nports - 1);
  measure("at100", &sa, rt_n, cc_n);
  long rss100 = bench_rss_kb();
  printf("rss100_kb=%ld\n", rss100);
  phase("at100");

  int64_t t0 = bench_now_ns();
  open_n = open_to(fds, open_n, top, hold, nports - 1);
  printf("open_s=%.3f\nrsstop_kb=%ld\nopen=%ld\n", (double)(bench_now_ns() - t0) / 1e9,
         bench_rss_kb(), open_n);
  for (long i = 0; i < open_n; i++) /* every connection active now */
    if (write(fds[i], "x", 1) != 1)
      bench_die("write");
  printf("touched=1\n");
  fflush(stdout);
  measure("top", &sa, rt_n, cc_n);
  phase("top_fresh");
  phase("top_idle");

  for (; open_n > 100; open_n--)
    close(fds[open_n - 1]);
  measure("after100", &sa, rt_n, cc_n);
  phase("done");
  return 0;
}
