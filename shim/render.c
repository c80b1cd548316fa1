/* render.c - snapshot -> JSON / Prometheus / text into a caller's buffer. No lock, no I/O; the
 * key and metric names here are the user-visible contract (DESIGN.md): add, never rename. */
#define _GNU_SOURCE
#include "render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backtrace.h"
#include "python.h"

static int grow(struct cw_buf *b, size_t need) {
  if (b->failed)
    return -1;
  if (b->len + need + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + need + 1)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->failed = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void cw_buf_printf(struct cw_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || grow(b, (size_t)n) < 0)
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one. */
static int utf8_len(const unsigned char *p) {
  int n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;
  for (int i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
    return 0; /* overlong, or a UTF-16 surrogate */
  if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90)))
    return 0;
  return n;
}

/* Paths and names are bytes, JSON is UTF-8: invalid sequences become U+FFFD. */
void cw_buf_json_str(struct cw_buf *b, const char *s) {
  cw_buf_printf(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p >= 0x80) {
      int n = utf8_len(p);
      if (n == 0) {
        cw_buf_printf(b, "\\ufffd");
      } else {
        cw_buf_printf(b, "%.*s", n, (const char *)p);
        p += n - 1;
      }
      continue;
    }
    if (*p == '"' || *p == '\\')
      cw_buf_printf(b, "\\%c", *p);
    else if (*p == '\n')
      cw_buf_printf(b, "\\n");
    else if (*p == '\t')
      cw_buf_printf(b, "\\t");
    else if (*p == '\r')
      cw_buf_printf(b, "\\r");
    else if (*p < 0x20 || *p == 0x7f)
      cw_buf_printf(b, "\\u%04x", *p);
    else
      cw_buf_printf(b, "%c", *p);
  }
  cw_buf_printf(b, "\"");
}

void cw_buf_free(struct cw_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

char *cw_fmt_wall(int64_t ms, char *buf, size_t size) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (ms <= 0 || !gmtime_r(&t, &tm)) {
    snprintf(buf, size, "?");
    return buf;
  }
  snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
  return buf;
}

static const char *dir_name(int dir) { return dir == CW_DIR_IN ? "in" : "out"; }

static const char *const reason_names[CW_NREASONS] = {"idle", "lifetime", "manual", "evicted"};

static void json_addr(struct cw_buf *b, const struct cw_addr *a) {
  char tmp[CW_ADDR_STRLEN];
  cw_buf_json_str(b, cw_addr_format(a, tmp, sizeof tmp));
}

static void config_core(struct cw_buf *b, const struct cw_config *c) {
  cw_buf_printf(b,
                "\"max_conns\": %lld, \"max_conns_per_dest\": %lld, \"idle_timeout_ms\": %lld, "
                "\"max_lifetime_ms\": %lld, \"evict_idle_ms\": %lld",
                (long long)c->max_conns, (long long)c->max_conns_per_dest,
                (long long)c->idle_timeout_ms, (long long)c->max_lifetime_ms,
                (long long)c->evict_idle_ms);
}

/* The counters of stats, for the process or its tree: " "active": ..., "bytes": {...},\n". */
static void counts_json(struct cw_buf *b, const struct cw_counts *k) {
  cw_buf_printf(b,
                " \"active\": {\"in\": %lld, \"out\": %lld, \"total\": %lld}, \"peak\": {\"in\": %lld, "
                "\"out\": %lld, \"total\": %lld},\n",
                (long long)k->active[CW_DIR_IN], (long long)k->active[CW_DIR_OUT],
                (long long)(k->active[0] + k->active[1]), (long long)k->peak[CW_DIR_IN],
                (long long)k->peak[CW_DIR_OUT], (long long)k->peak_total);
  cw_buf_printf(b,
                " \"opened\": {\"in\": %lld, \"out\": %lld}, \"closed\": {\"in\": %lld, \"out\": %lld},\n",
                (long long)k->opened[CW_DIR_IN], (long long)k->opened[CW_DIR_OUT],
                (long long)k->closed[CW_DIR_IN], (long long)k->closed[CW_DIR_OUT]);
  cw_buf_printf(b, " \"refused\": %lld, \"waited\": %lld, \"wait_ms\": %lld, \"queued\": %lld,"
                   " \"queue_timeouts\": %lld,\n",
                (long long)k->refused, (long long)k->waited, (long long)k->wait_ms,
                (long long)k->queued, (long long)k->queue_timeouts);
  cw_buf_printf(b,
                " \"reaped\": {\"idle\": %lld, \"lifetime\": %lld, \"manual\": %lld, \"evicted\": %lld},"
                " \"released\": %lld, \"close_wait_leaks\": %lld, \"close_wait_now\": %lld,"
                " \"abandoned\": %lld, \"abandoned_now\": %lld,\n",
                (long long)k->reaped[0], (long long)k->reaped[1], (long long)k->reaped[2],
                (long long)k->reaped[3],
                (long long)k->released, (long long)k->close_wait_leaks, (long long)k->close_wait_now,
                (long long)k->abandoned, (long long)k->abandoned_now);
  cw_buf_printf(b, " \"bytes\": {\"in\": %lld, \"out\": %lld},\n", (long long)k->bytes_in,
                (long long)k->bytes_out);
}

