/* fuzz_suppress.c - libFuzzer target for the leak suppression file parser and matcher
 * (scripts/cli/suppress.c): any bytes parse or fail with -EINVAL/-ENOMEM and a reason, the list
 * is freed without leaks either way, and a parsed list can be matched against leaks. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "suppress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct cw_supp_list l = {0};
  char err[256];
  memset(err, 'x', sizeof err);
  int rc = cw_supp_parse((const char *)data, size, &l, err, sizeof err);
  if (rc < 0) {
    if ((rc != -EINVAL && rc != -ENOMEM) || !memchr(err, '\0', sizeof err))
      abort();
  } else {
    if (l.n < 0)
      abort();
    static const struct cw_supp_frame frames[] = {
        {"worker_loop", "/usr/lib/libfoo.so.1"}, {NULL, "/opt/app/bin/server"}, {"main", NULL}};
    static const char *const peers[] = {"127.0.0.1:8000", "[::1]:443", "10.1.2.3:1", "garbage"};
    for (size_t i = 0; i < sizeof peers / sizeof *peers; i++) {
      int m = cw_supp_match(&l, peers[i], frames, 3);
      if (m < -1 || m >= l.n)
        abort();
      cw_supp_match(&l, peers[i], NULL, 0);
    }
  }
  cw_supp_free(&l);
  return 0;
}
