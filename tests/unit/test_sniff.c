/* test_sniff.c - the host of a connection's first write (cw_sniff, cw_sniff_iov): real ClientHellos
 * from four TLS stacks, cut at every length and split across two and three iovecs at every
 * position; built hellos with each length field too long, the server name late, past the bytes
 * given or past its record; CONNECT and absolute-form request lines, good and malformed; the bound
 * of CW_SNIFF_MAX; host names (cw_host_normalize). Inputs sit in buffers of their exact size, so
 * a run under -fsanitize=address shows any read past them.
 * objects: sniff.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sniff.h"
#include "sniff_hellos.h"

struct seen {
  int kind;
  char name[CW_HOST_MAX + 1];
  uint16_t port;
};

/* cw_sniff or cw_sniff_iov (iov not NULL) over p[0..n), into a name buffer of exactly
 * CW_HOST_MAX + 1 bytes */
static struct seen sniff_into(const void *p, const struct iovec *iov, size_t cnt, size_t n) {
  struct seen s;
  char *name = malloc(CW_HOST_MAX + 1);
  assert_non_null(name);
  memset(name, 'x', CW_HOST_MAX + 1);
  s.port = 7;
  s.kind = iov ? cw_sniff_iov(iov, cnt, n, name, &s.port) : cw_sniff(p, n, name, &s.port);
  assert_non_null(memchr(name, '\0', CW_HOST_MAX + 1));
  memcpy(s.name, name, sizeof s.name);
  free(name);
  if (s.kind == CW_SNIFF_NONE) {
    assert_string_equal(s.name, "");
    assert_int_equal(s.port, 0);
  }
  return s;
}

/* cw_sniff over a copy of p[0..n) in a buffer of exactly n bytes */
static struct seen sniff_n(const void *p, size_t n) {
  uint8_t *copy = malloc(n ? n : 1);
  assert_non_null(copy);
  memcpy(copy, p, n);
  struct seen s = sniff_into(copy, NULL, 0, n);
  free(copy);
  return s;
}

static struct seen sniff_str(const char *s) { return sniff_n(s, strlen(s)); }

static void assert_seen(struct seen s, int kind, const char *name, uint16_t port) {
  if (s.kind != kind || strcmp(s.name, name) != 0 || s.port != port)
    fail_msg("got kind %d '%s' port %u, want kind %d '%s' port %u", s.kind, s.name, s.port, kind,
             name, port);
}

static void assert_none(const char *line) {
  struct seen s = sniff_str(line);
  if (s.kind != CW_SNIFF_NONE)
    fail_msg("'%s' gave kind %d '%s'", line, s.kind, s.name);
}

/* Request lines and the host and port each gives */
struct want {
  const char *line, *name;
  uint16_t port;
};

static void assert_lines(const struct want *w, size_t n, int kind) {
  for (size_t i = 0; i < n; i++) {
    struct seen s = sniff_str(w[i].line);
    if (s.kind != kind || strcmp(s.name, w[i].name) != 0 || s.port != w[i].port)
      fail_msg("'%s': kind %d '%s' port %u", w[i].line, s.kind, s.name, s.port);
  }
}

/* p[0..n) in cuts+1 pieces, each in its own buffer of exactly its size, with an empty piece
 * between each two; compared with the flat answer. */
static void assert_iov_agrees(const uint8_t *p, size_t n, const size_t *cuts, int ncuts) {
  struct iovec iov[16];
  size_t cnt = 0, from = 0;
  for (int i = 0; i <= ncuts; i++) {
    size_t to = i < ncuts ? cuts[i] : n;
    iov[cnt].iov_base = malloc(to - from ? to - from : 1);
    memcpy(iov[cnt].iov_base, p + from, to - from);
    iov[cnt++].iov_len = to - from;
    iov[cnt].iov_base = NULL;
    iov[cnt++].iov_len = 0;
    from = to;
  }
  struct seen flat = sniff_n(p, n), split = sniff_into(NULL, iov, cnt, n);
  for (size_t i = 0; i < cnt; i++)
    free(iov[i].iov_base);
  if (split.kind != flat.kind || strcmp(split.name, flat.name) || split.port != flat.port)
    fail_msg("split at %zu/%zu of %zu: kind %d '%s', flat kind %d '%s'", cuts[0],
             ncuts > 1 ? cuts[1] : n, n, split.kind, split.name, flat.kind, flat.name);
}

