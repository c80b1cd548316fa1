/* fmt.h - human-readable output: sizes ("4.1 KiB"), durations ("12.3s") and aligned text tables
 * (a header line, then one line per row, columns padded to their widest cell). */
#ifndef CW_CLI_FMT_H
#define CW_CLI_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* "512 B", "4.1 KiB", "3.0 MiB", ...: binary units, one decimal above bytes. Returns buf. */
char *cw_fmt_size(uint64_t bytes, char *buf, size_t len);
/* "850ms", "12.3s", "4.2m", "1.5h", "3.0d". Negative counts as 0. Returns buf. */
char *cw_fmt_duration(int64_t ms, char *buf, size_t len);

/* A table: fixed columns, each aligned 'l'eft or 'r'ight, rows copied in, printed at once. */
struct cw_table {
  int ncols;
  const char *const *heads;
  const char *align; /* one 'l' or 'r' per column */
  char **cells;      /* nrows * ncols, owned */
  size_t nrows, cap;
};

void cw_table_init(struct cw_table *t, int ncols, const char *const *heads, const char *align);
/* Copies ncols strings (NULL prints as "-"). Returns 0 or -ENOMEM. */
int cw_table_add(struct cw_table *t, const char *const *cells);
void cw_table_print(const struct cw_table *t, FILE *out);
/* The same, calling after(row, out, arg) after each row's line (lines of its own under it). */
void cw_table_print_with(const struct cw_table *t, FILE *out, void (*after)(size_t row, FILE *out, void *arg),
                         void *arg);
void cw_table_free(struct cw_table *t);

/* A JSON number as an integer (reals truncated); 0 for anything else or NULL. */
long long cw_json_ll(json_t *v);

/* Printable ASCII only, for a terminal: a process name may hold anything. Returns s. */
char *cw_fmt_printable(char *s);

#endif
