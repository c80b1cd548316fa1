/* procname.c - the process's name: CONNWARDEN_NAME, else derived from /proc/self/cmdline when
 * asked (snapshot, in the stats thread or the exiting one; the leak report), so that a server
 * that retitles itself after start-up is named by its title. cw_procname_derive is pure; the
 * rest reads the kernel with raw system calls. Never called from a wrapper, never allocates,
 * never touches errno. */
#define _GNU_SOURCE
#include "procname.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define MAX_WORDS 64

struct words {
  const char *w[MAX_WORDS];
  size_t l[MAX_WORDS];
  int n;
};

/* The output: at most cap bytes at p, printable. */
struct name {
  char *p;
  size_t n, cap;
  int cut; /* something did not fit */
};

static void split(const char *cmd, size_t len, struct words *ws) {
  ws->n = 0;
  for (size_t i = 0; i < len && ws->n < MAX_WORDS;) {
    size_t j = i;
    while (j < len && cmd[j])
      j++;
    ws->w[ws->n] = cmd + i;
    ws->l[ws->n++] = j - i;
    i = j + 1;
  }
}

static int is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

static int has_ctl(const char *w, size_t l) {
  for (size_t i = 0; i < l; i++)
    if (is_ctl((unsigned char)w[i]))
      return 1;
  return 0;
}

static void put(struct name *o, const char *s, size_t l) {
  for (size_t i = 0; i < l; i++) {
    if (o->n == o->cap) {
      o->cut = 1;
      return;
    }
    o->p[o->n++] = is_ctl((unsigned char)s[i]) ? '?' : s[i];
  }
}

static void put_str(struct name *o, const char *s) { put(o, s, strlen(s)); }

/* Cut off a UTF-8 sequence that the bound split; terminate. */
static size_t finish(struct name *o) {
  if (o->cut) {
    size_t start = o->n;
    while (start > 0 && o->n - start < 4 && ((unsigned char)o->p[start - 1] & 0xc0) == 0x80)
      start--;
    if (start > 0) {
      unsigned char lead = (unsigned char)o->p[start - 1];
      size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (lead >= 0xc0 && o->n - (start - 1) < need)
        o->n = start - 1;
    }
  }
  while (o->n > 0 && o->p[o->n - 1] == ' ')
    o->n--;
  o->p[o->n] = '\0';
  return o->n;
}

/* The last component of a path (trailing slashes ignored); the word itself when it has none. */
static const char *base(const char *w, size_t l, size_t *bl) {
  size_t end = l;
  while (end > 1 && w[end - 1] == '/')
    end--;
  size_t start = end;
  while (start > 0 && w[start - 1] != '/')
    start--;
  if (start == end) { /* "/" */
    *bl = l;
    return w;
  }
  *bl = end - start;
  return w + start;
}

static void put_base(struct name *o, const char *w, size_t l) {
  size_t bl;
  const char *b = base(w, l, &bl);
  put(o, b, bl);
}

/* The name so far, a space and w (by its last component when it is a path), finished. */
static size_t ending(struct name *o, const char *w, size_t l, int path) {
  put_str(o, " ");
  if (path)
    put_base(o, w, l);
  else
    put(o, w, l);
  return finish(o);
}

/* The value of the short option in word i: the rest of that word, else the next word. */
static void option_value(const struct words *ws, int i, const char **rest, size_t *rl) {
  if (!*rl && i + 1 < ws->n) {
    *rest = ws->w[i + 1];
    *rl = ws->l[i + 1];
  }
}

/* ---- the rules ---------------------------------------------------------------------------- */

/* A title set over argv (setproctitle, nginx, PostgreSQL): argv[0] holds a space, or every later
 * word is empty or garbled (the title's padding, or what was left of the old arguments). */
static int retitled(const struct words *ws) {
  if (memchr(ws->w[0], ' ', ws->l[0]))
    return 1;
  if (ws->n < 2)
    return 0;
  for (int i = 1; i < ws->n; i++)
    if (ws->l[i] && !has_ctl(ws->w[i], ws->l[i]))
      return 0;
  return 1;
}

