/* topframe.h - what `connwarden top` shows: samples of one process and the frame laid out from
 * them, as lines of text for top.c to print or paint. */
#ifndef CW_CLI_TOPFRAME_H
#define CW_CLI_TOPFRAME_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "client.h"

/* One look at a process: its stats and conns replies. */
struct cw_sample {
  json_t *stats; /* the stats reply (object) */
  json_t *conns; /* the conns reply (array) */
  int64_t at_ms; /* monotonic time of the stats reply */
};

/* Monotonic milliseconds, the clock of at_ms. */
int64_t cw_topframe_now_ms(void);
/* Ask t for stats and conns. 0 with s filled, or -errno of the request (-ENOENT, -ECONNREFUSED:
 * the process is gone; -EPROTO: an error or unreadable reply) with the reason in err. */
int cw_topframe_fetch(const struct cw_target *t, struct cw_sample *s, char *err, size_t errlen);
long long cw_topframe_pid(const struct cw_sample *s);
void cw_topframe_sample_free(struct cw_sample *s);

/* A frame: lines of plain printable ASCII, some marked as headings. */
struct cw_frame {
  char **line;
  unsigned char *heading; /* 1: a table's header line or the footer */
  size_t n, cap;
  int failed; /* memory ran out: the frame is incomplete */
};

/* The orders `s` cycles through for the destinations, by name. */
#define CW_TOPFRAME_NSORTS 5
extern const char *const cw_topframe_sorts[CW_TOPFRAME_NSORTS];

/* Lay out cur (rates against prev, "-" without it) into f. rows > 0: fit that many rows, the last
 * line a footer with the keys, sort and status; rows 0: a snapshot, every destination and up to 10
 * connections each way, no footer. */
void cw_topframe_draw(struct cw_frame *f, const struct cw_sample *cur, const struct cw_sample *prev, int rows,
                      int sort, const char *status);
void cw_topframe_free(struct cw_frame *f);

#endif
