/* test_config.c - the configuration parsers (durations, counts, errno names, filters), filter
 * matching, cw_config_load from a fake environment (defaults, every variable, each bad value,
 * the run directory rules, the stats socket's path for the first process and its descendants),
 * cw_config_set, and the check of CONNWARDEN_* names (unknown ones, with the closest known one;
 * those this version does not do). No real environment is read.
 * objects: config.o statspath.o vars.o sniff.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "support.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "log.h"
#include "statspath.h"
#include "vars.h"
#include "tree.h"

/* ---- the fake environment: a table the test fills, read through fake_getenv ---- */

#define ENV_MAX 32
static struct {
  const char *name, *value;
} env[ENV_MAX];
static int nenv;

static void env_clear(void) { nenv = 0; }

static void env_set(const char *name, const char *value) {
  for (int i = 0; i < nenv; i++)
    if (strcmp(env[i].name, name) == 0) {
      env[i].value = value;
      return;
    }
  assert_true(nenv < ENV_MAX);
  env[nenv].name = name;
  env[nenv].value = value;
  nenv++;
}

static const char *fake_getenv(const char *name) {
  for (int i = 0; i < nenv; i++)
    if (strcmp(env[i].name, name) == 0)
      return env[i].value;
  return NULL;
}

static struct cw_config cfg; /* large: kept out of the stack */
static char err[1024];

static int load(void) {
  memset(err, 0, sizeof err);
  return cw_config_load(&cfg, fake_getenv, err, sizeof err);
}

static int reset_env(void **state) {
  env_clear();
  return 0;
}

#define assert_contains(hay, needle)                                                               \
  do {                                                                                             \
    if (!strstr((hay), (needle)))                                                                  \
      fail_msg("'%s' does not contain '%s'", (hay), (needle));                                     \
  } while (0)

/* ---- durations ---- */

static int64_t duration_ok(const char *s) {
  int64_t v = -12345;
  int rc = cw_parse_duration_ms(s, &v);
  if (rc != 0)
    fail_msg("duration '%s' refused (%d)", s, rc);
  return v;
}

static void test_duration_accepts_units_and_fractions(void **state) {
  assert_int_equal(duration_ok("250ms"), 250);
  assert_int_equal(duration_ok("30s"), 30000);
  assert_int_equal(duration_ok("10m"), 600000);
  assert_int_equal(duration_ok("1h"), 3600000);
  assert_int_equal(duration_ok("5"), 5000);
  assert_int_equal(duration_ok("1.5s"), 1500);
  assert_int_equal(duration_ok("1.5"), 1500);
  assert_int_equal(duration_ok("0.25"), 250);
  assert_int_equal(duration_ok("0.5m"), 30000);
  assert_int_equal(duration_ok("1.25h"), 4500000);
  assert_int_equal(duration_ok("1.5ms"), 1);
  assert_int_equal(duration_ok("007s"), 7000);
}

static void test_duration_off_and_zero_mean_disabled(void **state) {
  assert_int_equal(duration_ok("off"), 0);
  assert_int_equal(duration_ok("0"), 0);
  assert_int_equal(duration_ok("0s"), 0);
  assert_int_equal(duration_ok("0ms"), 0);
}

static void test_duration_accepts_a_year_and_refuses_more(void **state) {
  assert_int_equal(duration_ok("8760h"), (int64_t)365 * 24 * 3600 * 1000);
  assert_int_equal(duration_ok("31536000"), (int64_t)365 * 24 * 3600 * 1000);
  int64_t v = 77;
  assert_int_equal(cw_parse_duration_ms("8761h", &v), -EINVAL);
  assert_int_equal(cw_parse_duration_ms("31536001", &v), -EINVAL);
  assert_int_equal(v, 77);
}

static void test_duration_refuses_malformed_values(void **state) {
  static const char *const bad_values[] = {
      "",     "-1",   "5x",   "1.2.3", " 5",  "5 ",  "5s5",  "+5",   "s",    "ms",  ".5",
      "1.",   "1.s",  "5S",   "5sec",  "5d",  "5 s", "1e3",  "0x10", "OFF",  "off ", "5m5s",
      "99999999999999999999999999999", "9223372036854775808ms", "9999999999999h",
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(bad_values); i++) {
    int64_t v = 4242;
    int rc = cw_parse_duration_ms(bad_values[i], &v);
    if (rc != -EINVAL)
      fail_msg("duration '%s' accepted as %lld", bad_values[i], (long long)v);
    assert_int_equal(v, 4242); /* untouched on failure */
  }
  int64_t v;
  assert_int_equal(cw_parse_duration_ms(NULL, &v), -EINVAL);
}

/* ---- counts and errno names ---- */