static void assert_every_split_agrees(const uint8_t *p, size_t n, int three) {
  for (size_t a = 0; a <= n; a++) {
    size_t two[1] = {a};
    assert_iov_agrees(p, n, two, 1);
    for (size_t b = a; three && b <= n; b++) {
      size_t cuts[2] = {a, b};
      assert_iov_agrees(p, n, cuts, 2);
    }
  }
}

/* ---- built ClientHellos, with the offset of every length field ---- */

struct hello {
  uint8_t b[CW_SNIFF_MAX + 64];
  size_t len;
  /* offsets of the length fields, and of the name's first byte */
  size_t rec, hs, sid, cs, comp, ext, sni_ext, list, entry, name;
};

static void put(struct hello *h, size_t at, size_t v, int w) {
  for (int i = w - 1; i >= 0; i--, v >>= 8)
    h->b[at + (size_t)i] = (uint8_t)v;
}

static size_t add(struct hello *h, const void *p, size_t n) {
  size_t at = h->len;
  memcpy(h->b + at, p, n);
  h->len += n;
  return at;
}

static size_t add_n(struct hello *h, uint8_t v, size_t n) {
  size_t at = h->len;
  memset(h->b + at, v, n);
  h->len += n;
  return at;
}

static void add_sni(struct hello *h, const char *host, size_t host_len, int other_entry_first) {
  size_t start = add(h, "\x00\x00", 2);
  h->sni_ext = add_n(h, 0, 2);
  h->list = add_n(h, 0, 2);
  if (other_entry_first) /* a name_type other than host_name, skipped */
    add(h, "\x07\x00\x03zzz", 6);
  h->entry = add(h, "\x00", 1);
  add_n(h, 0, 2);
  h->name = add(h, host, host_len);
  put(h, h->entry + 1, host_len, 2);
  put(h, h->list, h->len - h->list - 2, 2);
  put(h, h->sni_ext, h->len - start - 4, 2);
}

/* A TLS 1.2 record holding a ClientHello for host: server_name first, or last after a padding
 * extension of pad bytes and supported_groups. */
static void build(struct hello *h, const char *host, size_t host_len, int sni_last, size_t pad) {
  memset(h, 0, sizeof *h);
  h->rec = add(h, "\x16\x03\x01", 3);
  add_n(h, 0, 2);
  add(h, "\x01", 1);
  h->hs = add_n(h, 0, 3);
  add(h, "\x03\x03", 2);
  add_n(h, 0x11, 32);           /* random */
  h->sid = add(h, "\x20", 1);   /* session_id */
  add_n(h, 0x22, 32);
  h->cs = add(h, "\x00\x04\x13\x01\xc0\x2f", 6);
  h->comp = add(h, "\x01\x00", 2);
  h->ext = add_n(h, 0, 2);
  if (!sni_last)
    add_sni(h, host, host_len, 0);
  add(h, "\x00\x15", 2); /* padding */
  put(h, add_n(h, 0, 2), pad, 2);
  add_n(h, 0, pad);
  add(h, "\x00\x0a\x00\x04\x00\x02\x00\x1d", 8); /* supported_groups: x25519 */
  if (sni_last)
    add_sni(h, host, host_len, 1);
  put(h, h->ext, h->len - h->ext - 2, 2);
  put(h, h->hs, h->len - h->hs - 3, 3);
  put(h, h->rec + 3, h->len - 5, 2);
}

static void build_for(struct hello *h, const char *host) { build(h, host, strlen(host), 0, 0); }

static struct seen sniff_hello(const struct hello *h) { return sniff_n(h->b, h->len); }

/* ---- real ClientHellos ---- */

static const struct {
  const char *stack;
  const uint8_t *p;
  size_t n;
} hellos[] = {
    {"openssl", hello_openssl, sizeof hello_openssl},
    {"python", hello_python, sizeof hello_python},
    {"node", hello_node, sizeof hello_node},
    {"curl", hello_curl, sizeof hello_curl},
};

