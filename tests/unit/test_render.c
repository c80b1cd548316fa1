/* test_render.c - renderers on a snapshot built by hand: stats, conns and config must be valid
 * JSON with DESIGN.md's exact key names and the snapshot's values (checked through jansson),
 * metrics must be Prometheus text 0.0.4 with every documented metric, and the leak report must
 * have LeakSanitizer's shape. Also JSON string escaping and the human units.
 * objects: render.o addr.o backtrace.o python.o table.o mem.o config.o statspath.o log.o sniff.o names.o
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "support.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "python.h"
#include "render.h"

/* ---- a snapshot built by hand ---- */

static struct cw_snapshot snap; /* holds a struct cw_config: kept off the stack */
static struct cw_conn_view views[8];
static struct cw_dest_view dviews[4];

/* Every counter a distinct value, so a field rendered under another's name is caught. */
static int build_snapshot(void **state) {
  memset(&snap, 0, sizeof snap);
  memset(views, 0, sizeof views);
  memset(dviews, 0, sizeof dviews);
  snap.pid = 4242;
  snprintf(snap.name, sizeof snap.name, "python3 -m uvicorn");
  snap.uptime_s = 12.5;
  struct cw_counters *k = &snap.c;
  k->active[CW_DIR_IN] = 1;
  k->active[CW_DIR_OUT] = 5;
  k->peak[CW_DIR_IN] = 2;
  k->peak[CW_DIR_OUT] = 7;
  k->peak_total = 8;
  k->opened[CW_DIR_IN] = 3;
  k->opened[CW_DIR_OUT] = 9;
  k->closed[CW_DIR_IN] = 2;
  k->closed[CW_DIR_OUT] = 4;
  k->refused = 11;
  k->waited = 12;
  k->wait_ms = 1500;
  k->queued = 13;
  k->reaped[0] = 14;
  k->reaped[1] = 15;
  k->reaped[2] = 16;
  k->released = 17;
  k->close_wait_leaks = 18;
  k->close_wait_now = 23;
  k->abandoned = 24;
  k->abandoned_now = 25;
  k->inherited = 19;
  k->missed_closes = 20;
  k->untracked = 21;
  k->log_dropped = 22;
  k->bytes_in_closed = 99; /* the rendered bytes are the snapshot's totals, below */
  k->hist[0] = 1;
  k->hist[3] = 2;
  k->hist[6] = 4;
  k->hist[CW_HIST_BUCKETS] = 3;
  k->hist_sum_s = 7230.25;
  snap.bytes_in = 1200;
  snap.bytes_out = 5000;
  snap.cfg.max_conns = 50;
  snap.cfg.max_conns_per_dest = 6;
  snap.cfg.idle_timeout_ms = 30000;
  snap.cfg.max_lifetime_ms = 600000;
  snap.cfg.evict_idle_ms = 1500;
  snap.cfg.on_cap = CW_ON_CAP_REFUSE;
  snap.cfg.queue_timeout_ms = 2000;
  snap.cfg.cap_errno = ETIMEDOUT;
  snap.cfg.reap_grace_ms = 250;
  snap.cfg.abandon_after_ms = 45000;
  snprintf(snap.cfg.only_text, sizeof snap.cfg.only_text, "out, :443");
  snprintf(snap.cfg.exclude_text, sizeof snap.cfg.exclude_text, "10.0.0.0/8");
  snprintf(snap.cfg.stats_path, sizeof snap.cfg.stats_path, "/run/connwarden/4242.sock");
  snap.cfg.leak_check = 1;
  snap.cfg.leak_exitcode = 23;
  snap.cfg.backtrace = 0;
  snap.cfg.log_level = 4;

  views[0] = (struct cw_conn_view){.fd = 7,
                                   .dir = CW_DIR_OUT,
                                   .local = v4("127.0.0.1", 40112),
                                   .peer = v4("127.0.0.1", 8000),
                                   .state = "ESTABLISHED",
                                   .age_ms = 5012,
                                   .idle_ms = 4990,
                                   .bytes_in = 0,
                                   .bytes_out = 1000,
                                   .calls_in = 0,
                                   .calls_out = 1};
  views[1] = (struct cw_conn_view){.fd = 9,
                                   .dir = CW_DIR_IN,
                                   .local = v6("::1", 8000),
                                   .peer = v6("::1", 51000),
                                   .state = "CLOSE_WAIT",
                                   .age_ms = 61000,
                                   .idle_ms = 3,
                                   .bytes_in = 4198,
                                   .bytes_out = 77,
                                   .calls_in = 5,
                                   .calls_out = 6,
                                   .peer_closed = 1,
                                   .abandoned = CW_AB_UNREAD};
  views[2] = (struct cw_conn_view){.fd = 3,
                                   .dir = CW_DIR_OUT,
                                   .inherited = 1,
                                   .local = v4("10.0.0.2", 33000),
                                   .peer = v6("2001:db8::7", 443),
                                   .state = "ESTABLISHED",
                                   .age_ms = 100,
                                   .idle_ms = 100};
  snap.conns = views;
  snap.nconns = 3;
  dviews[0] = (struct cw_dest_view){.peer = v4("127.0.0.1", 8000), .active = 5, .opened = 9, .refused = 2, .reaped = 1};
  cw_dkey_make(&dviews[0].key, &dviews[0].peer, "api.example.com", 8000); /* by name */
  dviews[1] = (struct cw_dest_view){.peer = v6("::1", 8000), .active = 0, .opened = 3, .refused = 0, .reaped = 0};
  cw_dkey_make(&dviews[1].key, &dviews[1].peer, NULL, 0); /* no name known: its address */
  snap.dests = dviews;
  snap.ndests = 2;
  return 0;
}

/* ---- JSON helpers ---- */

static json_t *parse_json(const struct cw_buf *b) {
  assert_false(b->failed);
  assert_non_null(b->p);
  json_error_t e;
  json_t *j = json_loadb(b->p, b->len, 0, &e);
  if (!j) {
    char shown[1024]; /* the document, with bytes a terminal may choke on shown as '?' */
    size_t n = b->len < sizeof shown - 1 ? b->len : sizeof shown - 1;
    for (size_t i = 0; i < n; i++)
      shown[i] = b->p[i] >= 0x20 && b->p[i] < 0x7f ? b->p[i] : '?';
    shown[n] = '\0';
    fail_msg("invalid JSON (%s at line %d col %d): %s", e.text, e.line, e.column, shown);
  }
  return j;
}