static void test_count_accepts_zero_to_a_billion(void **state) {
  int64_t v = -1;
  assert_int_equal(cw_parse_count("0", &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(cw_parse_count("42", &v), 0);
  assert_int_equal(v, 42);
  assert_int_equal(cw_parse_count("1000000000", &v), 0);
  assert_int_equal(v, 1000000000);
}

static void test_count_refuses_signs_blanks_fractions_and_overflow(void **state) {
  static const char *const bad_values[] = {"",    "-1",  "+1",  " 1", "1 ", "1.0",
                                           "1e3", "0x1", "ten", "1000000001",
                                           "99999999999999999999999"};
  for (size_t i = 0; i < CW_ARRAY_LEN(bad_values); i++) {
    int64_t v = 4242;
    if (cw_parse_count(bad_values[i], &v) != -EINVAL)
      fail_msg("count '%s' accepted", bad_values[i]);
    assert_int_equal(v, 4242);
  }
  int64_t v;
  assert_int_equal(cw_parse_count(NULL, &v), -EINVAL);
}

static void test_errno_name_maps_failure_errnos(void **state) {
  static const struct {
    const char *name;
    int value;
  } good[] = {{"ECONNREFUSED", ECONNREFUSED}, {"ETIMEDOUT", ETIMEDOUT},
              {"ECONNRESET", ECONNRESET},     {"EHOSTUNREACH", EHOSTUNREACH},
              {"ENETUNREACH", ENETUNREACH},   {"EMFILE", EMFILE},
              {"EADDRNOTAVAIL", EADDRNOTAVAIL}};
  for (size_t i = 0; i < CW_ARRAY_LEN(good); i++) {
    int e = 0;
    assert_int_equal(cw_parse_errno_name(good[i].name, &e), 0);
    assert_int_equal(e, good[i].value);
  }
}

static void test_errno_name_refuses_unknown_and_lower_case(void **state) {
  static const char *const bad_values[] = {"", "econnrefused", "EFOO", "ECONNREFUSED ", "111",
                                           "EAGAIN", "EINPROGRESS"};
  for (size_t i = 0; i < CW_ARRAY_LEN(bad_values); i++) {
    int e = 4242;
    if (cw_parse_errno_name(bad_values[i], &e) != -EINVAL)
      fail_msg("errno name '%s' accepted", bad_values[i]);
    assert_int_equal(e, 4242);
  }
  int e;
  assert_int_equal(cw_parse_errno_name(NULL, &e), -EINVAL);
}

/* ---- filters ---- */

static int filters_ok(const char *s, struct cw_filter *f) {
  int n = -1;
  int rc = cw_parse_filters(s, f, CW_MAX_FILTERS, &n);
  if (rc != 0)
    fail_msg("filters '%s' refused (%d)", s, rc);
  return n;
}

static void test_filters_parse_each_kind(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  assert_int_equal(filters_ok("in", f), 1);
  assert_int_equal(f[0].kind, CW_F_IN);
  assert_int_equal(filters_ok("out", f), 1);
  assert_int_equal(f[0].kind, CW_F_OUT);

  assert_int_equal(filters_ok("127.0.0.1:8000", f), 1);
  struct cw_addr want = v4("127.0.0.1", 8000);
  assert_int_equal(f[0].kind, CW_F_HOSTPORT);
  assert_int_equal(f[0].addr.family, AF_INET);
  assert_int_equal(f[0].addr.port, 8000);
  assert_memory_equal(f[0].addr.ip, want.ip, 16);

  assert_int_equal(filters_ok("[::1]:8443", f), 1);
  want = v6("::1", 8443);
  assert_int_equal(f[0].kind, CW_F_HOSTPORT);
  assert_int_equal(f[0].addr.family, AF_INET6);
  assert_int_equal(f[0].addr.port, 8443);
  assert_memory_equal(f[0].addr.ip, want.ip, 16);

  assert_int_equal(filters_ok(":443", f), 1);
  assert_int_equal(f[0].kind, CW_F_PORT);
  assert_int_equal(f[0].addr.port, 443);

  assert_int_equal(filters_ok("10.0.0.0/8", f), 1);
  want = v4("10.0.0.0", 0);
  assert_int_equal(f[0].kind, CW_F_CIDR);
  assert_int_equal(f[0].addr.family, AF_INET);
  assert_int_equal(f[0].prefix, 8);
  assert_memory_equal(f[0].addr.ip, want.ip, 16);

  assert_int_equal(filters_ok("fd00::/8", f), 1);
  want = v6("fd00::", 0);
  assert_int_equal(f[0].kind, CW_F_CIDR);
  assert_int_equal(f[0].addr.family, AF_INET6);
  assert_int_equal(f[0].prefix, 8);
  assert_memory_equal(f[0].addr.ip, want.ip, 16);

  assert_int_equal(filters_ok("0.0.0.0/0,1.2.3.4/32,2001:db8::1/128", f), 3);
  assert_int_equal(f[0].prefix, 0);
  assert_int_equal(f[1].prefix, 32);
  assert_int_equal(f[2].prefix, 128);
  assert_int_equal(f[2].addr.family, AF_INET6);

  assert_int_equal(filters_ok("127.0.0.1:1,127.0.0.1:65535", f), 2);
  assert_int_equal(f[0].addr.port, 1);
  assert_int_equal(f[1].addr.port, 65535);
}

/* IPv6 prefixes are often written from "::" (the whole space, loopback, IPv4-mapped): the
 * leading colon must not make them :PORT items. */
static void test_filters_accept_ipv6_cidr_starting_with_double_colon(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  assert_int_equal(filters_ok("::/0", f), 1);
  assert_int_equal(f[0].kind, CW_F_CIDR);
  assert_int_equal(f[0].addr.family, AF_INET6);
  assert_int_equal(f[0].prefix, 0);

  assert_int_equal(filters_ok("::1/128", f), 1);
  struct cw_addr lo6 = v6("::1", 0);
  assert_int_equal(f[0].kind, CW_F_CIDR);
  assert_int_equal(f[0].prefix, 128);
  assert_memory_equal(f[0].addr.ip, lo6.ip, 16);

  assert_int_equal(filters_ok("::ffff:0:0/96", f), 1);
  assert_int_equal(f[0].kind, CW_F_CIDR);
  assert_int_equal(f[0].prefix, 96);
}

static void test_filters_lists_allow_spaces_around_items(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  assert_int_equal(filters_ok(" in , 10.0.0.0/8,:80 ,  [::1]:9000  ", f), 4);
  assert_int_equal(f[0].kind, CW_F_IN);
  assert_int_equal(f[1].kind, CW_F_CIDR);
  assert_int_equal(f[1].prefix, 8);
  assert_int_equal(f[2].kind, CW_F_PORT);
  assert_int_equal(f[2].addr.port, 80);
  assert_int_equal(f[3].kind, CW_F_HOSTPORT);
  assert_int_equal(f[3].addr.port, 9000);
}

/* text is one IP/PREFIX item of bits holding host: it matches host in either direction, not other */
static void assert_one_host(const char *text, int bits, struct cw_addr host, struct cw_addr other) {
  struct cw_filter f[CW_MAX_FILTERS];
  assert_int_equal(filters_ok(text, f), 1);
  assert_int_equal(f[0].kind, CW_F_CIDR);
  assert_int_equal(f[0].addr.family, host.family);
  assert_int_equal(f[0].prefix, bits);
  assert_memory_equal(f[0].addr.ip, host.ip, 16);
  assert_true(cw_filters_match(f, 1, CW_DIR_OUT, &host, NULL, 0));
  assert_true(cw_filters_match(f, 1, CW_DIR_IN, &host, NULL, 0));
  assert_false(cw_filters_match(f, 1, CW_DIR_OUT, &other, NULL, 0));
}

/* A bare address, with no port and no /bits, is one host: a /32 or a /128. */
static void test_filters_bare_address_is_one_host(void **state) {
  assert_one_host("192.0.2.7", 32, v4("192.0.2.7", 443), v4("192.0.2.6", 443));
  assert_one_host("192.0.2.7/32", 32, v4("192.0.2.7", 443), v4("192.0.2.6", 443));
  assert_one_host("2001:db8::1", 128, v6("2001:db8::1", 80), v6("2001:db8::2", 80));
  /* IPv6 forms that start with "::" are addresses, not :PORT; a port needs the brackets */
  assert_one_host("::1", 128, v6("::1", 80), v6("::2", 80));
  assert_one_host("::1:80", 128, v6("::1:80", 443), v6("::1", 80));
}

static void test_filters_all_matches_both_directions(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  struct cw_addr p = v4("10.1.2.3", 8000);
  assert_int_equal(filters_ok("all", f), 1);
  assert_int_equal(f[0].kind, CW_F_ALL);
  assert_true(cw_filters_match(f, 1, CW_DIR_OUT, &p, NULL, 0));
  assert_true(cw_filters_match(f, 1, CW_DIR_IN, &p, NULL, 0));
}

static void test_filters_refuse_hostnames_bad_ports_and_prefixes(void **state) {
  static const char *const bad_values[] = {
      "",           "*.",              "*",               "localhost",      "127.0.0.1:0",
      "127.0.0.1:65536", ":0",         ":65536",          ":",              ":http",
      "10.0.0.0/33", "::/129",         "10.0.0.0/",       "10.0.0.0/-1",    "10.0.0.0/8x",
      "host/8",     "1.2.3.256",       "[::1]80",         "[::1]",          "[127.0.0.1]:80",
      "[::1:80",    "1.2.3.4:80:90",   "IN",              "inbound",        "in,,out",
      "in,",        ",in",             " , ",             "1.2.3.256:80",   "127.0.0.1: 80",
      "127.0.0.1:-80", "ALL",          "1.2.3",           "::1::2",         "127.0.0.1/32/8",
      "api.example.com", "bad!name:80", "a..b:80",         "*.example.com:443", "*.a b.com",
      "api.example.com:0", "*.1.2.3.4",  "x:80:90",
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(bad_values); i++) {
    struct cw_filter f[CW_MAX_FILTERS];
    int n = -1;
    if (cw_parse_filters(bad_values[i], f, CW_MAX_FILTERS, &n) != -EINVAL)
      fail_msg("filters '%s' accepted (%d items)", bad_values[i], n);
  }
}

static void test_filters_refuse_more_items_than_room(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  char list[CW_MAX_FILTERS * 8 + 16] = "";
  for (int i = 0; i < CW_MAX_FILTERS; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s:%d", i ? "," : "", 1000 + i);
  assert_int_equal(filters_ok(list, f), CW_MAX_FILTERS);
  assert_int_equal(f[CW_MAX_FILTERS - 1].addr.port, 1000 + CW_MAX_FILTERS - 1);

  snprintf(list + strlen(list), sizeof list - strlen(list), ",:2000");
  int n = -1;
  assert_int_equal(cw_parse_filters(list, f, CW_MAX_FILTERS, &n), -EINVAL);

  struct cw_filter two[2];
  assert_int_equal(cw_parse_filters("in,out", two, 2, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(cw_parse_filters("in,out,:80", two, 2, &n), -EINVAL);
}

static void test_filters_match_direction_port_hostport_and_cidr(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  struct cw_addr p = v4("10.1.2.3", 8000);

  int n = filters_ok("in", f);
  assert_true(cw_filters_match(f, n, CW_DIR_IN, &p, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &p, NULL, 0));
  n = filters_ok("out", f);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_IN, &p, NULL, 0));

  n = filters_ok(":8000", f);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p, NULL, 0));
  struct cw_addr p6 = v6("::1", 8000);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p6, NULL, 0));
  struct cw_addr other_port = v4("10.1.2.3", 8001);
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &other_port, NULL, 0));

  n = filters_ok("10.1.2.3:8000", f);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &other_port, NULL, 0));
  struct cw_addr other_ip = v4("10.1.2.4", 8000);
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &other_ip, NULL, 0));

  n = filters_ok("[::1]:8000", f);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p6, NULL, 0));
  struct cw_addr p6_other = v6("::2", 8000);
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &p6_other, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &p, NULL, 0));
}