static size_t title(const struct words *ws, struct name *o) {
  const char *w = ws->w[0];
  size_t l = ws->l[0];
  while (l > 0 && (*w == ' ' || *w == '\t')) {
    w++;
    l--;
  }
  while (l > 0 && (w[l - 1] == ' ' || w[l - 1] == '\t'))
    l--;
  put(o, w, l);
  return finish(o);
}

static const char *const py_long_value[] = {"--check-hash-based-pycs", NULL};
static const char *const node_long_term[] = {"--eval", "--print", NULL};
static const char *const node_long_value[] = {"--require", "--import", "--loader",
                                              "--experimental-loader", "--conditions", NULL};
static const char *const shell_long_value[] = {"--rcfile", "--init-file", NULL};

/* How an interpreter's options read: letters of short options that end them (the process is
 * then named by the option, `python3 -c`), that end them with a module to show (`python3 -m
 * uvicorn`) or the script (php -f), that take a value (attached or the next word), and that take
 * the rest of their word only. */
static const struct interp {
  const char *name;
  int versioned; /* the name may be followed by a version: python3, python3.11 */
  const char *term, *module, *script, *value, *attached;
  const char *const *long_term, *const *long_value;
} interps[] = {
    {"python", 1, "c", "m", "", "WX", "", NULL, py_long_value},
    {"pypy", 1, "c", "m", "", "WX", "", NULL, py_long_value},
    {"node", 0, "ep", "", "", "rC", "", node_long_term, node_long_value},
    {"nodejs", 0, "ep", "", "", "rC", "", node_long_term, node_long_value},
    {"perl", 1, "eE", "", "", "I", "mMFxiDd", NULL, NULL},
    {"ruby", 1, "e", "", "", "IrCE", "", NULL, NULL},
    {"php", 1, "rBRFE", "", "f", "cdz", "", NULL, NULL},
    {"lua", 1, "e", "", "", "l", "", NULL, NULL},
    {"sh", 0, "c", "", "", "oO", "", NULL, shell_long_value},
    {"bash", 0, "c", "", "", "oO", "", NULL, shell_long_value},
    {"dash", 0, "c", "", "", "oO", "", NULL, NULL},
    {"zsh", 0, "c", "", "", "oO", "", NULL, NULL},
    {"ksh", 0, "c", "", "", "oO", "", NULL, NULL},
};

static const struct interp *interpreter(const char *b, size_t bl) {
  for (size_t i = 0; i < CW_ARRAY_LEN(interps); i++) {
    size_t nl = strlen(interps[i].name);
    if (bl < nl || memcmp(b, interps[i].name, nl) != 0)
      continue;
    size_t k = nl;
    while (interps[i].versioned && k < bl && ((b[k] >= '0' && b[k] <= '9') || b[k] == '.'))
      k++;
    if (k == bl)
      return &interps[i];
  }
  return NULL;
}

/* Is the option word w (l bytes, "--" and more) one of list, compared up to its '='? */
static int long_in(const char *const *list, const char *w, size_t l, int *has_value) {
  const char *eq = memchr(w, '=', l);
  size_t nl = eq ? (size_t)(eq - w) : l;
  *has_value = eq != NULL;
  for (; list && *list; list++)
    if (strlen(*list) == nl && memcmp(*list, w, nl) == 0)
      return 1;
  return 0;
}

static int has(const char *set, char c) { return c && strchr(set, c) != NULL; }