/* The tree's object in stats (tree scope): its counters, members and settings. */
static void tree_json(struct cw_buf *b, const struct cw_tree_view *t) {
  cw_buf_printf(b, " \"tree\": {\"name\": ");
  cw_buf_json_str(b, t->name);
  cw_buf_printf(b, ", \"root_pid\": %d, \"processes\": %d, \"pids\": [", t->root_pid, t->processes);
  for (int i = 0; i < t->processes; i++)
    cw_buf_printf(b, "%s%d", i ? ", " : "", t->pids[i]);
  cw_buf_printf(b, "], \"slots\": %lld,\n", (long long)t->slots);
  counts_json(b, &t->c);
  cw_buf_printf(b,
                " \"config\": {\"max_conns\": %lld, \"max_conns_per_dest\": %lld, \"idle_timeout_ms\": %lld, "
                "\"max_lifetime_ms\": %lld, \"evict_idle_ms\": %lld}},\n",
                (long long)t->max_conns, (long long)t->max_conns_per_dest, (long long)t->idle_timeout_ms,
                (long long)t->max_lifetime_ms, (long long)t->evict_idle_ms);
}

void cw_render_stats(struct cw_buf *b, const struct cw_snapshot *s) {
  const struct cw_counters *k = &s->c;
  cw_buf_printf(b, "{\"version\": \"%s\", \"pid\": %d, \"uptime_s\": %.1f,\n", CW_VERSION, (int)s->pid,
                s->uptime_s);
  struct cw_counts own = {
      .peak_total = k->peak_total, .queued = k->queued, .refused = k->refused, .waited = k->waited,
      .wait_ms = k->wait_ms, .queue_timeouts = k->queue_timeouts, .released = k->released,
      .close_wait_leaks = k->close_wait_leaks, .close_wait_now = k->close_wait_now,
      .abandoned = k->abandoned, .abandoned_now = k->abandoned_now, .bytes_in = s->bytes_in,
      .bytes_out = s->bytes_out};
  for (int d = 0; d < 2; d++) {
    own.active[d] = k->active[d];
    own.peak[d] = k->peak[d];
    own.opened[d] = k->opened[d];
    own.closed[d] = k->closed[d];
  }
  memcpy(own.reaped, k->reaped, sizeof own.reaped);
  counts_json(b, &own);
  cw_buf_printf(b, " \"name\": ");
  cw_buf_json_str(b, s->name);
  cw_buf_printf(b, ",\n");
  if (s->has_tree)
    tree_json(b, &s->tree);
  cw_buf_printf(b, " \"inherited\": %lld, \"missed_closes\": %lld, \"untracked\": %lld, \"log_dropped\": %lld,\n",
                (long long)k->inherited, (long long)k->missed_closes, (long long)k->untracked,
                (long long)k->log_dropped);
  cw_buf_printf(b, " \"config\": {");
  config_core(b, &s->cfg);
  cw_buf_printf(b, "},\n \"destinations\": [");
  for (int i = 0; i < s->ndests; i++) {
    const struct cw_dest_view *d = &s->dests[i];
    char dk[CW_DKEY_STRLEN];
    cw_buf_printf(b, "%s{\"dest\": ", i ? ", " : "");
    cw_buf_json_str(b, cw_dkey_format(&d->key, dk, sizeof dk));
    cw_buf_printf(b, ", \"peer\": ");
    json_addr(b, &d->peer);
    cw_buf_printf(b, ", \"active\": %lld, \"opened\": %lld, \"refused\": %lld, \"reaped\": %lld}",
                  (long long)d->active, (long long)d->opened, (long long)d->refused,
                  (long long)d->reaped);
  }
  cw_buf_printf(b, "]}\n");
}

/* ", "opened_at": "2026-12-07T19:00:00.123Z"": when a connection opened, by the wall clock. */
static void json_opened_at(struct cw_buf *b, int64_t ms) {
  char when[40];
  cw_buf_printf(b, ", \"opened_at\": \"%s\"", cw_fmt_wall(ms, when, sizeof when));
}

static int frame_count(const struct cw_bt *bt) { return bt->npy ? bt->npy : bt->n; }

/* Frame f of a stack as one line: "file:line in func" (Python), or a native frame symbolised. */
static const char *frame_text(const struct cw_bt *bt, int f, char *buf, size_t size) {
  return bt->npy ? cw_py_frame(bt, f) : cw_bt_symbolise(bt->pc[f], buf, size);
}

/* ", "host": "api.example.com"" when a name is known, with the port it goes with when that is not
 * the peer's, and ", "via": "127.0.0.1:3128"" when a proxy request named it */
static void json_host(struct cw_buf *b, const struct cw_conn_view *v) {
  if (!v->host)
    return;
  cw_buf_printf(b, ", \"host\": ");
  cw_buf_json_str(b, v->host);
  if (v->hport != v->peer.port)
    cw_buf_printf(b, ", \"host_port\": %u", (unsigned)v->hport);
  if (v->via) {
    cw_buf_printf(b, ", \"via\": ");
    json_addr(b, &v->peer);
  }
}

