/* config.c - environment -> struct cw_config, once, in the constructor; `set` changes single
 * fields atomically from the stats thread. Never logs; the constructor reports errors. */
#define _GNU_SOURCE
#include "config.h"
#include "sniff.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "statspath.h"

struct cw_config cw_cfg; /* see config.h */

#define MAX_DURATION_MS ((int64_t)365 * 24 * 3600 * 1000)

int cw_parse_duration_ms(const char *s, int64_t *out) {
  if (!s || !*s)
    return -EINVAL;
  if (strcmp(s, "off") == 0) {
    *out = 0;
    return 0;
  }
  /* digits, an optional fraction, an optional unit: nothing else, no sign, no spaces */
  int64_t whole = 0, frac = 0, frac_scale = 1;
  const char *p = s;
  if (!isdigit((unsigned char)*p))
    return -EINVAL;
  for (; isdigit((unsigned char)*p); p++) {
    whole = whole * 10 + (*p - '0');
    if (whole > MAX_DURATION_MS)
      return -EINVAL;
  }
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return -EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
      if (frac_scale < 1000000) {
        frac = frac * 10 + (*p - '0');
        frac_scale *= 10;
      }
    }
  }
  int64_t unit_ms;
  if (*p == '\0' || strcmp(p, "s") == 0)
    unit_ms = 1000;
  else if (strcmp(p, "ms") == 0)
    unit_ms = 1;
  else if (strcmp(p, "m") == 0)
    unit_ms = 60 * 1000;
  else if (strcmp(p, "h") == 0)
    unit_ms = 3600 * 1000;
  else
    return -EINVAL;
  if (whole > MAX_DURATION_MS / unit_ms)
    return -EINVAL;
  int64_t ms = whole * unit_ms + frac * unit_ms / frac_scale;
  if (ms == 0 && (whole || frac))
    ms = 1; /* 0.5ms is a timeout, not "off": round it up to the clock's unit */
  if (ms > MAX_DURATION_MS)
    return -EINVAL;
  *out = ms;
  return 0;
}

int cw_parse_count(const char *s, int64_t *out) {
  if (!s || !*s)
    return -EINVAL;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (!isdigit((unsigned char)*p))
      return -EINVAL;
    v = v * 10 + (*p - '0');
    if (v > 1000000000)
      return -EINVAL;
  }
  *out = v;
  return 0;
}

static const struct {
  const char *name;
  int value;
} errnos[] = {
    {"ECONNREFUSED", ECONNREFUSED}, {"ETIMEDOUT", ETIMEDOUT},       {"ECONNRESET", ECONNRESET},
    {"ECONNABORTED", ECONNABORTED}, {"EHOSTUNREACH", EHOSTUNREACH}, {"ENETUNREACH", ENETUNREACH},
    {"ENETDOWN", ENETDOWN},         {"EADDRNOTAVAIL", EADDRNOTAVAIL}, {"EMFILE", EMFILE},
    {"ENFILE", ENFILE},             {"ENOBUFS", ENOBUFS},           {"ENOMEM", ENOMEM},
    {"EACCES", EACCES},             {"EPERM", EPERM},               {"EBUSY", EBUSY},
    {"ENOSPC", ENOSPC},             {"EIO", EIO},                   {"EPROTO", EPROTO},
};

/* Event loops read these as "still connecting" or "try again": a refusal that says so would spin
 * or hang the host. */
static const char *const loop_errnos[] = {"EAGAIN", "EWOULDBLOCK", "EINPROGRESS", "EALREADY", "EINTR"};

int cw_parse_errno_name(const char *s, int *out) {
  if (!s)
    return -EINVAL;
  for (size_t i = 0; i < CW_ARRAY_LEN(errnos); i++)
    if (strcmp(s, errnos[i].name) == 0) {
      *out = errnos[i].value;
      return 0;
    }
  return -EINVAL;
}

static int is_loop_errno(const char *s) {
  for (size_t i = 0; i < CW_ARRAY_LEN(loop_errnos); i++)
    if (strcmp(s, loop_errnos[i]) == 0)
      return 1;
  return 0;
}

