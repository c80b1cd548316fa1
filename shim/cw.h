/* cw.h - what every shim file shares: visibility, the errno and re-entry guards, the raw kernel
 * path and the coarse clock. Included by every shim .c; defines no state of its own beyond the
 * thread-local guard declared here and defined in lifecycle.c. */
#ifndef CW_H
#define CW_H

#include <errno.h>
#include <pthread.h>
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

/* The kernel without libc: for calls that arrive before the real functions are resolved (or from
 * inside dlsym), for the shim's own log lines, and as the I/O functions themselves while libc's
 * cancellation bookkeeping would be pure cost (real.h, cw_real_use_raw).
 * cw_raw_syscall returns the kernel's result (-errno on failure) and never touches errno;
 * CW_RAW(nr, args...) has libc's convention: -1 and errno on failure. Each arity loads only its
 * own argument registers. */
#if defined(__x86_64__)
#define CW_SYSCALL_ASM(...) __asm__ volatile("syscall" : "=a"(r) : __VA_ARGS__ : "rcx", "r11", "memory")
static inline long cw_sys1(long n, long a) { long r; CW_SYSCALL_ASM("a"(n), "D"(a)); return r; }
static inline long cw_sys2(long n, long a, long b) { long r; CW_SYSCALL_ASM("a"(n), "D"(a), "S"(b)); return r; }
static inline long cw_sys3(long n, long a, long b, long c) {
  long r;
  CW_SYSCALL_ASM("a"(n), "D"(a), "S"(b), "d"(c));
  return r;
}
static inline long cw_sys4(long n, long a, long b, long c, long d) {
  long r;
  register long r10 __asm__("r10") = d;
  CW_SYSCALL_ASM("a"(n), "D"(a), "S"(b), "d"(c), "r"(r10));
  return r;
}
static inline long cw_sys5(long n, long a, long b, long c, long d, long e) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  CW_SYSCALL_ASM("a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8));
  return r;
}
static inline long cw_sys6(long n, long a, long b, long c, long d, long e, long f) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  CW_SYSCALL_ASM("a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9));
  return r;
}
#elif defined(__aarch64__)
static inline long cw_sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#define cw_sys1(n, a) cw_sys6(n, a, 0, 0, 0, 0, 0)
#define cw_sys2(n, a, b) cw_sys6(n, a, b, 0, 0, 0, 0)
#define cw_sys3(n, a, b, c) cw_sys6(n, a, b, c, 0, 0, 0)
#define cw_sys4(n, a, b, c, d) cw_sys6(n, a, b, c, d, 0, 0)
#define cw_sys5(n, a, b, c, d, e) cw_sys6(n, a, b, c, d, e, 0)
#else
#error "connwarden supports x86_64 and aarch64"
#endif

static inline long cw_raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
  return cw_sys6(n, a, b, c, d, e, f);
}

/* The failure path, out of line: errno = -r, return -1. */
static __attribute__((noinline, cold, unused)) long cw_raw_fail(long r) {
  errno = (int)-r;
  return -1;
}

static inline long cw_raw_ret(long r) {
  return CW_UNLIKELY((unsigned long)r > -4096UL) ? cw_raw_fail(r) : r;
}

static inline long cw_raw_call(long n, long a, long b, long c, long d, long e, long f) {
  return cw_raw_ret(cw_sys6(n, a, b, c, d, e, f));
}

#define CW_NARGS_(_1, _2, _3, _4, _5, _6, n, ...) n
#define CW_NARGS(...) CW_NARGS_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define CW_CAT_(a, b) a##b
#define CW_CAT(a, b) CW_CAT_(a, b)
#define CW_L1(a) (long)(a)
#define CW_L2(a, b) (long)(a), (long)(b)
#define CW_L3(a, b, c) (long)(a), (long)(b), (long)(c)
#define CW_L4(a, b, c, d) CW_L3(a, b, c), (long)(d)
#define CW_L5(a, b, c, d, e) CW_L4(a, b, c, d), (long)(e)
#define CW_L6(a, b, c, d, e, f) CW_L5(a, b, c, d, e), (long)(f)
#define CW_RAW(nr, ...)                                                                            \
  cw_raw_ret(CW_CAT(cw_sys, CW_NARGS(__VA_ARGS__))(nr, CW_CAT(CW_L, CW_NARGS(__VA_ARGS__))(__VA_ARGS__)))