void cw_render_conns(struct cw_buf *b, const struct cw_snapshot *s) {
  cw_buf_printf(b, "[");
  for (int i = 0; i < s->nconns; i++) {
    const struct cw_conn_view *v = &s->conns[i];
    cw_buf_printf(b, "%s{\"fd\": %d, \"dir\": \"%s\", \"local\": ", i ? ",\n " : "", v->fd,
                  dir_name(v->dir));
    json_addr(b, &v->local);
    cw_buf_printf(b, ", \"peer\": ");
    json_addr(b, &v->peer);
    json_host(b, v);
    cw_buf_printf(b,
                  ", \"state\": \"%s\", \"tcp_state\": \"%s\", \"age_ms\": %lld, \"idle_ms\": %lld, "
                  "\"bytes_in\": %llu, \"bytes_out\": %llu, \"calls_in\": %llu, \"calls_out\": %llu, "
                  "\"peer_closed\": %s, \"inherited\": %s, \"reaped\": %s%s%s",
                  v->abandoned ? "ABANDONED" : v->state, v->state, (long long)v->age_ms,
                  (long long)v->idle_ms,
                  (unsigned long long)v->bytes_in, (unsigned long long)v->bytes_out,
                  (unsigned long long)v->calls_in, (unsigned long long)v->calls_out,
                  v->peer_closed ? "true" : "false", v->inherited ? "true" : "false",
                  v->reaped ? "\"" : "", v->reaped ? reason_names[v->reaped - 1] : "null",
                  v->reaped ? "\"" : "");
    if (v->queued)
      cw_buf_printf(b, ", \"wait_ms\": %lld", (long long)v->wait_ms);
    else
      json_opened_at(b, v->opened_wall_ms);
    if (v->bt && (v->bt->n || v->bt->npy)) {
      cw_buf_printf(b, ", \"stack\": [");
      for (int f = 0; f < frame_count(v->bt); f++) {
        char text[600];
        cw_buf_printf(b, "%s", f ? ", " : "");
        cw_buf_json_str(b, frame_text(v->bt, f, text, sizeof text));
      }
      cw_buf_printf(b, "]");
      if (v->bt->npy)
        cw_buf_printf(b, ", \"stack_own\": %d", v->bt->own);
      if (v->bt->join < v->bt->npy)
        cw_buf_printf(b, ", \"stack_awaited_from\": %d", v->bt->join);
    }
    cw_buf_printf(b, "}");
  }
  cw_buf_printf(b, "]\n");
}

