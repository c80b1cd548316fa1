/* query.c - stats, conns and set against one process: parse the verb's words, resolve the target
 * (client.c), send one command, then print the raw reply (--json, --prom, set) or hand the parsed
 * JSON to view.c for the human view. */
#define _GNU_SOURCE
#include "query.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "err.h"
#include "view.h"

/* ---- shared --------------------------------------------------------------------------------- */

/* Options in opts (e.g. "--json") set their flag; at most one other word, the target. */
static int parse_args(const char *verb, int argc, char **argv, const char *const *opts, int *flags,
                      const char **target) {
  int only_args = 0;
  *target = NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!only_args && strcmp(a, "--") == 0) {
      only_args = 1;
      continue;
    }
    if (!only_args && a[0] == '-' && a[1]) {
      int k = 0;
      while (opts[k] && strcmp(opts[k], a) != 0)
        k++;
      if (!opts[k])
        return cw_err_usage("%s: unknown option '%s'", verb, a);
      flags[k] = 1;
      continue;
    }
    if (*target)
      return cw_err_usage("%s: one target at most, got '%s' and '%s'", verb, *target, a);
    *target = a;
  }
  return 0;
}

/* The raw reply on stdout, as the server sent it. */
static int print_raw(const char *reply) {
  fputs(reply, stdout);
  return fflush(stdout) == 0 ? CW_EXIT_OK : cw_err_fail("writing the output failed");
}

static json_t *parse_json(const struct cw_target *t, const char *reply, int want_array) {
  json_error_t e;
  json_t *j = json_loads(reply, JSON_DECODE_ANY, &e);
  if (!j) {
    cw_err_fail("%s: unreadable reply (line %d: %s)", t->label, e.line, e.text);
    return NULL;
  }
  if (want_array ? !json_is_array(j) : !json_is_object(j)) {
    cw_err_fail("%s: unexpected reply: not a JSON %s", t->label, want_array ? "array" : "object");
    json_decref(j);
    return NULL;
  }
  return j;
}

int cw_query_stats(int argc, char **argv) {
  static const char *const opts[] = {"--json", "--prom", NULL};
  int flags[2] = {0, 0}, rc;
  const char *arg;
  struct cw_target t;
  char *reply;
  if ((rc = parse_args("stats", argc, argv, opts, flags, &arg)) != 0)
    return rc;
  if (flags[0] && flags[1])
    return cw_err_usage("stats: --json and --prom exclude each other");
  if ((rc = cw_client_resolve(arg, &t)) != 0)
    return rc;
  if ((rc = cw_client_ask(&t, flags[1] ? "metrics" : "stats", &reply)) != 0)
    return rc;
  if (flags[0] || flags[1]) {
    rc = print_raw(reply);
  } else {
    json_t *j = parse_json(&t, reply, 0);
    rc = j ? cw_view_stats(j) : CW_EXIT_FAIL;
    json_decref(j);
    if (rc == 0 && fflush(stdout) != 0)
      rc = cw_err_fail("writing the output failed");
  }
  free(reply);
  return rc;
}

/* ---- conns ---------------------------------------------------------------------------------- */

int cw_query_conns(int argc, char **argv) {
  static const char *const opts[] = {"--json", "--stacks", NULL};
  int flags[2] = {0, 0}, rc;
  const char *arg;
  struct cw_target t;
  char *reply;
  if ((rc = parse_args("conns", argc, argv, opts, flags, &arg)) != 0)
    return rc;
  if ((rc = cw_client_resolve(arg, &t)) != 0)
    return rc;
  if ((rc = cw_client_ask(&t, "conns", &reply)) != 0)
    return rc;
  if (flags[0]) {
    rc = print_raw(reply);
  } else {
    json_t *j = parse_json(&t, reply, 1);
    rc = j ? cw_view_conns(j, flags[1]) : CW_EXIT_FAIL;
    json_decref(j);
    if (rc == 0 && fflush(stdout) != 0)
      rc = cw_err_fail("writing the output failed");
  }
  free(reply);
  return rc;
}

/* ---- set and reap ------------------------------------------------------------------------------------ */

/* One word of the protocol line: no blanks or control characters, so it stays one word. */
static int is_word(const char *s) {
  if (!*s || strlen(s) > 63)
    return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p <= ' ' || *p == 0x7f)
      return 0;
  return 1;
}

/* Send one command line to the process named by who and print its reply. */
static int command(const char *who, const char *line) {
  struct cw_target t;
  char *reply;
  int rc;
  if ((rc = cw_client_resolve(who, &t)) != 0)
    return rc;
  if ((rc = cw_client_ask(&t, line, &reply)) != 0)
    return rc;
  rc = print_raw(reply);
  free(reply);
  return rc;
}

int cw_query_set(int argc, char **argv) {
  char line[160];
  if (argc != 3)
    return cw_err_usage("usage: connwarden set PID|SOCKET NAME VALUE");
  if (!is_word(argv[1]) || !is_word(argv[2]))
    return cw_err_usage("set: NAME and VALUE must be single words of at most 63 bytes");
  snprintf(line, sizeof line, "set %s %s", argv[1], argv[2]);
  return command(argv[0], line);
}

int cw_query_reap(int argc, char **argv) {
  char line[96];
  if (argc != 2)
    return cw_err_usage("usage: connwarden reap PID|SOCKET FD");
  if (!is_word(argv[1]) || strspn(argv[1], "0123456789") != strlen(argv[1]))
    return cw_err_usage("reap: FD must be an fd number");
  snprintf(line, sizeof line, "reap %s", argv[1]);
  return command(argv[0], line);
}
