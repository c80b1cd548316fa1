/* command.c - parses a stats command line into struct cw_cmd. Pure: no I/O, no state. */
#define _GNU_SOURCE
#include "command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 4

static const struct {
  const char *name;
  enum cw_verb verb;
  int args;
} verbs[] = {
    {"stats", CW_CMD_STATS, 0},   {"conns", CW_CMD_CONNS, 0}, {"metrics", CW_CMD_METRICS, 0},
    {"config", CW_CMD_CONFIG, 0}, {"help", CW_CMD_HELP, 0},   {"set", CW_CMD_SET, 2},
    {"reap", CW_CMD_REAP, 1},
};

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
    if (n - 1 != verbs[i].args) {
      if (verbs[i].args == 0)
        snprintf(err, errlen, "%s takes no arguments", verbs[i].name);
      else if (verbs[i].verb == CW_CMD_REAP)
        snprintf(err, errlen, "usage: reap FD");
      else
        snprintf(err, errlen, "usage: set NAME VALUE");
      return -EINVAL;
    }
    cmd->verb = verbs[i].verb;
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
    if (verbs[i].args == 2) {
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