/* The shim's locks. Built with ThreadSanitizer, a wrapper can run inside one of TSan's own
 * interceptors (accept4, read and the other blocking calls), where TSan ignores every call the
 * wrapper makes, pthread_mutex_lock included, and would then see our accesses as unlocked. Each
 * acquire and release is therefore also announced to TSan directly; otherwise these are the plain
 * pthread calls. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CW_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CW_TSAN 1
#endif
#ifdef CW_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define CW_TSAN_ACQUIRE(m) __tsan_acquire(m)
#define CW_TSAN_RELEASE(m) __tsan_release(m)
#else
#define CW_TSAN_ACQUIRE(m) ((void)0)
#define CW_TSAN_RELEASE(m) ((void)0)
#endif

/* In a fork child, a lock the prepare handler took: made again (the child has one thread, the one
 * that took it). TSan saw that thread take it, and a lock it thinks held would be a "double lock"
 * in the child's first thread to take it; it is told of the release first. */
static inline void cw_mutex_remake(pthread_mutex_t *m) {
#ifdef CW_TSAN
  pthread_mutex_trylock(m); /* held by the prepare handler, or taken now (a child of no fork) */
  pthread_mutex_unlock(m);
#endif
  pthread_mutex_init(m, NULL);
}

static inline void cw_mutex_lock(pthread_mutex_t *m) {
  pthread_mutex_lock(m);
  CW_TSAN_ACQUIRE(m);
}

static inline void cw_mutex_unlock(pthread_mutex_t *m) {
  CW_TSAN_RELEASE(m);
  pthread_mutex_unlock(m);
}

/* Held shim locks of this thread (table_mu, own_mu, mem_mu, start_mu). A wrapper entered while it
 * is non-zero runs inside a signal handler that interrupted the shim: it must go straight to the
 * real call. Defined in table.c, with cw_lock_cancel: the thread's cancellation state from before
 * its outermost shim lock. */
extern __thread int cw_locked __attribute__((tls_model("initial-exec")));
extern __thread int cw_lock_cancel __attribute__((tls_model("initial-exec")));

/* Take one of the shim's locks. cw_locked covers it from before it is taken until after it is let
 * go: a signal handler that runs on this thread anywhere in between (even inside
 * pthread_mutex_lock, once the lock is ours but before it returns) sees it and leaves the shim's
 * state alone rather than wait on itself. Cancellation is off while any is held: the shim's own
 * close() and connect() under a lock are cancellation points, and a host thread cancelled there
 * would unwind with the lock held (every thread would then wait on it for ever). */
static inline void cw_lock(pthread_mutex_t *m) {
  int state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
  int held = ++cw_locked;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (held == 1) /* a handler cannot take a shim lock from here on: cw_locked is set */
    cw_lock_cancel = state;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  cw_mutex_lock(m);
}

/* Let go of a shim lock. Returns how many this thread still holds. The saved state is read while
 * the count still covers it; a handler that runs after the count drops takes and lets go of its
 * own locks with cancellation still off, and leaves it off, as it found it. */
static inline int cw_unlock(pthread_mutex_t *m) {
  cw_mutex_unlock(m);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  int state = cw_lock_cancel;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  int left = --cw_locked;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (left == 0)
    pthread_setcancelstate(state, NULL);
  return left;
}

static inline int cw_cond_timedwait(pthread_cond_t *cv, pthread_mutex_t *m, const struct timespec *ts) {
  CW_TSAN_RELEASE(m);
  int rc = pthread_cond_timedwait(cv, m, ts);
  CW_TSAN_ACQUIRE(m);
  return rc;
}

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

/* The wall clock in ms since the epoch, for reports. */
static inline int64_t cw_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
