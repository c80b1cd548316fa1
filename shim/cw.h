/* cw.h - what every shim file shares: visibility, the errno and re-entry guards, the raw kernel
 * path and the coarse clock. Included by every shim .c; defines no state of its own beyond the
 * thread-local guard declared here and defined in lifecycle.c. */
#ifndef CW_H
#define CW_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#define CW_HIDDEN __attribute__((visibility("hidden")))
#define CW_EXPORT __attribute__((visibility("default")))
#define CW_LIKELY(x) __builtin_expect(!!(x), 1)
#define CW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bookkeeping that may call libc runs inside CW_SAVE_ERRNO so the host sees the errno of its own
 * call, never ours. */
#define CW_SAVE_ERRNO(block)                                                                       \
  do {                                                                                             \
    int cw_saved_errno_ = errno;                                                                   \
    block;                                                                                         \
    errno = cw_saved_errno_;                                                                       \
  } while (0)

/* Set while a thread runs the shim's own code (bookkeeping, our threads, dlsym): a wrapper entered
 * with it set goes straight to the real call. Initial-exec so reading it is one instruction and
 * never allocates. */
extern __thread int cw_guard __attribute__((tls_model("initial-exec")));

/* Raw system call, for calls that arrive before the real functions are resolved (or from inside
 * dlsym). Returns the kernel's result: -errno on failure. Never touches errno. */
CW_HIDDEN long cw_raw_syscall(long n, long a, long b, long c, long d, long e, long f);

/* The same, with libc's convention: -1 and errno on failure. */
CW_HIDDEN long cw_raw_call(long n, long a, long b, long c, long d, long e, long f);

/* Monotonic time in nanoseconds from the coarse clock (vDSO, no system call, ~4 ms resolution). */
static inline int64_t cw_now_coarse(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Precise monotonic and wall-clock time in nanoseconds; off the hot path only. */
static inline int64_t cw_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