static json_t *member(json_t *obj, const char *key) {
  assert_true(json_is_object(obj));
  json_t *v = json_object_get(obj, key);
  if (!v)
    fail_msg("key \"%s\" missing", key);
  return v;
}

static void assert_int_member(json_t *obj, const char *key, long long want) {
  json_t *v = member(obj, key);
  if (!json_is_integer(v))
    fail_msg("\"%s\" is not an integer", key);
  if (json_integer_value(v) != want)
    fail_msg("\"%s\" is %lld, want %lld", key, (long long)json_integer_value(v), want);
}

static void assert_str_member(json_t *obj, const char *key, const char *want) {
  json_t *v = member(obj, key);
  if (!json_is_string(v))
    fail_msg("\"%s\" is not a string", key);
  if (strcmp(json_string_value(v), want) != 0)
    fail_msg("\"%s\" is \"%s\", want \"%s\"", key, json_string_value(v), want);
}

static void assert_dirs(json_t *obj, const char *key, long long in, long long out) {
  json_t *d = member(obj, key);
  assert_int_member(d, "in", in);
  assert_int_member(d, "out", out);
}

/* ---- stats, conns, config ---- */

static void test_stats_is_json_with_the_documented_keys_and_values(void **state) {
  struct cw_buf b = {0};
  cw_render_stats(&b, &snap);
  json_t *j = parse_json(&b);
  assert_str_member(j, "version", "0.1.0");
  assert_int_member(j, "pid", 4242);
  json_t *up = member(j, "uptime_s");
  assert_true(json_is_number(up));
  assert_true(fabs(json_number_value(up) - 12.5) < 1e-9);
  assert_dirs(j, "active", 1, 5);
  assert_int_member(member(j, "active"), "total", 6);
  assert_dirs(j, "peak", 2, 7);
  assert_int_member(member(j, "peak"), "total", 8); /* the peak of the total, not a sum of peaks */
  assert_dirs(j, "opened", 3, 9);
  assert_dirs(j, "closed", 2, 4);
  assert_int_member(j, "refused", 11);
  assert_int_member(j, "waited", 12);
  assert_int_member(j, "wait_ms", 1500);
  assert_int_member(j, "queued", 13);
  json_t *reaped = member(j, "reaped");
  assert_int_member(reaped, "idle", 14);
  assert_int_member(reaped, "lifetime", 15);
  assert_int_member(reaped, "manual", 16);
  assert_int_member(j, "released", 17);
  assert_int_member(j, "close_wait_leaks", 18);
  assert_int_member(j, "close_wait_now", 23);
  assert_int_member(j, "abandoned", 24);
  assert_int_member(j, "abandoned_now", 25);
  assert_int_member(j, "log_dropped", 22);
  assert_str_member(j, "name", "python3 -m uvicorn");
  assert_dirs(j, "bytes", 1200, 5000);
  json_t *cfg = member(j, "config");
  assert_int_member(cfg, "max_conns", 50);
  assert_int_member(cfg, "max_conns_per_dest", 6);
  assert_int_member(cfg, "idle_timeout_ms", 30000);
  assert_int_member(cfg, "max_lifetime_ms", 600000);
  assert_int_member(cfg, "evict_idle_ms", 1500);

  json_t *dests = member(j, "destinations");
  assert_true(json_is_array(dests));
  assert_int_equal(json_array_size(dests), 2);
  json_t *d0 = json_array_get(dests, 0);
  assert_str_member(d0, "dest", "api.example.com:8000");
  assert_str_member(d0, "peer", "127.0.0.1:8000");
  assert_int_member(d0, "active", 5);
  assert_int_member(d0, "opened", 9);
  assert_int_member(d0, "refused", 2);
  assert_int_member(d0, "reaped", 1);
  json_t *d1 = json_array_get(dests, 1);
  assert_str_member(d1, "dest", "[::1]:8000");
  assert_str_member(d1, "peer", "[::1]:8000");
  assert_int_member(d1, "opened", 3);
  json_decref(j);
  cw_buf_free(&b);
}

static void test_stats_with_nothing_tracked_is_still_valid_json(void **state) {
  struct cw_snapshot *empty = calloc(1, sizeof *empty);
  assert_non_null(empty);
  empty->pid = 1;
  struct cw_buf b = {0};
  cw_render_stats(&b, empty);
  json_t *j = parse_json(&b);
  assert_int_equal(json_array_size(member(j, "destinations")), 0);
  assert_true(json_is_array(member(j, "destinations")));
  assert_int_member(member(j, "active"), "total", 0);
  json_decref(j);
  cw_buf_free(&b);

  cw_render_conns(&b, empty);
  j = parse_json(&b);
  assert_true(json_is_array(j));
  assert_int_equal(json_array_size(j), 0);
  json_decref(j);
  cw_buf_free(&b);
  free(empty);
}

static void test_conns_is_a_json_array_with_the_documented_keys(void **state) {
  struct cw_buf b = {0};
  cw_render_conns(&b, &snap);
  json_t *j = parse_json(&b);
  assert_true(json_is_array(j));
  assert_int_equal(json_array_size(j), 3);

  json_t *c = json_array_get(j, 0);
  assert_int_member(c, "fd", 7);
  assert_str_member(c, "dir", "out");
  assert_str_member(c, "local", "127.0.0.1:40112");
  assert_str_member(c, "peer", "127.0.0.1:8000");
  assert_str_member(c, "state", "ESTABLISHED");
  assert_str_member(c, "tcp_state", "ESTABLISHED");
  assert_int_member(c, "age_ms", 5012);
  assert_int_member(c, "idle_ms", 4990);
  assert_int_member(c, "bytes_in", 0);
  assert_int_member(c, "bytes_out", 1000);
  assert_int_member(c, "calls_in", 0);
  assert_int_member(c, "calls_out", 1);
  assert_true(json_is_false(member(c, "peer_closed")));

  c = json_array_get(j, 1);
  assert_int_member(c, "fd", 9);
  assert_str_member(c, "dir", "in");
  assert_str_member(c, "local", "[::1]:8000");
  assert_str_member(c, "peer", "[::1]:51000");
  assert_str_member(c, "state", "ABANDONED"); /* abandoned now: the kernel's state beside it */
  assert_str_member(c, "tcp_state", "CLOSE_WAIT");
  assert_int_member(c, "age_ms", 61000);
  assert_int_member(c, "idle_ms", 3);
  assert_int_member(c, "bytes_in", 4198);
  assert_int_member(c, "bytes_out", 77);
  assert_int_member(c, "calls_in", 5);
  assert_int_member(c, "calls_out", 6);
  assert_true(json_is_true(member(c, "peer_closed")));

  c = json_array_get(j, 2);
  assert_str_member(c, "local", "10.0.0.2:33000");
  assert_str_member(c, "peer", "[2001:db8::7]:443");
  json_decref(j);
  cw_buf_free(&b);
}