static int parse_port(const char *s, uint16_t *port) {
  int64_t v;
  if (cw_parse_count(s, &v) < 0 || v < 1 || v > 65535)
    return -EINVAL;
  *port = (uint16_t)v;
  return 0;
}

/* An IPv4 or IPv6 address into a (family and ip): its length in bits, or -EINVAL. */
static int parse_ip(const char *s, struct cw_addr *a) {
  if (inet_pton(AF_INET, s, a->ip) == 1) {
    a->family = AF_INET;
    return 32;
  }
  if (inet_pton(AF_INET6, s, a->ip) == 1) {
    a->family = AF_INET6;
    return 128;
  }
  return -EINVAL;
}

/* A host name as DNS allows, not an address, lowercased into out (CW_HOST_MAX + 1 bytes). */
static int host_name(const char *s, char *out) {
  struct cw_addr a;
  size_t len = strlen(s);
  if (len == 0 || len > CW_HOST_MAX + 1 || parse_ip(s, &a) > 0)
    return -EINVAL;
  char tmp[CW_HOST_MAX + 2];
  memcpy(tmp, s, len + 1);
  if (!cw_host_normalize(tmp))
    return -EINVAL;
  const char *last = strrchr(tmp, '.'); /* a top label of digits alone is a mistyped address */
  last = last ? last + 1 : tmp;
  if (strspn(last, "0123456789") == strlen(last))
    return -EINVAL;
  memcpy(out, tmp, strlen(tmp) + 1);
  return 0;
}

/* One filter item, already cut out of the list (len bytes at s). */
static int parse_filter(const char *s, size_t len, struct cw_filter *f) {
  char item[CW_HOST_MAX + 16];
  if (len == 0 || len >= sizeof item)
    return -EINVAL;
  memcpy(item, s, len);
  item[len] = '\0';
  memset(f, 0, sizeof *f);
  if (strcmp(item, "in") == 0) {
    f->kind = CW_F_IN;
    return 0;
  }
  if (strcmp(item, "out") == 0) {
    f->kind = CW_F_OUT;
    return 0;
  }
  if (strcmp(item, "all") == 0) {
    f->kind = CW_F_ALL;
    return 0;
  }
  if (item[0] == ':' && item[1] != ':') { /* :PORT (not an IPv6 address such as ::1/128) */
    f->kind = CW_F_PORT;
    return parse_port(item + 1, &f->addr.port);
  }
  /* IP/PREFIX, or a bare address: one host, /32 or /128 */
  char *slash = strchr(item, '/');
  if (slash)
    *slash = '\0';
  int bits = parse_ip(item, &f->addr);
  if (bits > 0 || slash) {
    int64_t prefix = bits;
    if (bits < 0 || (slash && (cw_parse_count(slash + 1, &prefix) < 0 || prefix > bits)))
      return -EINVAL;
    f->kind = CW_F_CIDR;
    f->prefix = (int)prefix;
    return 0;
  }
  /* HOST:PORT with an IP literal; IPv6 in brackets */
  f->kind = CW_F_HOSTPORT;
  if (item[0] == '[') {
    char *close = strchr(item, ']');
    if (!close || close[1] != ':')
      return -EINVAL;
    *close = '\0';
    if (parse_ip(item + 1, &f->addr) != 128)
      return -EINVAL;
    return parse_port(close + 2, &f->addr.port);
  }
  if (item[0] == '*' && item[1] == '.') { /* *.DOMAIN: any name under it, at any port */
    f->kind = CW_F_DOMAIN;
    return host_name(item + 2, f->name);
  }
  char *colon = strrchr(item, ':');
  if (!colon || strchr(item, ':') != colon)
    return -EINVAL;
  *colon = '\0';
  if (parse_ip(item, &f->addr) != 32) { /* NAME:PORT */
    f->kind = CW_F_NAMEPORT;
    if (host_name(item, f->name) < 0)
      return -EINVAL;
  }
  return parse_port(colon + 1, &f->addr.port);
}

int cw_parse_filters(const char *s, struct cw_filter *out, int max, int *n) {
  *n = 0;
  if (!s || !*s)
    return -EINVAL;
  const char *p = s;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    while (len > 0 && *p == ' ') {
      p++;
      len--;
    }
    while (len > 0 && p[len - 1] == ' ')
      len--;
    if (*n >= max || parse_filter(p, len, &out[*n]) < 0)
      return -EINVAL;
    (*n)++;
    if (!comma)
      return 0;
    p = comma + 1;
  }
}

