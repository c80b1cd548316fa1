/* sniff.c - the host an outbound connection is for, read from its first write: a TLS ClientHello's
 * server name, an HTTP proxy CONNECT, an HTTP absolute-form request. Pure: called from a wrapper's
 * first write on any host thread; never allocates, locks, logs or calls libc (its own ctype, so no
 * locale), and never reads past the bytes given nor CW_SNIFF_MAX of them. */
#include "sniff.h"

/* ---- a cursor over the bytes given; a flat buffer is one segment ---- */

struct cur {
  const struct iovec *seg, *end; /* the segment being read; one past the last */
  size_t off;                    /* into seg, at most its length */
  size_t left;                   /* bytes given that may still be read */
  size_t room;                   /* bytes the enclosing TLS length still allows (SIZE_MAX: none) */
};

/* The next byte into *b: 1, or 0 at the end of the bytes or of the enclosing length. */
static inline __attribute__((always_inline)) int next(struct cur *c, uint8_t *b) {
  if (!c->left || !c->room)
    return 0;
  while (c->seg < c->end && c->off == c->seg->iov_len) {
    c->seg++;
    c->off = 0;
  }
  if (c->seg == c->end)
    return 0;
  *b = ((const uint8_t *)c->seg->iov_base)[c->off++];
  c->left--;
  c->room--;
  return 1;
}

static int peek(const struct cur *c, uint8_t *b) {
  struct cur t = *c;
  return next(&t, b);
}

/* Past k bytes: 1, or 0 when fewer are given or allowed. */
static int skip(struct cur *c, size_t k) {
  if (k > c->left || k > c->room)
    return 0;
  c->left -= k;
  c->room -= k;
  while (k) {
    if (c->seg == c->end)
      return 0;
    size_t in = c->seg->iov_len - c->off, t = k < in ? k : in;
    c->off += t;
    k -= t;
    if (k) {
      c->seg++;
      c->off = 0;
    }
  }
  return 1;
}

/* A big-endian number of w bytes into *v: 1, or 0 when the bytes end first. */
static inline __attribute__((always_inline)) int num(struct cur *c, int w, size_t *v) {
  uint8_t b;
  for (*v = 0; w > 0; w--) {
    if (!next(c, &b))
      return 0;
    *v = *v << 8 | b;
  }
  return 1;
}

/* A structure of len bytes at c, checked against the one enclosing it: in reads only it. */
static int enter(const struct cur *c, size_t len, struct cur *in) {
  if (len > c->room)
    return 0;
  *in = *c;
  in->room = len;
  return 1;
}

/* The bytes of s, consumed: 1; 0 at the first that differs (fold: s is lowercase, any case
 * matches). */
static int lit(struct cur *c, const char *s, int fold) {
  uint8_t b;
  for (; *s; s++)
    if (!next(c, &b) || ((fold && b >= 'A' && b <= 'Z') ? b + 32 : b) != (uint8_t)*s)
      return 0;
  return 1;
}

/* ---- host names ---- */

static int is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
static int is_alpha(uint8_t b) { return (b | 32) >= 'a' && (b | 32) <= 'z'; }
static int is_hex(uint8_t b) { return is_digit(b) || ((b | 32) >= 'a' && (b | 32) <= 'f'); }
static char lower(char ch) { return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch; }

static int is_host_char(uint8_t b) {
  return is_alpha(b) || is_digit(b) || b == '-' || b == '_' || b == '.';
}

int cw_host_normalize(char *name) {
  size_t n = 0, label = 0;
  while (n <= CW_HOST_MAX + 1 && name[n])
    n++;
  if (n && name[n - 1] == '.')
    n--;
  if (n == 0 || n > CW_HOST_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_host_char((uint8_t)name[i]))
      return 0;
    label = name[i] == '.' ? 0 : label + 1;
    if (label > 63 || (name[i] == '.' && (i == 0 || name[i - 1] == '.')))
      return 0;
  }
  if (name[n - 1] == '.') /* the name ended "..": an empty last label */
    return 0;
  for (size_t i = 0; i < n; i++)
    name[i] = lower(name[i]);
  name[n] = '\0';
  return 1;
}

/* A host name arriving a byte at a time into name: up to CW_HOST_MAX bytes, and one more only
 * when it is the trailing dot (a longest name written with it). */
struct host {
  char *p;
  size_t n;
  int dot; /* the dot past CW_HOST_MAX came, not kept */
};

static int put(struct host *h, uint8_t b) {
  if (!is_host_char(b) || h->dot)
    return 0;
  if (h->n < CW_HOST_MAX) {
    h->p[h->n++] = (char)b;
    return 1;
  }
  return b == '.' ? (h->dot = 1) : 0;
}

