/* command.h - the stats protocol's command line, parsed. Pure; used by server.c and tests. */
#ifndef CW_COMMAND_H
#define CW_COMMAND_H

#include <stddef.h>
#include "cw.h"

enum cw_verb { CW_CMD_STATS, CW_CMD_CONNS, CW_CMD_METRICS, CW_CMD_CONFIG, CW_CMD_HELP, CW_CMD_SET, CW_CMD_REAP };

struct cw_cmd {
  enum cw_verb verb;
  char name[64];  /* set: the setting */
  char value[64]; /* set: its new value (checked by cw_config_set) */
  int fd;         /* reap: the fd */
};

/* Parse one line (its newline already cut; a trailing \r and blanks are ignored). Returns 0, or
 * -EINVAL with a one-line reason (no "error: " prefix, no newline) in err. */
CW_HIDDEN int cw_cmd_parse(const char *line, struct cw_cmd *cmd, char *err, size_t errlen);

#endif