static void test_filters_cidr_matches_by_prefix_and_family(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  int n = filters_ok("10.0.0.0/8", f);
  struct cw_addr in10 = v4("10.255.1.1", 80), in11 = v4("11.0.0.1", 80);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &in10, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &in11, NULL, 0));
  struct cw_addr six = v6("a00::1", 80); /* same first byte, other family */
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &six, NULL, 0));

  n = filters_ok("172.16.0.0/12", f); /* a prefix that is not a whole number of bytes */
  struct cw_addr lo = v4("172.16.0.0", 1), hi = v4("172.31.255.255", 1);
  struct cw_addr below = v4("172.15.255.255", 1), above = v4("172.32.0.0", 1);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &lo, NULL, 0));
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &hi, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &below, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &above, NULL, 0));

  n = filters_ok("0.0.0.0/0", f);
  struct cw_addr any4 = v4("203.0.113.9", 5);
  assert_true(cw_filters_match(f, n, CW_DIR_IN, &any4, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_IN, &six, NULL, 0));

  n = filters_ok("192.0.2.7/32", f);
  struct cw_addr exact = v4("192.0.2.7", 9), next = v4("192.0.2.6", 9);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &exact, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &next, NULL, 0));

  n = filters_ok("2001:db8::/32", f);
  struct cw_addr doc = v6("2001:db8:ffff::1", 443), notdoc = v6("2001:db9::1", 443);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &doc, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &notdoc, NULL, 0));

  n = filters_ok("fe80::/10", f);
  struct cw_addr ll = v6("febf::1", 1), notll = v6("fec0::1", 1);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &ll, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &notll, NULL, 0));
}

static void test_filters_match_any_item_of_a_list_and_none_of_an_empty_one(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  int n = filters_ok("in, :443, 10.0.0.0/8", f);
  struct cw_addr web = v4("198.51.100.1", 443), lan = v4("10.0.0.9", 5432),
                 other = v4("198.51.100.1", 80);
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &web, NULL, 0));
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &lan, NULL, 0));
  assert_true(cw_filters_match(f, n, CW_DIR_IN, &other, NULL, 0));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &other, NULL, 0));
  assert_false(cw_filters_match(f, 0, CW_DIR_OUT, &web, NULL, 0));
}

/* ---- cw_config_load ---- */

static void assert_default_rundir(const struct cw_config *c) {
  char want[64];
  if (geteuid() == 0)
    snprintf(want, sizeof want, "/run/connwarden");
  else
    snprintf(want, sizeof want, "/tmp/connwarden-%u", (unsigned)geteuid());
  assert_string_equal(c->rundir, want);
}

static void assert_stats_path_in(const struct cw_config *c, const char *dir) {
  char want[CW_PATH_MAX + 32];
  snprintf(want, sizeof want, "%s/%d.sock", dir, (int)getpid());
  assert_string_equal(c->stats_path, want);
}

static void test_load_with_nothing_set_gives_the_documented_defaults(void **state) {
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.max_conns, 0);
  assert_int_equal(cfg.max_conns_per_dest, 0);
  assert_int_equal(cfg.on_cap, CW_ON_CAP_QUEUE);
  assert_int_equal(cfg.queue_timeout_ms, 10000);
  assert_int_equal(cfg.cap_errno, ECONNREFUSED);
  assert_int_equal(cfg.idle_timeout_ms, 0);
  assert_int_equal(cfg.max_lifetime_ms, 0);
  assert_int_equal(cfg.reap_grace_ms, 5000);
  assert_int_equal(cfg.abandon_after_ms, 60000);
  assert_int_equal(cfg.evict_idle_ms, 0);
  assert_int_equal(cfg.n_only, 1);
  assert_int_equal(cfg.only[0].kind, CW_F_OUT);
  assert_int_equal(cfg.n_exclude, 0);
  assert_string_equal(cfg.only_text, "out");
  assert_string_equal(cfg.exclude_text, "");
  assert_int_equal(cfg.stats_off, 0);
  assert_int_equal(cfg.stats_explicit, 0);
  assert_default_rundir(&cfg);
  assert_stats_path_in(&cfg, cfg.rundir);
  assert_int_equal(cfg.leak_check, 0);
  assert_int_equal(cfg.leak_exitcode, 0);
  assert_string_equal(cfg.report_dir, "");
  assert_int_equal(cfg.backtrace, 0);
  assert_int_equal(cfg.log_level, CW_LOG_WARN);
  assert_string_equal(cfg.name, ""); /* derived from the command line when asked */
}