static void test_conns_of_many_connections_grows_the_buffer_and_stays_valid(void **state) {
  enum { N = 400 };
  struct cw_conn_view *many = calloc(N, sizeof *many);
  assert_non_null(many);
  for (int i = 0; i < N; i++) {
    many[i] = views[i % 2];
    many[i].fd = 100 + i;
    many[i].bytes_out = (uint64_t)i * 1000000007ull;
  }
  struct cw_conn_view *saved = snap.conns;
  int saved_n = snap.nconns;
  snap.conns = many;
  snap.nconns = N;
  struct cw_buf b = {0};
  cw_render_conns(&b, &snap);
  snap.conns = saved;
  snap.nconns = saved_n;
  assert_true(b.len > 4096 * 8);
  json_t *j = parse_json(&b);
  assert_int_equal(json_array_size(j), N);
  for (int i = 0; i < N; i++) {
    json_t *c = json_array_get(j, (size_t)i);
    assert_int_member(c, "fd", 100 + i);
    assert_int_member(c, "bytes_out", (long long)i * 1000000007ll);
  }
  json_decref(j);
  cw_buf_free(&b);
  free(many);
}

static void test_config_is_json_of_the_effective_configuration(void **state) {
  struct cw_buf b = {0};
  cw_render_config(&b, &snap);
  json_t *j = parse_json(&b);
  assert_int_member(j, "max_conns", 50);
  assert_int_member(j, "max_conns_per_dest", 6);
  assert_int_member(j, "idle_timeout_ms", 30000);
  assert_int_member(j, "max_lifetime_ms", 600000);
  assert_int_member(j, "evict_idle_ms", 1500);
  assert_str_member(j, "on_cap", "refuse");
  assert_int_member(j, "queue_timeout_ms", 2000);
  assert_str_member(j, "cap_errno", "ETIMEDOUT");
  assert_int_member(j, "reap_grace_ms", 250);
  assert_int_member(j, "abandon_after_ms", 45000);
  assert_str_member(j, "only", "out, :443");
  assert_str_member(j, "exclude", "10.0.0.0/8");
  assert_str_member(j, "stats", "/run/connwarden/4242.sock");
  assert_int_member(j, "leak_check", 1);
  assert_int_member(j, "leak_exitcode", 23);
  assert_str_member(j, "report", "stderr");
  assert_int_member(j, "backtrace", 0);
  assert_str_member(j, "log", "debug");
  assert_str_member(j, "name", "python3 -m uvicorn");
  json_decref(j);
  cw_buf_free(&b);

  snap.cfg.on_cap = CW_ON_CAP_QUEUE;
  snap.cfg.cap_errno = ECONNREFUSED;
  snap.cfg.stats_off = 1;
  snprintf(snap.cfg.report_dir, sizeof snap.cfg.report_dir, "/var/log/cw");
  snap.cfg.log_level = 0;
  cw_render_config(&b, &snap);
  j = parse_json(&b);
  assert_str_member(j, "on_cap", "queue");
  assert_str_member(j, "cap_errno", "ECONNREFUSED");
  assert_str_member(j, "stats", "off");
  assert_str_member(j, "report", "/var/log/cw");
  assert_str_member(j, "log", "off");
  json_decref(j);
  cw_buf_free(&b);
}

static void test_config_with_odd_characters_in_paths_is_valid_json(void **state) {
  static const char path[] = "/tmp/we\"ird\\dir\n\t\x01/x.sock";
  snprintf(snap.cfg.stats_path, sizeof snap.cfg.stats_path, "%s", path);
  snprintf(snap.cfg.report_dir, sizeof snap.cfg.report_dir, "C:\\reports\r\x1f");
  struct cw_buf b = {0};
  cw_render_config(&b, &snap);
  json_t *j = parse_json(&b);
  assert_str_member(j, "stats", path);
  assert_str_member(j, "report", "C:\\reports\r\x1f");
  json_decref(j);
  cw_buf_free(&b);
}

/* Paths come from the environment, which holds bytes, not text: a Latin-1 directory name must
 * not make the whole `config` reply unparsable. */
static void test_config_with_a_non_utf8_path_is_valid_json(void **state) {
  snprintf(snap.cfg.report_dir, sizeof snap.cfg.report_dir, "/srv/r\xe9sum\xe9/\xff");
  struct cw_buf b = {0};
  cw_render_config(&b, &snap);
  json_t *j = parse_json(&b);
  assert_true(json_is_string(member(j, "report")));
  json_decref(j);
  cw_buf_free(&b);
}

/* ---- JSON strings ---- */

static char *json_str_of(const char *s) {
  struct cw_buf b = {0};
  cw_buf_json_str(&b, s);
  assert_false(b.failed);
  assert_non_null(b.p);
  char *out = strdup(b.p);
  cw_buf_free(&b);
  return out;
}

static void test_json_str_escapes_quotes_backslashes_and_control_chars(void **state) {
  char *out = json_str_of("a\"b\\c\nd\te\rf\x01g\x1fh\x7fi");
  assert_string_equal(out, "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u001fh\\u007fi\"");
  free(out);
  out = json_str_of("");
  assert_string_equal(out, "\"\"");
  free(out);
  out = json_str_of("plain /path:8000");
  assert_string_equal(out, "\"plain /path:8000\"");
  free(out);
}

static void test_json_str_round_trips_through_a_json_parser(void **state) {
  static const char *const inputs[] = {
      "quote\" backslash\\ slash/", "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x1b\x1f",
      "tab\tnl\ncr\r", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x8c", "\\u0041 is not an escape here",
  };
  for (size_t i = 0; i < CW_ARRAY_LEN(inputs); i++) {
    char *out = json_str_of(inputs[i]);
    json_error_t e;
    json_t *j = json_loads(out, JSON_DECODE_ANY, &e);
    if (!j)
      fail_msg("input %zu rendered as invalid JSON %s: %s", i, out, e.text);
    assert_true(json_is_string(j));
    assert_string_equal(json_string_value(j), inputs[i]);
    json_decref(j);
    free(out);
  }
}