static const char *errno_name(int e) {
  static const struct {
    int e;
    const char *n;
  } t[] = {{ECONNREFUSED, "ECONNREFUSED"}, {ETIMEDOUT, "ETIMEDOUT"},       {ECONNRESET, "ECONNRESET"},
           {ECONNABORTED, "ECONNABORTED"}, {EHOSTUNREACH, "EHOSTUNREACH"}, {ENETUNREACH, "ENETUNREACH"},
           {ENETDOWN, "ENETDOWN"},         {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {EMFILE, "EMFILE"},
           {ENFILE, "ENFILE"},             {ENOBUFS, "ENOBUFS"},           {ENOMEM, "ENOMEM"},
           {EACCES, "EACCES"},             {EPERM, "EPERM"},               {EBUSY, "EBUSY"},
           {ENOSPC, "ENOSPC"},             {EIO, "EIO"},                   {EPROTO, "EPROTO"}};
  for (size_t i = 0; i < CW_ARRAY_LEN(t); i++)
    if (t[i].e == e)
      return t[i].n;
  return "?";
}

void cw_render_config(struct cw_buf *b, const struct cw_snapshot *s) {
  const struct cw_config *c = &s->cfg;
  static const char *const levels[] = {"off", "error", "warn", "info", "debug"};
  cw_buf_printf(b, "{");
  config_core(b, c);
  cw_buf_printf(b, ", \"cap_scope\": \"%s\"", c->cap_scope == CW_SCOPE_TREE ? "tree" : "process");
  cw_buf_printf(b, ", \"dest_by\": \"%s\"", c->dest_by == CW_DEST_BY_ADDRESS ? "address" : "name");
  cw_buf_printf(b, ", \"name\": ");
  cw_buf_json_str(b, s->name);
  cw_buf_printf(b, ", \"on_cap\": \"%s\", \"queue_timeout_ms\": %lld, \"cap_errno\": \"%s\", "
                   "\"reap_grace_ms\": %lld, \"abandon_after_ms\": %lld, \"only\": ",
                c->on_cap == CW_ON_CAP_REFUSE ? "refuse" : "queue", (long long)c->queue_timeout_ms,
                errno_name(c->cap_errno), (long long)c->reap_grace_ms, (long long)c->abandon_after_ms);
  cw_buf_json_str(b, c->only_text);
  cw_buf_printf(b, ", \"exclude\": ");
  cw_buf_json_str(b, c->exclude_text);
  cw_buf_printf(b, ", \"stats\": ");
  cw_buf_json_str(b, c->stats_off ? "off" : c->stats_path);
  cw_buf_printf(b, ", \"leak_check\": %d, \"leak_exitcode\": %d, \"report\": ", c->leak_check,
                c->leak_exitcode);
  cw_buf_json_str(b, c->report_dir[0] ? c->report_dir : "stderr");
  if (c->backtrace == CW_BT_NATIVE)
    cw_buf_printf(b, ", \"backtrace\": \"native\"");
  else
    cw_buf_printf(b, ", \"backtrace\": %d", c->backtrace);
  cw_buf_printf(b, ", \"log\": \"%s\"}\n", levels[c->log_level >= 0 && c->log_level < 5 ? c->log_level : 2]);
}

static void metric_head(struct cw_buf *b, const char *name, const char *type, const char *help) {
  cw_buf_printf(b, "# HELP connwarden_%s %s\n# TYPE connwarden_%s %s\n", name, help, name, type);
}

static void metric_dirs(struct cw_buf *b, const char *name, const char *type, const char *help,
                        const int64_t v[2]) {
  metric_head(b, name, type, help);
  cw_buf_printf(b, "connwarden_%s{direction=\"in\"} %lld\nconnwarden_%s{direction=\"out\"} %lld\n",
                name, (long long)v[CW_DIR_IN], name, (long long)v[CW_DIR_OUT]);
}

static void metric_one(struct cw_buf *b, const char *name, const char *type, const char *help,
                       long long v) {
  metric_head(b, name, type, help);
  cw_buf_printf(b, "connwarden_%s %lld\n", name, v);
}

/* One family with a sample per destination, labelled dest (as in stats: name:port, or the
 * address). */
static void dest_family(struct cw_buf *b, const struct cw_snapshot *s, const char *name, const char *type,
                        const char *help, size_t field) {
  metric_head(b, name, type, help);
  for (int i = 0; i < s->ndests; i++) {
    const struct cw_dest_view *d = &s->dests[i];
    char a[CW_DKEY_STRLEN], esc[2 * CW_DKEY_STRLEN];
    size_t n = 0;
    for (const char *p = cw_dkey_format(&d->key, a, sizeof a); *p && n + 2 < sizeof esc; p++) {
      if (*p == '"' || *p == '\\' || *p == '\n')
        esc[n++] = '\\';
      esc[n++] = *p == '\n' ? 'n' : *p;
    }
    esc[n] = '\0';
    cw_buf_printf(b, "connwarden_%s{dest=\"%s\"} %lld\n", name, esc,
                  (long long)*(const int64_t *)((const char *)d + field));
  }
}

static void dest_metrics(struct cw_buf *b, const struct cw_snapshot *s) {
  dest_family(b, s, "destination_connections_active", "gauge", "Open outbound TCP connections, by destination.",
              offsetof(struct cw_dest_view, active));
  dest_family(b, s, "destination_connections_opened_total", "counter",
              "Outbound TCP connections opened, by destination.", offsetof(struct cw_dest_view, opened));
  dest_family(b, s, "destination_connect_refused_total", "counter",
              "Connects refused at a cap or failed at the queue timeout, by destination.",
              offsetof(struct cw_dest_view, refused));
  dest_family(b, s, "destination_connections_reaped_total", "counter",
              "Connections reaped, by destination.", offsetof(struct cw_dest_view, reaped));
}

/* Tree scope: the tree's own gauges, the same from every member (aggregate with max by tree). */
static void tree_metrics(struct cw_buf *b, const struct cw_tree_view *t) {
  metric_one(b, "tree_processes", "gauge", "Processes in this process's tree (CONNWARDEN_CAP_SCOPE=tree).",
             t->processes);
  metric_dirs(b, "tree_connections_active", "gauge",
              "Open TCP connections of the whole tree, each counted once however many processes hold it.",
              t->c.active);
  metric_one(b, "tree_slots", "gauge", "Cap slots held in the whole tree (the tree's cap is connwarden_max_connections).",
             t->slots);
  metric_one(b, "tree_connect_queued", "gauge", "Connects waiting for a slot anywhere in the tree.", t->c.queued);
}

void cw_render_metrics(struct cw_buf *b, const struct cw_snapshot *s) {
  const struct cw_counters *k = &s->c;
  metric_dirs(b, "connections_active", "gauge", "Open TCP connections.", k->active);
  metric_dirs(b, "connections_peak", "gauge", "Most open TCP connections at once.", k->peak);
  metric_dirs(b, "connections_opened_total", "counter", "TCP connections opened.", k->opened);
  metric_dirs(b, "connections_closed_total", "counter", "TCP connections closed.", k->closed);
  metric_one(b, "connect_refused_total", "counter", "Connects refused at a cap.", k->refused);
  metric_one(b, "connect_waited_total", "counter", "Connects that waited for a slot.", k->waited);
  metric_one(b, "connect_queued", "gauge", "Connects waiting for a slot now.", k->queued);
  metric_one(b, "connect_queue_timeouts_total", "counter",
             "Connects that waited past the queue timeout and failed.", k->queue_timeouts);
  metric_head(b, "connect_wait_seconds_total", "counter", "Time connects spent waiting for a slot.");
  cw_buf_printf(b, "connwarden_connect_wait_seconds_total %.3f\n", (double)k->wait_ms / 1000.0);
  metric_head(b, "connections_reaped_total", "counter", "Connections reaped, by reason.");
  for (int i = 0; i < CW_NREASONS; i++)
    cw_buf_printf(b, "connwarden_connections_reaped_total{reason=\"%s\"} %lld\n", reason_names[i],
                  (long long)k->reaped[i]);
  metric_one(b, "connections_released_total", "counter",
             "Reaped connections whose kernel socket was released after the grace period.", k->released);
  metric_one(b, "close_wait_leaks_total", "counter",
             "Connections kept open past the grace period after the peer closed.", k->close_wait_leaks);
  metric_one(b, "close_wait_leaks", "gauge",
             "Connections counted as close-wait leaks that are still open.", k->close_wait_now);
  metric_one(b, "connections_abandoned_total", "counter",
             "Connections found abandoned: the peer's bytes unread for CONNWARDEN_ABANDON_AFTER, or "
             "released because the program did not close them after a reap.", k->abandoned);
  metric_one(b, "connections_abandoned", "gauge",
             "Connections abandoned now (not read again, not closed by the program).", k->abandoned_now);
  metric_one(b, "log_lines_dropped_total", "counter",
             "Event lines written nowhere: stderr no place for text and no report directory, or a failed write.",
             k->log_dropped);
  int64_t bytes[2] = {[CW_DIR_IN] = s->bytes_in, [CW_DIR_OUT] = s->bytes_out};
  metric_head(b, "bytes_total", "counter", "Bytes read (in) and written (out) on TCP connections.");
  cw_buf_printf(b, "connwarden_bytes_total{direction=\"in\"} %lld\nconnwarden_bytes_total{direction=\"out\"} %lld\n",
                (long long)bytes[CW_DIR_IN], (long long)bytes[CW_DIR_OUT]);
  metric_head(b, "connection_duration_seconds", "histogram", "Lifetime of closed connections.");
  long long cum = 0;
  for (int i = 0; i < CW_HIST_BUCKETS; i++) {
    cum += k->hist[i];
    cw_buf_printf(b, "connwarden_connection_duration_seconds_bucket{le=\"%g\"} %lld\n",
                  cw_hist_bounds_s[i], cum);
  }
  cum += k->hist[CW_HIST_BUCKETS];
  cw_buf_printf(b, "connwarden_connection_duration_seconds_bucket{le=\"+Inf\"} %lld\n", cum);
  cw_buf_printf(b, "connwarden_connection_duration_seconds_sum %.6f\n", k->hist_sum_s);
  cw_buf_printf(b, "connwarden_connection_duration_seconds_count %lld\n", cum);
  metric_one(b, "max_connections", "gauge", "The outbound connection cap (0 = none).", s->cfg.max_conns);
  metric_one(b, "max_connections_per_destination", "gauge",
             "The outbound connection cap per destination (0 = none).", s->cfg.max_conns_per_dest);
  metric_head(b, "queue_timeout_seconds", "gauge",
              "How long a connect queued at a cap waits for a slot before it fails.");
  cw_buf_printf(b, "connwarden_queue_timeout_seconds %.3f\n", (double)s->cfg.queue_timeout_ms / 1000.0);
  dest_metrics(b, s);
  if (s->has_tree)
    tree_metrics(b, &s->tree);
}

/* ---- health --------------------------------------------------------------------------------- */

enum { H_ABANDONED, H_CLOSE_WAIT, H_QUEUED, H_KINDS };
static const char *const health_kinds[H_KINDS] = {"abandoned", "close-wait", "queued"};
#define HEALTH_NAMED 5 /* connections a problem names; the rest are counted */

static int health_has(const struct cw_conn_view *v, int kind, int64_t queue_ms) {
  if (kind == H_ABANDONED)
    return v->abandoned != CW_AB_NO;
  if (kind == H_CLOSE_WAIT)
    return v->close_wait;
  return v->queued && queue_ms > 0 && v->wait_ms > queue_ms;
}

/* One connection as a problem names it: "fd 7 out 127.0.0.1:8000, 4.0 KiB unread for 12.0s,
 * opened at app.py:41 in fetch". */
static void health_conn(struct cw_buf *b, const struct cw_conn_view *v, int kind) {
  char p[CW_ADDR_STRLEN], n[32], t[32], where[256];
  cw_buf_printf(b, "fd %d %s %s", v->fd, kind == H_QUEUED ? "to" : dir_name(v->dir),
                cw_addr_format(&v->peer, p, sizeof p));
  if (kind == H_ABANDONED && v->abandoned == CW_AB_UNREAD)
    cw_buf_printf(b, ", %s unread%s%s", cw_fmt_bytes(v->unread, n, sizeof n),
                  v->unread_ms ? " for " : "", v->unread_ms ? cw_fmt_secs(v->unread_ms, t, sizeof t) : "");
  else if (kind == H_ABANDONED && v->reaped_reason == CW_REAP_EVICTED)
    cw_buf_printf(b, ", not closed %s after its eviction", cw_fmt_secs(v->reaped_ms, t, sizeof t));
  else if (kind == H_ABANDONED)
    cw_buf_printf(b, ", not closed %s after its reap (%s)", cw_fmt_secs(v->reaped_ms, t, sizeof t),
                  reason_names[v->reaped_reason]);
  else if (kind == H_CLOSE_WAIT)
    cw_buf_printf(b, ", the peer closed %s ago", cw_fmt_secs(v->held_ms, t, sizeof t));
  else
    cw_buf_printf(b, ", waiting %s", cw_fmt_secs(v->wait_ms, t, sizeof t));
  if (v->inherited)
    cw_buf_printf(b, ", inherited");
  else if (*cw_bt_where(v->bt, where, sizeof where))
    cw_buf_printf(b, ", opened at %s", where);
}

/* The problem of kind, when more than limit connections have it: one line naming the first few. */
static void health_problem(struct cw_buf *b, const struct cw_snapshot *s, int kind, int count,
                           int64_t limit, int64_t queue_ms, int *first) {
  char t[32];
  struct cw_buf m = {0};
  const char *s1 = count == 1 ? "" : "s";
  if (kind == H_ABANDONED)
    cw_buf_printf(&m, "%d connection%s abandoned", count, s1);
  else if (kind == H_CLOSE_WAIT)
    cw_buf_printf(&m, "%d connection%s leaking in close-wait", count, s1);
  else
    cw_buf_printf(&m, "%d connect%s queued longer than %s", count, s1,
                  cw_fmt_secs(queue_ms, t, sizeof t));
  if (limit > 0)
    cw_buf_printf(&m, " (at most %lld allowed)", (long long)limit);
  cw_buf_printf(&m, ": ");
  int named = 0;
  for (int i = 0; i < s->nconns && named < HEALTH_NAMED; i++) {
    if (!health_has(&s->conns[i], kind, queue_ms))
      continue;
    cw_buf_printf(&m, "%s", named++ ? "; " : "");
    health_conn(&m, &s->conns[i], kind);
  }
  if (count > named)
    cw_buf_printf(&m, "; and %d more", count - named);
  if (kind == H_ABANDONED)
    cw_buf_printf(&m, " (the program lost %s: restart it)", count == 1 ? "it" : "them");
  b->failed |= m.failed;
  cw_buf_printf(b, "%s", *first ? "" : ", ");
  cw_buf_json_str(b, m.p ? m.p : "");
  *first = 0;
  cw_buf_free(&m);
}

void cw_render_health(struct cw_buf *b, const struct cw_snapshot *s,
                      const struct cw_health_limits *lim) {
  int64_t limits[H_KINDS] = {
      lim->max_abandoned < 0 ? 0 : lim->max_abandoned,
      lim->max_close_wait < 0 ? 0 : lim->max_close_wait,
      lim->max_queue_wait_ms < 0 ? s->cfg.queue_timeout_ms : lim->max_queue_wait_ms};
  int64_t queue_ms = limits[H_QUEUED];
  int count[H_KINDS] = {0}, bad[H_KINDS], ok = 1;
  for (int i = 0; i < s->nconns; i++)
    for (int k = 0; k < H_KINDS; k++)
      count[k] += health_has(&s->conns[i], k, queue_ms);
  for (int k = 0; k < H_KINDS; k++) {
    bad[k] = count[k] > (k == H_QUEUED ? 0 : limits[k]);
    ok &= !bad[k];
  }
  cw_buf_printf(b, "{\"ok\": %s, \"pid\": %d, \"problems\": [", ok ? "true" : "false", (int)s->pid);
  int first = 1;
  for (int k = 0; k < H_KINDS; k++)
    if (bad[k])
      health_problem(b, s, k, count[k], k == H_QUEUED ? 0 : limits[k], queue_ms, &first);
  cw_buf_printf(b, "],\n \"abandoned_now\": %d, \"close_wait_now\": %d, \"queued_too_long\": %d,\n",
                count[H_ABANDONED], count[H_CLOSE_WAIT], count[H_QUEUED]);
  cw_buf_printf(b,
                " \"limits\": {\"max_abandoned\": %lld, \"max_close_wait\": %lld, "
                "\"max_queue_wait_ms\": %lld},\n",
                (long long)limits[H_ABANDONED], (long long)limits[H_CLOSE_WAIT], (long long)queue_ms);
  cw_buf_printf(b, " \"connections\": [");
  first = 1;
  for (int k = 0; k < H_KINDS; k++) {
    for (int i = 0; bad[k] && i < s->nconns; i++) {
      const struct cw_conn_view *v = &s->conns[i];
      char where[256];
      if (!health_has(v, k, queue_ms))
        continue;
      cw_buf_printf(b, "%s{\"problem\": \"%s\", \"fd\": %d, \"dir\": \"%s\", \"peer\": ",
                    first ? "" : ",\n  ", health_kinds[k], v->fd, dir_name(v->dir));
      json_addr(b, &v->peer);
      if (*cw_bt_where(v->bt, where, sizeof where)) {
        cw_buf_printf(b, ", \"where\": ");
        cw_buf_json_str(b, where);
      }
      cw_buf_printf(b, "}");
      first = 0;
    }
  }
  cw_buf_printf(b, "]}\n");
}

void cw_render_help(struct cw_buf *b) {
  cw_buf_printf(b, "stats            counters and destinations (JSON)\n"
                   "conns            one object per live connection (JSON)\n"
                   "metrics          Prometheus text format\n"
                   "config           the effective configuration (JSON)\n"
                   "set NAME VALUE   change max_conns, max_conns_per_dest, idle_timeout, max_lifetime, evict_idle\n"
                   "reap FD          reap one connection now (shutdown; released after the grace)\n"
                   "health [max_abandoned=N] [max_close_wait=N] [max_queue_wait=D]  ok, or the problems (JSON)\n"
                   "help             this list\n");
}

/* ---- leak reports ---------------------------------------------------------------------------- */

static void leak_line(struct cw_buf *b, const struct cw_leak_view *v) {
  char l[CW_ADDR_STRLEN], p[CW_ADDR_STRLEN], age[32], idle[32], bin[32], bout[32], held[32];
  cw_buf_printf(b, "Leaked connection fd %d %s %s -> %s%s%s%s%s %s, age %s, idle %s, in %s, out %s", v->fd,
                dir_name(v->dir), cw_addr_format(&v->local, l, sizeof l),
                cw_addr_format(&v->peer, p, sizeof p), v->dest[0] ? " (" : "", v->dest,
                v->dest[0] && v->via ? " via proxy" : "", v->dest[0] ? ")" : "", v->state ? v->state : "?",
                cw_fmt_secs(v->age_ms, age, sizeof age), cw_fmt_secs(v->idle_ms, idle, sizeof idle),
                cw_fmt_bytes(v->bytes_in, bin, sizeof bin), cw_fmt_bytes(v->bytes_out, bout, sizeof bout));
  if (v->kind == CW_LEAK_CLOSE_WAIT) {
    if (v->held_ms >= 0)
      cw_buf_printf(b, ", close-wait: held %s after the peer closed, %s",
                    cw_fmt_secs(v->held_ms, held, sizeof held),
                    v->open_at_exit ? "still open at exit" : "closed before exit");
    else
      cw_buf_printf(b, ", close-wait: the peer closed, still open at exit");
  }
  if (v->teardown)
    cw_buf_printf(b, ", closed only by the interpreter's teardown at exit");
  int nf = v->bt ? frame_count(v->bt) : 0;
  cw_buf_printf(b, "%s\n", nf ? ", opened at:" : "");
  for (int f = 0; f < nf; f++) {
    char frame[600];
    const struct cw_bt *bt = v->bt;
    if (bt->npy && f == bt->join && f > 0)
      cw_buf_printf(b, "    (awaited by this task:)\n");
    cw_buf_printf(b, "    #%d %s%s\n", f, frame_text(bt, f, frame, sizeof frame),
                  !bt->npy                    ? ""
                  : f == bt->own && !(bt->lib & (1u << f)) ? "   <- the program's code"
                  : bt->lib & (1u << f)       ? "   (library)"
                                              : "");
  }
  if (v->opened_wall_ms > 0) { /* to match a leak with what ran then (a test, a request) */
    char when[40];
    cw_buf_printf(b, "    opened %s\n", cw_fmt_wall(v->opened_wall_ms, when, sizeof when));
  }
}

void cw_render_leak_text(struct cw_buf *b, const struct cw_leak_report *r) {
  if (r->n == 0)
    return;
  int close_wait = 0;
  for (int i = 0; i < r->n; i++)
    close_wait += r->leaks[i].kind == CW_LEAK_CLOSE_WAIT;
  const char *plural = r->n == 1 ? "" : "s";
  cw_buf_printf(b, "=================================================================\n");
  cw_buf_printf(b, "==%d==ERROR: connwarden: %d leaked connection%s (%d open at exit, %d close-wait)\n",
                (int)r->pid, r->n, plural, r->n - close_wait, close_wait);
  for (int i = 0; i < r->n; i++)
    leak_line(b, &r->leaks[i]);
  if (r->dropped)
    cw_buf_printf(b, "(%d more close-wait leaks were not recorded)\n", r->dropped);
  cw_buf_printf(b, "SUMMARY: connwarden: %d leaked connection%s in %s (pid %d)\n", r->n, plural,
                r->name ? r->name : r->prog, (int)r->pid);
}

/* Python frames: {"python": "F:N in FUNC", "file", "line", "func", "library", "own", "awaiting"}
 * (awaiting: a frame of the task that awaited the one that connected). Native frames: pc, module,
 * offset and func, with file and line null for the reader to resolve. */
static void json_frames(struct cw_buf *b, const struct cw_bt *bt) {
  cw_buf_printf(b, "[");
  for (int f = 0; bt && f < bt->npy; f++) {
    const char *text = cw_py_frame(bt, f), *in = NULL, *colon = NULL;
    for (const char *p = strstr(text, " in "); p; p = strstr(p + 1, " in "))
      in = p;
    for (const char *p = text; in && p < in; p++)
      if (*p == ':')
        colon = p;
    cw_buf_printf(b, "%s{\"python\": ", f ? ", " : "");
    cw_buf_json_str(b, text);
    if (in && colon) {
      char file[600];
      snprintf(file, sizeof file, "%.*s", (int)(colon - text), text);
      cw_buf_printf(b, ", \"file\": ");
      cw_buf_json_str(b, file);
      cw_buf_printf(b, ", \"line\": %ld, \"func\": ", strtol(colon + 1, NULL, 10));
      cw_buf_json_str(b, in + 4);
    }
    cw_buf_printf(b, ", \"library\": %s, \"own\": %s, \"awaiting\": %s}", bt->lib & (1u << f) ? "true" : "false",
                  f == bt->own && !(bt->lib & (1u << f)) ? "true" : "false", f >= bt->join ? "true" : "false");
  }
  for (int f = 0; bt && !bt->npy && f < bt->n; f++) {
    struct cw_bt_frame fr;
    cw_bt_resolve(bt->pc[f], &fr);
    cw_buf_printf(b, "%s{\"pc\": \"%p\", \"module\": ", f ? ", " : "", bt->pc[f]);
    cw_buf_json_str(b, fr.module);
    cw_buf_printf(b, ", \"offset\": \"0x%lx\", \"func\": ", (unsigned long)fr.offset);
    if (fr.func)
      cw_buf_json_str(b, fr.func);
    else
      cw_buf_printf(b, "null");
    cw_buf_printf(b, ", \"file\": null, \"line\": null}");
  }
  cw_buf_printf(b, "]");
}

void cw_render_leak_json(struct cw_buf *b, const struct cw_leak_report *r) {
  cw_buf_printf(b, "{\"type\": \"leaks\", \"version\": \"%s\", \"event\": ", CW_VERSION);
  cw_buf_json_str(b, r->event ? r->event : "exit");
  cw_buf_printf(b, ", \"pid\": %d, \"ppid\": %d, \"program\": ", (int)r->pid, (int)r->ppid);
  cw_buf_json_str(b, r->prog ? r->prog : "?");
  cw_buf_printf(b, ", \"name\": ");
  cw_buf_json_str(b, r->name ? r->name : r->prog ? r->prog : "?");
  cw_buf_printf(b, ", \"cmdline\": [");
  for (int i = 0; i < r->argc; i++) {
    cw_buf_printf(b, "%s", i ? ", " : "");
    cw_buf_json_str(b, r->argv[i]);
  }
  cw_buf_printf(b, "], \"exit_status\": ");
  if (r->exit_status >= 0)
    cw_buf_printf(b, "%d", r->exit_status);
  else
    cw_buf_printf(b, "null");
  cw_buf_printf(b, ", \"dropped\": %d, \"leaks\": [", r->dropped);
  for (int i = 0; i < r->n; i++) {
    const struct cw_leak_view *v = &r->leaks[i];
    cw_buf_printf(b, "%s\n  {\"kind\": \"%s\", \"open_at_exit\": %s, \"fd\": %d, \"dir\": \"%s\", \"local\": ",
                  i ? "," : "", v->kind == CW_LEAK_CLOSE_WAIT ? "close-wait" : "open",
                  v->open_at_exit ? "true" : "false", v->fd, dir_name(v->dir));
    json_addr(b, &v->local);
    cw_buf_printf(b, ", \"peer\": ");
    json_addr(b, &v->peer);
    if (v->dest[0]) {
      cw_buf_printf(b, ", \"dest\": ");
      cw_buf_json_str(b, v->dest);
      if (v->via) { /* as in conns: the proxy's address */
        cw_buf_printf(b, ", \"via\": ");
        json_addr(b, &v->peer);
      }
    }
    cw_buf_printf(b, ", \"state\": ");
    cw_buf_json_str(b, v->state ? v->state : "?");
    cw_buf_printf(b, ", \"age_ms\": %lld, \"idle_ms\": %lld, \"held_ms\": ", (long long)v->age_ms,
                  (long long)v->idle_ms);
    if (v->held_ms >= 0)
      cw_buf_printf(b, "%lld", (long long)v->held_ms);
    else
      cw_buf_printf(b, "null");
    cw_buf_printf(b, ", \"bytes_in\": %llu, \"bytes_out\": %llu, \"teardown\": %s",
                  (unsigned long long)v->bytes_in, (unsigned long long)v->bytes_out, v->teardown ? "true" : "false");
    if (v->opened_wall_ms > 0)
      json_opened_at(b, v->opened_wall_ms);
    cw_buf_printf(b, ", \"frames\": ");
    json_frames(b, v->bt);
    cw_buf_printf(b, "}");
  }
  cw_buf_printf(b, "]}\n");
}

void cw_leak_name(struct cw_leak_view *l, const char *host, uint16_t port, int via) {
  l->dest[0] = '\0';
  l->via = 0;
  if (!host || !*host)
    return;
  struct cw_dkey k = {.addr.port = port, .len = (uint8_t)strnlen(host, CW_HOST_MAX)};
  memcpy(k.name, host, k.len);
  cw_dkey_format(&k, l->dest, sizeof l->dest);
  l->via = via;
}

void cw_leak_from_conn(struct cw_leak_view *l, const struct cw_conn_view *c) {
  memset(l, 0, sizeof *l);
  /* the peer is gone: the classic unclosed response */
  l->kind = c->peer_closed ? CW_LEAK_CLOSE_WAIT : CW_LEAK_OPEN;
  l->open_at_exit = 1;
  l->fd = c->fd;
  l->dir = c->dir;
  l->local = c->local;
  l->peer = c->peer;
  l->state = c->state;
  l->age_ms = c->age_ms;
  l->idle_ms = c->idle_ms < c->age_ms ? c->idle_ms : c->age_ms; /* the activity clock is coarse */
  l->held_ms = -1;
  l->bytes_in = c->bytes_in;
  l->bytes_out = c->bytes_out;
  l->bt = c->bt;
  l->opened_wall_ms = c->opened_wall_ms;
  cw_leak_name(l, c->host, c->hport, c->via);
}

int cw_render_leaks(struct cw_buf *b, const struct cw_snapshot *s, const char *prog) {
  int n = 0;
  for (int i = 0; i < s->nconns; i++)
    n += !s->conns[i].inherited;
  if (n == 0)
    return 0;
  struct cw_leak_view *v = calloc((size_t)n, sizeof *v);
  if (!v) {
    b->failed = 1;
    return n;
  }
  n = 0;
  for (int i = 0; i < s->nconns; i++) {
    const struct cw_conn_view *c = &s->conns[i];
    if (c->inherited)
      continue;
    cw_leak_from_conn(&v[n++], c);
  }
  struct cw_leak_report r = {.pid = s->pid, .prog = prog, .name = s->name[0] ? s->name : NULL,
                             .exit_status = -1, .leaks = v, .n = n};
  cw_render_leak_text(b, &r);
  free(v);
  return n;
}