static void test_load_reads_every_variable(void **state) {
  env_set("CONNWARDEN_MAX_CONNS", "100");
  env_set("CONNWARDEN_MAX_CONNS_PER_DEST", "10");
  env_set("CONNWARDEN_ON_CAP", "refuse");
  env_set("CONNWARDEN_QUEUE_TIMEOUT", "2s");
  env_set("CONNWARDEN_CAP_ERRNO", "ETIMEDOUT");
  env_set("CONNWARDEN_IDLE_TIMEOUT", "30s");
  env_set("CONNWARDEN_MAX_LIFETIME", "10m");
  env_set("CONNWARDEN_REAP_GRACE", "250ms");
  env_set("CONNWARDEN_EVICT_IDLE", "1.5s");
  env_set("CONNWARDEN_ABANDON_AFTER", "90s");
  env_set("CONNWARDEN_ONLY", "out, :443");
  env_set("CONNWARDEN_EXCLUDE", "10.0.0.0/8,[::1]:9000");
  env_set("CONNWARDEN_STATS", "/tmp/cw-unit/app.sock");
  env_set("CONNWARDEN_LEAK_CHECK", "1");
  env_set("CONNWARDEN_LEAK_EXITCODE", "23");
  env_set("CONNWARDEN_REPORT", "/tmp/cw-reports");
  env_set("CONNWARDEN_BACKTRACE", "1");
  env_set("CONNWARDEN_LOG", "debug");
  env_set("CONNWARDEN_NAME", "myproxy [eu-1]");
  if (load() != 0)
    fail_msg("load refused: %s", err);
  assert_int_equal(cfg.max_conns, 100);
  assert_int_equal(cfg.max_conns_per_dest, 10);
  assert_int_equal(cfg.on_cap, CW_ON_CAP_REFUSE);
  assert_int_equal(cfg.queue_timeout_ms, 2000);
  assert_int_equal(cfg.cap_errno, ETIMEDOUT);
  assert_int_equal(cfg.idle_timeout_ms, 30000);
  assert_int_equal(cfg.max_lifetime_ms, 600000);
  assert_int_equal(cfg.reap_grace_ms, 250);
  assert_int_equal(cfg.evict_idle_ms, 1500);
  assert_int_equal(cfg.abandon_after_ms, 90000);
  assert_int_equal(cfg.n_only, 2);
  assert_int_equal(cfg.only[0].kind, CW_F_OUT);
  assert_int_equal(cfg.only[1].kind, CW_F_PORT);
  assert_int_equal(cfg.only[1].addr.port, 443);
  assert_string_equal(cfg.only_text, "out, :443");
  assert_int_equal(cfg.n_exclude, 2);
  assert_int_equal(cfg.exclude[0].kind, CW_F_CIDR);
  assert_int_equal(cfg.exclude[1].kind, CW_F_HOSTPORT);
  assert_string_equal(cfg.exclude_text, "10.0.0.0/8,[::1]:9000");
  assert_int_equal(cfg.stats_off, 0);
  assert_int_equal(cfg.stats_explicit, 1);
  assert_string_equal(cfg.stats_path, "/tmp/cw-unit/app.sock");
  assert_string_equal(cfg.rundir, "/tmp/cw-unit");
  assert_int_equal(cfg.leak_check, 1);
  assert_int_equal(cfg.leak_exitcode, 23);
  assert_string_equal(cfg.report_dir, "/tmp/cw-reports");
  assert_int_equal(cfg.backtrace, 1);
  assert_int_equal(cfg.log_level, CW_LOG_DEBUG);
  assert_string_equal(cfg.name, "myproxy [eu-1]");
}

/* Timeouts and eviction are for outbound connections unless CONNWARDEN_ONLY says otherwise: the
 * policy applies to what matches ONLY and not EXCLUDE. */
static int policed(int dir) {
  struct cw_addr peer = v4("198.51.100.7", 8000);
  return cw_filters_match(cfg.only, cfg.n_only, dir, &peer, NULL, 0) &&
         !cw_filters_match(cfg.exclude, cfg.n_exclude, dir, &peer, NULL, 0);
}

static void test_load_applies_the_policy_to_outbound_connections_by_default(void **state) {
  assert_int_equal(load(), 0);
  assert_true(policed(CW_DIR_OUT));
  assert_false(policed(CW_DIR_IN));

  env_set("CONNWARDEN_EXCLUDE", ":9999"); /* EXCLUDE alone leaves ONLY at out */
  assert_int_equal(load(), 0);
  assert_true(policed(CW_DIR_OUT));
  assert_false(policed(CW_DIR_IN));
  env_set("CONNWARDEN_EXCLUDE", "198.51.100.7");
  assert_int_equal(load(), 0);
  assert_false(policed(CW_DIR_OUT));

  env_clear();
  env_set("CONNWARDEN_ONLY", "in");
  assert_int_equal(load(), 0);
  assert_false(policed(CW_DIR_OUT));
  assert_true(policed(CW_DIR_IN));
  assert_string_equal(cfg.only_text, "in");
  static const char *const both[] = {"all", "in,out", ":8000", "198.51.100.0/24", "198.51.100.7"};
  for (size_t i = 0; i < CW_ARRAY_LEN(both); i++) {
    env_set("CONNWARDEN_ONLY", both[i]);
    assert_int_equal(load(), 0);
    if (!policed(CW_DIR_OUT) || !policed(CW_DIR_IN))
      fail_msg("CONNWARDEN_ONLY=%s does not cover both directions", both[i]);
  }
}

static void test_load_accepts_each_log_level_and_on_cap_queue(void **state) {
  static const struct {
    const char *name;
    int level;
  } levels[] = {{"off", CW_LOG_OFF},
                {"error", CW_LOG_ERROR},
                {"warn", CW_LOG_WARN},
                {"info", CW_LOG_INFO},
                {"debug", CW_LOG_DEBUG}};
  for (size_t i = 0; i < CW_ARRAY_LEN(levels); i++) {
    env_set("CONNWARDEN_LOG", levels[i].name);
    assert_int_equal(load(), 0);
    assert_int_equal(cfg.log_level, levels[i].level);
  }
  env_set("CONNWARDEN_ON_CAP", "queue");
  env_set("CONNWARDEN_REPORT", "stderr");
  env_set("CONNWARDEN_LEAK_CHECK", "0");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.on_cap, CW_ON_CAP_QUEUE);
  assert_int_equal(cfg.cap_scope, CW_SCOPE_PROCESS); /* the default */
  env_set("CONNWARDEN_CAP_SCOPE", "tree");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.cap_scope, CW_SCOPE_TREE);
  env_set("CONNWARDEN_CAP_SCOPE", "process");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.cap_scope, CW_SCOPE_PROCESS);
  assert_string_equal(cfg.report_dir, "");
  assert_int_equal(cfg.leak_check, 0);
}

