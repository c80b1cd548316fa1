/* log.c - one-line events through the real write(); no stdio, no allocation. Called from any
 * thread, including the host's inside wrappers. */
#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include "real.h"

enum cw_level cw_log_level = CW_LOG_WARN; /* immutable after config_load */

int cw_write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = CW_REAL(write) ? CW_REAL(write)(fd, buf, len)
                               : cw_raw_call(SYS_write, fd, (long)buf, (long)len, 0, 0, 0);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

void cw_log(enum cw_level level, const char *fmt, ...) {
  if (level > cw_log_level || level == CW_LOG_OFF)
    return;
  CW_SAVE_ERRNO({
    char line[1024];
    int n = snprintf(line, sizeof line, "connwarden[%d]: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
      m = 0;
    size_t len = (size_t)n + ((size_t)m < sizeof line - (size_t)n - 1 ? (size_t)m : sizeof line - (size_t)n - 2);
    line[len++] = '\n';
    cw_write_all(2, line, len);
  });
}
