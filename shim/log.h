/* log.h - one-line events on stderr, prefixed connwarden[PID]:, written straight to the kernel. */
#ifndef CW_LOG_H
#define CW_LOG_H

#include "cw.h"

enum cw_level { CW_LOG_OFF, CW_LOG_ERROR, CW_LOG_WARN, CW_LOG_INFO, CW_LOG_DEBUG };

/* The threshold; set once by config at start-up (immutable after). */
extern CW_HIDDEN enum cw_level cw_log_level;

/* Format one line (printf-style, truncated at 1 KiB) and write it to fd 2 if level passes.
 * Async-signal-unsafe only through vsnprintf; never allocates; keeps errno. */
CW_HIDDEN void cw_log(enum cw_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lines logged while this thread holds a shim lock (cw_locked) are kept, and written here once
 * the last lock is released: a write to a stuck stderr must never block with a lock held. */
extern __thread size_t cw_log_held __attribute__((tls_model("initial-exec")));
CW_HIDDEN void cw_log_flush_held(void);
static inline void cw_log_flush(void) {
  if (CW_UNLIKELY(cw_log_held))
    cw_log_flush_held();
}

/* Write a whole buffer to fd with the real write(), retrying on EINTR and short writes.
 * Returns 0 or -errno. */
CW_HIDDEN int cw_write_all(int fd, const char *buf, size_t len);

#endif