/* interp name [-X [value] | script] */
static size_t interpreted(const struct interp *it, const struct words *ws, const char *b,
                          size_t bl, struct name *o) {
  put(o, b, bl);
  for (int i = 1; i < ws->n; i++) {
    const char *w = ws->w[i];
    size_t l = ws->l[i];
    int v;
    if (l == 2 && w[0] == '-' && w[1] == '-')
      return i + 1 < ws->n ? ending(o, ws->w[i + 1], ws->l[i + 1], 1) : finish(o);
    if (l > 2 && w[0] == '-' && w[1] == '-') {
      if (long_in(it->long_term, w, l, &v)) {
        const char *eq = memchr(w, '=', l);
        return ending(o, w, eq ? (size_t)(eq - w) : l, 0);
      }
      if (long_in(it->long_value, w, l, &v) && !v)
        i++;
      continue;
    }
    if (l < 2 || w[0] != '-') /* the script ("-" is standard input) */
      return ending(o, w, l, 1);
    for (size_t k = 1; k < l; k++) {
      char c = w[k];
      const char *rest = w + k + 1;
      size_t rl = l - k - 1;
      if (has(it->term, c)) {
        char opt[2] = {'-', c};
        return ending(o, opt, 2, 0);
      }
      if (has(it->module, c) || has(it->script, c)) {
        option_value(ws, i, &rest, &rl);
        if (has(it->module, c)) {
          char opt[2] = {'-', c};
          put_str(o, " ");
          put(o, opt, 2);
        }
        return ending(o, rest, rl, has(it->script, c));
      }
      if (has(it->value, c)) {
        i += !rl; /* the value is the next word */
        break;
      }
      if (has(it->attached, c))
        break;
    }
  }
  return finish(o);
}

/* A number or an address (8000, 4, 0.0.0.0:8000, [::1]:80): after an option, its value. */
static int value_like(const char *w, size_t l) {
  for (size_t i = 0; i < l; i++)
    if (!((w[i] >= '0' && w[i] <= '9') || w[i] == '.' || w[i] == ':' || w[i] == '[' || w[i] == ']'))
      return 0;
  return 1;
}

/* program [first argument that is not an option] */
static size_t plain(const struct words *ws, const char *b, size_t bl, struct name *o) {
  put(o, b, bl);
  int after_option = 0;
  for (int i = 1; i < ws->n; i++) {
    const char *w = ws->w[i];
    size_t l = ws->l[i];
    if (l == 2 && w[0] == '-' && w[1] == '-')
      return i + 1 < ws->n && ws->l[i + 1] ? ending(o, ws->w[i + 1], ws->l[i + 1], 1) : finish(o);
    if (l > 1 && w[0] == '-') {
      after_option = !memchr(w, '=', l);
      continue;
    }
    if (l == 0 || (after_option && value_like(w, l))) {
      after_option = 0;
      continue;
    }
    return ending(o, w, l, 1);
  }
  return finish(o);
}

size_t cw_procname_derive(const char *cmd, size_t len, char *out, size_t size) {
  struct name o = {.p = out, .cap = size - 1 < CW_NAME_MAX ? size - 1 : CW_NAME_MAX};
  struct words ws;
  out[0] = '\0';
  split(cmd, len, &ws);
  if (ws.n == 0)
    return 0;
  if (retitled(&ws))
    return title(&ws, &o);
  size_t bl;
  const char *b = base(ws.w[0], ws.l[0], &bl);
  if (bl == 0)
    return 0;
  const struct interp *it = interpreter(b, bl);
  return it ? interpreted(it, &ws, b, bl, &o) : plain(&ws, b, bl, &o);
}

/* ---- the process's own ------------------------------------------------------------------- */

size_t cw_procname_cmdline(char *buf, size_t size) {
  int saved = errno;
  long fd = CW_RAW(SYS_openat, AT_FDCWD, "/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  long n = fd < 0 ? -1 : CW_RAW(SYS_read, fd, buf, size - 1);
  if (fd >= 0)
    CW_RAW(SYS_close, fd);
  errno = saved;
  if (n <= 0)
    n = 0;
  buf[n] = '\0';
  return (size_t)n;
}

void cw_procname_get(const char *configured, char *out, size_t size) {
  if (configured && configured[0]) {
    snprintf(out, size, "%s", configured);
    return;
  }
  char cmd[4096];
  size_t n = cw_procname_cmdline(cmd, sizeof cmd);
  if (cw_procname_derive(cmd, n, out, size) > 0)
    return;
  char comm[17] = "";
  int saved = errno;
  CW_RAW(SYS_prctl, PR_GET_NAME, comm);
  errno = saved;
  snprintf(out, size, "%s", comm[0] ? comm : "?");
}
