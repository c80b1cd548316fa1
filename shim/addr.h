/* addr.h - a compact, comparable socket address (IPv4 or IPv6 plus port) and its text forms.
 * Pure functions; used by table, config filters and render. */
#ifndef CW_ADDR_H
#define CW_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "cw.h"

/* family 0 = unknown. IPv4 lives in the first 4 bytes of ip. Zero padded, so memcmp compares. */
struct cw_addr {
  uint8_t ip[16];
  uint16_t family; /* AF_INET, AF_INET6 or 0 */
  uint16_t port;   /* host byte order */
};

#define CW_ADDR_STRLEN 56 /* "[ffff:...:ffff]:65535" with room */

/* From a sockaddr of len bytes; unknown families give family 0. */
CW_HIDDEN void cw_addr_from_sockaddr(struct cw_addr *a, const struct sockaddr *sa, socklen_t len);

/* "127.0.0.1:8000" or "[::1]:8000"; "?" for family 0. Returns buf. */
CW_HIDDEN char *cw_addr_format(const struct cw_addr *a, char *buf, size_t size);

#endif