static void test_load_refuses_each_bad_variable_naming_it_and_its_value(void **state) {
  static const struct {
    const char *var, *value;
  } cases[] = {
      {"CONNWARDEN_MAX_CONNS", "-1"},
      {"CONNWARDEN_MAX_CONNS", "lots"},
      {"CONNWARDEN_MAX_CONNS", ""},
      {"CONNWARDEN_MAX_CONNS_PER_DEST", "1.5"},
      {"CONNWARDEN_ON_CAP", "drop"},
      {"CONNWARDEN_ON_CAP", "Queue"},
      {"CONNWARDEN_CAP_SCOPE", "Tree"},
      {"CONNWARDEN_CAP_SCOPE", ""},
      {"CONNWARDEN_CAP_SCOPE", "processes"},
      {"CONNWARDEN_QUEUE_TIMEOUT", "5x"},
      {"CONNWARDEN_CAP_ERRNO", "EFOO"},
      {"CONNWARDEN_CAP_ERRNO", "111"},
      {"CONNWARDEN_IDLE_TIMEOUT", "-1"},
      {"CONNWARDEN_IDLE_TIMEOUT", "30 s"},
      {"CONNWARDEN_MAX_LIFETIME", "1.2.3"},
      {"CONNWARDEN_REAP_GRACE", ""},
      {"CONNWARDEN_EVICT_IDLE", "5x"},
      {"CONNWARDEN_EVICT_IDLE", "-1s"},
      {"CONNWARDEN_ABANDON_AFTER", "never"},
      {"CONNWARDEN_ONLY", "localhost"},
      {"CONNWARDEN_ONLY", ""},
      {"CONNWARDEN_EXCLUDE", "in,,out"},
      {"CONNWARDEN_EXCLUDE", "10.0.0.0/33"},
      {"CONNWARDEN_STATS", ""},
      {"CONNWARDEN_LEAK_CHECK", "yes"},
      {"CONNWARDEN_LEAK_CHECK", "2"},
      {"CONNWARDEN_LEAK_EXITCODE", "256"},
      {"CONNWARDEN_LEAK_EXITCODE", "-1"},
      {"CONNWARDEN_REPORT", ""},
      {"CONNWARDEN_BACKTRACE", "true"},
      {"CONNWARDEN_LOG", "verbose"},
      {"CONNWARDEN_LOG", "WARN"},
      {"CONNWARDEN_RUNDIR", ""},
      {"CONNWARDEN_NAME", ""},
      {"CONNWARDEN_NAME", "12345678901234567890123456789012345678901234567890123456789012345"},
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
    env_clear();
    env_set(cases[i].var, cases[i].value);
    int rc = load();
    if (rc != -EINVAL)
      fail_msg("%s=\"%s\" accepted (%d)", cases[i].var, cases[i].value, rc);
    char named[256];
    snprintf(named, sizeof named, "%s=\"%s\"", cases[i].var, cases[i].value);
    assert_contains(err, named);
    assert_contains(err, "expected");
    assert_null(strchr(err, '\n'));
  }
}

/* A name is one printable line of at most 64 bytes; a bad one is shown escaped, on one line. */
static void test_load_name_takes_64_bytes_and_refuses_control_characters(void **state) {
  static const char *const good[] = {"a", "gunicorn: worker [app]", "caf\xc3\xa9",
                                     "1234567890123456789012345678901234567890123456789012345678901234"};
  for (size_t i = 0; i < CW_ARRAY_LEN(good); i++) {
    env_clear();
    env_set("CONNWARDEN_NAME", good[i]);
    if (load() != 0)
      fail_msg("refused %s: %s", good[i], err);
    assert_string_equal(cfg.name, good[i]);
  }
  env_clear();
  env_set("CONNWARDEN_NAME", "api\nSUMMARY: 0 leaks\t");
  assert_int_equal(load(), -EINVAL);
  assert_contains(err, "CONNWARDEN_NAME=\"api\\nSUMMARY: 0 leaks\\t\"");
  assert_contains(err, "without control characters");
  assert_null(strchr(err, '\n'));
  env_set("CONNWARDEN_NAME", "a\x01");
  assert_int_equal(load(), -EINVAL);
  assert_contains(err, "CONNWARDEN_NAME=\"a\\x01\"");
}

static void test_load_refuses_cap_errnos_that_event_loops_read_as_in_progress(void **state) {
  static const char *const loop_errnos[] = {"EAGAIN", "EWOULDBLOCK", "EINPROGRESS", "EALREADY",
                                            "EINTR"};
  for (size_t i = 0; i < CW_ARRAY_LEN(loop_errnos); i++) {
    env_set("CONNWARDEN_CAP_ERRNO", loop_errnos[i]);
    assert_int_equal(load(), -EINVAL);
    char named[64];
    snprintf(named, sizeof named, "CONNWARDEN_CAP_ERRNO=\"%s\"", loop_errnos[i]);
    assert_contains(err, named);
    assert_contains(err, "still connecting"); /* says why, not just "unknown" */
  }
  env_set("CONNWARDEN_CAP_ERRNO", "ECONNRESET");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.cap_errno, ECONNRESET);
}

static void test_load_refuses_a_stats_path_too_long_for_a_unix_socket(void **state) {
  char path[200];
  /* sun_path holds 108 bytes with the terminating NUL: 107 fits, 108 does not */
  memset(path, 'p', sizeof path);
  path[0] = '/';
  path[107] = '\0';
  env_set("CONNWARDEN_STATS", path);
  if (load() != 0)
    fail_msg("107-byte path refused: %s", err);
  assert_string_equal(cfg.stats_path, path);

  path[107] = 'p';
  path[108] = '\0';
  assert_int_equal(load(), -EINVAL);
  assert_contains(err, "CONNWARDEN_STATS=");
  assert_contains(err, "108");
}

static void test_load_stats_off_turns_the_socket_off(void **state) {
  env_set("CONNWARDEN_STATS", "off");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.stats_off, 1);
  assert_int_equal(cfg.stats_explicit, 0);
}

static void test_load_abandon_after_off_turns_the_check_off(void **state) {
  env_set("CONNWARDEN_ABANDON_AFTER", "off");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.abandon_after_ms, 0);
  env_set("CONNWARDEN_ABANDON_AFTER", "250ms");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.abandon_after_ms, 250);
}

static void test_load_stats_path_sets_the_directory_to_create(void **state) {
  env_set("CONNWARDEN_STATS", "/cw.sock");
  assert_int_equal(load(), 0);
  assert_string_equal(cfg.rundir, "/");
  env_set("CONNWARDEN_STATS", "cw.sock");
  assert_int_equal(load(), 0);
  assert_string_equal(cfg.rundir, ".");
  assert_string_equal(cfg.stats_path, "cw.sock");
  env_set("CONNWARDEN_STATS", "/a/b/c.sock");
  env_set("CONNWARDEN_RUNDIR", "/elsewhere");
  assert_int_equal(load(), 0);
  assert_string_equal(cfg.rundir, "/a/b");
  assert_string_equal(cfg.stats_path, "/a/b/c.sock");
}

static void test_stats_path_percent_p_is_the_pid(void **state) {
  env_set("CONNWARDEN_STATS", "/run/app-%p/stats-%p.sock");
  if (load() != 0)
    fail_msg("refused: %s", err);
  char want[256];
  snprintf(want, sizeof want, "/run/app-%d/stats-%d.sock", (int)getpid(), (int)getpid());
  assert_string_equal(cfg.stats_path, want);
  snprintf(want, sizeof want, "/run/app-%d", (int)getpid());
  assert_string_equal(cfg.rundir, want);
  assert_string_equal(cfg.stats_spec, "/run/app-%p/stats-%p.sock");
  /* a fork child: its own PID, nothing appended */
  cfg.stats_first = 0;
  assert_int_equal(cw_statspath_build(&cfg, 4242), 0);
  assert_string_equal(cfg.stats_path, "/run/app-4242/stats-4242.sock");
  assert_string_equal(cfg.rundir, "/run/app-4242");
  char mark[256];
  assert_int_equal(cw_statspath_mark(&cfg, 4242, mark, sizeof mark), 0); /* nothing to mark */
}

/* Without %p, the process that reads the path first keeps it exactly; every descendant, forked
 * or exec'd, gets PATH.PID. The first one marks the environment so that exec'd ones know. */
