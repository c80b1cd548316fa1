/* view.c - the human views of parsed stats and conns replies: labelled lines with units, and
 * aligned tables (fmt.c). They show every number a reply holds, keys added to the protocol later
 * included, and compute nothing the server did not send except sums. Print to stdout only. */
#define _GNU_SOURCE
#include "view.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "fmt.h"

#define LABEL_WIDTH 20


/* A scalar as text: integers exactly, reals briefly, "-" when absent. */
static const char *scalar(json_t *v, char *buf, size_t len) {
  if (json_is_integer(v))
    snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v))
    snprintf(buf, len, "%g", json_real_value(v));
  else if (json_is_string(v))
    snprintf(buf, len, "%s", json_string_value(v));
  else if (json_is_boolean(v))
    snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
  else if (json_is_array(v))
    snprintf(buf, len, "%zu items", json_array_size(v));
  else
    snprintf(buf, len, "-");
  return buf;
}

/* ---- stats ---------------------------------------------------------------------------------- */

static void label_line(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void label_line(const char *label, const char *fmt, ...) {
  va_list ap;
  printf("%-*s", LABEL_WIDTH, label);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* "key_name" -> "key name", without a trailing "_ms". */
static const char *key_label(const char *key, char *buf, size_t len) {
  snprintf(buf, len, "%s", key);
  size_t l = strlen(buf);
  if (l > 3 && strcmp(buf + l - 3, "_ms") == 0)
    buf[l - 3] = '\0';
  for (char *p = buf; *p; p++)
    if (*p == '_')
      *p = ' ';
  return buf;
}

/* "TOTAL (k v, k v, ...)": TOTAL is the object's own "total", else the sum of its members. */
static void parts(json_t *o, char *buf, size_t len) {
  const char *key;
  json_t *v;
  long long sum = 0;
  size_t off;
  json_t *total = json_object_get(o, "total");
  if (!json_is_object(o)) {
    snprintf(buf, len, "-");
    return;
  }
  json_object_foreach(o, key, v) sum += cw_json_ll(v);
  off = (size_t)snprintf(buf, len, "%lld (", total ? cw_json_ll(total) : sum);
  int first = 1;
  json_object_foreach(o, key, v) {
    char s[64];
    if (strcmp(key, "total") == 0 || off >= len)
      continue;
    off += (size_t)snprintf(buf + off, len - off, "%s%s %s", first ? "" : ", ", key,
                            scalar(v, s, sizeof s));
    first = 0;
  }
  if (off < len)
    snprintf(buf + off, len - off, ")");
}

static void show_bytes(json_t *o) {
  const char *key;
  json_t *v;
  char line[512];
  size_t off = 0;
  line[0] = '\0';
  json_object_foreach(o, key, v) {
    char h[32];
    long long n = cw_json_ll(v);
    if (off >= sizeof line)
      break;
    off += (size_t)snprintf(line + off, sizeof line - off, "%s%s %s", off ? ", " : "", key,
                            cw_fmt_size((uint64_t)(n < 0 ? 0 : n), h, sizeof h));
    if (n >= 1024 && off < sizeof line) /* the exact count too */
      off += (size_t)snprintf(line + off, sizeof line - off, " (%lld B)", n);
  }
  label_line("bytes", "%s", off ? line : "-");
}

/* One line per configuration key: durations humanised ("off" when 0), caps "0 (no cap)". */
static void show_config(json_t *cfg) {
  const char *key;
  json_t *v;
  json_object_foreach(cfg, key, v) {
    char label[64], val[64];
    size_t kl = strlen(key);
    key_label(key, label, sizeof label);
    if (kl > 3 && strcmp(key + kl - 3, "_ms") == 0 && json_is_number(v))
      label_line(label, "%s", cw_json_ll(v) == 0 ? "off" : cw_fmt_duration(cw_json_ll(v), val, sizeof val));
    else if (strncmp(key, "max_conns", 9) == 0 && json_is_integer(v) && cw_json_ll(v) == 0)
      label_line(label, "0 (no cap)");
    else
      label_line(label, "%s", scalar(v, val, sizeof val));
  }
}

/* a destination's name: "dest" (a name and port, or an address), else its "peer" */
static const char *dest_of(json_t *d) {
  const char *s = json_string_value(json_object_get(d, "dest"));
  if (!s)
    s = json_string_value(json_object_get(d, "peer"));
  return s ? s : "";
}

static int dest_order(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  long long ax = cw_json_ll(json_object_get(x, "active")), ay = cw_json_ll(json_object_get(y, "active"));
  if (ax != ay)
    return ax < ay ? 1 : -1;
  long long ox = cw_json_ll(json_object_get(x, "opened")), oy = cw_json_ll(json_object_get(y, "opened"));
  if (ox != oy)
    return ox < oy ? 1 : -1;
  return strcmp(dest_of(x), dest_of(y));
}

static int show_destinations(json_t *dests) {
  static const char *const heads[] = {"DESTINATION", "PEER", "ACTIVE", "OPENED", "REFUSED", "REAPED"};
  size_t n = json_array_size(dests);
  if (n == 0) {
    label_line("destinations", "none");
    return 0;
  }
  json_t **d = malloc(n * sizeof *d);
  if (!d)
    return cw_err_fail("out of memory");
  for (size_t i = 0; i < n; i++)
    d[i] = json_array_get(dests, i);
  qsort(d, n, sizeof *d, dest_order);
  struct cw_table t;
  cw_table_init(&t, 6, heads, "llrrrr");
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    char c[6][300];
    const char *cells[6];
    static const char *const keys[] = {"dest", "peer", "active", "opened", "refused", "reaped"};
    for (int k = 0; k < 6; k++)
      cells[k] = k ? scalar(json_object_get(d[i], keys[k]), c[k], sizeof c[k]) : dest_of(d[i]);
    rc = cw_table_add(&t, cells);
  }
  putchar('\n');
  cw_table_print(&t, stdout);
  cw_table_free(&t);
  free(d);
  return rc < 0 ? cw_err_fail("out of memory") : 0;
}

/* The keys shown by name above the generic ones, in this order. */
static const char *const stats_keys[] = {
    "pid",      "version",   "uptime_s",      "active",    "peak",   "opened",       "closed",
    "refused",  "waited",    "wait_ms",       "queued",    "queue_timeouts", "reaped", "released",
    "close_wait_leaks", "close_wait_now", "abandoned", "abandoned_now",
    "bytes",    "inherited", "missed_closes", "untracked", "config", "destinations", NULL};

int cw_view_stats(json_t *j) {
  char a[512], b[64], c[64];
  json_t *cfg = json_object_get(j, "config");
  long long cap = cw_json_ll(json_object_get(cfg, "max_conns"));
  long long cap_dest = cw_json_ll(json_object_get(cfg, "max_conns_per_dest"));
  json_t *active = json_object_get(j, "active");

  label_line("pid", "%s", scalar(json_object_get(j, "pid"), a, sizeof a));
  label_line("version", "%s", scalar(json_object_get(j, "version"), a, sizeof a));
  json_t *up = json_object_get(j, "uptime_s");
  if (json_is_number(up))
    cw_fmt_duration((int64_t)(json_number_value(up) * 1000), a, sizeof a);
  else
    snprintf(a, sizeof a, "-");
  label_line("uptime", "%s", a);
  parts(active, a, sizeof a);
  if (cap > 0)
    snprintf(b, sizeof b, ", outbound cap %lld", cap);
  else
    snprintf(b, sizeof b, ", no outbound cap");
  if (cap_dest > 0)
    snprintf(c, sizeof c, ", %lld per destination", cap_dest);
  else
    c[0] = '\0';
  label_line("active", "%s%s%s", a, b, c);
  static const char *const groups[] = {"peak", "opened", "closed"};
  for (size_t i = 0; i < 3; i++) {
    parts(json_object_get(j, groups[i]), a, sizeof a);
    label_line(groups[i], "%s", a);
  }
  label_line("refused", "%s", scalar(json_object_get(j, "refused"), a, sizeof a));
  json_t *wait_ms = json_object_get(j, "wait_ms");
  label_line("waited", "%s (%s in total)", scalar(json_object_get(j, "waited"), a, sizeof a),
             json_is_number(wait_ms) ? cw_fmt_duration(cw_json_ll(wait_ms), b, sizeof b) : "-");
  label_line("queued", "%s now", scalar(json_object_get(j, "queued"), a, sizeof a));
  label_line("queue timeouts", "%s", scalar(json_object_get(j, "queue_timeouts"), a, sizeof a));
  parts(json_object_get(j, "reaped"), a, sizeof a);
  label_line("reaped", "%s", a);
  label_line("released", "%s", scalar(json_object_get(j, "released"), a, sizeof a));
  label_line("close-wait leaks", "%s (%s still open)", scalar(json_object_get(j, "close_wait_leaks"), a, sizeof a),
             scalar(json_object_get(j, "close_wait_now"), b, sizeof b));
  label_line("abandoned", "%s (%s now)", scalar(json_object_get(j, "abandoned"), a, sizeof a),
             scalar(json_object_get(j, "abandoned_now"), b, sizeof b));
  show_bytes(json_object_get(j, "bytes"));
  label_line("inherited", "%s", scalar(json_object_get(j, "inherited"), a, sizeof a));
  label_line("missed closes", "%s", scalar(json_object_get(j, "missed_closes"), a, sizeof a));
  label_line("untracked", "%s", scalar(json_object_get(j, "untracked"), a, sizeof a));

  /* keys the protocol gained after this was written: shown plainly */
  const char *key;
  json_t *v;
  json_object_foreach(j, key, v) {
    int known = 0;
    for (int k = 0; stats_keys[k] && !known; k++)
      known = strcmp(key, stats_keys[k]) == 0;
    if (known)
      continue;
    if (json_is_object(v))
      parts(v, a, sizeof a);
    else
      scalar(v, a, sizeof a);
    label_line(key_label(key, b, sizeof b), "%s", a);
  }
  show_config(cfg);
  return show_destinations(json_object_get(j, "destinations"));
}

/* ---- conns ---------------------------------------------------------------------------------- */

static int by_fd(const void *a, const void *b) {
  long long x = cw_json_ll(json_object_get(*(json_t *const *)a, "fd"));
  long long y = cw_json_ll(json_object_get(*(json_t *const *)b, "fd"));
  return (x > y) - (x < y);
}

static const char *conn_flags(json_t *c, char *buf, size_t len) {
  int closed = json_is_true(json_object_get(c, "peer_closed"));
  int inherited = json_is_true(json_object_get(c, "inherited"));
  snprintf(buf, len, "%s%s%s", closed ? "peer-closed" : "", closed && inherited ? "," : "",
           inherited ? "inherited" : "");
  return buf;
}

/* A connection's opening stack under its line: innermost first, the program's own frame marked,
 * and where the frames of the task that awaited the connecting one begin. */
static void stack_lines(size_t row, FILE *out, void *arg) {
  json_t *o = ((json_t **)arg)[row], *st = json_object_get(o, "stack"), *f;
  long long own = json_is_integer(json_object_get(o, "stack_own")) ? cw_json_ll(json_object_get(o, "stack_own")) : -1;
  long long join = json_is_integer(json_object_get(o, "stack_awaited_from"))
                       ? cw_json_ll(json_object_get(o, "stack_awaited_from"))
                       : -1;
  size_t i;
  if (!json_array_size(st)) {
    fputs("    (no stack: set CONNWARDEN_BACKTRACE=1 before the program starts)\n", out);
    return;
  }
  json_array_foreach(st, i, f) {
    if ((long long)i == join)
      fputs("    (awaited by this task:)\n", out);
    fprintf(out, "    #%zu %s%s\n", i, json_string_value(f) ? json_string_value(f) : "?",
            (long long)i == own ? "   <- the program's code" : "");
  }
}

/* "127.0.0.2:8000 (api.example.com)", through a proxy "127.0.0.1:3128 (api.example.com:443 via
 * proxy)", or the peer alone when no name is known */
static const char *peer_text(json_t *o, char *buf, size_t size) {
  char p[80];
  const char *peer = scalar(json_object_get(o, "peer"), p, sizeof p);
  const char *host = json_string_value(json_object_get(o, "host"));
  json_t *hp = json_object_get(o, "host_port");
  int v6 = host && strchr(host, ':') != NULL; /* an address literal a proxy request named */
  const char *via = json_object_get(o, "via") ? " via proxy" : "";
  if (!host)
    snprintf(buf, size, "%s", peer);
  else if (json_is_integer(hp))
    snprintf(buf, size, "%s (%s%s%s:%lld%s)", peer, v6 ? "[" : "", host, v6 ? "]" : "", cw_json_ll(hp), via);
  else
    snprintf(buf, size, "%s (%s%s)", peer, host, via);
  return buf;
}

int cw_view_conns(json_t *arr, int stacks) {
  static const char *const heads[] = {"FD",  "DIR",  "LOCAL", "PEER", "STATE",
                                      "AGE", "IDLE", "IN",    "OUT",  "FLAGS"};
  size_t n = json_array_size(arr);
  json_t **c = malloc((n ? n : 1) * sizeof *c);
  if (!c)
    return cw_err_fail("out of memory");
  int any_flags = 0;
  for (size_t i = 0; i < n; i++) {
    char f[64];
    c[i] = json_array_get(arr, i);
    any_flags |= conn_flags(c[i], f, sizeof f)[0] != '\0';
  }
  qsort(c, n, sizeof *c, by_fd);
  struct cw_table t;
  cw_table_init(&t, any_flags ? 10 : 9, heads, "rllllrrrrl");
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    char fd[32], dir[16], local[80], peer[400], state[32], age[32], idle[32], in[32], out[32], fl[64];
    json_t *o = c[i];
    long long bin = cw_json_ll(json_object_get(o, "bytes_in")), bout = cw_json_ll(json_object_get(o, "bytes_out"));
    const char *cells[] = {
        scalar(json_object_get(o, "fd"), fd, sizeof fd),
        scalar(json_object_get(o, "dir"), dir, sizeof dir),
        scalar(json_object_get(o, "local"), local, sizeof local),
        peer_text(o, peer, sizeof peer),
        scalar(json_object_get(o, "state"), state, sizeof state),
        cw_fmt_duration(cw_json_ll(json_object_get(o, "age_ms")), age, sizeof age),
        cw_fmt_duration(cw_json_ll(json_object_get(o, "idle_ms")), idle, sizeof idle),
        cw_fmt_size((uint64_t)(bin < 0 ? 0 : bin), in, sizeof in),
        cw_fmt_size((uint64_t)(bout < 0 ? 0 : bout), out, sizeof out),
        conn_flags(o, fl, sizeof fl),
    };
    rc = cw_table_add(&t, cells);
  }
  if (rc == 0)
    cw_table_print_with(&t, stdout, stacks ? stack_lines : NULL, c);
  cw_table_free(&t);
  free(c);
  return rc < 0 ? cw_err_fail("out of memory") : 0;
}
