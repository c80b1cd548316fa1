/* topframe.c - what `connwarden top` shows, as lines of text: samples of one process (its stats and
 * conns replies), and a frame laid out from two of them to fit a number of rows: the counters,
 * active against the cap as a bar, rates from the difference of the samples, the destinations in
 * a chosen order, the oldest and idlest connections. No terminal and no output of its own: top.c
 * paints the lines. Single-threaded. */
#define _GNU_SOURCE
#include "topframe.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fmt.h"

#define BAR_WIDTH 24
#define SNAPSHOT_CONNS 10 /* oldest and idlest rows in a snapshot */
#define LABEL "%-9s"

/* ---- samples -------------------------------------------------------------------------------- */

int64_t cw_topframe_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static long long get(json_t *o, const char *key) { return cw_json_ll(json_object_get(o, key)); }
static long long get2(json_t *o, const char *a, const char *b) {
  return cw_json_ll(json_object_get(json_object_get(o, a), b));
}
static long long reaped_sum(json_t *s) {
  return get2(s, "reaped", "idle") + get2(s, "reaped", "lifetime") + get2(s, "reaped", "manual") +
         get2(s, "reaped", "evicted");
}

long long cw_topframe_pid(const struct cw_sample *s) { return get(s->stats, "pid"); }

void cw_topframe_sample_free(struct cw_sample *s) {
  json_decref(s->stats);
  json_decref(s->conns);
  memset(s, 0, sizeof *s);
}

/* One command; the parsed reply, or NULL with the reason in err. *rc gets -errno of the request. */
static json_t *ask_json(const struct cw_target *t, const char *cmd, int want_array, int *rc, char *err,
                        size_t errlen) {
  char *reply = NULL;
  json_t *j = NULL;
  *rc = cw_client_request(t->path, cmd, &reply);
  if (*rc == -ENOENT)
    snprintf(err, errlen, "no such socket (the process is gone)");
  else if (*rc == -ECONNREFUSED)
    snprintf(err, errlen, "nobody is listening (the process is gone)");
  else if (*rc == -ETIMEDOUT)
    snprintf(err, errlen, "no reply within %d s", CW_CLIENT_TIMEOUT_MS / 1000);
  else if (*rc < 0)
    snprintf(err, errlen, "%s", strerror(-*rc));
  else if (strncmp(reply, "error: ", 7) == 0)
    snprintf(err, errlen, "%.*s", (int)strcspn(reply + 7, "\n"), reply + 7);
  else if (!(j = json_loads(reply, JSON_DECODE_ANY, NULL)) || (want_array ? !json_is_array(j) : !json_is_object(j)))
    snprintf(err, errlen, "unreadable %s reply", cmd);
  if (*rc == 0 && err[0]) {
    json_decref(j);
    j = NULL;
    *rc = -EPROTO;
  }
  free(reply);
  return j;
}

/* 0 with s filled, or -errno (ENOENT, ECONNREFUSED: the process is gone) with the reason in err. */
int cw_topframe_fetch(const struct cw_target *t, struct cw_sample *s, char *err, size_t errlen) {
  int rc;
  err[0] = '\0';
  memset(s, 0, sizeof *s);
  if (!(s->stats = ask_json(t, "stats", 0, &rc, err, errlen)))
    return rc;
  s->at_ms = cw_topframe_now_ms();
  if (!(s->conns = ask_json(t, "conns", 1, &rc, err, errlen))) {
    cw_topframe_sample_free(s);
    return rc;
  }
  return 0;
}

/* ---- the frame: lines of plain text, headings marked ---------------------------------------- */

static void put(struct cw_frame *f, int heading, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(struct cw_frame *f, int heading, const char *fmt, ...) {
  va_list ap;
  char *s;
  if (f->failed)
    return;
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 64;
    char **l = realloc(f->line, cap * sizeof *l);
    unsigned char *h = l ? realloc(f->heading, cap) : NULL;
    if (l)
      f->line = l;
    if (!h) {
      f->failed = 1;
      return;
    }
    f->heading = h;
    f->cap = cap;
  }
  va_start(ap, fmt);
  int rc = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (rc < 0) {
    f->failed = 1;
    return;
  }
  f->heading[f->n] = (unsigned char)heading;
  f->line[f->n++] = s;
}

