/* fuzz_command.c - libFuzzer target for the stats command parser (shim/command.c, with the
 * configuration's value parsers that health's limits use): any bytes, cut at the first NUL as
 * the server does, must parse or be refused with a one-line reason, and a parsed command must be
 * well formed. Built and run by mk/fuzz.mk. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char line[2048];
  size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
  memcpy(line, data, n);
  line[n] = '\0';
  struct cw_cmd cmd;
  char err[256];
  memset(err, 'x', sizeof err);
  int rc = cw_cmd_parse(line, &cmd, err, sizeof err);
  if (rc < 0) {
    if (rc != -EINVAL || !memchr(err, '\0', sizeof err) || strchr(err, '\n') || err[0] == '\0')
      abort(); /* a refusal is -EINVAL with one non-empty line */
    return 0;
  }
  if (cmd.verb > CW_CMD_HEALTH || !memchr(cmd.name, '\0', sizeof cmd.name) ||
      !memchr(cmd.value, '\0', sizeof cmd.value) || cmd.fd < 0)
    abort();
  if (cmd.verb == CW_CMD_SET && (!cmd.name[0] || !cmd.value[0]))
    abort(); /* set has both words */
  const struct cw_health_limits *h = &cmd.health;
  if (cmd.verb == CW_CMD_HEALTH && (h->max_abandoned < -1 || h->max_abandoned > 1000000000 ||
                                    h->max_close_wait < -1 || h->max_close_wait > 1000000000 ||
                                    h->max_queue_wait_ms < -1))
    abort(); /* health's limits: the default (-1) or what the parsers accept */
  return 0;
}
