/* suppress.c - parse a suppressions file and match leaks against it (see suppress.h). Pure: no
 * I/O, no global state, nothing kept between calls; called by the leak summary and by the unit
 * tests (and a fuzzer) with arbitrary bytes. */
#define _GNU_SOURCE
#include "suppress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cw_supp_free(struct cw_supp_list *l) {
  for (int i = 0; i < l->n; i++) {
    free(l->v[i].text);
    free(l->v[i].name);
  }
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* "8000" -> 8000, "*" -> 0 (any); -1 when neither. */
static int parse_port(const char *s) {
  if (strcmp(s, "*") == 0)
    return 0;
  int v = 0;
  if (!*s)
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return -1;
    v = v * 10 + (*s - '0');
    if (v > 65535)
      return -1;
  }
  return v >= 1 ? v : -1;
}

/* HOST:PORT, [IPv6]:PORT or :PORT (any host), as in a rule or a report's peer field. HOST is an IP
 * literal or *. s is modified. Returns 0 or -1. */
static int parse_hostport(char *s, int *family, unsigned char ip[16], int *port) {
  char *host = s, *colon;
  memset(ip, 0, 16);
  if (*s == '[') {
    char *close = strchr(s, ']');
    if (!close || close[1] != ':')
      return -1;
    *close = '\0';
    host = s + 1;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon)
      return -1;
  }
  *colon = '\0';
  if ((*port = parse_port(colon + 1)) < 0)
    return -1;
  if (*host == '\0' || strcmp(host, "*") == 0)
    *family = 0;
  else if (inet_pton(AF_INET, host, ip) == 1)
    *family = AF_INET;
  else if (inet_pton(AF_INET6, host, ip) == 1)
    *family = AF_INET6;
  else
    return -1;
  return 0;
}

static int bad(char *err, size_t errlen, int line, const char *why, const char *rule) {
  snprintf(err, errlen, "line %d: %s: '%.80s'", line, why, rule);
  return -EINVAL;
}

/* One trimmed, non-empty, non-comment rule (NUL-terminated copy). */
static int parse_rule(char *rule, int line, struct cw_supp *s, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->line = line;
  if (!(s->text = strdup(rule)))
    return -ENOMEM;
  char *colon = strchr(rule, ':');
  if (!colon)
    return bad(err, errlen, line, "expected peer:HOST:PORT, peer::PORT, func:NAME or module:NAME", rule);
  *colon = '\0';
  const char *kind = rule;
  char *arg = colon + 1;
  if (strcmp(kind, "peer") == 0) {
    s->kind = CW_SUPP_PEER;
    if (parse_hostport(arg, &s->family, s->ip, &s->port) < 0)
      return bad(err, errlen, line, "expected peer:HOST:PORT or peer::PORT (HOST an IP address, PORT 1-65535 or *)",
                 s->text);
    return 0;
  }
  if (strcmp(kind, "func") == 0)
    s->kind = CW_SUPP_FUNC;
  else if (strcmp(kind, "module") == 0)
    s->kind = CW_SUPP_MODULE;
  else
    return bad(err, errlen, line, "unknown kind (peer, func, module)", s->text);
  if (!*arg)
    return bad(err, errlen, line, "empty name", s->text);
  return (s->name = strdup(arg)) ? 0 : -ENOMEM;
}

int cw_supp_parse(const char *text, size_t len, struct cw_supp_list *out, char *err, size_t errlen) {
  out->v = NULL;
  out->n = 0;
  if (memchr(text, '\0', len)) {
    const char *nul = memchr(text, '\0', len);
    int line = 1;
    for (const char *p = text; p < nul; p++)
      line += *p == '\n';
    return bad(err, errlen, line, "a NUL byte", "");
  }
  int cap = 0, line = 0;
  for (size_t pos = 0; pos < len;) {
    const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - start) : len - pos;
    pos += n + (nl != NULL);
    line++;
    while (n > 0 && (*start == ' ' || *start == '\t')) {
      start++;
      n--;
    }
    while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t' || start[n - 1] == '\r'))
      n--;
    if (n == 0 || *start == '#')
      continue;
    if (out->n == cap) {
      int ncap = cap ? cap * 2 : 8;
      struct cw_supp *v = realloc(out->v, (size_t)ncap * sizeof *v);
      if (!v)
        return -ENOMEM;
      out->v = v;
      cap = ncap;
    }
    char *rule = strndup(start, n);
    if (!rule)
      return -ENOMEM;
    int rc = parse_rule(rule, line, &out->v[out->n], err, errlen);
    out->n++; /* even half-filled: cw_supp_free frees what it holds */
    free(rule);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int peer_matches(const struct cw_supp *s, const char *peer) {
  char buf[128];
  int family, port;
  unsigned char ip[16];
  if (!peer || strlen(peer) >= sizeof buf)
    return 0;
  strcpy(buf, peer);
  if (parse_hostport(buf, &family, ip, &port) < 0)
    return 0;
  if (s->port && s->port != port)
    return 0;
  return s->family == 0 || (s->family == family && memcmp(s->ip, ip, 16) == 0);
}

static int module_matches(const char *pattern, const char *module) {
  if (!module || !*module)
    return 0;
  if (!strchr(pattern, '/')) {
    const char *base = strrchr(module, '/');
    module = base ? base + 1 : module;
  }
  return fnmatch(pattern, module, 0) == 0;
}

int cw_supp_match(const struct cw_supp_list *l, const char *peer, const struct cw_supp_frame *frames,
                  int n) {
  for (int i = 0; i < l->n; i++) {
    const struct cw_supp *s = &l->v[i];
    if (s->kind == CW_SUPP_PEER) {
      if (peer_matches(s, peer))
        return i;
      continue;
    }
    for (int f = 0; f < n; f++) {
      if (s->kind == CW_SUPP_FUNC ? frames[f].func && fnmatch(s->name, frames[f].func, 0) == 0
                                  : module_matches(s->name, frames[f].module))
        return i;
    }
  }
  return -1;
}