void cw_topframe_free(struct cw_frame *f) {
  for (size_t i = 0; i < f->n; i++)
    free(f->line[i]);
  free(f->line);
  free(f->heading);
  memset(f, 0, sizeof *f);
}

/* A finished table as frame lines, its header line as a heading. */
static void put_table(struct cw_frame *f, const struct cw_table *t) {
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  if (!m) {
    f->failed = 1;
    return;
  }
  cw_table_print(t, m);
  if (fclose(m) != 0) {
    free(text);
    f->failed = 1;
    return;
  }
  int first = 1;
  for (char *p = text, *nl; p && *p; p = nl ? nl + 1 : NULL, first = 0) {
    nl = strchr(p, '\n');
    put(f, first, "%.*s", (int)(nl ? nl - p : (ptrdiff_t)strlen(p)), p);
  }
  free(text);
}

/* ---- what the frame shows ------------------------------------------------------------------- */

const char *const cw_topframe_sorts[CW_TOPFRAME_NSORTS] = {"active", "opened", "refused", "reaped", "peer"};
/* index into cw_topframe_sorts: set by cw_topframe_draw for the qsort it runs, read by dest_order;
 * one thread */
static int dest_sort;

/* a destination's name: "dest" (a name and port, or an address), else its "peer" */
static const char *peer_of(json_t *o) {
  const char *p = json_string_value(json_object_get(o, "dest"));
  if (!p)
    p = json_string_value(json_object_get(o, "peer"));
  return p ? p : "";
}

/* Where a connection goes: its host name with the port ("api.example.com:443") when one is
 * known, else its peer's address. */