static size_t name_end(const uint8_t *p, size_t n) {
  for (size_t i = 0; i + 15 <= n; i++)
    if (memcmp(p + i, "api.example.com", 15) == 0)
      return i + 15;
  fail_msg("no name in the hello");
  return 0;
}

static void test_real_client_hellos_give_their_server_name(void **state) {
  for (size_t i = 0; i < CW_ARRAY_LEN(hellos); i++)
    assert_seen(sniff_n(hellos[i].p, hellos[i].n), CW_SNIFF_SNI, "api.example.com", 0);
}

static void test_real_hello_cut_anywhere_is_found_once_its_name_is_whole(void **state) {
  for (size_t i = 0; i < CW_ARRAY_LEN(hellos); i++) {
    size_t end = name_end(hellos[i].p, hellos[i].n);
    for (size_t n = 0; n <= hellos[i].n; n++) {
      struct seen s = sniff_n(hellos[i].p, n);
      if (n < end)
        assert_int_equal(s.kind, CW_SNIFF_NONE);
      else
        assert_seen(s, CW_SNIFF_SNI, "api.example.com", 0);
    }
  }
}

static void test_real_hello_split_across_two_and_three_iovecs_agrees(void **state) {
  for (size_t i = 0; i < CW_ARRAY_LEN(hellos); i++)
    assert_every_split_agrees(hellos[i].p, hellos[i].n, i < 2);
}

static void test_real_hello_with_any_header_byte_changed_stays_in_bounds(void **state) {
  static const uint8_t values[] = {0, 1, 2, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xfe, 0xff};
  uint8_t b[sizeof hello_python];
  size_t end = name_end(hello_python, sizeof hello_python);
  for (size_t at = 0; at < end; at++)
    for (size_t v = 0; v < sizeof values; v++) {
      memcpy(b, hello_python, sizeof b);
      b[at] = values[v];
      struct seen s = sniff_n(b, sizeof b);
      assert_true(s.kind == CW_SNIFF_NONE || s.kind == CW_SNIFF_SNI);
      if (s.kind == CW_SNIFF_SNI) {
        assert_true(strlen(s.name) >= 1 && strlen(s.name) <= CW_HOST_MAX);
        assert_int_equal(s.port, 0);
      }
    }
}

/* ---- built ClientHellos ---- */

static void test_server_name_after_other_extensions_and_entries_is_found(void **state) {
  static struct hello h;
  build(&h, "late.example", 12, 1, 300);
  assert_seen(sniff_hello(&h), CW_SNIFF_SNI, "late.example", 0);
}

static void test_server_name_past_the_bytes_given_is_none(void **state) {
  static struct hello h;
  build(&h, "late.example", 12, 1, 3000);
  assert_int_equal(sniff_n(h.b, h.name + 11).kind, CW_SNIFF_NONE);
  assert_int_equal(sniff_n(h.b, h.name - 20).kind, CW_SNIFF_NONE);
  assert_seen(sniff_n(h.b, h.name + 12), CW_SNIFF_SNI, "late.example", 0);
}

static void test_hello_longer_than_its_record_is_read_up_to_the_record(void **state) {
  static struct hello h;
  build(&h, "frag.example", 12, 1, 200);
  put(&h, h.rec + 3, h.name + 12 - 5, 2); /* the record ends right after the name */
  assert_seen(sniff_hello(&h), CW_SNIFF_SNI, "frag.example", 0);
  put(&h, h.rec + 3, h.name + 11 - 5, 2); /* one byte of it in the next record */
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
}

static void test_record_of_16384_bytes_is_read_to_its_end(void **state) {
  static struct hello h;
  build(&h, "big.example", 11, 1, 0);
  size_t pad = CW_SNIFF_MAX - h.len;
  build(&h, "big.example", 11, 1, pad);
  assert_int_equal(h.len, CW_SNIFF_MAX);
  assert_seen(sniff_hello(&h), CW_SNIFF_SNI, "big.example", 0);
  build(&h, "big.example", 11, 1, pad + 1); /* a record one byte too long */
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
}

