/* sniff.h - which host an outbound TCP connection is for, read from the first bytes the program
 * writes on it: a TLS ClientHello's server name, an HTTP proxy's CONNECT target, or an HTTP
 * request's absolute-form URI. Pure and allocation-free; asked by the connection's first write. */
#ifndef CW_SNIFF_H
#define CW_SNIFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "cw.h"

#define CW_HOST_MAX 253    /* a DNS name's longest text form */
#define CW_SNIFF_MAX 16389 /* bytes looked at, at most: one TLS record (5 + 16384) */

enum cw_sniff_kind {
  CW_SNIFF_NONE = 0,
  CW_SNIFF_SNI = 1,
  CW_SNIFF_CONNECT = 2,
  CW_SNIFF_ABSOLUTE = 3
};

/* buf[0..n): the bytes of the first write. Returns the kind; when not NONE, name holds the host
 * (NUL-terminated, at most CW_HOST_MAX bytes, lowercased, no trailing dot; an IPv6 literal without
 * its brackets) and *port its port (SNI: 0, the caller uses the peer's; CONNECT: the target's;
 * absolute-form: the URI's, else 80, or 443 for https). On NONE, name is "" and *port 0: both are
 * always written. Never reads past n or CW_SNIFF_MAX bytes.
 * - TLS: a handshake record (type 22, version 0x0301..0x0304) opening with a ClientHello; its
 *   first host_name in server_name, which must lie inside the bytes given and the first record
 *   (the rest of the hello may follow in later writes or records).
 * - CONNECT host:port HTTP/1.x CRLF at the very start; port 1..65535 required.
 * - METHOD http[s]://[userinfo@]host[:port][/...] HTTP/1.x CRLF; METHOD is 1-32 of A-Z; an
 *   empty port ("host:") is the scheme's.
 * A host of CONNECT or absolute-form: a name (cw_host_normalize), an IPv4 literal (kept as
 * written: digits and dots are a name's form too) or [IPv6] (checked, hex lowercased, no zone
 * id). */
CW_HIDDEN int cw_sniff(const void *buf, size_t n, char name[CW_HOST_MAX + 1], uint16_t *port);

/* The same over the first n bytes of an iovec (writev, sendmsg), without copying them. */
CW_HIDDEN int cw_sniff_iov(const struct iovec *iov, size_t cnt, size_t n,
                           char name[CW_HOST_MAX + 1], uint16_t *port);

/* name is a host name as DNS allows (letters, digits, '-', '_', '.'; labels 1-63; 1..253 bytes),
 * lowercased in place with a trailing dot removed: 1, else 0 and name untouched (also used for
 * names from the resolver). Reads at most 255 bytes of name. */
CW_HIDDEN int cw_host_normalize(char *name);

#endif