static void test_stats_path_without_percent_p_is_the_first_process_s_alone(void **state) {
  env_set("CONNWARDEN_STATS", "/srv/app/stats.sock");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.stats_first, 1);
  assert_string_equal(cfg.stats_path, "/srv/app/stats.sock");
  char mark[256], want[256];
  assert_int_equal(cw_statspath_mark(&cfg, getpid(), mark, sizeof mark), 1);
  snprintf(want, sizeof want, "%d:/srv/app/stats.sock", (int)getpid());
  assert_string_equal(mark, want);

  /* a fork child */
  cfg.stats_first = 0;
  assert_int_equal(cw_statspath_build(&cfg, 4242), 0);
  assert_string_equal(cfg.stats_path, "/srv/app/stats.sock.4242");
  assert_string_equal(cfg.rundir, "/srv/app");
  assert_int_equal(cw_statspath_mark(&cfg, 4242, mark, sizeof mark), 0);

  /* the same process after exec: its own mark */
  env_set(CW_STATS_OWNER_VAR, want);
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.stats_first, 1);
  assert_string_equal(cfg.stats_path, "/srv/app/stats.sock");

  /* a descendant that execs: an ancestor's mark for this path */
  env_set(CW_STATS_OWNER_VAR, "1:/srv/app/stats.sock");
  assert_int_equal(load(), 0);
  assert_int_equal(cfg.stats_first, 0);
  snprintf(want, sizeof want, "/srv/app/stats.sock.%d", (int)getpid());
  assert_string_equal(cfg.stats_path, want);
  assert_int_equal(cw_statspath_mark(&cfg, getpid(), mark, sizeof mark), 0);

  /* a mark for another path, or not a mark at all: first for this path */
  static const char *const not_ours[] = {"1:/srv/app/other.sock", "1:/srv/app/stats.sock.1", "",
                                         ":/srv/app/stats.sock", "x1:/srv/app/stats.sock",
                                         "99999999999999999999:/srv/app/stats.sock",
                                         "1/srv/app/stats.sock"};
  for (size_t i = 0; i < CW_ARRAY_LEN(not_ours); i++) {
    env_set(CW_STATS_OWNER_VAR, not_ours[i]);
    assert_int_equal(load(), 0);
    if (!cfg.stats_first || strcmp(cfg.stats_path, "/srv/app/stats.sock") != 0)
      fail_msg("mark '%s' taken for an ancestor's: %s", not_ours[i], cfg.stats_path);
  }
  /* the default path is per PID already: nothing to mark */
  env_clear();
  assert_int_equal(load(), 0);
  assert_int_equal(cw_statspath_mark(&cfg, getpid(), mark, sizeof mark), 0);
}

static void test_stats_path_that_outgrows_a_unix_socket_is_kept_whole(void **state) {
  char spec[120];
  memset(spec, 'p', sizeof spec);
  spec[0] = '/';
  spec[99] = '\0';
  env_set("CONNWARDEN_STATS", spec);
  assert_int_equal(load(), 0);
  cfg.stats_first = 0;
  assert_int_equal(cw_statspath_build(&cfg, 1234567), 0); /* 99 + 8 = 107 bytes fit */
  assert_int_equal(strlen(cfg.stats_path), 107);
  assert_int_equal(cw_statspath_build(&cfg, 12345678), -ENAMETOOLONG);
  char want[160];
  snprintf(want, sizeof want, "%s.12345678", spec);
  assert_string_equal(cfg.stats_path, want); /* uncut, for the warning */

  /* at start-up, a path too long once %p is the PID is a configuration error */
  memcpy(spec + 99, "%p%p%p%p", 9);
  env_set("CONNWARDEN_STATS", spec); /* 107 bytes as written; each %p becomes the PID */
  char pid[16];
  if (99 + 4 * snprintf(pid, sizeof pid, "%d", (int)getpid()) < 108) {
    assert_int_equal(load(), 0); /* a PID under 100 */
    return;
  }
  assert_int_equal(load(), -EINVAL);
  assert_contains(err, "CONNWARDEN_STATS=");
  assert_contains(err, "%p is the PID");
}

static void test_rundir_comes_from_connwarden_rundir_first(void **state) {
  env_set("CONNWARDEN_RUNDIR", "/tmp/cw-rundir");
  env_set("XDG_RUNTIME_DIR", "/run/user/1000");
  assert_int_equal(load(), 0);
  assert_string_equal(cfg.rundir, "/tmp/cw-rundir");
  assert_stats_path_in(&cfg, "/tmp/cw-rundir");
  assert_int_equal(cfg.stats_explicit, 0);
}

static void test_rundir_falls_back_to_xdg_runtime_dir(void **state) {
  env_set("XDG_RUNTIME_DIR", "/run/user/1000");
  assert_int_equal(load(), 0);
  assert_string_equal(cfg.rundir, "/run/user/1000/connwarden");
  assert_stats_path_in(&cfg, "/run/user/1000/connwarden");
}

static void test_rundir_ignores_a_relative_xdg_runtime_dir(void **state) {
  env_set("XDG_RUNTIME_DIR", "run/user");
  assert_int_equal(load(), 0);
  assert_default_rundir(&cfg);
  env_set("XDG_RUNTIME_DIR", "");
  assert_int_equal(load(), 0);
  assert_default_rundir(&cfg);
}

static void test_rundir_without_variables_depends_on_the_user(void **state) {
  /* root: /run/connwarden; anyone else: /tmp/connwarden-UID */
  assert_int_equal(load(), 0);
  assert_default_rundir(&cfg);
  assert_stats_path_in(&cfg, cfg.rundir);
}

static void test_rundir_whose_socket_path_would_not_fit_is_refused(void **state) {
  char dir[150];
  memset(dir, 'd', sizeof dir);
  dir[0] = '/';
  dir[120] = '\0';
  env_set("CONNWARDEN_RUNDIR", dir);
  assert_int_equal(load(), -EINVAL);
  assert_contains(err, "CONNWARDEN_RUNDIR=");

  env_clear();
  env_set("XDG_RUNTIME_DIR", dir);
  assert_int_equal(load(), -EINVAL);
  assert_contains(err, "XDG_RUNTIME_DIR");
}

static void test_load_error_message_fits_a_short_buffer(void **state) {
  char small[24];
  memset(small, 'Z', sizeof small);
  env_set("CONNWARDEN_MAX_CONNS", "nope");
  assert_int_equal(cw_config_load(&cfg, fake_getenv, small, sizeof small), -EINVAL);
  assert_int_equal(strlen(small), sizeof small - 1);
}

/* ---- cw_config_set ---- */

static void test_set_changes_each_runtime_setting(void **state) {
  assert_int_equal(load(), 0);
  assert_int_equal(cw_config_set(&cfg, "max_conns", "5", err, sizeof err), 0);
  assert_int_equal(cw_cfg_get(&cfg.max_conns), 5);
  assert_int_equal(cw_config_set(&cfg, "max_conns_per_dest", "2", err, sizeof err), 0);
  assert_int_equal(cw_cfg_get(&cfg.max_conns_per_dest), 2);
  assert_int_equal(cw_config_set(&cfg, "idle_timeout", "30s", err, sizeof err), 0);
  assert_int_equal(cw_cfg_get(&cfg.idle_timeout_ms), 30000);
  assert_int_equal(cw_config_set(&cfg, "max_lifetime", "1.5h", err, sizeof err), 0);
  assert_int_equal(cw_cfg_get(&cfg.max_lifetime_ms), 5400000);
  assert_int_equal(cw_config_set(&cfg, "evict_idle", "250ms", err, sizeof err), 0);
  assert_int_equal(cw_cfg_get(&cfg.evict_idle_ms), 250);
  assert_int_equal(cw_config_set(&cfg, "idle_timeout", "off", err, sizeof err), 0);
  assert_int_equal(cw_cfg_get(&cfg.idle_timeout_ms), 0);
  assert_int_equal(cw_config_set(&cfg, "max_conns", "0", err, sizeof err), 0);
  assert_int_equal(cw_cfg_get(&cfg.max_conns), 0);
}