static void test_buf_printf_appends_past_the_first_allocation(void **state) {
  struct cw_buf b = {0};
  for (int i = 0; i < 3000; i++)
    cw_buf_printf(&b, "%04d,", i);
  assert_false(b.failed);
  assert_int_equal(b.len, 3000 * 5);
  assert_int_equal(strlen(b.p), b.len);
  assert_memory_equal(b.p, "0000,0001,", 10);
  assert_memory_equal(b.p + b.len - 5, "2999,", 5);
  cw_buf_free(&b);
  assert_null(b.p);
  assert_int_equal(b.len, 0);
}

/* ---- metrics ---- */

struct sample {
  char key[160]; /* name{labels} as rendered */
  double value;
};

struct exposition {
  struct sample s[128];
  int n;
  char families[64][96]; /* in order of their TYPE lines */
  char types[64][16];
  int nfam;
};

static int family_index(const struct exposition *x, const char *name) {
  for (int i = 0; i < x->nfam; i++)
    if (strcmp(x->families[i], name) == 0)
      return i;
  return -1;
}

/* The family a sample belongs to: its name, or for a histogram its name less the suffix. */
static int family_of_sample(const struct exposition *x, const char *name) {
  int i = family_index(x, name);
  if (i >= 0)
    return i;
  static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
  for (size_t s = 0; s < CW_ARRAY_LEN(suffixes); s++) {
    size_t nl = strlen(name), sl = strlen(suffixes[s]);
    if (nl > sl && strcmp(name + nl - sl, suffixes[s]) == 0) {
      char base[96];
      snprintf(base, sizeof base, "%.*s", (int)(nl - sl), name);
      i = family_index(x, base);
      if (i >= 0 && strcmp(x->types[i], "histogram") == 0)
        return i;
    }
  }
  return -1;
}

/* Check the text line by line against the 0.0.4 grammar and collect the samples. */
static void parse_exposition(const char *text, size_t len, struct exposition *x) {
  regex_t help, type, sample;
  assert_int_equal(regcomp(&help, "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) ([^\\\\]|\\\\[\\\\n])+$", REG_EXTENDED), 0);
  assert_int_equal(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$",
                           REG_EXTENDED), 0);
  assert_int_equal(regcomp(&sample,
                           "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                           "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\[\\\\\"n])*\""
                           "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\[\\\\\"n])*\")*\\})? "
                           "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|-Inf|NaN)$",
                           REG_EXTENDED), 0);
  memset(x, 0, sizeof *x);
  assert_true(len > 0);
  assert_int_equal(text[len - 1], '\n'); /* the last line ends too */
  char helped[64][96];
  int nhelped = 0, current = -1;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    assert_non_null(nl);
    char line[512];
    assert_true((size_t)(nl - p) < sizeof line);
    memcpy(line, p, (size_t)(nl - p));
    line[nl - p] = '\0';
    p = nl + 1;
    regmatch_t m[8];
    if (regexec(&help, line, 8, m, 0) == 0) {
      char name[96];
      snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
      for (int i = 0; i < nhelped; i++)
        if (strcmp(helped[i], name) == 0)
          fail_msg("second HELP for %s", name);
      assert_true(nhelped < 64);
      snprintf(helped[nhelped++], sizeof helped[0], "%s", name);
    } else if (regexec(&type, line, 8, m, 0) == 0) {
      char name[96];
      snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
      if (family_index(x, name) >= 0)
        fail_msg("second TYPE for %s", name);
      assert_true(x->nfam < 64);
      snprintf(x->families[x->nfam], sizeof x->families[0], "%s", name);
      snprintf(x->types[x->nfam], sizeof x->types[0], "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
               line + m[2].rm_so);
      current = x->nfam++;
    } else if (regexec(&sample, line, 8, m, 0) == 0) {
      char name[96];
      snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
      int fam = family_of_sample(x, name);
      if (fam < 0)
        fail_msg("sample before its TYPE line: %s", line);
      if (fam != current) /* a family's samples form one group, after its TYPE */
        fail_msg("sample outside its family's group: %s", line);
      assert_true(x->n < 128);
      struct sample *s = &x->s[x->n++];
      char *sp = strrchr(line, ' ');
      snprintf(s->key, sizeof s->key, "%.*s", (int)(sp - line), line);
      s->value = strtod(sp + 1, NULL);
      for (int i = 0; i < x->n - 1; i++)
        if (strcmp(x->s[i].key, s->key) == 0)
          fail_msg("duplicate sample %s", s->key);
    } else {
      fail_msg("not a HELP, TYPE or sample line: '%s'", line);
    }
  }
  for (int i = 0; i < x->nfam; i++) {
    int found = 0;
    for (int h = 0; h < nhelped; h++)
      found |= strcmp(helped[h], x->families[i]) == 0;
    if (!found)
      fail_msg("no HELP for %s", x->families[i]);
  }
  regfree(&help);
  regfree(&type);
  regfree(&sample);
}

static double sample_value(const struct exposition *x, const char *key) {
  for (int i = 0; i < x->n; i++)
    if (strcmp(x->s[i].key, key) == 0)
      return x->s[i].value;
  fail_msg("sample %s missing", key);
  return NAN;
}

static void assert_sample(const struct exposition *x, const char *key, double want) {
  double v = sample_value(x, key);
  if (fabs(v - want) > 1e-9)
    fail_msg("%s is %g, want %g", key, v, want);
}

static void assert_type(const struct exposition *x, const char *family, const char *type) {
  int i = family_index(x, family);
  if (i < 0)
    fail_msg("no TYPE line for %s", family);
  if (strcmp(x->types[i], type) != 0)
    fail_msg("%s is a %s, want %s", family, x->types[i], type);
}

static struct exposition expo;

static void render_metrics(void) {
  struct cw_buf b = {0};
  cw_render_metrics(&b, &snap);
  assert_false(b.failed);
  parse_exposition(b.p, b.len, &expo);
  cw_buf_free(&b);
}