static const char *conn_dest(json_t *o, char *buf, size_t size) {
  const char *host = json_string_value(json_object_get(o, "host"));
  const char *peer = json_string_value(json_object_get(o, "peer"));
  if (!host) {
    snprintf(buf, size, "%s", peer ? peer : "-");
    return buf;
  }
  json_t *hp = json_object_get(o, "host_port");
  const char *colon = peer ? strrchr(peer, ':') : NULL;
  int v6 = strchr(host, ':') != NULL; /* an address literal a proxy request named */
  if (json_is_integer(hp))
    snprintf(buf, size, "%s%s%s:%lld", v6 ? "[" : "", host, v6 ? "]" : "", (long long)json_integer_value(hp));
  else
    snprintf(buf, size, "%s%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "", colon ? colon : "");
  return buf;
}

/* Largest first on the chosen count, then active, then opened; the peer address breaks ties. */
static int dest_order(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  const char *keys[] = {cw_topframe_sorts[dest_sort], "active", "opened"};
  for (int k = 0; k < 3 && dest_sort != CW_TOPFRAME_NSORTS - 1; k++) {
    long long vx = get(x, keys[k]), vy = get(y, keys[k]);
    if (vx != vy)
      return vx < vy ? 1 : -1;
  }
  return strcmp(peer_of(x), peer_of(y));
}

/* "age_ms" or "idle_ms": set by put_conns for the qsort it runs, read by conn_order; one thread */
static const char *order_key;
static int conn_order(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  long long vx = get(x, order_key), vy = get(y, order_key);
  if (vx != vy)
    return vx < vy ? 1 : -1;
  return (get(x, "fd") > get(y, "fd")) - (get(x, "fd") < get(y, "fd"));
}

static const char *text_of(json_t *v, char *buf, size_t len) {
  if (json_is_string(v))
    return json_string_value(v);
  if (json_is_integer(v))
    snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  else
    snprintf(buf, len, "-");
  return buf;
}

/* Sorted copies of an array's elements (malloc'd), or NULL when it is empty or memory ran out. */
static json_t **sorted(json_t *arr, int (*cmp)(const void *, const void *)) {
  size_t n = json_array_size(arr);
  json_t **v = n ? malloc(n * sizeof *v) : NULL;
  for (size_t i = 0; v && i < n; i++)
    v[i] = json_array_get(arr, i);
  if (v)
    qsort(v, n, sizeof *v, cmp);
  return v;
}

static void put_destinations(struct cw_frame *f, json_t *dests, size_t max_rows) {
  static const char *const heads[] = {"DESTINATION", "ACTIVE", "OPENED", "REFUSED", "REAPED"};
  static const char *const keys[] = {"dest", "active", "opened", "refused", "reaped"};
  size_t n = json_array_size(dests);
  if (n == 0) {
    put(f, 0, "destinations: none yet");
    return;
  }
  json_t **d = sorted(dests, dest_order);
  if (!d) {
    f->failed = 1;
    return;
  }
  size_t shown = n <= max_rows ? n : max_rows > 1 ? max_rows - 1 : 1;
  struct cw_table t;
  cw_table_init(&t, 5, heads, "lrrrr");
  for (size_t i = 0; i < shown; i++) {
    char c[5][64];
    const char *cells[5];
    for (int k = 0; k < 5; k++)
      cells[k] = k ? text_of(json_object_get(d[i], keys[k]), c[k], sizeof c[k]) : peer_of(d[i]);
    if (cw_table_add(&t, cells) < 0)
      f->failed = 1;
  }
  put_table(f, &t);
  cw_table_free(&t);
  if (shown < n)
    put(f, 0, "(%zu more)", n - shown);
  free(d);
}

/* Where a connection was opened, shortened for a column: its stack's frame that is the program's
 * own (or the innermost), the file without its directory. "" without a stack. */
static const char *opened_by(json_t *o, char *buf, size_t size) {
  json_t *st = json_object_get(o, "stack");
  json_t *own = json_object_get(o, "stack_own");
  const char *f = json_string_value(json_array_get(st, json_is_integer(own) ? (size_t)json_integer_value(own) : 0));
  if (!f) {
    snprintf(buf, size, "%s", "");
    return buf;
  }
  const char *colon = strstr(f, " in "), *slash = NULL;
  for (const char *p = f; *p && (!colon || p < colon); p++)
    if (*p == '/')
      slash = p;
  snprintf(buf, size, "%s", slash && f[0] != '0' ? slash + 1 : f);
  return buf;
}

/* The first rows connections by key ("age_ms" or "idle_ms"), under a heading naming them; with
 * backtraces on, where each was opened. */
static void put_conns(struct cw_frame *f, json_t *conns, const char *key, const char *title, size_t rows) {
  const char *heads[] = {title, "DIR", "STATE", "AGE", "IDLE", "IN", "OUT", "PEER", "OPENED BY"};
  order_key = key;
  json_t **c = sorted(conns, conn_order);
  if (!c) {
    f->failed = 1;
    return;
  }
  size_t n = json_array_size(conns);
  int stacks = 0;
  for (size_t i = 0; i < n && i < rows; i++)
    stacks |= json_array_size(json_object_get(c[i], "stack")) > 0;
  struct cw_table t;
  cw_table_init(&t, stacks ? 9 : 8, heads, "rllrrrrll");
  for (size_t i = 0; i < n && i < rows; i++) {
    json_t *o = c[i];
    char fd[24], dir[16], st[32], age[32], idle[32], in[32], out[32], peer[300], by[160];
    long long bin = get(o, "bytes_in"), bout = get(o, "bytes_out");
    const char *cells[] = {
        text_of(json_object_get(o, "fd"), fd, sizeof fd),
        text_of(json_object_get(o, "dir"), dir, sizeof dir),
        text_of(json_object_get(o, "state"), st, sizeof st),
        cw_fmt_duration(get(o, "age_ms"), age, sizeof age),
        cw_fmt_duration(get(o, "idle_ms"), idle, sizeof idle),
        cw_fmt_size((uint64_t)(bin < 0 ? 0 : bin), in, sizeof in),
        cw_fmt_size((uint64_t)(bout < 0 ? 0 : bout), out, sizeof out),
        conn_dest(o, peer, sizeof peer),
        opened_by(o, by, sizeof by),
    };
    if (cw_table_add(&t, cells) < 0)
      f->failed = 1;
  }
  put_table(f, &t);
  cw_table_free(&t);
  free(c);
}

/* "[#######.........]": part of whole, at least one mark for anything above zero. */
static const char *bar(long long part, long long whole, char *buf) {
  int fill = 0;
  if (whole > 0 && part > 0) {
    fill = (int)(part >= whole ? BAR_WIDTH : part * BAR_WIDTH / whole);
    if (fill == 0)
      fill = 1;
  }
  buf[0] = '[';
  for (int i = 0; i < BAR_WIDTH; i++)
    buf[1 + i] = i < fill ? '#' : '.';
  buf[BAR_WIDTH + 1] = ']';
  buf[BAR_WIDTH + 2] = '\0';
  return buf;
}

/* "2.5/s", or "-" without an earlier sample of the same process. */
static const char *rate(const struct cw_sample *cur, const struct cw_sample *prev, long long (*count)(json_t *),
                        char *buf, size_t len) {
  if (!prev || !prev->stats || cur->at_ms <= prev->at_ms || count(cur->stats) < count(prev->stats))
    return "-";
  snprintf(buf, len, "%.1f/s", (double)(count(cur->stats) - count(prev->stats)) * 1000.0 /
                                   (double)(cur->at_ms - prev->at_ms));
  return buf;
}
static long long opened_sum(json_t *s) { return get2(s, "opened", "in") + get2(s, "opened", "out"); }
static long long closed_sum(json_t *s) { return get2(s, "closed", "in") + get2(s, "closed", "out"); }
static long long refused_count(json_t *s) { return get(s, "refused"); }

void cw_topframe_draw(struct cw_frame *f, const struct cw_sample *cur, const struct cw_sample *prev, int rows,
                      int sort, const char *status) {
  json_t *s = cur->stats;
  dest_sort = sort >= 0 && sort < CW_TOPFRAME_NSORTS ? sort : 0;
  char a[64], b[64], c[64], d[64], name[256], barbuf[BAR_WIDTH + 3];
  long long pid = get(s, "pid"), cap = get2(s, "config", "max_conns");
  long long out = get2(s, "active", "out"), queued = get(s, "queued");
  json_t *up = json_object_get(s, "uptime_s");
  const char *version = json_string_value(json_object_get(s, "version"));

  cw_fmt_printable(cw_client_name(s, (int)pid, name, sizeof name));
  put(f, 0, "connwarden top - pid %lld (%s), up %s, library %s", pid, name,
      cw_fmt_duration(json_is_number(up) ? (int64_t)(json_number_value(up) * 1000) : 0, a, sizeof a),
      version ? version : "?");
  if (cap > 0)
    snprintf(b, sizeof b, "out %lld of cap %lld", out, cap);
  else
    snprintf(b, sizeof b, "out %lld of peak %lld, no cap", out, get2(s, "peak", "out"));
  if (queued > 0)
    snprintf(c, sizeof c, ", %lld queued", queued);
  else
    c[0] = '\0';
  put(f, 0, LABEL "%lld (in %lld, out %lld)  %s %s%s", "active", get2(s, "active", "total"),
      get2(s, "active", "in"), out, bar(out, cap > 0 ? cap : get2(s, "peak", "out"), barbuf), b, c);
  long long per_dest = get2(s, "config", "max_conns_per_dest");
  if (per_dest > 0)
    snprintf(b, sizeof b, "   cap per destination %lld", per_dest);
  else
    b[0] = '\0';
  put(f, 0, LABEL "%lld (in %lld, out %lld)%s", "peak", get2(s, "peak", "total"), get2(s, "peak", "in"),
      get2(s, "peak", "out"), b);
  char r1[32], r2[32], r3[32], r4[32];
  put(f, 0, LABEL "opened %s  closed %s  refused %s  reaped %s", "rates",
      rate(cur, prev, opened_sum, r1, sizeof r1), rate(cur, prev, closed_sum, r2, sizeof r2),
      rate(cur, prev, refused_count, r3, sizeof r3), rate(cur, prev, reaped_sum, r4, sizeof r4));
  char qt[48] = "";
  if (get(s, "queue_timeouts") > 0) /* only when there are any: the line is long already */
    snprintf(qt, sizeof qt, ", %lld timed out", get(s, "queue_timeouts"));
  put(f, 0, LABEL "%lld (in %lld, out %lld)  closed %lld (in %lld, out %lld)  refused %lld%s", "opened",
      opened_sum(s), get2(s, "opened", "in"), get2(s, "opened", "out"), closed_sum(s),
      get2(s, "closed", "in"), get2(s, "closed", "out"), get(s, "refused"), qt);
  char ev[48] = "";
  if (get2(s, "reaped", "evicted") > 0) /* only when there are any, as above */
    snprintf(ev, sizeof ev, ", evicted %lld", get2(s, "reaped", "evicted"));
  char ab[48] = "";
  if (get(s, "abandoned") > 0) /* only when there are any, as above */
    snprintf(ab, sizeof ab, "  abandoned %lld (%lld now)", get(s, "abandoned"), get(s, "abandoned_now"));
  put(f, 0, LABEL "%lld (idle %lld, lifetime %lld, manual %lld%s)  released %lld  close-wait leaks %lld%s",
      "reaped", reaped_sum(s), get2(s, "reaped", "idle"), get2(s, "reaped", "lifetime"),
      get2(s, "reaped", "manual"), ev, get(s, "released"), get(s, "close_wait_leaks"), ab);
  long long bin = get2(s, "bytes", "in"), bout = get2(s, "bytes", "out");
  put(f, 0, LABEL "%lld (%s in total)  queued %lld  bytes in %s, out %s", "waited", get(s, "waited"),
      cw_fmt_duration(get(s, "wait_ms"), a, sizeof a), queued,
      cw_fmt_size((uint64_t)(bin < 0 ? 0 : bin), c, sizeof c),
      cw_fmt_size((uint64_t)(bout < 0 ? 0 : bout), d, sizeof d));
  json_t *tree = json_object_get(s, "tree"); /* CONNWARDEN_CAP_SCOPE=tree: the whole tree */
  if (json_is_object(tree)) {
    char tn[256];
    const char *tname = json_string_value(json_object_get(tree, "name"));
    snprintf(tn, sizeof tn, "%s", tname ? tname : "?");
    cw_fmt_printable(tn);
    long long tcap = get2(tree, "config", "max_conns"), slots = get(tree, "slots");
    put(f, 0, LABEL "%s (root pid %lld): %lld processes, active %lld (in %lld, out %lld)", "tree", tn,
        get(tree, "root_pid"), get(tree, "processes"), get2(tree, "active", "total"), get2(tree, "active", "in"),
        get2(tree, "active", "out"));
    if (tcap > 0)
      snprintf(b, sizeof b, "slots %lld of cap %lld", slots, tcap);
    else
      snprintf(b, sizeof b, "slots %lld, no cap", slots);
    put(f, 0, LABEL "%s %s, %lld queued  opened %lld  refused %lld  reaped %lld", "", bar(slots, tcap > 0 ? tcap : slots, barbuf),
        b, get(tree, "queued"), opened_sum(tree), get(tree, "refused"), reaped_sum(tree));
  }
  put(f, 0, "%s", "");

  /* below the counters: the destinations, then the oldest and the idlest connections */
  json_t *dests = json_object_get(s, "destinations");
  size_t nd = json_array_size(dests), nc = json_array_size(cur->conns);
  size_t dest_rows = nd, conn_rows = nc < SNAPSHOT_CONNS ? nc : SNAPSHOT_CONNS;
  if (rows > 0) {
    /* lines left once the counters, 3 headings, 2 blank lines and the footer are placed */
    long avail = (long)rows - (long)f->n - 6;
    long each = avail / 4 > 1 ? avail / 4 : 1;
    if ((long)nc < each)
      each = (long)nc;
    long drows = avail - 2 * each;
    if (drows < 1)
      drows = 1;
    dest_rows = nd < (size_t)drows ? nd : (size_t)drows;
    long left = avail - (long)(dest_rows ? dest_rows : 1);
    conn_rows = (size_t)(left / 2 > 0 ? left / 2 : 0);
    if (conn_rows > nc)
      conn_rows = nc;
  }
  put_destinations(f, dests, dest_rows ? dest_rows : 1);
  put(f, 0, "%s", "");
  if (nc == 0) {
    put(f, 0, "connections: none open");
  } else {
    put_conns(f, cur->conns, "age_ms", "OLDEST FD", conn_rows);
    put(f, 0, "%s", "");
    put_conns(f, cur->conns, "idle_ms", "IDLEST FD", conn_rows);
  }
  if (rows > 0)
    put(f, 1, "q quit  s sort destinations (by %s)%s%s", cw_topframe_sorts[dest_sort], status[0] ? "  " : "",
        status);
}