static void test_set_refuses_unknown_names_and_leaves_config_alone(void **state) {
  assert_int_equal(load(), 0);
  assert_int_equal(cw_config_set(&cfg, "max_lifetime", "1m", err, sizeof err), 0);
  static const char *const names[] = {"queue_timeout", "MAX_CONNS", "max_conns ", "", "on_cap",
                                      "cap_errno"};
  for (size_t i = 0; i < CW_ARRAY_LEN(names); i++) {
    err[0] = '\0';
    assert_int_equal(cw_config_set(&cfg, names[i], "1", err, sizeof err), -EINVAL);
    assert_contains(err, "unknown setting");
    assert_contains(err, "max_conns, max_conns_per_dest, idle_timeout, max_lifetime, evict_idle");
  }
  assert_int_equal(cfg.max_conns, 0);
  assert_int_equal(cfg.max_conns_per_dest, 0);
  assert_int_equal(cfg.idle_timeout_ms, 0);
  assert_int_equal(cfg.max_lifetime_ms, 60000);
  assert_int_equal(cfg.queue_timeout_ms, 10000);
  assert_int_equal(cfg.cap_errno, ECONNREFUSED);
}

static void test_set_refuses_bad_values_and_keeps_the_old_one(void **state) {
  assert_int_equal(load(), 0);
  assert_int_equal(cw_config_set(&cfg, "max_conns", "7", err, sizeof err), 0);
  assert_int_equal(cw_config_set(&cfg, "idle_timeout", "9s", err, sizeof err), 0);
  static const struct {
    const char *name, *value;
  } cases[] = {{"max_conns", "-1"},          {"max_conns", "10s"},
               {"max_conns", "1000000001"},  {"max_conns", ""},
               {"max_conns_per_dest", "x"},  {"idle_timeout", "5x"},
               {"idle_timeout", "-1"},       {"max_lifetime", "1.2.3"},
               {"max_lifetime", "9000h"},    {"evict_idle", "1e3"}};
  for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
    err[0] = '\0';
    int rc = cw_config_set(&cfg, cases[i].name, cases[i].value, err, sizeof err);
    if (rc != -EINVAL)
      fail_msg("set %s '%s' accepted", cases[i].name, cases[i].value);
    char quoted[96];
    snprintf(quoted, sizeof quoted, "'%s'", cases[i].value);
    assert_contains(err, quoted);
    assert_contains(err, cases[i].name);
    assert_contains(err, "expected");
  }
  assert_int_equal(cw_cfg_get(&cfg.max_conns), 7);
  assert_int_equal(cw_cfg_get(&cfg.max_conns_per_dest), 0);
  assert_int_equal(cw_cfg_get(&cfg.idle_timeout_ms), 9000);
  assert_int_equal(cw_cfg_get(&cfg.max_lifetime_ms), 0);
  assert_int_equal(cw_cfg_get(&cfg.evict_idle_ms), 0);
}

/* ---- CONNWARDEN_* names ---- */

static int check_names(const char *const *envp) {
  memset(err, 0, sizeof err);
  return cw_vars_check((char *const *)envp, err, sizeof err);
}

static void test_unknown_variable_is_refused_naming_the_closest_known_one(void **state) {
  const char *envp[] = {"PATH=/bin", "CONNWARDEN_MAX_CONNS=5", "CONNWARDEN_MAXCONNS=5", NULL};
  assert_int_equal(check_names(envp), -EINVAL);
  assert_string_equal(err, "connwarden: CONNWARDEN_MAXCONNS is not a variable connwarden knows: "
                           "did you mean CONNWARDEN_MAX_CONNS?");
  static const struct {
    const char *typo, *meant;
  } typos[] = {
      {"CONNWARDEN_IDLE_TIMOUT", "CONNWARDEN_IDLE_TIMEOUT"},
      {"CONNWARDEN_max_conns", "CONNWARDEN_MAX_CONNS"},
      {"CONNWARDEN_STAT", "CONNWARDEN_STATS"},
      {"CONNWARDEN_LOGS", "CONNWARDEN_LOG"},
      {"CONNWARDEN_LEAKCHECK", "CONNWARDEN_LEAK_CHECK"},
      {"CONNWARDEN_BACKTRAEC", "CONNWARDEN_BACKTRACE"},
      {"CONNWARDEN_EVICTIDLE", "CONNWARDEN_EVICT_IDLE"},
      {"CONNWARDEN_REPORT_FMT", "CONNWARDEN_REPORT_FORMAT"},
      {"CONNWARDEN_MAX_CONNS_PER_DESTINATION", "CONNWARDEN_MAX_CONNS_PER_DEST"},
      {"CONNWARDEN_MAX_LIFE_TIME", "CONNWARDEN_MAX_LIFETIME"},
      {"CONNWARDEN_RUN_DIR", "CONNWARDEN_RUNDIR"},
      {"CONNWARDEN_CAPSCOPE", "CONNWARDEN_CAP_SCOPE"},
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(typos); i++) {
    char entry[128], want[160];
    snprintf(entry, sizeof entry, "%s=1", typos[i].typo);
    const char *one[] = {entry, NULL};
    assert_int_equal(check_names(one), -EINVAL);
    snprintf(want, sizeof want, "did you mean %s?", typos[i].meant);
    assert_contains(err, typos[i].typo);
    if (!strstr(err, want))
      fail_msg("%s: '%s' does not suggest %s", typos[i].typo, err, typos[i].meant);
    assert_null(strchr(err, '\n'));
  }
}

static void test_unknown_variable_far_from_every_known_one_gets_no_suggestion(void **state) {
  static const char *const far[] = {"CONNWARDEN_FOO=1", "CONNWARDEN_=1", "CONNWARDEN_TIMEOUT=5s",
                                    "CONNWARDEN_ENABLE=1", "CONNWARDEN_STATS_OWNR=1:/x",
                                    "CONNWARDEN_IDLE=5s", "CONNWARDEN_X"};
  for (size_t i = 0; i < CW_ARRAY_LEN(far); i++) {
    const char *one[] = {far[i], NULL};
    assert_int_equal(check_names(one), -EINVAL);
    assert_contains(err, "is not a variable connwarden knows");
    if (strstr(err, "did you mean"))
      fail_msg("%s: '%s'", far[i], err);
  }
  /* a name far longer than any known one is named (cut short) and compared by its start */
  char longname[400];
  memset(longname, 'A', sizeof longname);
  memcpy(longname, "CONNWARDEN_", 11);
  longname[sizeof longname - 1] = '\0';
  const char *one[] = {longname, NULL};
  assert_int_equal(check_names(one), -EINVAL);
  assert_contains(err, "CONNWARDEN_AAAA");
  assert_true(strlen(err) < 300);
}

