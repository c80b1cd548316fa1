/* fuzz_sniff.c - libFuzzer target for the first-write parser (shim/sniff.c). The input is the
 * bytes of a first write: cw_sniff over them must give NONE with an empty name and port 0, or a
 * kind with a name cw_host_normalize leaves as it is (an IPv6 literal, from CONNECT or
 * absolute-form only, aside) and the kind's port; cw_sniff_iov over the same bytes in three
 * pieces and an empty one, cut where the input's last byte says, must give the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sniff.h"

struct answer {
  int kind;
  char name[CW_HOST_MAX + 1];
  uint16_t port;
};

static void check(const struct answer *a) {
  size_t len = strnlen(a->name, sizeof a->name);
  char copy[CW_HOST_MAX + 1];
  if (len == sizeof a->name)
    abort();
  if (a->kind == CW_SNIFF_NONE) {
    if (len || a->port)
      abort();
    return;
  }
  if (a->kind < CW_SNIFF_SNI || a->kind > CW_SNIFF_ABSOLUTE || len == 0)
    abort();
  if ((a->kind == CW_SNIFF_SNI) != (a->port == 0))
    abort();
  if (strchr(a->name, ':')) {
    if (a->kind == CW_SNIFF_SNI)
      abort();
    return;
  }
  memcpy(copy, a->name, len + 1);
  if (!cw_host_normalize(copy) || strcmp(copy, a->name) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct answer flat, split;
  flat.kind = cw_sniff(data, size, flat.name, &flat.port);
  check(&flat);

  size_t a = size ? data[size - 1] * size / 256 : 0, b = a + (size - a) / 2;
  struct iovec iov[4] = {
      {(void *)data, a}, {NULL, 0}, {(void *)(data + a), b - a}, {(void *)(data + b), size - b}};
  split.kind = cw_sniff_iov(iov, 4, size, split.name, &split.port);
  if (split.kind != flat.kind || strcmp(split.name, flat.name) != 0 || split.port != flat.port)
    abort();
  return 0;
}
