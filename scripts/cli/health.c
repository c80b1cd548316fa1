/* health.c - `connwarden check [PID|SOCKET|--all] [--max-abandoned N] [--max-close-wait N]
 * [--max-queue-wait D]`: sends `health` with the limits given to one process (or every shimmed
 * process of this user), so the library judges each by the same rule, and prints "LABEL: healthy"
 * or one "LABEL: PROBLEM" line per problem on stdout. Exit status: 0 all healthy, 1 any problem,
 * 2 when it cannot ask (no such process, no socket, no answer, a bad reply or command line); a
 * problem found wins over a process that could not be asked. */
#define _GNU_SOURCE
#include "health.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "err.h"

static const struct {
  const char *opt, *limit;
  int duration; /* else a count */
} limits[] = {
    {"--max-abandoned", "max_abandoned", 0},
    {"--max-close-wait", "max_close_wait", 0},
    {"--max-queue-wait", "max_queue_wait", 1},
};

static int is_count(const char *s) {
  size_t n = strspn(s, "0123456789");
  return n > 0 && n <= 10 && s[n] == '\0';
}

/* 250ms, 30s, 10m, 1h, 1.5s, 5, off: the library's forms (it checks the range). */
static int is_duration(const char *s) {
  if (strcmp(s, "off") == 0)
    return 1;
  size_t n = strspn(s, "0123456789");
  if (n == 0)
    return 0;
  s += n;
  if (*s == '.') {
    n = strspn(++s, "0123456789");
    if (n == 0)
      return 0;
    s += n;
  }
  return !*s || !strcmp(s, "ms") || !strcmp(s, "s") || !strcmp(s, "m") || !strcmp(s, "h");
}

int cw_health_parse(int argc, char **argv, struct cw_health_opts *o, char *err, size_t errlen) {
  const char *value[sizeof limits / sizeof limits[0]] = {NULL};
  int only_args = 0;
  memset(o, 0, sizeof *o);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!only_args && strcmp(a, "--") == 0) {
      only_args = 1;
      continue;
    }
    if (!only_args && strcmp(a, "--all") == 0) {
      o->all = 1;
      continue;
    }
    if (!only_args && a[0] == '-' && a[1]) {
      const char *eq = strchr(a, '=');
      size_t len = eq ? (size_t)(eq - a) : strlen(a);
      size_t k = 0;
      while (k < sizeof limits / sizeof limits[0] &&
             (strlen(limits[k].opt) != len || strncmp(a, limits[k].opt, len) != 0))
        k++;
      if (k == sizeof limits / sizeof limits[0]) {
        snprintf(err, errlen, "check: unknown option '%.*s'", (int)(len < 64 ? len : 64), a);
        return -1;
      }
      if (value[k]) {
        snprintf(err, errlen, "check: %s given twice", limits[k].opt);
        return -1;
      }
      if (!eq && i + 1 >= argc) {
        snprintf(err, errlen, "check: %s needs a value: %s", limits[k].opt, limits[k].duration ? "D" : "N");
        return -1;
      }
      const char *v = eq ? eq + 1 : argv[++i];
      if (strlen(v) > 32 || !(limits[k].duration ? is_duration(v) : is_count(v))) {
        snprintf(err, errlen, "check: %s takes %s, not '%.32s'", limits[k].opt,
                 limits[k].duration ? "a duration (250ms, 30s, 10m, 1h, a number of seconds) or off"
                                    : "a whole number",
                 v);
        return -1;
      }
      value[k] = v;
      continue;
    }
    if (o->target) {
      snprintf(err, errlen, "check: one target at most, got '%.64s' and '%.64s'", o->target, a);
      return -1;
    }
    o->target = a;
  }
  if (o->all && o->target) {
    snprintf(err, errlen, "check: --all or a target, not both ('%.64s')", o->target);
    return -1;
  }
  size_t off = (size_t)snprintf(o->line, sizeof o->line, "health");
  for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++)
    if (value[k])
      off += (size_t)snprintf(o->line + off, sizeof o->line - off, " %s=%s", limits[k].limit, value[k]);
  return 0;
}

/* One process's health reply: its verdict on stdout, one line per problem. Returns the status. */
static int judge(const char *label, const char *reply) {
  json_t *j = json_loads(reply, 0, NULL);
  json_t *ok = json_object_get(j, "ok"), *problems = json_object_get(j, "problems");
  int rc = CW_HEALTH_HEALTHY;
  if (!json_is_boolean(ok) || !json_is_array(problems)) {
    cw_err_fail("%s: not a health reply: %.*s", label, (int)strcspn(reply, "\n"), reply);
    rc = CW_HEALTH_CANNOT;
  } else if (json_is_true(ok)) {
    printf("%s: healthy\n", label);
  } else {
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p) printf("%s: %s\n", label, json_is_string(p) ? json_string_value(p) : "?");
    if (json_array_size(problems) == 0)
      printf("%s: unhealthy\n", label);
    rc = CW_HEALTH_UNHEALTHY;
  }
  json_decref(j);
  return rc;
}

static int worst(int a, int b) {
  return a == CW_HEALTH_UNHEALTHY || b == CW_HEALTH_UNHEALTHY ? CW_HEALTH_UNHEALTHY : a > b ? a : b;
}

static int check_all(const char *line) {
  struct cw_live *v;
  int n = cw_client_scan(line, &v), rc = CW_HEALTH_HEALTHY;
  if (n < 0) {
    cw_err_fail("scanning the run directories: %s", strerror(-n));
    return CW_HEALTH_CANNOT;
  }
  if (n == 0) {
    struct cw_rundirs rd;
    char dirs[4 * PATH_MAX];
    cw_client_rundirs(&rd);
    cw_client_rundirs_text(&rd, dirs, sizeof dirs);
    cw_err_fail("no shimmed processes (looked in %s)", dirs);
    rc = CW_HEALTH_CANNOT;
  }
  for (int i = 0; i < n; i++) {
    char comm[64], label[128];
    snprintf(label, sizeof label, "pid %d (%s)", v[i].pid, cw_client_comm(v[i].pid, comm, sizeof comm));
    if (v[i].err || !v[i].reply) {
      cw_err_fail("%s: %s", label, v[i].err ? strerror(-v[i].err) : "no reply");
      rc = worst(rc, CW_HEALTH_CANNOT);
    } else if (strncmp(v[i].reply, "error: ", 7) == 0) {
      cw_err_fail("%s: %.*s", label, (int)strcspn(v[i].reply + 7, "\n"), v[i].reply + 7);
      rc = worst(rc, CW_HEALTH_CANNOT);
    } else {
      rc = worst(rc, judge(label, v[i].reply));
    }
  }
  cw_client_scan_free(v, n);
  return rc;
}

int cw_health_run(int argc, char **argv) {
  struct cw_health_opts o;
  char err[256];
  if (cw_health_parse(argc, argv, &o, err, sizeof err) < 0)
    return cw_err_usage("%s", err);
  int rc;
  if (o.all) {
    rc = check_all(o.line);
  } else {
    struct cw_target t;
    char *reply;
    if (cw_client_resolve(o.target, &t) != 0 || cw_client_ask(&t, o.line, &reply) != 0)
      return CW_HEALTH_CANNOT; /* said why already */
    rc = judge(t.label, reply);
    free(reply);
  }
  if (fflush(stdout) != 0)
    return cw_err_fail("writing the output failed"), CW_HEALTH_CANNOT;
  return rc;
}
