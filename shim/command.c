/* command.c - parses a stats command line into struct cw_cmd. Pure: no I/O, no state. */
#define _GNU_SOURCE
#include "command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

#define MAX_WORDS 4

static const struct {
  const char *name;
  enum cw_verb verb;
  int min, max; /* arguments */
  const char *usage;
} verbs[] = {
    {"stats", CW_CMD_STATS, 0, 0, NULL},
    {"conns", CW_CMD_CONNS, 0, 0, NULL},
    {"metrics", CW_CMD_METRICS, 0, 0, NULL},
    {"config", CW_CMD_CONFIG, 0, 0, NULL},
    {"help", CW_CMD_HELP, 0, 0, NULL},
    {"set", CW_CMD_SET, 2, 2, "set NAME VALUE"},
    {"reap", CW_CMD_REAP, 1, 1, "reap FD"},
    {"health", CW_CMD_HEALTH, 0, 3, "health [max_abandoned=N] [max_close_wait=N] [max_queue_wait=D]"},
};

/* health's words: NAME=VALUE, each name at most once. */
static int parse_health(char **words, int n, struct cw_health_limits *h, char *err, size_t errlen) {
  static const char *const names[] = {"max_abandoned", "max_close_wait", "max_queue_wait"};
  int64_t *fields[] = {&h->max_abandoned, &h->max_close_wait, &h->max_queue_wait_ms};
  *h = (struct cw_health_limits){-1, -1, -1};
  for (int i = 0; i < n; i++) {
    char *eq = strchr(words[i], '=');
    size_t k = 0;
    while (k < CW_ARRAY_LEN(names) && (!eq || (size_t)(eq - words[i]) != strlen(names[k]) ||
                                       strncmp(words[i], names[k], strlen(names[k])) != 0))
      k++;
    if (k == CW_ARRAY_LEN(names)) {
      snprintf(err, errlen,
               "health: unknown limit '%.32s' (max_abandoned=N, max_close_wait=N, max_queue_wait=D)",
               words[i]);
      return -EINVAL;
    }
    if (*fields[k] >= 0) {
      snprintf(err, errlen, "health: %s given twice", names[k]);
      return -EINVAL;
    }
    int duration = k == 2;
    if ((duration ? cw_parse_duration_ms(eq + 1, fields[k]) : cw_parse_count(eq + 1, fields[k])) < 0) {
      snprintf(err, errlen, "health: bad value '%.32s' for %s: expected %s", eq + 1, names[k],
               duration ? "a duration (250ms, 30s, 10m, 1h, a number of seconds) or off"
                        : "a whole number from 0 to 1000000000");
      return -EINVAL;
    }
  }
  return 0;
}

int cw_cmd_parse(const char *line, struct cw_cmd *cmd, char *err, size_t errlen) {
  char *words[MAX_WORDS + 1];
  char buf[1025];
  int n = 0;
  memset(cmd, 0, sizeof *cmd);
  if (strlen(line) >= sizeof buf) {
    snprintf(err, errlen, "command line longer than %zu bytes", sizeof buf - 1);
    return -EINVAL;
  }
  snprintf(buf, sizeof buf, "%s", line);
  for (const unsigned char *p = (const unsigned char *)buf; *p; p++)
    if ((*p < 0x20 && *p != '\t' && *p != '\r') || *p == 0x7f) {
      snprintf(err, errlen, "control characters in the command line");
      return -EINVAL;
    }
  char *save = NULL;
  for (char *w = strtok_r(buf, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
    if (n == MAX_WORDS + 1) {
      n++;
      break;
    }
    words[n++] = w;
  }
  if (n == 0) {
    snprintf(err, errlen, "empty command (try help)");
    return -EINVAL;
  }
  for (size_t i = 0; i < CW_ARRAY_LEN(verbs); i++) {
    if (strcmp(words[0], verbs[i].name) != 0)
      continue;
    if (n - 1 < verbs[i].min || n - 1 > verbs[i].max) {
      if (verbs[i].max == 0)
        snprintf(err, errlen, "%s takes no arguments", verbs[i].name);
      else
        snprintf(err, errlen, "usage: %s", verbs[i].usage);
      return -EINVAL;
    }
    cmd->verb = verbs[i].verb;
    if (cmd->verb == CW_CMD_HEALTH)
      return parse_health(words + 1, n - 1, &cmd->health, err, errlen);
    if (cmd->verb == CW_CMD_REAP) {
      char *end;
      long fd = strtol(words[1], &end, 10);
      if (*end || end == words[1] || fd < 0 || fd > 0x7fffffff || words[1][0] == '+' || words[1][0] == '-') {
        snprintf(err, errlen, "reap: '%.32s' is not an fd number", words[1]);
        return -EINVAL;
      }
      cmd->fd = (int)fd;
      return 0;
    }
    if (cmd->verb == CW_CMD_SET) {
      if (strlen(words[1]) >= sizeof cmd->name || strlen(words[2]) >= sizeof cmd->value) {
        snprintf(err, errlen, "setting name or value too long");
        return -EINVAL;
      }
      snprintf(cmd->name, sizeof cmd->name, "%s", words[1]);
      snprintf(cmd->value, sizeof cmd->value, "%s", words[2]);
    }
    return 0;
  }
  /* printable and short: the client's typo is echoed back */
  snprintf(err, errlen, "unknown command '%.32s' (try help)", words[0]);
  return -EINVAL;
}