static void test_metrics_are_prometheus_text_with_every_documented_metric(void **state) {
  render_metrics();
  assert_type(&expo, "connwarden_connections_active", "gauge");
  assert_sample(&expo, "connwarden_connections_active{direction=\"in\"}", 1);
  assert_sample(&expo, "connwarden_connections_active{direction=\"out\"}", 5);
  assert_type(&expo, "connwarden_connections_peak", "gauge");
  assert_sample(&expo, "connwarden_connections_peak{direction=\"in\"}", 2);
  assert_sample(&expo, "connwarden_connections_peak{direction=\"out\"}", 7);
  assert_type(&expo, "connwarden_connections_opened_total", "counter");
  assert_sample(&expo, "connwarden_connections_opened_total{direction=\"in\"}", 3);
  assert_sample(&expo, "connwarden_connections_opened_total{direction=\"out\"}", 9);
  assert_type(&expo, "connwarden_connections_closed_total", "counter");
  assert_sample(&expo, "connwarden_connections_closed_total{direction=\"in\"}", 2);
  assert_sample(&expo, "connwarden_connections_closed_total{direction=\"out\"}", 4);
  assert_type(&expo, "connwarden_connect_refused_total", "counter");
  assert_sample(&expo, "connwarden_connect_refused_total", 11);
  assert_type(&expo, "connwarden_connect_waited_total", "counter");
  assert_sample(&expo, "connwarden_connect_waited_total", 12);
  assert_type(&expo, "connwarden_connect_queued", "gauge");
  assert_sample(&expo, "connwarden_connect_queued", 13);
  assert_type(&expo, "connwarden_connect_wait_seconds_total", "counter");
  assert_sample(&expo, "connwarden_connect_wait_seconds_total", 1.5);
  assert_type(&expo, "connwarden_connections_reaped_total", "counter");
  assert_sample(&expo, "connwarden_connections_reaped_total{reason=\"idle\"}", 14);
  assert_sample(&expo, "connwarden_connections_reaped_total{reason=\"lifetime\"}", 15);
  assert_sample(&expo, "connwarden_connections_reaped_total{reason=\"manual\"}", 16);
  assert_type(&expo, "connwarden_connections_released_total", "counter");
  assert_sample(&expo, "connwarden_connections_released_total", 17);
  assert_type(&expo, "connwarden_close_wait_leaks_total", "counter");
  assert_sample(&expo, "connwarden_close_wait_leaks_total", 18);
  assert_type(&expo, "connwarden_close_wait_leaks", "gauge");
  assert_sample(&expo, "connwarden_close_wait_leaks", 23);
  assert_type(&expo, "connwarden_connections_abandoned_total", "counter");
  assert_sample(&expo, "connwarden_connections_abandoned_total", 24);
  assert_type(&expo, "connwarden_connections_abandoned", "gauge");
  assert_sample(&expo, "connwarden_connections_abandoned", 25);
  assert_type(&expo, "connwarden_log_lines_dropped_total", "counter");
  assert_sample(&expo, "connwarden_log_lines_dropped_total", 22);
  assert_type(&expo, "connwarden_bytes_total", "counter");
  assert_sample(&expo, "connwarden_bytes_total{direction=\"in\"}", 1200);
  assert_sample(&expo, "connwarden_bytes_total{direction=\"out\"}", 5000);
  assert_type(&expo, "connwarden_connection_duration_seconds", "histogram");
  assert_type(&expo, "connwarden_max_connections", "gauge");
  assert_sample(&expo, "connwarden_max_connections", 50);
  assert_type(&expo, "connwarden_max_connections_per_destination", "gauge");
  assert_sample(&expo, "connwarden_max_connections_per_destination", 6);
  assert_type(&expo, "connwarden_queue_timeout_seconds", "gauge");
  assert_sample(&expo, "connwarden_queue_timeout_seconds", 2);
  for (int i = 0; i < expo.nfam; i++)
    if (strncmp(expo.families[i], "connwarden_", 11) != 0)
      fail_msg("metric %s lacks the connwarden_ prefix", expo.families[i]);
}

static void test_metrics_histogram_buckets_are_cumulative_up_to_count(void **state) {
  render_metrics();
  static const char prefix[] = "connwarden_connection_duration_seconds_bucket{le=\"";
  double last_le = -1, last_count = -1, inf = -1;
  int nbuckets = 0;
  for (int i = 0; i < expo.n; i++) {
    const struct sample *s = &expo.s[i];
    if (strncmp(s->key, prefix, sizeof prefix - 1) != 0)
      continue;
    const char *le = s->key + sizeof prefix - 1;
    assert_true(s->value >= last_count); /* cumulative */
    last_count = s->value;
    if (strncmp(le, "+Inf\"", 5) == 0) {
      inf = s->value;
      continue;
    }
    assert_true(inf < 0); /* +Inf is the last bucket */
    char *endp;
    double bound = strtod(le, &endp);
    assert_string_equal(endp, "\"}");
    assert_true(bound > last_le);
    assert_true(fabs(bound - cw_hist_bounds_s[nbuckets]) < 1e-12);
    last_le = bound;
    nbuckets++;
  }
  assert_int_equal(nbuckets, CW_HIST_BUCKETS);
  /* snapshot: 1 in the first bucket, 2 in the fourth, 4 in the seventh, 3 above the last */
  char key[128];
  double want = 0;
  for (int i = 0; i < CW_HIST_BUCKETS; i++) {
    want += (double)snap.c.hist[i];
    snprintf(key, sizeof key, "%s%g\"}", prefix, cw_hist_bounds_s[i]);
    assert_sample(&expo, key, want);
  }
  assert_true(want == 7);
  assert_sample(&expo, "connwarden_connection_duration_seconds_bucket{le=\"+Inf\"}", 10);
  assert_true(inf == 10);
  assert_sample(&expo, "connwarden_connection_duration_seconds_count", inf);
  assert_sample(&expo, "connwarden_connection_duration_seconds_sum", 7230.25);
}

static void test_metrics_with_zero_counters_are_still_complete(void **state) {
  memset(&snap.c, 0, sizeof snap.c);
  snap.bytes_in = snap.bytes_out = 0;
  snap.cfg.max_conns = 0;
  render_metrics();
  assert_sample(&expo, "connwarden_connections_active{direction=\"out\"}", 0);
  assert_sample(&expo, "connwarden_connection_duration_seconds_bucket{le=\"+Inf\"}", 0);
  assert_sample(&expo, "connwarden_connection_duration_seconds_count", 0);
  assert_sample(&expo, "connwarden_max_connections", 0);
}

