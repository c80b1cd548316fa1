/* log.c - one-line events: rate-limited per kind, formatted, and written straight to the kernel on
 * stderr when stderr is a place for text, else in the report directory, else counted as dropped.
 * Called from any thread (the host's inside wrappers and signal handlers, the reaper, the stats
 * server); no stdio stream, no allocation, no lock: the limiter is atomics. Also the human units
 * (sizes, durations) that event lines and reports share. */
#define _GNU_SOURCE
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

enum cw_level cw_log_level = CW_LOG_WARN; /* immutable after start-up */
const char *cw_log_dir;                   /* immutable after start-up */

#define WINDOW_NS 1000000000LL /* one line of a kind a second */

#define CW_EV_LABEL_(name, label) label,
static const char *const labels[CW_EV_KINDS] = {CW_EVENTS(CW_EV_LABEL_)};
#undef CW_EV_LABEL_

const char *cw_log_label(enum cw_event ev) { return labels[ev]; }

/* One window per kind: since is when its last written line was written (0: none yet), more counts
 * the lines held back since. Written with atomics by every thread that logs, and by the reaper's
 * flush. A line past the window wins the window by compare-and-swap on since; whoever takes the
 * count (by exchange: that line, or a flush) writes its summary, so none is lost or told twice.
 * A line racing the turn of a window may be counted in the next one. Reset in a fork child. */
static struct {
  int64_t since, more;
} win[CW_EV_KINDS];

static int64_t dropped_lines; /* atomic; reset in a fork child */

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

/* ---- the report directory ------------------------------------------------------------------- */

int cw_log_report_name(char *buf, size_t size, const char *dir, int pid, const char *what, int k,
                       const char *ext) {
  int n = k ? snprintf(buf, size, "%s/connwarden.%d%s.%d.%s", dir, pid, what, k, ext)
            : snprintf(buf, size, "%s/connwarden.%d%s.%s", dir, pid, what, ext);
  return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int cw_log_report_open(const char *dir, const char *path, int flags) {
  flags |= O_CLOEXEC | O_NOCTTY;
  long fd = cw_raw_syscall(SYS_openat, AT_FDCWD, (long)path, flags, 0600, 0, 0);
  if (fd == -ENOENT && cw_raw_syscall(SYS_mkdirat, AT_FDCWD, (long)dir, 0700, 0, 0, 0) == 0)
    fd = cw_raw_syscall(SYS_openat, AT_FDCWD, (long)path, flags, 0600, 0, 0);
  return (int)fd;
}

/* ---- where lines go ------------------------------------------------------------------------- */

/* Is fd 2 a place for text: a terminal, a regular file, a pipe or FIFO, or a Unix-domain socket?
 * The last is how systemd connects a service's stderr to its journal (an AF_UNIX stream socket),
 * where service users read their logs. Anything else is not: above all a TCP socket, which a
 * daemon started with its stdio closed gets as fd 2 when it connects or accepts, and whose peer
 * would read our text inside its protocol; also /dev/null and other devices, or no fd at all.
 * Asked again for every write (a host may dup2 over fd 2 at any time): one fstat, plus one ioctl
 * or getsockopt for a device or a socket. */
static int stderr_is_for_text(void) {
  struct stat st;
  if (cw_raw_syscall(SYS_fstat, 2, (long)&st, 0, 0, 0, 0) < 0)
    return 0;
  switch (st.st_mode & S_IFMT) {
  case S_IFREG:
  case S_IFIFO:
    return 1;
  case S_IFCHR: {
    struct termios t;
    return cw_raw_syscall(SYS_ioctl, 2, TCGETS, (long)&t, 0, 0, 0) == 0;
  }
  case S_IFSOCK: {
    int domain = 0;
    socklen_t len = sizeof domain;
    return cw_raw_syscall(SYS_getsockopt, 2, SOL_SOCKET, SO_DOMAIN, (long)&domain, (long)&len, 0) == 0 &&
           domain == AF_UNIX;
  }
  default:
    return 0;
  }
}

/* Append to this process's file in the report directory: DIR/connwarden.PID.log. */
static int write_report(const char *buf, size_t len) {
  char path[strlen(cw_log_dir) + 48]; /* sized to the name: a signal handler's stack may be small */
  int rc = cw_log_report_name(path, sizeof path, cw_log_dir, (int)cw_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0),
                              "", 0, "log");
  if (rc < 0)
    return rc;
  int fd = cw_log_report_open(cw_log_dir, path, O_WRONLY | O_CREAT | O_APPEND);
  if (fd < 0)
    return fd;
  rc = cw_write_all(fd, buf, len);
  cw_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
  return rc;
}

/* Write nlines whole lines where they may go, or count them dropped. Caller saves errno. */
static void emit(const char *buf, size_t len, unsigned nlines) {
  int rc = -ENOENT; /* nowhere to write them */
  if (stderr_is_for_text())
    rc = cw_write_all(2, buf, len);
  else if (cw_log_dir)
    rc = write_report(buf, len);
  if (rc < 0)
    __atomic_fetch_add(&dropped_lines, nlines, __ATOMIC_RELAXED);
}

int64_t cw_log_dropped(void) { return __atomic_load_n(&dropped_lines, __ATOMIC_RELAXED); }

/* ---- lines held under a lock ---------------------------------------------------------------- */

