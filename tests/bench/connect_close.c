/* connect_close.c - N times socket() + connect() + close() to a listener on 127.0.0.1:PORT (the
 * peer program, another process). Each close sends an RST (SO_LINGER 0): no TIME_WAIT, so the
 * ephemeral ports last. Usage: connect_close N PORT [hello|bytes]: with hello, each connection's
 * first write is a TLS ClientHello (OpenSSL's, 321 bytes: the shim reads its server name); with
 * bytes, 321 bytes that name nothing. Prints ns_per_op. */
#include "bench.h"
#include "../unit/sniff_hellos.h"

static const void *first; /* what each connection writes first, or NULL */
static uint8_t plain_bytes[sizeof hello_openssl];

static BENCH_NOINLINE long bench_work(const struct sockaddr_in *sa, long n) {
  for (long i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return -1;
    bench_linger0(fd);
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 ||
        (first && write(fd, first, sizeof hello_openssl) != (ssize_t)sizeof hello_openssl)) {
      close(fd);
      return -1;
    }
    close(fd);
  }
  return n;
}

int main(int argc, char **argv) {
  long n = bench_arg(argc, argv, 1, 2000);
  int port = (int)bench_arg(argc, argv, 2, 0);
  struct sockaddr_in sa = bench_addr(port);
  memset(plain_bytes, 'x', sizeof plain_bytes);
  if (argc > 3)
    first = strcmp(argv[3], "hello") == 0 ? (const void *)hello_openssl : plain_bytes;
  if (bench_work(&sa, 100) < 0) /* warm */
    bench_die("connect");
  int64_t t0 = bench_now_ns();
  long r = bench_work(&sa, n);
  int64_t t1 = bench_now_ns();
  if (r < 0)
    bench_die("connect");
  printf("ns_per_op=%.3f\n", (double)(t1 - t0) / (double)n);
  return 0;
}
