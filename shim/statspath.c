/* statspath.c - the stats socket's path of a process: RUNDIR/PID.sock, or CONNWARDEN_STATS with
 * %p as the PID and, without %p, ".PID" appended in every descendant of the process that read the
 * path first; and the environment mark that tells exec'd descendants which process that is.
 * Called by config.c at start-up and by lifecycle.c in a fork child. Pure: writes only the config
 * it is given, never allocates, logs or touches errno. */
#define _GNU_SOURCE
#include "statspath.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

int cw_statspath_build(struct cw_config *cfg, pid_t pid) {
  struct sockaddr_un sun;
  if (!cfg->stats_explicit) {
    int w = snprintf(cfg->stats_path, sizeof cfg->stats_path, "%s/%d.sock", cfg->rundir, (int)pid);
    return w < 0 || (size_t)w >= sizeof sun.sun_path ? -ENAMETOOLONG : 0;
  }
  /* stats_spec is shorter than sun_path: with every %p a PID of up to 10 digits, and ".PID"
   * after it, it still fits in stats_path */
  _Static_assert(sizeof cfg->stats_spec * 6 + 12 < sizeof cfg->stats_path, "room for the PIDs");
  char digits[16];
  size_t dl = (size_t)snprintf(digits, sizeof digits, "%d", (int)pid), n = 0;
  int per_pid = 0;
  for (const char *p = cfg->stats_spec; *p; p++) {
    if (p[0] == '%' && p[1] == 'p') {
      memcpy(cfg->stats_path + n, digits, dl);
      n += dl;
      per_pid = 1;
      p++;
    } else {
      cfg->stats_path[n++] = *p;
    }
  }
  if (!per_pid && !cfg->stats_first) {
    cfg->stats_path[n++] = '.';
    memcpy(cfg->stats_path + n, digits, dl);
    n += dl;
  }
  cfg->stats_path[n] = '\0';
  /* the socket's own directory is the one created and checked */
  snprintf(cfg->rundir, sizeof cfg->rundir, "%s", cfg->stats_path);
  char *slash = strrchr(cfg->rundir, '/');
  if (slash == cfg->rundir)
    slash[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(cfg->rundir, sizeof cfg->rundir, ".");
  return n >= sizeof sun.sun_path ? -ENAMETOOLONG : 0;
}

/* A process that execs keeps its PID: the mark its former image set is its own, not an
 * ancestor's. */
int cw_statspath_is_descendant(const char *mark, const char *path, pid_t pid) {
  const char *p = mark;
  int64_t owner = 0;
  if (!mark)
    return 0;
  for (; isdigit((unsigned char)*p) && owner <= INT_MAX; p++)
    owner = owner * 10 + (*p - '0');
  if (p == mark || *p != ':' || strcmp(p + 1, path) != 0)
    return 0;
  return owner != (int64_t)pid;
}

int cw_statspath_mark(const struct cw_config *cfg, pid_t pid, char *out, size_t outlen) {
  if (!cfg->stats_explicit || !cfg->stats_first || strstr(cfg->stats_spec, "%p"))
    return 0;
  int n = snprintf(out, outlen, "%d:%s", (int)pid, cfg->stats_spec);
  return n > 0 && (size_t)n < outlen;
}