static void test_metrics_have_a_sample_per_destination_labelled_dest(void **state) {
  render_metrics();
  assert_type(&expo, "connwarden_destination_connections_active", "gauge");
  assert_sample(&expo, "connwarden_destination_connections_active{dest=\"api.example.com:8000\"}", 5);
  assert_sample(&expo, "connwarden_destination_connections_active{dest=\"[::1]:8000\"}", 0);
  assert_type(&expo, "connwarden_destination_connections_opened_total", "counter");
  assert_sample(&expo, "connwarden_destination_connections_opened_total{dest=\"api.example.com:8000\"}", 9);
  assert_sample(&expo, "connwarden_destination_connections_opened_total{dest=\"[::1]:8000\"}", 3);
  assert_type(&expo, "connwarden_destination_connect_refused_total", "counter");
  assert_sample(&expo, "connwarden_destination_connect_refused_total{dest=\"api.example.com:8000\"}", 2);
  assert_type(&expo, "connwarden_destination_connections_reaped_total", "counter");
  assert_sample(&expo, "connwarden_destination_connections_reaped_total{dest=\"api.example.com:8000\"}", 1);
  assert_sample(&expo, "connwarden_destination_connections_reaped_total{dest=\"[::1]:8000\"}", 0);
}

static void test_metrics_without_destinations_keep_their_families(void **state) {
  snap.ndests = 0;
  snap.cfg.queue_timeout_ms = 250;
  render_metrics();
  assert_type(&expo, "connwarden_destination_connections_active", "gauge");
  assert_sample(&expo, "connwarden_queue_timeout_seconds", 0.25);
  for (int i = 0; i < expo.n; i++)
    if (strstr(expo.s[i].key, "dest="))
      fail_msg("a destination sample with no destination: %s", expo.s[i].key);
}

/* ---- the leak report ---- */

static char *render_leaks(const char *prog, int *n) {
  struct cw_buf b = {0};
  *n = cw_render_leaks(&b, &snap, prog);
  assert_false(b.failed);
  char *out = strdup(b.p ? b.p : "");
  cw_buf_free(&b);
  return out;
}

static void test_leak_report_has_leaksanitizer_shape_for_one_leak(void **state) {
  snap.nconns = 1; /* views[0]: fd 7 out, age 5012 ms, idle 4990 ms, 1000 bytes out */
  views[0].idle_ms = 4900;
  int n;
  char *out = render_leaks("python3", &n);
  assert_int_equal(n, 1);
  assert_string_equal(
      out, "=================================================================\n"
           "==4242==ERROR: connwarden: 1 leaked connection (1 open at exit, 0 close-wait)\n"
           "Leaked connection fd 7 out 127.0.0.1:40112 -> 127.0.0.1:8000 ESTABLISHED, age 5.0s, "
           "idle 4.9s, in 0 B, out 1000 B\n"
           "SUMMARY: connwarden: 1 leaked connection in python3 -m uvicorn (pid 4242)\n");
  free(out);
  /* without a name (a library that could not derive one), the program's */
  snap.name[0] = '\0';
  out = render_leaks("python3", &n);
  assert_non_null(strstr(out, "\nSUMMARY: connwarden: 1 leaked connection in python3 (pid 4242)\n"));
  free(out);
}

static void test_leak_report_skips_inherited_and_counts_in_plural(void **state) {
  /* views[0] and views[1] are leaks, both established; views[2] was inherited */
  views[1].state = "ESTABLISHED";
  views[1].peer_closed = 0;
  int n;
  char *out = render_leaks("app", &n);
  assert_int_equal(n, 2);
  const char *want_head = "=================================================================\n"
                          "==4242==ERROR: connwarden: 2 leaked connections (2 open at exit, 0 close-wait)\n";
  assert_memory_equal(out, want_head, strlen(want_head));
  assert_non_null(strstr(out, "\nLeaked connection fd 7 out 127.0.0.1:40112 -> 127.0.0.1:8000 "
                              "ESTABLISHED, age 5.0s, idle 5.0s, in 0 B, out 1000 B\n"));
  assert_non_null(strstr(out, "\nLeaked connection fd 9 in [::1]:8000 -> [::1]:51000 ESTABLISHED, "
                              "age 61.0s, idle 3ms, in 4.1 KiB, out 77 B\n"));
  assert_null(strstr(out, "fd 3 "));
  assert_null(strstr(out, "2001:db8"));
  const char *summary = "SUMMARY: connwarden: 2 leaked connections in python3 -m uvicorn (pid 4242)\n";
  size_t len = strlen(out);
  assert_true(len > strlen(summary));
  assert_string_equal(out + len - strlen(summary), summary);
  free(out);
}

/* The header splits the leaks as LeakSanitizer splits direct and indirect ones: connections
 * still open at exit, and those whose peer had closed (CLOSE_WAIT) but the host never did. */
static void test_leak_report_counts_close_wait_leaks_apart(void **state) {
  /* views[0] is established; views[1] is in CLOSE_WAIT with its peer closed */
  int n;
  char *out = render_leaks("app", &n);
  assert_int_equal(n, 2);
  if (!strstr(out, "==4242==ERROR: connwarden: 2 leaked connections (1 open at exit, 1 close-wait)\n"))
    fail_msg("header does not count the CLOSE_WAIT leak apart:\n%s", out);
  assert_non_null(strstr(out, "\nLeaked connection fd 9 in [::1]:8000 -> [::1]:51000 CLOSE_WAIT, "));
  free(out);
}

static void test_leak_report_is_empty_when_only_inherited_remain(void **state) {
  snap.conns = &views[2];
  snap.nconns = 1;
  int n;
  char *out = render_leaks("app", &n);
  assert_int_equal(n, 0);
  assert_string_equal(out, "");
  free(out);
  snap.nconns = 0;
  out = render_leaks("app", &n);
  assert_int_equal(n, 0);
  assert_string_equal(out, "");
  free(out);
}

static void frame_a(void) {}
static void frame_b(void) {}