/* Each length field one past what encloses it, and at its largest value: NONE. A record or
 * hello longer than the bytes given is a hello split across writes: still found. (With the name
 * last, every structure but the session id ends where the hello does.) */
static void test_each_length_field_too_long_is_none(void **state) {
  static struct hello h, good;
  build(&good, "len.example", 11, 1, 16);
  const struct {
    size_t at, over;
    int w;
  } fields[] = {
      {good.rec + 3, 16385, 2},
      {good.sid, 33, 1},
      {good.cs, good.len - good.cs - 1, 2},
      {good.ext, good.len - good.ext - 1, 2},
      {good.sni_ext, good.len - good.sni_ext - 1, 2},
      {good.list, good.len - good.list - 1, 2},
      {good.entry + 1, good.len - good.entry - 2, 2},
  };
  assert_seen(sniff_hello(&good), CW_SNIFF_SNI, "len.example", 0);
  for (size_t i = 0; i < CW_ARRAY_LEN(fields); i++) {
    h = good;
    put(&h, fields[i].at, fields[i].over, fields[i].w);
    assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
    put(&h, fields[i].at, fields[i].w == 1 ? 0xff : 0xffff, fields[i].w);
    assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
  }
  h = good;
  put(&h, h.hs, h.len - 5 - 4 - 1, 3); /* the hello ends before its extensions do */
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
  h = good;
  put(&h, h.rec + 3, 16384, 2); /* more than given */
  assert_seen(sniff_hello(&h), CW_SNIFF_SNI, "len.example", 0);
  put(&h, h.hs, 0xffffff, 3);
  assert_seen(sniff_hello(&h), CW_SNIFF_SNI, "len.example", 0);
}

static void test_each_length_field_at_every_value_stays_in_bounds(void **state) {
  static struct hello h, good;
  build(&good, "len.example", 11, 0, 16);
  size_t at[] = {good.rec + 3, good.hs, good.sid, good.cs, good.comp, good.ext, good.sni_ext,
                 good.list, good.entry + 1};
  int w[] = {2, 3, 1, 2, 1, 2, 2, 2, 2};
  for (size_t i = 0; i < CW_ARRAY_LEN(at); i++)
    for (size_t v = 0; v < (w[i] == 1 ? 256u : 700u); v++) {
      h = good;
      put(&h, at[i], w[i] == 1 ? v : v * 97, w[i]);
      struct seen s = sniff_hello(&h);
      assert_true(s.kind == CW_SNIFF_NONE || s.kind == CW_SNIFF_SNI);
    }
}

static void test_hello_fields_out_of_their_range_are_none(void **state) {
  static struct hello h, good;
  build(&good, "x.example", 9, 0, 0);
  const struct {
    size_t at;
    uint8_t v;
  } bad[] = {
      {0, 23},               /* application data, not a handshake */
      {1, 2},                /* record version 2.x */
      {2, 0},                /* SSL 3.0 */
      {2, 5},                /* 0x0305 */
      {5, 2},                /* a ServerHello */
      {9, 2},                /* legacy_version 2.x */
      {good.cs + 1, 3},      /* an odd cipher_suites length */
      {good.comp, 0},        /* no compression method */
      {good.entry + 2, 0},   /* an empty host_name */
      {good.name + 1, 0},    /* a NUL in the name */
      {good.name + 1, ':'},  /* an IPv6-looking name */
      {good.name + 1, 0xc3}, /* a byte past ASCII */
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(bad); i++) {
    h = good;
    h.b[bad[i].at] = bad[i].v;
    if (sniff_hello(&h).kind != CW_SNIFF_NONE)
      fail_msg("byte %zu = %u still gave a name", bad[i].at, bad[i].v);
  }
  assert_seen(sniff_hello(&good), CW_SNIFF_SNI, "x.example", 0);
}

static void test_hello_without_server_name_is_none(void **state) {
  static struct hello h;
  build(&h, "x", 1, 0, 0);
  put(&h, h.sni_ext - 2, 0x1234, 2); /* the server_name extension becomes an unknown one */
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
  h.b[h.entry] = 1; /* and a list with no host_name entry */
  put(&h, h.sni_ext - 2, 0, 2);
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
}