static int host_done(struct host *h) {
  h->p[h->n] = '\0';
  if (h->dot && h->p[h->n - 1] == '.')
    return 0;
  return cw_host_normalize(h->p);
}

/* s[0..n) a dotted quad as inet_pton takes it: four decimals 0-255, no leading zeros. */
static int ipv4_ok(const char *s, size_t n) {
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part && (i == n || s[i++] != '.'))
      return 0;
    size_t start = i;
    unsigned v = 0;
    while (i < n && is_digit((uint8_t)s[i]) && i - start < 3)
      v = v * 10 + (unsigned)(s[i++] - '0');
    if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
      return 0;
  }
  return i == n;
}

/* s[0..n) an IPv6 address as RFC 4291 writes it: hex groups of 1-4 digits, at most one "::",
 * optionally an IPv4 tail (two groups' worth). */
static int ipv6_ok(const char *s, size_t n) {
  size_t i = 0, groups = 0;
  int gap = 0;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 1;
    i = 2;
  }
  while (i < n) {
    size_t j = i;
    while (j < n && (is_hex((uint8_t)s[j]) || s[j] == '.'))
      j++;
    for (size_t k = i; k < j; k++)
      if (s[k] == '.') { /* the IPv4 tail ends the address */
        if (j != n || !ipv4_ok(s + i, n - i))
          return 0;
        groups += 2;
        return gap ? groups <= 7 : groups == 8;
      }
    if (j == i || j - i > 4)
      return 0;
    groups++;
    if ((i = j) == n)
      break;
    if (s[i++] != ':' || i == n)
      return 0;
    if (s[i] == ':') {
      if (gap)
        return 0;
      gap = 1;
      i++;
    }
  }
  return gap ? groups <= 7 : groups == 8;
}

/* ---- TLS: the first host_name of a ClientHello's server_name ---- */

static int sni_host(struct cur *c, size_t len, char *name) {
  struct host h = {name, 0, 0};
  uint8_t b;
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!next(c, &b) || !put(&h, b))
      return 0;
  return host_done(&h);
}

/* ServerNameList: entries of name_type, length, name; the first of type host_name (0). */
static int server_name(struct cur *c, char *name) {
  size_t len, type;
  struct cur list;
  if (!num(c, 2, &len) || !enter(c, len, &list))
    return 0;
  while (list.room) {
    if (!num(&list, 1, &type) || !num(&list, 2, &len) || len > list.room)
      return 0;
    if (type == 0)
      return sni_host(&list, len, name);
    if (!skip(&list, len))
      return 0;
  }
  return 0;
}

static int extensions(struct cur *c, char *name) {
  size_t type, len;
  struct cur ext;
  while (c->room) {
    if (!num(c, 2, &type) || !num(c, 2, &len) || !enter(c, len, &ext))
      return 0;
    if (type == 0)
      return server_name(&ext, name);
    if (!skip(c, len))
      return 0;
  }
  return 0;
}

/* The ClientHello body: legacy_version, random, session_id, cipher_suites, compression_methods,
 * then the extensions. */
static int client_hello(struct cur *c, char *name) {
  size_t v;
  struct cur ext;
  if (!num(c, 2, &v) || v < 0x0301 || v > 0x0304 || !skip(c, 32))
    return 0;
  if (!num(c, 1, &v) || v > 32 || !skip(c, v))
    return 0;
  if (!num(c, 2, &v) || v < 2 || v % 2 || !skip(c, v))
    return 0;
  if (!num(c, 1, &v) || v < 1 || !skip(c, v))
    return 0;
  if (!num(c, 2, &v) || !enter(c, v, &ext))
    return 0;
  return extensions(&ext, name);
}

/* The record header, then the handshake header. A hello longer than its record goes on in the
 * next one (fragmented): its own lengths are checked against the hello's, its bytes read only up
 * to the record's end. */
static int tls(struct cur *c, char *name) {
  size_t v;
  struct cur rec, hello;
  if (!num(c, 1, &v) || v != 22 || !num(c, 2, &v) || v < 0x0301 || v > 0x0304)
    return 0;
  if (!num(c, 2, &v) || v > 16384 || !enter(c, v, &rec))
    return 0;
  if (!num(&rec, 1, &v) || v != 1 || !num(&rec, 3, &v))
    return 0;
  hello = rec;
  hello.left = rec.left < rec.room ? rec.left : rec.room;
  hello.room = v;
  return client_hello(&hello, name);
}

/* ---- HTTP request lines ---- */

static int ends_authority(uint8_t b) { return b == ' ' || b == '/' || b == '?'; }