static void test_leak_report_lists_the_opening_stack_when_captured(void **state) {
  snap.nconns = 1;
  struct cw_bt bt = {.n = 2, .pc = {(void *)&frame_a, (void *)&frame_b}};
  views[0].bt = &bt;
  int n;
  char *out = render_leaks("app", &n);
  views[0].bt = NULL;
  assert_int_equal(n, 1);
  assert_non_null(strstr(out, "in 0 B, out 1000 B, opened at:\n    #0 0x"));
  char *f1 = strstr(out, "\n    #1 0x");
  assert_non_null(f1);
  assert_non_null(strstr(f1 + 1, "\nSUMMARY: connwarden: 1 leaked connection in python3 -m uvicorn (pid 4242)\n"));
  char *f0 = strstr(out, "    #0 0x");
  char *eol = strchr(f0, '\n');
  assert_non_null(strstr(f0, " in "));
  assert_true(strstr(f0, " in ") < eol);
  free(out);
}

/* ---- human units ---- */

static void test_fmt_bytes_uses_binary_units(void **state) {
  static const struct {
    uint64_t n;
    const char *want;
  } cases[] = {{0, "0 B"},
               {1, "1 B"},
               {1000, "1000 B"},
               {1023, "1023 B"},
               {1024, "1.0 KiB"},
               {1536, "1.5 KiB"},
               {4198, "4.1 KiB"},
               {1048576, "1.0 MiB"},
               {5 * 1048576 + 524288, "5.5 MiB"},
               {1073741824ull, "1.0 GiB"},
               {3ull * 1073741824ull, "3.0 GiB"}};
  for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
    char buf[32];
    char *r = cw_fmt_bytes(cases[i].n, buf, sizeof buf);
    assert_ptr_equal(r, buf);
    assert_string_equal(buf, cases[i].want);
  }
}

static void test_fmt_secs_picks_ms_s_m_or_h(void **state) {
  static const struct {
    int64_t ms;
    const char *want;
  } cases[] = {{0, "0ms"},         {3, "3ms"},           {850, "850ms"},       {999, "999ms"},
               {1000, "1.0s"},     {4900, "4.9s"},       {5012, "5.0s"},       {12345, "12.3s"},
               {61000, "61.0s"},   {600000, "10.0m"},    {5400000 / 2, "45.0m"}, {3600000, "1.0h"},
               {5400000, "1.5h"},  {86400000, "24.0h"}};
  for (size_t i = 0; i < CW_ARRAY_LEN(cases); i++) {
    char buf[32];
    char *r = cw_fmt_secs(cases[i].ms, buf, sizeof buf);
    assert_ptr_equal(r, buf);
    assert_string_equal(buf, cases[i].want);
  }
}

static void test_fmt_truncates_to_the_buffer(void **state) {
  char buf[4];
  assert_string_equal(cw_fmt_bytes(123456, buf, sizeof buf), "120");
  assert_string_equal(cw_fmt_secs(12345, buf, sizeof buf), "12.");
}

/* ---- health ---- */

static const struct cw_health_limits defaults = {-1, -1, -1};

static json_t *health(const struct cw_health_limits *lim) {
  struct cw_buf b = {0};
  cw_render_health(&b, &snap, lim);
  json_t *j = parse_json(&b);
  cw_buf_free(&b);
  return j;
}

/* The problems as one string, "|" between them. */
static const char *problems(json_t *j, char *buf, size_t size) {
  json_t *a = member(j, "problems");
  assert_true(json_is_array(a));
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < json_array_size(a); i++) {
    assert_true(json_is_string(json_array_get(a, i)));
    off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "|" : "", json_string_value(json_array_get(a, i)));
  }
  return buf;
}

static void test_health_of_a_clean_process_is_ok(void **state) {
  views[1].abandoned = CW_AB_NO;
  json_t *j = health(&defaults);
  assert_true(json_is_true(member(j, "ok")));
  assert_int_member(j, "pid", 4242);
  assert_int_equal(json_array_size(member(j, "problems")), 0);
  assert_int_equal(json_array_size(member(j, "connections")), 0);
  json_t *lim = member(j, "limits");
  assert_int_member(lim, "max_abandoned", 0);
  assert_int_member(lim, "max_close_wait", 0);
  assert_int_member(lim, "max_queue_wait_ms", 2000); /* the queue timeout */
  json_decref(j);
}

static void test_health_names_the_abandoned_connection_and_the_remedy(void **state) {
  char buf[2048];
  views[1].unread = 4096;
  views[1].unread_ms = 12000;
  json_t *j = health(&defaults);
  assert_true(json_is_false(member(j, "ok")));
  assert_int_member(j, "abandoned_now", 1);
  assert_string_equal(problems(j, buf, sizeof buf),
                      "1 connection abandoned: fd 9 in [::1]:51000, 4.0 KiB unread for 12.0s "
                      "(the program lost it: restart it)");
  json_t *c = json_array_get(member(j, "connections"), 0);
  assert_str_member(c, "problem", "abandoned");
  assert_int_member(c, "fd", 9);
  assert_str_member(c, "peer", "[::1]:51000");
  json_decref(j);

  struct cw_health_limits one = {1, -1, -1};
  j = health(&one);
  assert_true(json_is_true(member(j, "ok")));
  assert_int_member(j, "abandoned_now", 1); /* still counted, within the limit */
  json_decref(j);
}

static void test_health_names_the_programs_python_frame(void **state) {
  char buf[2048];
  static const char dump[] = "  File \"/usr/lib/python3/dist-packages/httpx/_client.py\", line 1620 in send\n"
                             "  File \"/srv/app/proxy.py\", line 41 in forward\n";
  struct cw_bt *bt = cw_py_parse(dump, sizeof dump - 1);
  assert_non_null(bt);
  views[0].abandoned = CW_AB_RELEASED;
  views[0].reaped = 1 + CW_REAP_IDLE;
  views[0].reaped_reason = CW_REAP_IDLE;
  views[0].reaped_ms = 5000;
  views[0].bt = bt;
  json_t *j = health(&defaults);
  views[0].bt = NULL;
  cw_mem_free(bt);
  assert_non_null(strstr(problems(j, buf, sizeof buf), ", opened at /srv/app/proxy.py:41 in forward"));
  json_decref(j);
}

static void test_health_tells_a_released_connection_by_its_reap(void **state) {
  char buf[2048];
  views[1].abandoned = CW_AB_RELEASED;
  views[1].reaped = 1 + CW_REAP_IDLE;
  views[1].reaped_reason = CW_REAP_IDLE;
  views[1].reaped_ms = 5000;
  views[0].abandoned = CW_AB_RELEASED;
  views[0].reaped = 1 + CW_REAP_EVICTED;
  views[0].reaped_reason = CW_REAP_EVICTED;
  views[0].reaped_ms = 5100;
  views[0].bt = NULL;
  json_t *j = health(&defaults);
  assert_string_equal(problems(j, buf, sizeof buf),
                      "2 connections abandoned: fd 7 out 127.0.0.1:8000, not closed 5.1s after its "
                      "eviction; fd 9 in [::1]:51000, not closed 5.0s after its reap (idle) (the program "
                      "lost them: restart it)");
  json_decref(j);
}