static int prefix_match(const uint8_t *a, const uint8_t *b, int bits) {
  int bytes = bits / 8, rest = bits % 8;
  if (memcmp(a, b, (size_t)bytes) != 0)
    return 0;
  if (rest == 0)
    return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

/* host is a name under the domain d */
static int under(const char *host, const char *d) {
  size_t hl = strlen(host), dl = strlen(d);
  return hl > dl + 1 && host[hl - dl - 1] == '.' && memcmp(host + hl - dl, d, dl) == 0;
}

int cw_filters_match(const struct cw_filter *f, int n, int dir, const struct cw_addr *peer,
                     const char *host, uint16_t hport) {
  for (int i = 0; i < n; i++) {
    switch (f[i].kind) {
    case CW_F_IN:
      if (dir == CW_DIR_IN)
        return 1;
      break;
    case CW_F_OUT:
      if (dir == CW_DIR_OUT)
        return 1;
      break;
    case CW_F_ALL:
      return 1;
    case CW_F_PORT:
      if (peer->port == f[i].addr.port)
        return 1;
      break;
    case CW_F_HOSTPORT:
      if (peer->family == f[i].addr.family && peer->port == f[i].addr.port &&
          memcmp(peer->ip, f[i].addr.ip, 16) == 0)
        return 1;
      break;
    case CW_F_CIDR:
      if (peer->family == f[i].addr.family && prefix_match(peer->ip, f[i].addr.ip, f[i].prefix))
        return 1;
      break;
    case CW_F_NAMEPORT:
      if (host && hport == f[i].addr.port && strcmp(host, f[i].name) == 0)
        return 1;
      break;
    case CW_F_DOMAIN:
      if (host && under(host, f[i].name))
        return 1;
      break;
    }
  }
  return 0;
}

/* The accepted forms, for error messages, by kind of variable. */
#define FORMS_DURATION "a duration: 250ms, 30s, 10m, 1h, a number of seconds, or off"
#define FORMS_COUNT "a whole number from 0 to 1000000000"
#define FORMS_BOOL "0 or 1"
#define FORMS_BACKTRACE "0, 1 or native"
#define FORMS_STATS "a socket path shorter than 108 bytes once each %p is the PID, or off"
#define FORMS_FILTER "a comma list of in, out, all, IP:PORT, [IPv6]:PORT, NAME:PORT, *.DOMAIN, :PORT, IP/PREFIX, IP"

static int bad(char *err, size_t errlen, const char *var, const char *value, const char *forms) {
  snprintf(err, errlen, "connwarden: %s=\"%.200s\" is not valid: expected %s", var, value, forms);
  return -EINVAL;
}

static int get_duration(const char *(*env)(const char *), const char *var, int64_t *out,
                        char *err, size_t errlen) {
  const char *v = env(var);
  if (v && cw_parse_duration_ms(v, out) < 0)
    return bad(err, errlen, var, v, FORMS_DURATION);
  return 0;
}

static int get_count(const char *(*env)(const char *), const char *var, int64_t *out, char *err,
                     size_t errlen) {
  const char *v = env(var);
  if (v && cw_parse_count(v, out) < 0)
    return bad(err, errlen, var, v, FORMS_COUNT);
  return 0;
}

static int get_bool(const char *(*env)(const char *), const char *var, int *out, char *err,
                    size_t errlen) {
  const char *v = env(var);
  if (!v)
    return 0;
  if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
    return bad(err, errlen, var, v, FORMS_BOOL);
  *out = v[0] == '1';
  return 0;
}

static int get_backtrace(const char *(*env)(const char *), int *out, char *err, size_t errlen) {
  const char *var = "CONNWARDEN_BACKTRACE", *v = env(var);
  if (!v)
    return 0;
  if (strcmp(v, "native") == 0)
    *out = CW_BT_NATIVE;
  else if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
    *out = v[0] == '1' ? CW_BT_LANG : CW_BT_OFF;
  else
    return bad(err, errlen, var, v, FORMS_BACKTRACE);
  return 0;
}

static int get_filters(const char *(*env)(const char *), const char *var, struct cw_filter *out,
                       int *n, char *text, size_t textlen, char *err, size_t errlen) {
  const char *v = env(var);
  if (!v)
    return 0;
  if (cw_parse_filters(v, out, CW_MAX_FILTERS, n) < 0 || strlen(v) >= textlen)
    return bad(err, errlen, var, v, FORMS_FILTER);
  snprintf(text, textlen, "%s", v);
  return 0;
}

static int get_path(const char *var, const char *v, char *out, size_t outlen, char *err,
                    size_t errlen) {
  if (!*v)
    return bad(err, errlen, var, v, "a path");
  if (strlen(v) >= outlen)
    return bad(err, errlen, var, v, "a shorter path");
  snprintf(out, outlen, "%s", v);
  return 0;
}

/* A variable of two values: *out 0 for the first, 1 for the second; left as it is when unset. */
static int get_either(const char *(*env)(const char *), const char *var, const char *first,
                      const char *second, int *out, char *err, size_t errlen) {
  const char *v = env(var);
  if (!v)
    return 0;
  if (strcmp(v, first) == 0 || strcmp(v, second) == 0) {
    *out = strcmp(v, second) == 0;
    return 0;
  }
  char forms[64];
  snprintf(forms, sizeof forms, "%s or %s", first, second);
  return bad(err, errlen, var, v, forms);
}

/* CONNWARDEN_NAME: shown in ls, top, the exporter's labels and reports, so one printable line. */
static int get_name(const char *(*env)(const char *), char *out, size_t outlen, char *err,
                    size_t errlen) {
  const char *var = "CONNWARDEN_NAME", *v = env(var);
  if (!v)
    return 0;
  size_t len = strlen(v);
  int ctl = 0;
  for (const char *p = v; *p; p++)
    ctl |= (unsigned char)*p < 0x20 || *p == 0x7f;
  if (len > 0 && len < outlen && !ctl) {
    memcpy(out, v, len + 1);
    return 0;
  }
  char shown[256]; /* the value on one line: control bytes as \n, \t or \xNN */
  size_t o = 0;
  for (const char *p = v; *p && o + 5 < sizeof shown; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '\n' || c == '\t')
      o += (size_t)snprintf(shown + o, sizeof shown - o, "\\%c", c == '\n' ? 'n' : 't');
    else if (c < 0x20 || c == 0x7f)
      o += (size_t)snprintf(shown + o, sizeof shown - o, "\\x%02x", c);
    else
      shown[o++] = (char)c;
  }
  shown[o] = '\0';
  _Static_assert(CW_NAME_MAX == 64, "the message below says 64");
  return bad(err, errlen, var, shown, "a name of 1 to 64 bytes without control characters");
}

