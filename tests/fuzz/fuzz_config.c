/* fuzz_config.c - libFuzzer target for the configuration parsers (shim/config.c, statspath.c,
 * vars.c). The first byte picks the parser: a duration, a count, an errno name, a filter list
 * (then matched against an address), a run-time `set NAME VALUE`, or a whole environment of
 * NAME=VALUE lines for the name check (cw_vars_check) and cw_config_load. Each must accept with a
 * result in range or refuse with -EINVAL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "vars.h"

#define MAX_MS ((int64_t)365 * 24 * 3600 * 1000)

static char envbuf[4096], entrybuf[4096];
static char *env_names[32], *env_values[32], *entries[33];
static int env_n;

static const char *fake_env(const char *name) {
  for (int i = 0; i < env_n; i++)
    if (strcmp(env_names[i], name) == 0)
      return env_values[i];
  return NULL;
}

/* Lines NAME=VALUE: all of them as an environment (entries), and those with a '=' split for
 * fake_env. */
static void load_env(const char *s) {
  snprintf(entrybuf, sizeof entrybuf, "%s", s);
  int k = 0;
  char *save = NULL;
  for (char *l = strtok_r(entrybuf, "\n", &save); l && k < 32; l = strtok_r(NULL, "\n", &save))
    entries[k++] = l;
  entries[k] = NULL;
  snprintf(envbuf, sizeof envbuf, "%s", s);
  env_n = 0;
  save = NULL;
  for (char *l = strtok_r(envbuf, "\n", &save); l && env_n < 32; l = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(l, '=');
    if (!eq)
      continue;
    *eq = '\0';
    env_names[env_n] = l;
    env_values[env_n++] = eq + 1;
  }
}

static struct cw_config cfg;

/* 0, or -EINVAL with a refusal that names itself in one terminated line */
static int accepted_or_refused(int rc, const char *err, size_t errlen) {
  return rc == 0 || (rc == -EINVAL && memchr(err, '\0', errlen) && strncmp(err, "connwarden: ", 12) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  char s[4096];
  size_t n = size - 1 < sizeof s - 1 ? size - 1 : sizeof s - 1;
  memcpy(s, data + 1, n);
  s[n] = '\0';
  int64_t v = -42;
  int e = -42, rc;
  switch (data[0] % 6) {
  case 0:
    rc = cw_parse_duration_ms(s, &v);
    if (rc == 0 ? v < 0 || v > MAX_MS : rc != -EINVAL || v != -42)
      abort();
    break;
  case 1:
    rc = cw_parse_count(s, &v);
    if (rc == 0 ? v < 0 || v > 1000000000 : rc != -EINVAL || v != -42)
      abort();
    break;
  case 2:
    rc = cw_parse_errno_name(s, &e);
    if (rc == 0 ? e <= 0 : rc != -EINVAL || e != -42)
      abort();
    break;
  case 3: {
    struct cw_filter f[CW_MAX_FILTERS];
    int k = -1;
    rc = cw_parse_filters(s, f, CW_MAX_FILTERS, &k);
    if (rc == 0) {
      if (k < 1 || k > CW_MAX_FILTERS)
        abort();
      struct cw_addr peer = {.family = AF_INET, .port = 8000, .ip = {127, 0, 0, 1}};
      for (int i = 0; i < k; i++)
        if (f[i].kind == CW_F_CIDR && (f[i].prefix < 0 || f[i].prefix > 128))
          abort();
      cw_filters_match(f, k, CW_DIR_OUT, &peer, NULL, 0);
      cw_filters_match(f, k, CW_DIR_OUT, &peer, "api.example.com", 8000);
      peer.family = AF_INET6;
      cw_filters_match(f, k, CW_DIR_IN, &peer, "example.com", 443);
    } else if (rc != -EINVAL) {
      abort();
    }
    break;
  }
  case 4: {
    char *sp = strchr(s, ' ');
    const char *value = sp ? sp + 1 : "";
    if (sp)
      *sp = '\0';
    char err[256];
    memset(&cfg, 0, sizeof cfg);
    rc = cw_config_set(&cfg, s, value, err, sizeof err);
    if (rc != 0 && (rc != -EINVAL || !memchr(err, '\0', sizeof err)))
      abort();
    if (cfg.max_conns < 0 || cfg.idle_timeout_ms < 0 || cfg.max_lifetime_ms < 0)
      abort();
    break;
  }
  default: {
    char err[1024];
    load_env(s);
    if (!accepted_or_refused(cw_vars_check(entries, err, sizeof err), err, sizeof err))
      abort();
    rc = cw_config_load(&cfg, fake_env, err, sizeof err);
    if (!accepted_or_refused(rc, err, sizeof err))
      abort();
    if (rc == 0 && (!memchr(cfg.stats_path, '\0', sizeof cfg.stats_path) ||
                    cfg.n_only < 0 || cfg.n_only > CW_MAX_FILTERS || cfg.leak_exitcode > 255))
      abort();
    break;
  }
  }
  return 0;
}
