/* command.h - the stats protocol's command line, parsed. Pure; used by server.c, render.c (the
 * health limits) and tests. */
#ifndef CW_COMMAND_H
#define CW_COMMAND_H

#include <stddef.h>
#include "cw.h"

enum cw_verb {
  CW_CMD_STATS, CW_CMD_CONNS, CW_CMD_METRICS, CW_CMD_CONFIG, CW_CMD_HELP, CW_CMD_SET, CW_CMD_REAP,
  CW_CMD_HEALTH
};

/* What `health` tolerates; -1 is the default: no connection abandoned now, none leaking in
 * close-wait now, no connect queued longer than the queue timeout. max_queue_wait_ms 0: no limit. */
struct cw_health_limits {
  int64_t max_abandoned, max_close_wait, max_queue_wait_ms;
};

struct cw_cmd {
  enum cw_verb verb;
  char name[64];  /* set: the setting */
  char value[64]; /* set: its new value (checked by cw_config_set) */
  int fd;         /* reap: the fd */
  struct cw_health_limits health; /* health: max_abandoned=N max_close_wait=N max_queue_wait=D */
};

/* Parse one line (its newline already cut; a trailing \r and blanks are ignored). Returns 0, or
 * -EINVAL with a one-line reason (no "error: " prefix, no newline) in err. */
CW_HIDDEN int cw_cmd_parse(const char *line, struct cw_cmd *cmd, char *err, size_t errlen);

#endif