static const char *const level_names[] = {"off", "error", "warn", "info", "debug"};

/* RUNDIR: $CONNWARDEN_RUNDIR, else $XDG_RUNTIME_DIR/connwarden, else /run/connwarden for root,
 * else /tmp/connwarden-UID. */
static int find_rundir(struct cw_config *cfg, const char *(*env)(const char *), char *err,
                       size_t errlen) {
  const char *v = env("CONNWARDEN_RUNDIR");
  if (v)
    return get_path("CONNWARDEN_RUNDIR", v, cfg->rundir, sizeof cfg->rundir, err, errlen);
  const char *xdg = env("XDG_RUNTIME_DIR");
  if (xdg && xdg[0] == '/' && strlen(xdg) < sizeof cfg->rundir - 16)
    snprintf(cfg->rundir, sizeof cfg->rundir, "%s/connwarden", xdg);
  else if (geteuid() == 0)
    snprintf(cfg->rundir, sizeof cfg->rundir, "/run/connwarden");
  else
    snprintf(cfg->rundir, sizeof cfg->rundir, "/tmp/connwarden-%u", (unsigned)geteuid());
  return 0;
}

int cw_config_load(struct cw_config *cfg, const char *(*env)(const char *), char *err,
                   size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  cfg->on_cap = CW_ON_CAP_QUEUE;
  cfg->queue_timeout_ms = 10000;
  cfg->cap_errno = ECONNREFUSED;
  cfg->reap_grace_ms = 5000;
  cfg->abandon_after_ms = 60000;
  cfg->log_level = CW_LOG_WARN;
  /* timeouts and eviction are for outbound connections unless CONNWARDEN_ONLY says otherwise: an
   * inbound client waiting on a slow answer is idle through no fault of its own */
  cfg->only[0].kind = CW_F_OUT;
  cfg->n_only = 1;
  snprintf(cfg->only_text, sizeof cfg->only_text, "out");
  const char *v;
  int rc;
  if ((rc = get_count(env, "CONNWARDEN_MAX_CONNS", &cfg->max_conns, err, errlen)) < 0 ||
      (rc = get_count(env, "CONNWARDEN_MAX_CONNS_PER_DEST", &cfg->max_conns_per_dest, err, errlen)) < 0 ||
      (rc = get_duration(env, "CONNWARDEN_QUEUE_TIMEOUT", &cfg->queue_timeout_ms, err, errlen)) < 0 ||
      (rc = get_duration(env, "CONNWARDEN_IDLE_TIMEOUT", &cfg->idle_timeout_ms, err, errlen)) < 0 ||
      (rc = get_duration(env, "CONNWARDEN_MAX_LIFETIME", &cfg->max_lifetime_ms, err, errlen)) < 0 ||
      (rc = get_duration(env, "CONNWARDEN_EVICT_IDLE", &cfg->evict_idle_ms, err, errlen)) < 0 ||
      (rc = get_duration(env, "CONNWARDEN_REAP_GRACE", &cfg->reap_grace_ms, err, errlen)) < 0 ||
      (rc = get_duration(env, "CONNWARDEN_ABANDON_AFTER", &cfg->abandon_after_ms, err, errlen)) < 0 ||
      (rc = get_duration(env, "CONNWARDEN_EVICT_IDLE", &cfg->evict_idle_ms, err, errlen)) < 0 ||
      (rc = get_bool(env, "CONNWARDEN_LEAK_CHECK", &cfg->leak_check, err, errlen)) < 0 ||
      (rc = get_backtrace(env, &cfg->backtrace, err, errlen)) < 0 ||
      (rc = get_name(env, cfg->name, sizeof cfg->name, err, errlen)) < 0 ||
      (rc = get_filters(env, "CONNWARDEN_ONLY", cfg->only, &cfg->n_only, cfg->only_text,
                        sizeof cfg->only_text, err, errlen)) < 0 ||
      (rc = get_filters(env, "CONNWARDEN_EXCLUDE", cfg->exclude, &cfg->n_exclude,
                        cfg->exclude_text, sizeof cfg->exclude_text, err, errlen)) < 0)
    return rc;
  int scope = cfg->cap_scope, by = cfg->dest_by, oncap = cfg->on_cap;
  if ((rc = get_either(env, "CONNWARDEN_CAP_SCOPE", "process", "tree", &scope, err, errlen)) < 0 ||
      (rc = get_either(env, "CONNWARDEN_DEST_BY", "name", "address", &by, err, errlen)) < 0 ||
      (rc = get_either(env, "CONNWARDEN_ON_CAP", "queue", "refuse", &oncap, err, errlen)) < 0)
    return rc;
  cfg->cap_scope = scope == 1 ? CW_SCOPE_TREE : CW_SCOPE_PROCESS;
  cfg->dest_by = by == 1 ? CW_DEST_BY_ADDRESS : CW_DEST_BY_NAME;
  cfg->on_cap = oncap == 1 ? CW_ON_CAP_REFUSE : CW_ON_CAP_QUEUE;
  if ((v = env("CONNWARDEN_CAP_ERRNO"))) {
    if (is_loop_errno(v))
      return bad(err, errlen, "CONNWARDEN_CAP_ERRNO", v,
                 "an errno an event loop reads as failure, such as ECONNREFUSED or ETIMEDOUT "
                 "(EAGAIN, EINPROGRESS, EALREADY and EINTR mean \"still connecting\")");
    if (cw_parse_errno_name(v, &cfg->cap_errno) < 0)
      return bad(err, errlen, "CONNWARDEN_CAP_ERRNO", v,
                 "an errno name such as ECONNREFUSED, ETIMEDOUT, ECONNRESET, EHOSTUNREACH, EMFILE");
  }
  if ((v = env("CONNWARDEN_LEAK_EXITCODE"))) {
    int64_t code;
    if (cw_parse_count(v, &code) < 0 || code > 255)
      return bad(err, errlen, "CONNWARDEN_LEAK_EXITCODE", v, "a whole number from 0 to 255");
    cfg->leak_exitcode = (int)code;
  }
  if ((v = env("CONNWARDEN_LOG"))) {
    size_t i;
    for (i = 0; i < CW_ARRAY_LEN(level_names); i++)
      if (strcmp(v, level_names[i]) == 0)
        break;
    if (i == CW_ARRAY_LEN(level_names))
      return bad(err, errlen, "CONNWARDEN_LOG", v, "off, error, warn, info or debug");
    cfg->log_level = (int)i;
  }
  if ((v = env("CONNWARDEN_REPORT")) && strcmp(v, "stderr") != 0) {
    if ((rc = get_path("CONNWARDEN_REPORT", v, cfg->report_dir, sizeof cfg->report_dir, err, errlen)) < 0)
      return rc;
  }
  if ((v = env("CONNWARDEN_REPORT_FORMAT"))) {
    if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)
      return bad(err, errlen, "CONNWARDEN_REPORT_FORMAT", v, "text or json");
    cfg->report_json = v[0] == 'j';
  }
  if ((rc = find_rundir(cfg, env, err, errlen)) < 0)
    return rc;
  v = env("CONNWARDEN_STATS");
  if (v && strcmp(v, "off") == 0) {
    cfg->stats_off = 1;
  } else if (v) {
    if (!*v)
      return bad(err, errlen, "CONNWARDEN_STATS", v, "a path");
    cfg->stats_explicit = 1;
    cfg->stats_first = !cw_statspath_is_descendant(env(CW_STATS_OWNER_VAR), v, getpid());
    if (strlen(v) >= sizeof cfg->stats_spec)
      return bad(err, errlen, "CONNWARDEN_STATS", v, FORMS_STATS);
    snprintf(cfg->stats_spec, sizeof cfg->stats_spec, "%s", v);
    if (cw_statspath_build(cfg, getpid()) < 0)
      return bad(err, errlen, "CONNWARDEN_STATS", v, FORMS_STATS);
  } else if (cw_statspath_build(cfg, getpid()) < 0) {
      return bad(err, errlen, env("CONNWARDEN_RUNDIR") ? "CONNWARDEN_RUNDIR" : "XDG_RUNTIME_DIR",
                 cfg->rundir, "a directory whose socket paths fit in 108 bytes");
  }
  return 0;
}