/* This thread's lines logged under a lock: up to 2 KiB, the rest counted. */
static __thread char held[2048] __attribute__((tls_model("initial-exec")));
__thread size_t cw_log_held __attribute__((tls_model("initial-exec")));
static __thread unsigned held_lines __attribute__((tls_model("initial-exec")));
static __thread unsigned unheld __attribute__((tls_model("initial-exec")));
#define nheld cw_log_held

static int prefix(char *line, size_t size) {
  return snprintf(line, size, "connwarden[%d]: ", (int)cw_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0));
}

void cw_log_flush_held(void) {
  CW_SAVE_ERRNO({
    emit(held, nheld, held_lines);
    nheld = 0;
    held_lines = 0;
    if (unheld) {
      char line[96];
      int n = prefix(line, sizeof line);
      n += snprintf(line + n, sizeof line - (size_t)n, "(%u more events not shown)\n", unheld);
      unheld = 0;
      emit(line, (size_t)n, 1);
    }
  });
}

/* One whole line: written now, or kept until this thread lets go of its last shim lock. */
static void put(const char *line, size_t len) {
  if (!cw_locked) {
    emit(line, len, 1);
  } else if (nheld + len <= sizeof held) {
    memcpy(held + nheld, line, len);
    nheld += len;
    held_lines++;
  } else {
    unheld++;
  }
}

/* ---- the limiter ---------------------------------------------------------------------------- */

int cw_log_admit(enum cw_event ev, int64_t now_ns, int64_t *more, int64_t *since_ns) {
  *more = 0;
  int64_t since = __atomic_load_n(&win[ev].since, __ATOMIC_ACQUIRE);
  *since_ns = since;
  if ((since && now_ns - since < WINDOW_NS) ||
      !__atomic_compare_exchange_n(&win[ev].since, &since, now_ns, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    __atomic_fetch_add(&win[ev].more, 1, __ATOMIC_RELAXED);
    return 0;
  }
  *more = __atomic_exchange_n(&win[ev].more, 0, __ATOMIC_ACQ_REL);
  return 1;
}

/* "connwarden[PID]: LABEL: N more in the last S.Ss" */
static void summary(enum cw_event ev, int64_t more, int64_t since, int64_t now) {
  char line[160];
  int n = prefix(line, sizeof line);
  n += snprintf(line + n, sizeof line - (size_t)n, "%s: %lld more in the last %.1fs\n", labels[ev],
                (long long)more, (double)(now - since) / 1e9);
  put(line, (size_t)n);
}

/* Summaries of the kinds whose window began before due - WINDOW_NS; durations up to now. */
static void flush(int64_t now, int64_t due) {
  CW_SAVE_ERRNO({
    for (int ev = 0; ev < CW_EV_KINDS; ev++) {
      int64_t since = __atomic_load_n(&win[ev].since, __ATOMIC_ACQUIRE);
      if (!since || due - since < WINDOW_NS || !__atomic_load_n(&win[ev].more, __ATOMIC_RELAXED))
        continue;
      int64_t more = __atomic_exchange_n(&win[ev].more, 0, __ATOMIC_ACQ_REL);
      if (more)
        summary((enum cw_event)ev, more, since, now);
    }
  });
}

void cw_log_flush_summaries(int64_t now_ns) { flush(now_ns, now_ns); }

void cw_log_flush_all_summaries(void) { flush(cw_now_coarse(), INT64_MAX); }

void cw_log_fork_child(void) {
  memset(win, 0, sizeof win);
  dropped_lines = 0;
}

void cw_log(enum cw_level level, enum cw_event ev, const char *fmt, ...) {
  if (level > cw_log_level || level == CW_LOG_OFF)
    return;
  CW_SAVE_ERRNO({
    int64_t now = cw_now_coarse();
    int64_t more;
    int64_t since;
    if (cw_log_admit(ev, now, &more, &since)) {
      if (more)
        summary(ev, more, since, now);
      char line[1024];
      int n = prefix(line, sizeof line);
      va_list ap;
      va_start(ap, fmt);
      int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
      va_end(ap);
      if (m < 0)
        m = 0;
      size_t len = (size_t)n + ((size_t)m < sizeof line - (size_t)n - 1 ? (size_t)m : sizeof line - (size_t)n - 2);
      line[len++] = '\n';
      put(line, len);
    }
  });
}

char *cw_fmt_bytes(uint64_t n, char *buf, size_t size) {
  if (n < 1024)
    snprintf(buf, size, "%llu B", (unsigned long long)n);
  else if (n < 1024 * 1024)
    snprintf(buf, size, "%.1f KiB", (double)n / 1024);
  else if (n < 1024ull * 1024 * 1024)
    snprintf(buf, size, "%.1f MiB", (double)n / (1024 * 1024));
  else
    snprintf(buf, size, "%.1f GiB", (double)n / (1024.0 * 1024 * 1024));
  return buf;
}

char *cw_fmt_secs(int64_t ms, char *buf, size_t size) {
  if (ms < 1000)
    snprintf(buf, size, "%lldms", (long long)ms);
  else if (ms < 600 * 1000)
    snprintf(buf, size, "%.1fs", (double)ms / 1000);
  else if (ms < 3600 * 1000)
    snprintf(buf, size, "%.1fm", (double)ms / 60000);
  else
    snprintf(buf, size, "%.1fh", (double)ms / 3600000);
  return buf;
}
