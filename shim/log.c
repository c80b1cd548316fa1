/* log.c - one-line events written straight to the kernel; no stdio, no allocation. Called from any
 * thread, including the host's inside wrappers. */
#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "table.h"

enum cw_level cw_log_level = CW_LOG_WARN; /* immutable after config_load */

int cw_write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    /* straight to the kernel: no wrapper, no cancellation point, nothing else of libc */
    long w = cw_raw_call(SYS_write, fd, (long)buf, (long)len, 0, 0, 0);
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

/* This thread's lines logged under a lock: up to 2 KiB, the rest counted. */
static __thread char held[2048] __attribute__((tls_model("initial-exec")));
__thread size_t cw_log_held __attribute__((tls_model("initial-exec")));
static __thread unsigned dropped __attribute__((tls_model("initial-exec")));
#define nheld cw_log_held

void cw_log_flush_held(void) {
  CW_SAVE_ERRNO({
    cw_write_all(2, held, nheld);
    nheld = 0;
    if (dropped) {
      char line[96];
      int n = snprintf(line, sizeof line, "connwarden[%d]: (%u more events not shown)\n",
                       (int)getpid(), dropped);
      dropped = 0;
      cw_write_all(2, line, (size_t)n);
    }
  });
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
    if (!cw_locked) {
      cw_write_all(2, line, len);
    } else if (nheld + len <= sizeof held) {
      memcpy(held + nheld, line, len);
      nheld += len;
    } else {
      dropped++;
    }
  });
}