int cw_config_set(struct cw_config *cfg, const char *name, const char *value, char *err,
                  size_t errlen) {
  int64_t v;
  int64_t *field;
  int duration;
  if (strcmp(name, "max_conns") == 0) {
    field = &cfg->max_conns;
    duration = 0;
  } else if (strcmp(name, "max_conns_per_dest") == 0) {
    field = &cfg->max_conns_per_dest;
    duration = 0;
  } else if (strcmp(name, "idle_timeout") == 0) {
    field = &cfg->idle_timeout_ms;
    duration = 1;
  } else if (strcmp(name, "max_lifetime") == 0) {
    field = &cfg->max_lifetime_ms;
    duration = 1;
  } else if (strcmp(name, "evict_idle") == 0) {
    field = &cfg->evict_idle_ms;
    duration = 1;
  } else {
    snprintf(err, errlen,
             "unknown setting '%.64s' (max_conns, max_conns_per_dest, idle_timeout, max_lifetime, evict_idle)",
             name);
    return -EINVAL;
  }
  if ((duration ? cw_parse_duration_ms(value, &v) : cw_parse_count(value, &v)) < 0) {
    snprintf(err, errlen, "bad value '%.64s' for %s: expected %s", value, name,
             duration ? FORMS_DURATION : FORMS_COUNT);
    return -EINVAL;
  }
  __atomic_store_n(field, v, __ATOMIC_RELAXED);
  return 0;
}
