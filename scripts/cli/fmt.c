/* fmt.c - human units and aligned tables for the query verbs. Pure formatting into the caller's
 * buffers or a FILE; no I/O of its own besides printing a finished table. */
#include "fmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *cw_fmt_size(uint64_t bytes, char *buf, size_t len) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) {
    snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    return buf;
  }
  double v = (double)bytes / 1024;
  size_t u = 0;
  /* move up a unit before rounding could print "1024.0" */
  while (v >= 1023.95 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    u++;
  }
  snprintf(buf, len, "%.1f %s", v, units[u]);
  return buf;
}

char *cw_fmt_duration(int64_t ms, char *buf, size_t len) {
  if (ms < 0)
    ms = 0;
  if (ms < 1000)
    snprintf(buf, len, "%lldms", (long long)ms);
  else if (ms < 99950) /* below 100s: seconds with a decimal */
    snprintf(buf, len, "%.1fs", (double)ms / 1e3);
  else if (ms < 5997000) /* below 100m */
    snprintf(buf, len, "%.1fm", (double)ms / 6e4);
  else if (ms < 359820000) /* below 100h */
    snprintf(buf, len, "%.1fh", (double)ms / 3.6e6);
  else
    snprintf(buf, len, "%.1fd", (double)ms / 8.64e7);
  return buf;
}

void cw_table_init(struct cw_table *t, int ncols, const char *const *heads, const char *align) {
  memset(t, 0, sizeof *t);
  t->ncols = ncols;
  t->heads = heads;
  t->align = align;
}

int cw_table_add(struct cw_table *t, const char *const *cells) {
  size_t nc = (size_t)t->ncols;
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **p = realloc(t->cells, cap * nc * sizeof *p);
    if (!p)
      return -ENOMEM;
    t->cells = p;
    t->cap = cap;
  }
  char **row = t->cells + t->nrows * nc;
  for (size_t c = 0; c < nc; c++) {
    row[c] = strdup(cells[c] ? cells[c] : "-");
    if (!row[c]) {
      while (c > 0)
        free(row[--c]);
      return -ENOMEM;
    }
  }
  t->nrows++;
  return 0;
}

static void print_row(const struct cw_table *t, FILE *out, const char *const *row, const size_t *w) {
  for (int c = 0; c < t->ncols; c++) {
    int last = c == t->ncols - 1;
    int width = (int)w[c];
    if (t->align[c] == 'r')
      fprintf(out, "%*s", width, row[c]);
    else if (last) /* no trailing blanks */
      fputs(row[c], out);
    else
      fprintf(out, "%-*s", width, row[c]);
    fputs(last ? "\n" : "  ", out);
  }
}

void cw_table_print(const struct cw_table *t, FILE *out) { cw_table_print_with(t, out, NULL, NULL); }

void cw_table_print_with(const struct cw_table *t, FILE *out, void (*after)(size_t row, FILE *out, void *arg),
                         void *arg) {
  size_t nc = (size_t)t->ncols;
  size_t *w = calloc(nc, sizeof *w);
  if (!w)
    return;
  for (size_t c = 0; c < nc; c++)
    w[c] = strlen(t->heads[c]);
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t c = 0; c < nc; c++) {
      size_t l = strlen(t->cells[r * nc + c]);
      if (l > w[c])
        w[c] = l;
    }
  print_row(t, out, t->heads, w);
  for (size_t r = 0; r < t->nrows; r++) {
    print_row(t, out, (const char *const *)(t->cells + r * nc), w);
    if (after)
      after(r, out, arg);
  }
  free(w);
}

void cw_table_free(struct cw_table *t) {
  for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}

long long cw_json_ll(json_t *v) {
  if (json_is_integer(v))
    return (long long)json_integer_value(v);
  if (json_is_real(v))
    return (long long)json_real_value(v);
  return 0;
}

char *cw_fmt_printable(char *s) {
  for (char *p = s; *p; p++)
    if (*p < ' ' || *p > '~')
      *p = '?';
  return s;
}
