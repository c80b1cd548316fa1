/* health.h - the check verb: asks one process (or --all) for `health` with the limits given and
 * exits 0 when healthy, 1 with one line per problem, 2 when it cannot ask. What a Kubernetes exec
 * probe, Docker's HEALTHCHECK or a systemd timer runs. */
#ifndef CW_CLI_HEALTH_H
#define CW_CLI_HEALTH_H

#include <stddef.h>

#define CW_HEALTH_HEALTHY 0
#define CW_HEALTH_UNHEALTHY 1
#define CW_HEALTH_CANNOT 2 /* no such process, no socket, no answer, a bad reply, a bad command line */

/* check's words, parsed: the target (NULL: the only shimmed process) or --all, and the `health`
 * line that carries the limits given. */
struct cw_health_opts {
  int all;
  const char *target;
  char line[192];
};

/* Parse the words after "check". 0, or -1 with a one-line reason in err. Pure. */
int cw_health_parse(int argc, char **argv, struct cw_health_opts *o, char *err, size_t errlen);

int cw_health_run(int argc, char **argv);

#endif
