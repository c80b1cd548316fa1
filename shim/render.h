/* render.h - snapshot -> JSON, Prometheus text, help and the leak report, into a growable buffer.
 * No lock, no I/O; any thread. */
#ifndef CW_RENDER_H
#define CW_RENDER_H

#include <stddef.h>
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

/* "12.3s", "850ms", "4.1 KiB": human units for reports. */
CW_HIDDEN char *cw_fmt_bytes(uint64_t n, char *buf, size_t size);
CW_HIDDEN char *cw_fmt_secs(int64_t ms, char *buf, size_t size);

/* The LeakSanitizer-shaped report of the connections in s that are leaks (not inherited).
 * Returns how many were listed; renders nothing when none. */
CW_HIDDEN int cw_render_leaks(struct cw_buf *b, const struct cw_snapshot *s, const char *prog);

#endif
