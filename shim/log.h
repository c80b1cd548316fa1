/* log.h - one-line events, prefixed connwarden[PID]:, rate-limited per kind and written straight
 * to the kernel: on stderr when stderr is safe to write to, else in the report directory, else
 * dropped and counted. Also the report directory's file names, shared with the leak check. */
#ifndef CW_LOG_H
#define CW_LOG_H

#include "cw.h"

enum cw_level { CW_LOG_OFF, CW_LOG_ERROR, CW_LOG_WARN, CW_LOG_INFO, CW_LOG_DEBUG };

/* The kinds of event line, each rate-limited on its own, and the label its "N more" summary line
 * starts with (the start of the kind's own lines). A new kind is one line here. */
#define CW_EVENTS(X)                                                                               \
  X(CW_EV_REFUSED, "refused")                 /* policy: a connect refused at a cap */            \
  X(CW_EV_QUEUE_TIMEOUT, "queue timeout")     /* policy: a queued connect waited too long */      \
  X(CW_EV_CLOSE_WAIT, "close-wait leak")      /* reaper: the peer closed, the host kept it */     \
  X(CW_EV_REAPED, "reaped")                   /* reaper: idle, lifetime or manual reap */         \
  X(CW_EV_RELEASED, "released")               /* reaper: not closed within the grace period */    \
  X(CW_EV_STARVATION, "starvation")           /* policy: a pool starves the connects that wait */ \
  X(CW_EV_ABANDONED, "abandoned")             /* reaper: unread bytes, or released unclosed */    \
  X(CW_EV_CONFIG, "config")                   /* a setting changed at run time; config warnings */\
  X(CW_EV_STATS, "stats off")                 /* server: the stats socket could not be served */  \
  X(CW_EV_REPORT, "leak report")              /* leakcheck: the report could not be written */    \
  X(CW_EV_STARTUP, "start-up")                /* the table or a thread of the shim did not start */
#define CW_EV_ENUM_(name, label) name,
enum cw_event { CW_EVENTS(CW_EV_ENUM_) CW_EV_KINDS };
#undef CW_EV_ENUM_

/* The threshold and the report directory (CONNWARDEN_REPORT, NULL for stderr): set once at
 * start-up by lifecycle (immutable after). */
extern CW_HIDDEN enum cw_level cw_log_level;
extern CW_HIDDEN const char *cw_log_dir;

/* Format one line of kind ev (printf-style, truncated at 1 KiB) and write it if level passes and
 * the kind's limiter lets it through: at most one line of a kind a second. The lines held back
 * are counted, and one summary line says how many ("queue timeout: 19 more in the last 1.0s")
 * when the next line of the kind comes after its second, or at cw_log_flush_summaries.
 * Async-signal-unsafe only through vsnprintf; never allocates, never locks; keeps errno. */
CW_HIDDEN void cw_log(enum cw_level level, enum cw_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The label of kind ev ("queue timeout"). */
CW_HIDDEN const char *cw_log_label(enum cw_event ev);

/* Write the summary of every kind whose second has ended by now_ns (monotonic, coarse clock) with
 * lines held back. The reaper calls it each tick; nothing else has to. */
CW_HIDDEN void cw_log_flush_summaries(int64_t now_ns);
/* Every pending summary now, whether its second has ended or not: at exit. */
CW_HIDDEN void cw_log_flush_all_summaries(void);

/* The limiter alone, for cw_log and the unit tests. A line of kind ev at now_ns: 1 when it may be
 * written, and then *more lines of the kind were held back since *since_ns (the start of the
 * second that ended): their summary goes first; 0 when it is held back (and counted). */
CW_HIDDEN int cw_log_admit(enum cw_event ev, int64_t now_ns, int64_t *more, int64_t *since_ns);

/* Event lines written nowhere: stderr was no safe place (see log.c) and there was no report
 * directory, or the write failed. Counted without a lock; the snapshot copies it. */
CW_HIDDEN int64_t cw_log_dropped(void);

/* In a fork child: the limiter and the count start again (the parent's are the parent's). */
CW_HIDDEN void cw_log_fork_child(void);

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

/* The report directory's files. cw_log_report_name: DIR/connwarden.PID<what>.EXT, or with k > 0
 * DIR/connwarden.PID<what>.K.EXT (a name already taken); 0, or -ENAMETOOLONG when it does not fit.
 * cw_log_report_open: open path (a file directly in dir) with flags | O_CLOEXEC, mode 0600,
 * creating dir (0700) when it is missing, straight through the kernel; the fd, or -errno. */
CW_HIDDEN int cw_log_report_name(char *buf, size_t size, const char *dir, int pid, const char *what,
                                 int k, const char *ext);
CW_HIDDEN int cw_log_report_open(const char *dir, const char *path, int flags);

/* "12.3s", "850ms", "4.1 KiB": human units for event lines and reports. Return buf. */
CW_HIDDEN char *cw_fmt_bytes(uint64_t n, char *buf, size_t size);
CW_HIDDEN char *cw_fmt_secs(int64_t ms, char *buf, size_t size);

#endif