static void test_server_name_is_lowercased_and_loses_its_trailing_dot(void **state) {
  static struct hello h;
  build_for(&h, "API.Example.COM.");
  assert_seen(sniff_hello(&h), CW_SNIFF_SNI, "api.example.com", 0);
  build_for(&h, "10.0.0.1"); /* RFC 6066 forbids literals, but digits and dots are a name too */
  assert_seen(sniff_hello(&h), CW_SNIFF_SNI, "10.0.0.1", 0);
  build_for(&h, "a..b");
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
}

static void test_server_name_of_253_bytes_is_whole_and_254_is_none(void **state) {
  static struct hello h;
  char name[300];
  /* 63.63.63.61 = 253 bytes */
  memset(name, 'a', sizeof name);
  name[63] = name[127] = name[191] = '.';
  name[253] = '.';
  build(&h, name, 253, 1, 10);
  struct seen s = sniff_hello(&h);
  assert_int_equal(s.kind, CW_SNIFF_SNI);
  assert_int_equal(strlen(s.name), 253);
  build(&h, name, 254, 1, 10); /* with its trailing dot */
  s = sniff_hello(&h);
  assert_int_equal(s.kind, CW_SNIFF_SNI);
  assert_int_equal(strlen(s.name), 253);
  name[253] = 'a';
  build(&h, name, 254, 1, 10);
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
  name[254] = '.';
  build(&h, name, 255, 1, 10);
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
  name[63] = 'a'; /* a label longer than 63 */
  build(&h, name, 100, 1, 10);
  assert_int_equal(sniff_hello(&h).kind, CW_SNIFF_NONE);
}

static void test_built_hello_split_across_iovecs_agrees(void **state) {
  static struct hello h;
  build(&h, "split.example", 13, 1, 40);
  assert_every_split_agrees(h.b, h.len, 1);
}

/* ---- CONNECT ---- */

static void test_connect_gives_its_target(void **state) {
  static const struct want lines[] = {
      {"CONNECT api.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", "api.example.com", 443},
      {"CONNECT Api.EXAMPLE.com.:8443 HTTP/1.0\r\n", "api.example.com", 8443},
      {"CONNECT 10.1.2.3:1 HTTP/1.1\r\n", "10.1.2.3", 1},
      {"CONNECT [2001:DB8::1]:65535 HTTP/1.1\r\n", "2001:db8::1", 65535},
      {"CONNECT [::ffff:192.0.2.1]:80 HTTP/1.1\r\n", "::ffff:192.0.2.1", 80},
      {"CONNECT [1:2:3:4:5:6:7:8]:80 HTTP/1.1\r\n", "1:2:3:4:5:6:7:8", 80},
      {"CONNECT [::]:80 HTTP/1.1\r\n", "::", 80},
  };
  assert_lines(lines, CW_ARRAY_LEN(lines), CW_SNIFF_CONNECT);
}

static void test_malformed_connect_is_none(void **state) {
  static const char *const lines[] = {
      "CONNECT api.example.com HTTP/1.1\r\n",        /* no port */
      "CONNECT api.example.com: HTTP/1.1\r\n",       /* empty port */
      "CONNECT api.example.com:0 HTTP/1.1\r\n",      /* port 0 */
      "CONNECT api.example.com:65536 HTTP/1.1\r\n",  /* port too big */
      "CONNECT api.example.com:123456 HTTP/1.1\r\n", /* six digits */
      "CONNECT api.example.com:44x HTTP/1.1\r\n",
      "CONNECT api.example.com:443 HTTP/1.1",        /* no CRLF */
      "CONNECT api.example.com:443 HTTP/1.1\n",      /* LF alone */
      "CONNECT api.example.com:443 HTTP/2.0\r\n",
      "CONNECT api.example.com:443  HTTP/1.1\r\n",   /* two spaces */
      "CONNECT  api.example.com:443 HTTP/1.1\r\n",
      "connect api.example.com:443 HTTP/1.1\r\n",    /* methods are case-sensitive */
      " CONNECT api.example.com:443 HTTP/1.1\r\n",   /* not at the very start */
      "CONNECT http://api.example.com:443/ HTTP/1.1\r\n",
      "CONNECT :443 HTTP/1.1\r\n",
      "CONNECT a b:443 HTTP/1.1\r\n",
      "CONNECT exa%6dple.com:443 HTTP/1.1\r\n",
      "CONNECT [2001:db8::1:443 HTTP/1.1\r\n",       /* no closing bracket */
      "CONNECT 2001:db8::1:443 HTTP/1.1\r\n",        /* IPv6 without brackets */
      "CONNECT [2001:db8:::1]:443 HTTP/1.1\r\n",
      "CONNECT [1:2:3:4:5:6:7:8:9]:443 HTTP/1.1\r\n",
      "CONNECT [1:2:3:4:5:6:7]:443 HTTP/1.1\r\n",
      "CONNECT [12345::1]:443 HTTP/1.1\r\n",
      "CONNECT [::1.2.3.256]:443 HTTP/1.1\r\n",
      "CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n",   /* zone ids are not taken */
      "CONNECT []:443 HTTP/1.1\r\n",
      "CONNECT [1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff:1111:"
      "2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff:1111:2222:3333:4444:"
      "5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff:1111:2222:3333:4444:5555:6666:7777:"
      "8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff]:443 HTTP/1.1\r\n", /* longer than a name */
      "CONNECT",
      "",
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(lines); i++)
    assert_none(lines[i]);
}