static void test_health_names_close_wait_leaks_and_long_queued_connects(void **state) {
  char buf[2048];
  views[1].abandoned = CW_AB_NO;
  views[1].close_wait = 1;
  views[1].held_ms = 7100;
  views[2].inherited = 1;
  views[2].close_wait = 1;
  views[2].held_ms = 600;
  views[3] = (struct cw_conn_view){.fd = 11, .dir = CW_DIR_OUT, .peer = v4("10.0.0.7", 443),
                                   .state = "QUEUED", .queued = 1, .wait_ms = 2500};
  views[4] = views[3];
  views[4].fd = 12;
  views[4].wait_ms = 1500; /* within the queue timeout (2s) */
  snap.nconns = 5;
  json_t *j = health(&defaults);
  assert_string_equal(problems(j, buf, sizeof buf),
                      "2 connections leaking in close-wait: fd 9 in [::1]:51000, the peer closed 7.1s ago; "
                      "fd 3 out [2001:db8::7]:443, the peer closed 600ms ago, inherited|"
                      "1 connect queued longer than 2.0s: fd 11 to 10.0.0.7:443, waiting 2.5s");
  assert_int_member(j, "close_wait_now", 2);
  assert_int_member(j, "queued_too_long", 1);
  assert_int_equal(json_array_size(member(j, "connections")), 3);
  json_decref(j);

  struct cw_health_limits lax = {-1, 2, 0}; /* two close-wait leaks allowed, no queue limit */
  j = health(&lax);
  assert_true(json_is_true(member(j, "ok")));
  json_decref(j);
  struct cw_health_limits strict = {-1, 1, 1000};
  j = health(&strict);
  assert_string_equal(problems(j, buf, sizeof buf),
                      "2 connections leaking in close-wait (at most 1 allowed): fd 9 in [::1]:51000, the "
                      "peer closed 7.1s ago; fd 3 out [2001:db8::7]:443, the peer closed 600ms ago, "
                      "inherited|2 connects queued longer than 1.0s: fd 11 to 10.0.0.7:443, waiting 2.5s; "
                      "fd 12 to 10.0.0.7:443, waiting 1.5s");
  json_decref(j);
}

static void test_health_names_five_connections_and_counts_the_rest(void **state) {
  char buf[4096];
  for (int i = 0; i < 8; i++) {
    views[i] = views[0];
    views[i].fd = 20 + i;
    views[i].abandoned = CW_AB_UNREAD;
    views[i].unread = 10;
    views[i].unread_ms = 61000;
  }
  snap.nconns = 8;
  json_t *j = health(&defaults);
  problems(j, buf, sizeof buf);
  assert_non_null(strstr(buf, "8 connections abandoned: fd 20 out 127.0.0.1:8000, 10 B unread for 61.0s; fd 21 "));
  assert_non_null(strstr(buf, "; fd 24 out 127.0.0.1:8000, 10 B unread for 61.0s; and 3 more (the program lost them"));
  assert_null(strstr(buf, "fd 25"));
  assert_int_equal(json_array_size(member(j, "connections")), 8);
  json_decref(j);
}

/* ---- help ---- */

static void test_help_lists_every_command(void **state) {
  struct cw_buf b = {0};
  cw_render_help(&b);
  assert_non_null(b.p);
  static const char *const cmds[] = {"stats", "conns", "metrics", "config", "set NAME VALUE", "reap FD", "health", "help"};
  for (size_t i = 0; i < CW_ARRAY_LEN(cmds); i++) {
    char line_start[64];
    snprintf(line_start, sizeof line_start, "\n%s ", cmds[i]);
    if (strncmp(b.p, line_start + 1, strlen(line_start) - 1) != 0 && !strstr(b.p, line_start))
      fail_msg("help does not list %s:\n%s", cmds[i], b.p);
  }
  assert_int_equal(b.p[b.len - 1], '\n');
  cw_buf_free(&b);
}

#define T(f) cmocka_unit_test_setup(f, build_snapshot)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_health_of_a_clean_process_is_ok),
      T(test_health_names_the_abandoned_connection_and_the_remedy),
      T(test_health_names_the_programs_python_frame),
      T(test_health_tells_a_released_connection_by_its_reap),
      T(test_health_names_close_wait_leaks_and_long_queued_connects),
      T(test_health_names_five_connections_and_counts_the_rest),
      T(test_stats_is_json_with_the_documented_keys_and_values),
      T(test_stats_with_nothing_tracked_is_still_valid_json),
      T(test_conns_is_a_json_array_with_the_documented_keys),
      T(test_conns_of_many_connections_grows_the_buffer_and_stays_valid),
      T(test_config_is_json_of_the_effective_configuration),
      T(test_config_with_odd_characters_in_paths_is_valid_json),
      T(test_config_with_a_non_utf8_path_is_valid_json),
      T(test_json_str_escapes_quotes_backslashes_and_control_chars),
      T(test_json_str_round_trips_through_a_json_parser),
      T(test_buf_printf_appends_past_the_first_allocation),
      T(test_metrics_are_prometheus_text_with_every_documented_metric),
      T(test_metrics_histogram_buckets_are_cumulative_up_to_count),
      T(test_metrics_with_zero_counters_are_still_complete),
    T(test_metrics_have_a_sample_per_destination_labelled_dest),
    T(test_metrics_without_destinations_keep_their_families),
      T(test_leak_report_has_leaksanitizer_shape_for_one_leak),
      T(test_leak_report_skips_inherited_and_counts_in_plural),
      T(test_leak_report_counts_close_wait_leaks_apart),
      T(test_leak_report_is_empty_when_only_inherited_remain),
      T(test_leak_report_lists_the_opening_stack_when_captured),
      T(test_fmt_bytes_uses_binary_units),
      T(test_fmt_secs_picks_ms_s_m_or_h),
      T(test_fmt_truncates_to_the_buffer),
      T(test_help_lists_every_command),
  };
  return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