/* "[" IPv6 "]": the address, without brackets, hex lowercased, into name. */
static int ipv6_host(struct cur *c, char *name) {
  size_t n = 0;
  uint8_t b = 0;
  next(c, &b); /* the '[' */
  while (next(c, &b) && b != ']') {
    if (n == 45 || !(is_hex(b) || b == ':' || b == '.'))
      return 0;
    name[n++] = lower((char)b);
  }
  name[n] = '\0';
  return b == ']' && ipv6_ok(name, n);
}

/* An authority's host, up to ':' or the authority's end, into name. */
static int host_part(struct cur *c, char *name) {
  struct host h = {name, 0, 0};
  uint8_t b;
  if (!peek(c, &b))
    return 0;
  if (b == '[')
    return ipv6_host(c, name);
  while (peek(c, &b) && b != ':' && !ends_authority(b)) {
    if (!put(&h, b))
      return 0;
    next(c, &b);
  }
  return host_done(&h);
}

/* ":" port, if the next byte is ':': 1-5 digits, 1..65535, into *port. Absent or empty ("host:"
 * is allowed in a URI): *port untouched, and well-formed only when the port is optional. */
static int port_part(struct cur *c, uint16_t *port, int need) {
  uint8_t b;
  unsigned v = 0, digits = 0;
  if (!peek(c, &b) || b != ':')
    return !need;
  next(c, &b);
  for (; peek(c, &b) && is_digit(b); next(c, &b)) {
    if (++digits > 5)
      return 0;
    v = v * 10 + (unsigned)(b - '0');
  }
  if (!digits)
    return !need;
  if (v < 1 || v > 65535)
    return 0;
  *port = (uint16_t)v;
  return 1;
}

/* " HTTP/1.x" CRLF: the end of a request line. */
static int version_crlf(struct cur *c) {
  uint8_t b;
  return lit(c, " HTTP/1.", 0) && next(c, &b) && is_digit(b) && lit(c, "\r\n", 0);
}

/* After "CONNECT ": host:port HTTP/1.x CRLF. */
static int connect_line(struct cur *c, char *name, uint16_t *port) {
  return host_part(c, name) && port_part(c, port, 1) && version_crlf(c);
}

/* userinfo "@" before the host: skipped (up to the authority's last '@'). */
static void skip_userinfo(struct cur *c) {
  struct cur t = *c;
  uint8_t b;
  while (next(&t, &b) && b > ' ' && b < 0x7f && b != '/' && b != '?' && b != '#')
    if (b == '@')
      *c = t;
}

/* METHOD SP http[s]://[userinfo@]host[:port][path-and-query] HTTP/1.x CRLF */
static int absolute_line(struct cur *c, char *name, uint16_t *port) {
  uint8_t b = 0;
  int len = 0;
  while (next(c, &b) && b >= 'A' && b <= 'Z')
    if (++len > 32)
      return 0;
  if (len == 0 || b != ' ' || !lit(c, "http", 1) || !peek(c, &b))
    return 0;
  *port = 80;
  if (b == 's' || b == 'S') {
    next(c, &b);
    *port = 443;
  }
  if (!lit(c, "://", 0))
    return 0;
  skip_userinfo(c);
  if (!host_part(c, name) || !port_part(c, port, 0) || !peek(c, &b) || !ends_authority(b))
    return 0;
  while (peek(c, &b) && b != ' ') /* the rest of the target: visible ASCII */
    if (b < 0x21 || b > 0x7e || !next(c, &b))
      return 0;
  return version_crlf(c);
}

static int sniff(struct cur *c, char *name, uint16_t *port) {
  uint8_t b;
  struct cur t = *c;
  if (!peek(c, &b))
    return CW_SNIFF_NONE;
  if (b == 22)
    return tls(c, name) ? CW_SNIFF_SNI : CW_SNIFF_NONE;
  if (lit(&t, "CONNECT ", 0))
    return connect_line(&t, name, port) ? CW_SNIFF_CONNECT : CW_SNIFF_NONE;
  return absolute_line(c, name, port) ? CW_SNIFF_ABSOLUTE : CW_SNIFF_NONE;
}

int cw_sniff_iov(const struct iovec *iov, size_t cnt, size_t n, char name[CW_HOST_MAX + 1],
                 uint16_t *port) {
  struct cur c = {iov, iov ? iov + cnt : iov, 0, n < CW_SNIFF_MAX ? n : CW_SNIFF_MAX, SIZE_MAX};
  *port = 0; /* what TLS gives */
  int kind = sniff(&c, name, port);
  if (kind == CW_SNIFF_NONE) {
    name[0] = '\0';
    *port = 0;
  }
  return kind;
}

int cw_sniff(const void *buf, size_t n, char name[CW_HOST_MAX + 1], uint16_t *port) {
  struct iovec one = {(void *)buf, buf ? n : 0};
  return cw_sniff_iov(&one, 1, n, name, port);
}