/* ---- absolute-form ---- */

static void test_absolute_form_gives_the_uri_s_host_and_port(void **state) {
  static const struct want lines[] = {
      {"GET http://api.example.com/v1?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", "api.example.com", 80},
      {"POST http://API.example.com:8080/ HTTP/1.1\r\n", "api.example.com", 8080},
      {"GET https://secure.example/ HTTP/1.1\r\n", "secure.example", 443},
      {"GET HTTPS://secure.example:8443 HTTP/1.1\r\n", "secure.example", 8443},
      {"GET http://h.example:/ HTTP/1.1\r\n", "h.example", 80},
      {"GET http://h.example?x HTTP/1.0\r\n", "h.example", 80},
      {"GET http://192.0.2.7:81/ HTTP/1.1\r\n", "192.0.2.7", 81},
      {"GET http://[::1]:3128/x HTTP/1.1\r\n", "::1", 3128},
      {"GET http://[2001:db8::a]/ HTTP/1.1\r\n", "2001:db8::a", 80},
  };
  assert_lines(lines, CW_ARRAY_LEN(lines), CW_SNIFF_ABSOLUTE);
}

static void test_absolute_form_skips_userinfo(void **state) {
  static const struct want lines[] = {
      {"GET http://user:pa55@api.example.com:81/ HTTP/1.1\r\n", "api.example.com", 81},
      {"GET http://user@[::1]/ HTTP/1.1\r\n", "::1", 80},
      {"GET http://evil.example@good.example/ HTTP/1.1\r\n", "good.example", 80},
      {"GET http://a@b@c.example/ HTTP/1.1\r\n", "c.example", 80},
      {"GET http://h.example/a@b HTTP/1.1\r\n", "h.example", 80},
  };
  assert_lines(lines, CW_ARRAY_LEN(lines), CW_SNIFF_ABSOLUTE);
  assert_none("GET http://user@/ HTTP/1.1\r\n");
}

static void test_absolute_form_takes_any_uppercase_method(void **state) {
  static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH",
                                        "PROPFIND", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF"};
  char line[128];
  for (size_t i = 0; i < CW_ARRAY_LEN(methods); i++) {
    snprintf(line, sizeof line, "%s http://m.example/ HTTP/1.1\r\n", methods[i]);
    assert_seen(sniff_str(line), CW_SNIFF_ABSOLUTE, "m.example", 80);
  }
  assert_none("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG http://m.example/ HTTP/1.1\r\n"); /* 33 letters */
  assert_none("get http://m.example/ HTTP/1.1\r\n");
  assert_none("M-SEARCH http://m.example/ HTTP/1.1\r\n");
}