static void test_known_variables_and_other_names_pass(void **state) {
  const char *envp[] = {"CONNWARDEN_MAX_CONNS=5", "CONNWARDEN_LIB=/x.so", "CONNWARDEN_ADDR2LINE=off",
                        "CONNWARDEN_EVICT_IDLE=2s", CW_STATS_OWNER_VAR "=1:/x.sock",
                        "connwarden_max_conns=1", "XCONNWARDEN_FOO=1", "CONNWARDENFOO=1",
                        "HOME=/root", "=", "", NULL};
  if (check_names(envp) != 0)
    fail_msg("refused: %s", err);
  assert_int_equal(cw_vars_check(NULL, err, sizeof err), 0);
  assert_null(cw_vars_closest("CONNWARDEN_STATS_OWNR", 21)); /* the library's mark is never offered */
}

/* CONNWARDEN_DEST_BY: name by default, address on request; anything else stops start-up. */
static void test_dest_by_is_name_by_default_or_address(void **state) {
  const char *ok[] = {"CONNWARDEN_DEST_BY=address", "CONNWARDEN_DEST_BY=name", NULL};
  if (check_names(ok) != 0)
    fail_msg("refused: %s", err);
  static const struct {
    const char *value;
    enum cw_dest_by by;
  } cases[] = {{NULL, CW_DEST_BY_NAME}, {"address", CW_DEST_BY_ADDRESS}, {"name", CW_DEST_BY_NAME}};
  for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
    if (cases[i].value)
      env_set("CONNWARDEN_DEST_BY", cases[i].value);
    assert_int_equal(load(), 0);
    assert_int_equal(cfg.dest_by, cases[i].by);
  }
  env_set("CONNWARDEN_DEST_BY", "Address");
  assert_int_equal(load(), -EINVAL);
  assert_contains(err, "CONNWARDEN_DEST_BY=\"Address\"");
  assert_contains(err, "name or address");
}

/* NAME:PORT matches a connection named so (at that port); *.DOMAIN any name under the domain;
 * neither matches a connection with no name, nor an address. Names compare in lowercase. */
static void test_filters_match_names_and_domains(void **state) {
  struct cw_filter f[CW_MAX_FILTERS];
  struct cw_addr p = v4("10.1.2.3", 443);
  int n = filters_ok("API.Example.com:443,*.internal.", f);
  assert_int_equal(n, 2);
  assert_int_equal(f[0].kind, CW_F_NAMEPORT);
  assert_string_equal(f[0].name, "api.example.com");
  assert_int_equal(f[1].kind, CW_F_DOMAIN);
  assert_string_equal(f[1].name, "internal");
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p, "api.example.com", 443));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &p, "api.example.com", 80));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &p, "example.com", 443));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &p, NULL, 0));
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p, "db.internal", 5432));
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p, "a.b.internal", 1));
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &p, "internal", 5432)); /* under it, not it */
  assert_false(cw_filters_match(f, n, CW_DIR_OUT, &p, "xinternal", 5432));
  n = filters_ok("db:5432", f); /* a single label (a container's name) is a name too */
  assert_true(cw_filters_match(f, n, CW_DIR_OUT, &p, "db", 5432));
}

/* Every CONNWARDEN_* variable cw_config_load asks for is one the check knows. */
static const char *asked[64];
static int nasked;
static const char *recording_getenv(const char *name) {
  if (nasked < (int)CW_ARRAY_LEN(asked))
    asked[nasked++] = name;
  return fake_getenv(name);
}

static void test_every_variable_the_configuration_reads_is_known(void **state) {
  nasked = 0;
  env_set("CONNWARDEN_STATS", "/srv/app.sock"); /* the path's branch asks for the mark too */
  assert_int_equal(cw_config_load(&cfg, recording_getenv, err, sizeof err), 0);
  int ours = 0;
  for (int i = 0; i < nasked; i++) {
    if (strncmp(asked[i], "CONNWARDEN_", 11) != 0)
      continue;
    ours++;
    if (!cw_vars_known(asked[i]))
      fail_msg("cw_config_load reads %s, which the name check refuses", asked[i]);
  }
  assert_true(ours >= 20);
}

#define T(f) cmocka_unit_test_setup(f, reset_env)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_duration_accepts_units_and_fractions),
      T(test_duration_off_and_zero_mean_disabled),
      T(test_duration_accepts_a_year_and_refuses_more),
      T(test_duration_refuses_malformed_values),
      T(test_count_accepts_zero_to_a_billion),
      T(test_count_refuses_signs_blanks_fractions_and_overflow),
      T(test_errno_name_maps_failure_errnos),
      T(test_errno_name_refuses_unknown_and_lower_case),
      T(test_filters_parse_each_kind),
      T(test_filters_accept_ipv6_cidr_starting_with_double_colon),
      T(test_filters_lists_allow_spaces_around_items),
      T(test_filters_bare_address_is_one_host),
      T(test_filters_all_matches_both_directions),
      T(test_filters_refuse_hostnames_bad_ports_and_prefixes),
      T(test_filters_refuse_more_items_than_room),
      T(test_filters_match_direction_port_hostport_and_cidr),
      T(test_filters_cidr_matches_by_prefix_and_family),
      T(test_filters_match_any_item_of_a_list_and_none_of_an_empty_one),
      T(test_load_with_nothing_set_gives_the_documented_defaults),
      T(test_load_reads_every_variable),
      T(test_load_applies_the_policy_to_outbound_connections_by_default),
      T(test_load_accepts_each_log_level_and_on_cap_queue),
      T(test_load_refuses_each_bad_variable_naming_it_and_its_value),
      T(test_load_name_takes_64_bytes_and_refuses_control_characters),
      T(test_load_refuses_cap_errnos_that_event_loops_read_as_in_progress),
      T(test_load_refuses_a_stats_path_too_long_for_a_unix_socket),
      T(test_load_stats_off_turns_the_socket_off),
      T(test_load_abandon_after_off_turns_the_check_off),
      T(test_load_stats_path_sets_the_directory_to_create),
      T(test_stats_path_percent_p_is_the_pid),
      T(test_stats_path_without_percent_p_is_the_first_process_s_alone),
      T(test_stats_path_that_outgrows_a_unix_socket_is_kept_whole),
      T(test_rundir_comes_from_connwarden_rundir_first),
      T(test_rundir_falls_back_to_xdg_runtime_dir),
      T(test_rundir_ignores_a_relative_xdg_runtime_dir),
      T(test_rundir_without_variables_depends_on_the_user),
      T(test_rundir_whose_socket_path_would_not_fit_is_refused),
      T(test_load_error_message_fits_a_short_buffer),
      T(test_set_changes_each_runtime_setting),
      T(test_set_refuses_unknown_names_and_leaves_config_alone),
      T(test_set_refuses_bad_values_and_keeps_the_old_one),
      T(test_unknown_variable_is_refused_naming_the_closest_known_one),
      T(test_unknown_variable_far_from_every_known_one_gets_no_suggestion),
      T(test_known_variables_and_other_names_pass),
      T(test_dest_by_is_name_by_default_or_address),
      T(test_filters_match_names_and_domains),
      T(test_every_variable_the_configuration_reads_is_known),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
