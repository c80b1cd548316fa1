/* leakcheck.c - the exit-time report: a snapshot of the connections still open, minus the ones
 * inherited, rendered like LeakSanitizer's report and written to stderr or to
 * CONNWARDEN_REPORT/connwarden.PID.txt. Runs once, in the exiting thread, with cw_guard set. */
#define _GNU_SOURCE
#include "leakcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "lifecycle.h"
#include "log.h"
#include "real.h"
#include "render.h"

int cw_leakcheck_run(void) {
  struct cw_snapshot s;
  if (cw_snapshot_take(&s, CW_SNAP_CONNS | CW_SNAP_BT) < 0) {
    cw_log(CW_LOG_ERROR, "leak check skipped: out of memory");
    return 0;
  }
  struct cw_buf b = {0};
  int n = cw_render_leaks(&b, &s, program_invocation_short_name);
  cw_snapshot_free(&s);
  if (n > 0) {
    int fd = 2, own = 0;
    if (cw_cfg.report_dir[0]) {
      char path[CW_PATH_MAX + 64];
      mkdir(cw_cfg.report_dir, 0700);
      snprintf(path, sizeof path, "%s/connwarden.%d.txt", cw_cfg.report_dir, (int)cw_pid);
      fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) {
        cw_log(CW_LOG_ERROR, "cannot write the leak report to %s: %s", path, strerror(errno));
        fd = 2;
      } else {
        own = 1;
      }
    }
    cw_write_all(fd, b.p, b.len);
    if (own)
      CW_REAL(close)(fd);
  }
  cw_buf_free(&b);
  return n;
}