static void test_origin_form_and_malformed_absolute_form_are_none(void **state) {
  static const char *const lines[] = {
      "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n", /* origin-form */
      "GET /http://api.example.com/ HTTP/1.1\r\n",
      "OPTIONS * HTTP/1.1\r\n",
      "GET ftp://api.example.com/ HTTP/1.1\r\n",
      "GET http:/api.example.com/ HTTP/1.1\r\n",
      "GET http:// HTTP/1.1\r\n",
      "GET http:///x HTTP/1.1\r\n",
      "GET http://api.example.com/ HTTP/1.1",            /* no CRLF */
      "GET http://api.example.com/ HTTP/1.1\n",
      "GET http://api.example.com/ HTTP/1.1 \r\n",
      "GET http://api.example.com/a b HTTP/1.1\r\n",
      "GET http://api.example.com/a\tb HTTP/1.1\r\n",
      "GET http://api.example.com#frag HTTP/1.1\r\n",
      "GET http://api.example.com:0/ HTTP/1.1\r\n",
      "GET http://api.example.com:99999/ HTTP/1.1\r\n",
      "GET http://api.example.com:80x/ HTTP/1.1\r\n",
      "GET http://api.example.com/\x7f HTTP/1.1\r\n",
      "GET http://api.example..com/ HTTP/1.1\r\n",
      "GET http://[::1/ HTTP/1.1\r\n",
      "GET  http://api.example.com/ HTTP/1.1\r\n",
      "GET http://api.example.com/ HTTP/1.1x\r\n",
      "\x16GET http://api.example.com/ HTTP/1.1\r\n",
      "SSH-2.0-OpenSSH_9.2\r\n",
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(lines); i++)
    assert_none(lines[i]);
}

static void test_request_lines_split_across_iovecs_agree(void **state) {
  static const char *const lines[] = {
      "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n",
      "GET http://u:p@API.example.com.:8080/x?y HTTP/1.1\r\n",
      "GET http://api.example.com/ HTTP/1.1",
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(lines); i++)
    assert_every_split_agrees((const uint8_t *)lines[i], strlen(lines[i]), 1);
}

static void test_iov_longer_than_n_is_read_only_to_n(void **state) {
  const char *line = "CONNECT a.example:443 HTTP/1.1\r\n";
  size_t len = strlen(line);
  struct iovec iov[2] = {{(void *)line, 10}, {(void *)(line + 10), len - 10}};
  char name[CW_HOST_MAX + 1];
  uint16_t port;
  assert_int_equal(cw_sniff_iov(iov, 2, len, name, &port), CW_SNIFF_CONNECT);
  assert_int_equal(cw_sniff_iov(iov, 2, len - 1, name, &port), CW_SNIFF_NONE);
  assert_int_equal(cw_sniff_iov(iov, 1, len, name, &port), CW_SNIFF_NONE);
  assert_int_equal(cw_sniff_iov(NULL, 0, len, name, &port), CW_SNIFF_NONE);
  assert_int_equal(cw_sniff(NULL, 0, name, &port), CW_SNIFF_NONE);
}

/* The end of the request line at byte CW_SNIFF_MAX is seen, one byte later it is not; a buffer of
 * CW_SNIFF_MAX bytes with no end is not read past even when n says more. */
static void test_request_line_must_end_within_cw_sniff_max(void **state) {
  static char line[CW_SNIFF_MAX + 2];
  const char *head = "GET http://long.example/", *tail = " HTTP/1.1\r\n";
  for (size_t total = CW_SNIFF_MAX; total <= CW_SNIFF_MAX + 1; total++) {
    memset(line, 'a', total);
    memcpy(line, head, strlen(head));
    memcpy(line + total - strlen(tail), tail, strlen(tail));
    struct seen s = sniff_n(line, total);
    assert_int_equal(s.kind, total == CW_SNIFF_MAX ? CW_SNIFF_ABSOLUTE : CW_SNIFF_NONE);
  }
  char *open_ended = malloc(CW_SNIFF_MAX), name[CW_HOST_MAX + 1];
  uint16_t port;
  memset(open_ended, 'a', CW_SNIFF_MAX);
  memcpy(open_ended, head, strlen(head));
  assert_int_equal(cw_sniff(open_ended, SIZE_MAX, name, &port), CW_SNIFF_NONE);
  free(open_ended);
}

/* ---- host names ---- */

static int normalize(const char *in, char *out) {
  strcpy(out, in);
  return cw_host_normalize(out);
}

