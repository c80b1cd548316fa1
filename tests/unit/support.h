/* support.h - helpers the cmocka unit tests share: socket addresses from text. Header-only;
 * include after cmocka.h. */
#ifndef CW_TEST_SUPPORT_H
#define CW_TEST_SUPPORT_H

#include <arpa/inet.h>
#include <string.h>
#include "addr.h"

static inline struct cw_addr cw_test_addr(int family, const char *ip, uint16_t port) {
  struct cw_addr a;
  memset(&a, 0, sizeof a);
  a.family = (uint16_t)family;
  a.port = port;
  assert_int_equal(inet_pton(family, ip, a.ip), 1);
  return a;
}

static inline struct cw_addr v4(const char *ip, uint16_t port) { return cw_test_addr(AF_INET, ip, port); }
static inline struct cw_addr v6(const char *ip, uint16_t port) { return cw_test_addr(AF_INET6, ip, port); }

#endif
