/* render.h - snapshot -> JSON, Prometheus text, help and the leak report, into a growable buffer.
 * No lock, no I/O; any thread. */
#ifndef CW_RENDER_H
#define CW_RENDER_H

#include <stddef.h>
#include "command.h" /* struct cw_health_limits */
#include "log.h"     /* cw_fmt_bytes, cw_fmt_secs */
#include "snapshot.h"

#define CW_VERSION "0.1.0"

struct cw_buf {
  char *p;
  size_t len, cap;
  int failed; /* an allocation failed: the content is cut short */
};

CW_HIDDEN void cw_buf_printf(struct cw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
CW_HIDDEN void cw_buf_json_str(struct cw_buf *b, const char *s); /* quoted and escaped */
CW_HIDDEN void cw_buf_free(struct cw_buf *b);

CW_HIDDEN void cw_render_stats(struct cw_buf *b, const struct cw_snapshot *s);
CW_HIDDEN void cw_render_conns(struct cw_buf *b, const struct cw_snapshot *s);
CW_HIDDEN void cw_render_config(struct cw_buf *b, const struct cw_snapshot *s);
CW_HIDDEN void cw_render_metrics(struct cw_buf *b, const struct cw_snapshot *s);
CW_HIDDEN void cw_render_help(struct cw_buf *b);

/* A wall-clock time in ms since the epoch as "2026-12-07T19:00:00.123Z" (UTC); "?" for 0. */
CW_HIDDEN char *cw_fmt_wall(int64_t ms, char *buf, size_t size);
/* `health`: {"ok": ..., "pid": ..., "problems": ["..."], "abandoned_now": N, "close_wait_now": N,
 * "queued_too_long": N, "limits": {...}, "connections": [{"problem", "fd", "dir", "peer",
 * "where"}]}. A problem is one line naming up to five connections (fd, peer, how, where opened):
 * more connections abandoned now, or leaking in close-wait now, than the limits allow (none by
 * default), or any connect queued longer than max_queue_wait (the queue timeout by default; 0 no
 * limit). s needs its connections (CW_SNAP_CONNS), and their stacks to say where (CW_SNAP_BT). */
CW_HIDDEN void cw_render_health(struct cw_buf *b, const struct cw_snapshot *s,
                                const struct cw_health_limits *lim);

/* ---- leak reports ---- */

/* One leak as the reports show it. open: still open at exit. close-wait: the peer closed and the
 * program kept it (still open at exit in CLOSE_WAIT, or recorded by the reaper once held past
 * the grace period and closed since). */
enum cw_leak_kind { CW_LEAK_OPEN = 0, CW_LEAK_CLOSE_WAIT = 1 };
struct cw_leak_view {
  int kind, open_at_exit;
  int fd, dir;
  struct cw_addr local, peer;
  const char *state; /* TCP state when last seen (static string) */
  int64_t age_ms, idle_ms; /* at exit, or when the reaper recorded it */
  int64_t held_ms;         /* how long it was kept after the peer closed; -1 unknown */
  uint64_t bytes_in, bytes_out;
  int64_t opened_wall_ms; /* wall-clock time it opened (ms since the epoch) */
  int teardown;           /* open until the interpreter's teardown at exit closed it */
  const struct cw_bt *bt; /* NULL when not captured; owned by whoever made the view */
  char dest[CW_DKEY_STRLEN]; /* its name and port when one is known ("api.example.com:443"), else "" */
  int via;                   /* named by a proxy request: peer is the proxy */
};

/* "api.example.com:443" into the view's dest, when host (at port) is known. */
CW_HIDDEN void cw_leak_name(struct cw_leak_view *l, const char *host, uint16_t port, int via);

/* A live connection as a leak: open at exit (close-wait when the peer closed). */
CW_HIDDEN void cw_leak_from_conn(struct cw_leak_view *l, const struct cw_conn_view *c);

/* One process's report. */
struct cw_leak_report {
  pid_t pid, ppid;
  const char *prog;        /* short program name */
  const char *name;        /* the process's name (procname.h); NULL: prog */
  const char *const *argv; /* the command line, argc words (may be cut short) */
  int argc;
  int exit_status;         /* as passed to exit(), -1 unknown (a report at exec) */
  const char *event;       /* "exit" or "exec" */
  const struct cw_leak_view *leaks;
  int n;
  int dropped;             /* close-wait leaks not recorded (the list was full) */
};

/* LeakSanitizer's shape: a banner, "==PID==ERROR: ...", one "Leaked connection" line per leak with
 * its stack, and a SUMMARY line naming the process. Renders nothing when r->n is 0. */
CW_HIDDEN void cw_render_leak_text(struct cw_buf *b, const struct cw_leak_report *r);

/* The same facts as one JSON object (type "leaks"), always rendered: pid, ppid, program, name, cmdline,
 * exit_status, leaks [{kind, open_at_exit, fd, dir, local, peer, [dest, [via,]] state, age_ms, idle_ms,
 * held_ms, bytes_in, bytes_out, frames [{pc, module, offset, func, file, line}]}]. Frames are symbolised
 * here (dladdr); file and line stay null for the reader to resolve. */
CW_HIDDEN void cw_render_leak_json(struct cw_buf *b, const struct cw_leak_report *r);

/* The text report of the connections in s that are leaks (not inherited), each open at exit.
 * Returns how many were listed; renders nothing when none. */
CW_HIDDEN int cw_render_leaks(struct cw_buf *b, const struct cw_snapshot *s, const char *prog);

#endif