static void test_host_names_are_lowercased_without_trailing_dot(void **state) {
  char s[512];
  assert_true(normalize("API.Example.COM.", s));
  assert_string_equal(s, "api.example.com");
  assert_true(normalize("_srv-1.x_Y", s));
  assert_string_equal(s, "_srv-1.x_y");
  assert_true(normalize("localhost", s));
  assert_true(normalize("1.2.3.4", s));
}

static void test_host_names_dns_does_not_allow_are_refused_untouched(void **state) {
  static const char *const bad[] = {"", ".", "..", ".a", "a..b", "a.b..", "a b", "a:b", "a/b",
                                    "a@b", "ex%41mple", "caf\xc3\xa9", "a\tb", "[::1]"};
  char s[512];
  for (size_t i = 0; i < CW_ARRAY_LEN(bad); i++) {
    if (normalize(bad[i], s))
      fail_msg("'%s' accepted", bad[i]);
    assert_string_equal(s, bad[i]);
  }
}

static void test_host_name_labels_take_63_bytes_and_names_253(void **state) {
  char s[600];
  memset(s, 'a', 64);
  s[63] = '\0';
  assert_true(cw_host_normalize(s));
  memset(s, 'a', 64);
  s[64] = '\0';
  assert_false(cw_host_normalize(s));
  /* 63.63.63.61 */
  memset(s, 'a', 300);
  s[63] = s[127] = s[191] = '.';
  s[253] = '\0';
  assert_true(cw_host_normalize(s));
  s[253] = '.';
  s[254] = '\0';
  assert_true(cw_host_normalize(s));
  assert_int_equal(strlen(s), 253);
  s[253] = 'a';
  s[254] = '\0';
  assert_false(cw_host_normalize(s));
  s[254] = '.';
  s[255] = '\0';
  assert_false(cw_host_normalize(s));
}

/* A name with no NUL in its first 255 bytes is refused without reading further. */
static void test_host_name_without_end_is_read_only_255_bytes(void **state) {
  char *s = malloc(255);
  memset(s, 'a', 255);
  assert_false(cw_host_normalize(s));
  free(s);
}

int main(void) {
#define T(f) cmocka_unit_test(f)
  const struct CMUnitTest tests[] = {
      T(test_real_client_hellos_give_their_server_name),
      T(test_real_hello_cut_anywhere_is_found_once_its_name_is_whole),
      T(test_real_hello_split_across_two_and_three_iovecs_agrees),
      T(test_real_hello_with_any_header_byte_changed_stays_in_bounds),
      T(test_server_name_after_other_extensions_and_entries_is_found),
      T(test_server_name_past_the_bytes_given_is_none),
      T(test_hello_longer_than_its_record_is_read_up_to_the_record),
      T(test_record_of_16384_bytes_is_read_to_its_end),
      T(test_each_length_field_too_long_is_none),
      T(test_each_length_field_at_every_value_stays_in_bounds),
      T(test_hello_fields_out_of_their_range_are_none),
      T(test_hello_without_server_name_is_none),
      T(test_server_name_is_lowercased_and_loses_its_trailing_dot),
      T(test_server_name_of_253_bytes_is_whole_and_254_is_none),
      T(test_built_hello_split_across_iovecs_agrees),
      T(test_connect_gives_its_target),
      T(test_malformed_connect_is_none),
      T(test_absolute_form_gives_the_uri_s_host_and_port),
      T(test_absolute_form_skips_userinfo),
      T(test_absolute_form_takes_any_uppercase_method),
      T(test_origin_form_and_malformed_absolute_form_are_none),
      T(test_request_lines_split_across_iovecs_agree),
      T(test_iov_longer_than_n_is_read_only_to_n),
      T(test_request_line_must_end_within_cw_sniff_max),
      T(test_host_names_are_lowercased_without_trailing_dot),
      T(test_host_names_dns_does_not_allow_are_refused_untouched),
      T(test_host_name_labels_take_63_bytes_and_names_253),
      T(test_host_name_without_end_is_read_only_255_bytes),
  };
  return cmocka_run_group_tests_name("sniff", tests, NULL, NULL);
}
