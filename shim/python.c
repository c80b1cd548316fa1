/* python.c - Python stacks in a CPython host (see python.h for the rules this file keeps).
 *
 * Reading the stack. CPython's _Py_DumpTraceback(fd, tstate) writes a thread's frames, innermost
 * first, with plain write() calls and nothing else: it takes no lock and allocates nothing, which
 * is why faulthandler can call it from a signal handler. Its writes reach the library's write()
 * wrapper. The fd it is given, CW_PY_SINK_FD, is a number no file can have (at or above the hard
 * fd limit, so at or above every tracked slot); its slot holds the sentinel record cw_py_sink,
 * and the wrapper hands writes to that number to cw_py_sink_write before the kernel sees them:
 * while the calling thread reads its stack they land in its buffer, with no system call; any
 * other time the kernel answers EBADF, as it would without the library.
 *
 * When it is safe. A thread's frames live until the thread leaves them; the interpreter frees
 * them from another thread only while finalising (daemon threads' states). So the calling thread
 * reads its own frames when it holds the interpreter lock (nobody can finalise meanwhile) or is
 * the main thread (the one that finalises), after initialisation and before finalisation.
 *
 * The connect's caller. A blocking connect in a thread releases the interpreter lock around the
 * system call, so the audit hook (event socket.connect, run with the lock held just before it)
 * reads that stack and leaves it for the wrapper, by fd. An async library may connect in a task
 * of its own (anyio does, under httpx): that task's frames end in the event loop and hold none of
 * the program's. With the lock held, the library then follows the task to the task that awaits it
 * (anyio's record of its tasks' parents; else a done-callback of the task that wakes, or resolves
 * the future awaited by, another task) and appends that task's chain of awaiting coroutines. */
#define _GNU_SOURCE
#include "python.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "log.h"
#include "mem.h"

typedef void PyObject; /* opaque: only pointers pass through here */

/* The runtime's functions, resolved once at start-up. The first group reads stacks; the second
 * (api) is used only with the interpreter lock held. */
static struct {
  int (*initialized)(void);
  int (*finalizing)(void);
  void *(*this_thread)(void); /* PyGILState_GetThisThreadState: the calling thread's state */
  void *(*holder)(void);      /* the state holding the interpreter lock (3.11), or the calling
                               * thread's attached state (3.12+): equal to this_thread only
                               * while the calling thread holds the lock */
  void (*dump)(int fd, void *tstate);
  int api; /* all of the following were found */
  int (*add_audit_hook)(int (*)(const char *, PyObject *, void *), void *);
  int (*as_fd)(PyObject *);
  PyObject *(*tuple_item)(PyObject *, ssize_t);
  void (*err_fetch)(PyObject **, PyObject **, PyObject **);
  void (*err_restore)(PyObject *, PyObject *, PyObject *);
  void (*err_clear)(void);
  PyObject *(*sys_get)(const char *);
  PyObject *(*dict_get)(PyObject *, const char *);
  PyObject *(*getattr)(PyObject *, const char *);
  PyObject *(*call0)(PyObject *);
  PyObject *(*getitem)(PyObject *, PyObject *);
  PyObject *(*iter)(PyObject *);
  PyObject *(*next)(PyObject *);
  PyObject *(*values)(PyObject *);
  void *(*long_ptr)(PyObject *);
  long (*long_val)(PyObject *);
  const char *(*utf8)(PyObject *);
  void (*decref)(PyObject *);
  PyObject *none;
  int (*gc_disable)(void); /* 3.10 and later; optional */
  int (*gc_enable)(void);
} py;

static int py_found;              /* an interpreter is here: written once at start-up */
static int py_on;                 /* its stacks are read: written once at start-up */
static int hooked;                /* the audit hook is in: written once at start-up */
static pthread_t main_thread;     /* the thread that runs (and finalises) the interpreter */
struct cw_conn cw_py_sink;

#define SYM(field, name) (*(void **)&py.field = dlsym(RTLD_DEFAULT, name))
#define SYM2(field, a, b) (SYM(field, a) || SYM(field, b))

/* ---- the sink --------------------------------------------------------------------------------- */

struct sink {
  char *p;
  size_t len, cap;
};
static __thread struct sink *sink_now __attribute__((tls_model("initial-exec")));

ssize_t cw_py_sink_write(const void *buf, size_t n) {
  struct sink *s = sink_now;
  if (!s)
    return -1;
  size_t k = n < s->cap - s->len ? n : s->cap - s->len;
  memcpy(s->p + s->len, buf, k);
  s->len += k;
  return (ssize_t)n;
}

/* ---- parsing and classifying (no runtime) ----------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *tail) {
  size_t t = strlen(tail);
  return n >= t && memcmp(s + n - t, tail, t) == 0;
}

/* Split "F:N in FUNC": F's length and FUNC. */
static void split(const char *frame, size_t *flen, const char **func) {
  const char *in = NULL;
  for (const char *p = strstr(frame, " in "); p; p = strstr(p + 1, " in "))
    in = p;
  *func = in ? in + 4 : "";
  const char *colon = NULL;
  for (const char *p = frame; p < (in ? in : frame + strlen(frame)); p++)
    if (*p == ':')
      colon = p;
  *flen = colon ? (size_t)(colon - frame) : strlen(frame);
}

int cw_py_is_lib(const char *frame) {
  size_t n;
  const char *func;
  split(frame, &n, &func);
  if (n >= 8 && memcmp(frame, "<frozen ", 8) == 0)
    return 1;
  for (size_t i = 0; i + 1 < n; i++) {
    if (frame[i] != '/')
      continue;
    const char *p = frame + i + 1;
    size_t left = n - i - 1;
    if ((left >= 14 && memcmp(p, "site-packages/", 14) == 0) || (left >= 14 && memcmp(p, "dist-packages/", 14) == 0))
      return 1;
    /* the standard library: .../lib/pythonX.Y/ (lib64 too) */
    size_t skip = left >= 4 && memcmp(p, "lib/", 4) == 0 ? 4 : left >= 6 && memcmp(p, "lib64/", 6) == 0 ? 6 : 0;
    if (skip && left > skip + 6 && memcmp(p + skip, "python", 6) == 0) {
      size_t k = skip + 6, digits = 0;
      while (k < left && ((p[k] >= '0' && p[k] <= '9') || p[k] == '.'))
        k++, digits++;
      if (digits && k < left && p[k] == '/')
        return 1;
    }
  }
  return 0;
}

/* A frame of asyncio's that runs the loop (from here outwards, the frames are the loop's
 * runner's, not the task's). */
static int runs_loop(const char *frame) {
  size_t n;
  const char *func;
  split(frame, &n, &func);
  if (ends_with(frame, n, "/asyncio/runners.py"))
    return 1;
  if (ends_with(frame, n, "/asyncio/events.py"))
    return strcmp(func, "_run") == 0;
  if (ends_with(frame, n, "/asyncio/base_events.py"))
    return strcmp(func, "_run_once") == 0 || strcmp(func, "run_forever") == 0 ||
           strcmp(func, "run_until_complete") == 0;
  return 0;
}

const char *cw_py_frame(const struct cw_bt *bt, int i) {
  const char *p = bt->py;
  while (i-- > 0)
    p += strlen(p) + 1;
  return p;
}

void cw_py_classify(struct cw_bt *bt) {
  int n = bt->npy, join = bt->join < n ? bt->join : n, loop = join, any = n, own = n;
  bt->lib = 0;
  const char *f = bt->py;
  for (int i = 0; i < n; i++, f += strlen(f) + 1) {
    if (cw_py_is_lib(f)) {
      bt->lib |= 1u << i;
      if (i < loop && runs_loop(f))
        loop = i; /* from here to join: whoever runs the loop */
      continue;
    }
    if (any == n)
      any = i;
    if (own == n && (i < loop || i >= join))
      own = i;
  }
  bt->flags = (uint8_t)((bt->flags & ~CW_BT_NO_CALLER) | (own == n ? CW_BT_NO_CALLER : 0));
  bt->own = (uint8_t)(own < n ? own : any);
}

/* Frames being gathered: texts packed in one buffer. The outermost frames are the ones left
 * out when it fills. On the calling thread's stack (a few KiB), never in a shared buffer. */
struct frames {
  int n;
  size_t used;
  uint16_t off[CW_PY_MAX];
  char text[4096];
};

static void add(struct frames *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct frames *f, const char *fmt, ...) {
  if (f->n >= CW_PY_MAX)
    return;
  size_t room = sizeof f->text - f->used;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(f->text + f->used, room, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= room)
    return;
  f->off[f->n++] = (uint16_t)f->used;
  f->used += (size_t)k + 1;
}

/* Add "FILE:LINE in FUNC" from its pieces (cut to 500, 12 and 200 bytes): the dumper's lines,
 * parsed at every connect, without a printf. */
static void add_parts(struct frames *f, const char *file, size_t flen, const char *line, size_t llen, const char *func,
                      size_t nlen) {
  flen = flen > 500 ? 500 : flen;
  llen = llen > 12 ? 12 : llen;
  nlen = nlen > 200 ? 200 : nlen;
  size_t need = flen + 1 + llen + 4 + nlen + 1;
  if (f->n >= CW_PY_MAX || need > sizeof f->text - f->used)
    return;
  char *p = f->text + f->used;
  f->off[f->n++] = (uint16_t)f->used;
  memcpy(p, file, flen);
  p += flen;
  *p++ = ':';
  memcpy(p, line, llen);
  p += llen;
  memcpy(p, " in ", 4);
  p += 4;
  memcpy(p, func, nlen);
  p[nlen] = '\0';
  f->used += need;
}

/* A stack of the gathered frames, the awaiting task's from join on. */
static struct cw_bt *make(const struct frames *f, int join) {
  struct cw_bt *bt = f->n ? cw_mem_alloc(sizeof *bt + f->used) : NULL;
  if (!bt)
    return NULL;
  bt->npy = (uint8_t)f->n;
  bt->join = (uint8_t)(join < f->n ? join : f->n);
  bt->pylen = (uint32_t)f->used;
  memcpy(bt->py, f->text, f->used);
  cw_py_classify(bt);
  return bt;
}

struct cw_bt *cw_py_parse(const char *text, size_t len) {
  static const char lead[] = "  File ";
  struct frames f;
  f.n = 0;
  f.used = 0;
  const char *p = text, *end = text + len;
  while (p < end && f.n < CW_PY_MAX) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      break; /* a cut-off last line is left out */
    const char *q = p + sizeof lead - 1;
    if (q < eol && memcmp(p, lead, sizeof lead - 1) == 0) {
      const char *file = "???", *fend = NULL;
      size_t flen = 3;
      if (*q == '"') {
        file = q + 1;
        for (const char *r = file; r + 8 <= eol && !fend; r++)
          if (memcmp(r, "\", line ", 8) == 0)
            fend = r;
        flen = fend ? (size_t)(fend - file) : 0;
        q = fend ? fend + 1 : eol;
      } else {
        q += 3; /* ??? */
      }
      const char *line = q + 7, *in = NULL;
      for (const char *r = line; r + 4 <= eol && !in; r++)
        if (memcmp(r, " in ", 4) == 0)
          in = r;
      if (q + 7 <= eol && memcmp(q, ", line ", 7) == 0 && in)
        add_parts(&f, file, flen, line, (size_t)(in - line), in + 4, (size_t)(eol - in - 4));
    }
    p = eol + 1;
  }
  return make(&f, f.n);
}

/* ---- following a task to the task that awaits it (interpreter lock held) ----------------------- */

static void unref(PyObject *o) {
  if (o)
    py.decref(o);
}

/* getattr, with a missing attribute no error. New reference or NULL. */
static PyObject *attr(PyObject *o, const char *name) {
  PyObject *r = o ? py.getattr(o, name) : NULL;
  if (!r)
    py.err_clear();
  return r;
}

/* A new reference to a task of tasks that is o (pointer compare), or NULL. */
static PyObject *task_in(PyObject *tasks, const void *o) {
  PyObject *it = py.iter(tasks), *t;
  if (!it) {
    py.err_clear();
    return NULL;
  }
  while ((t = py.next(it)) != NULL) {
    if (t == o)
      break;
    py.decref(t);
  }
  py.err_clear();
  py.decref(it);
  return t;
}

/* The task that awaits task (new reference), or NULL. */
static PyObject *awaiter(PyObject *task, PyObject *tasks) {
  /* anyio keeps each task's parent */
  PyObject *mods = py.sys_get("modules");
  PyObject *anyio = mods ? py.dict_get(mods, "anyio._backends._asyncio") : NULL; /* borrowed */
  PyObject *states = attr(anyio, "_task_states");
  if (states) {
    PyObject *st = py.getitem(states, task), *pid = attr(st, "parent_id");
    if (!st)
      py.err_clear();
    void *parent = pid && pid != py.none ? py.long_ptr(pid) : NULL;
    py.err_clear();
    unref(pid);
    unref(st);
    py.decref(states);
    PyObject *t = parent ? task_in(tasks, parent) : NULL;
    if (t)
      return t;
  }
  /* A done-callback of the task: a method of the awaiting task (it awaits this one directly),
   * or something holding the future that task awaits (asyncio.wait's, gather's, a TaskGroup's). */
  PyObject *held[24];
  int nheld = 0;
  PyObject *cbs = attr(task, "_callbacks"), *it = cbs && cbs != py.none ? py.iter(cbs) : NULL, *item, *found = NULL;
  py.err_clear();
  while (it && !found && (item = py.next(it)) != NULL) {
    PyObject *zero = py.tuple_item(item, 0); /* borrowed */
    PyObject *cb = zero ? zero : item;
    py.err_clear();
    PyObject *self = attr(cb, "__self__");
    if (self && self != task && (found = task_in(tasks, self)) == NULL) {
      PyObject *vars = attr(self, "__dict__"), *vals = vars ? py.values(vars) : NULL, *vi, *v;
      py.err_clear();
      for (vi = vals ? py.iter(vals) : NULL; vi && nheld < 24 && (v = py.next(vi)) != NULL;)
        held[nheld++] = v;
      py.err_clear();
      unref(vi);
      unref(vals);
      unref(vars);
    }
    unref(self);
    PyObject *cells = attr(cb, "__closure__"), *ci = cells && cells != py.none ? py.iter(cells) : NULL, *cell;
    py.err_clear();
    while (ci && nheld < 24 && (cell = py.next(ci)) != NULL) {
      PyObject *v = attr(cell, "cell_contents");
      if (v)
        held[nheld++] = v;
      py.decref(cell);
    }
    py.err_clear();
    unref(ci);
    unref(cells);
    py.decref(item);
  }
  py.err_clear();
  unref(it);
  unref(cbs);
  if (!found && nheld) {
    PyObject *ti = py.iter(tasks), *t;
    while (ti && !found && (t = py.next(ti)) != NULL) {
      PyObject *w = attr(t, "_fut_waiter");
      for (int i = 0; w && w != py.none && i < nheld && !found; i++)
        if (held[i] == w)
          found = t;
      unref(w);
      if (!found)
        py.decref(t);
    }
    py.err_clear();
    unref(ti);
  }
  for (int i = 0; i < nheld; i++)
    py.decref(held[i]);
  return found;
}

/* Add one coroutine's frame ("F:N in FUNC") to f. 0, or -1 when it has none (finished, or not
 * a coroutine or generator). */
static int coro_frame(PyObject *coro, struct frames *f) {
  PyObject *fr = attr(coro, "cr_frame");
  if (!fr || fr == py.none) {
    unref(fr);
    fr = attr(coro, "gi_frame");
  }
  if (!fr || fr == py.none) {
    unref(fr);
    return -1;
  }
  PyObject *code = attr(fr, "f_code"), *file = attr(code, "co_filename"), *name = attr(code, "co_name");
  PyObject *line = attr(fr, "f_lineno");
  const char *fs = file ? py.utf8(file) : NULL, *ns = name ? py.utf8(name) : NULL;
  long ln = line ? py.long_val(line) : -1;
  py.err_clear();
  add(f, "%.500s:%ld in %.200s", fs ? fs : "???", ln, ns ? ns : "???");
  unref(line);
  unref(name);
  unref(file);
  unref(code);
  py.decref(fr);
  return 0;
}

/* Add the chain of coroutines task awaits to out, innermost first. */
static void task_chain(PyObject *task, struct frames *out) {
  struct frames chain; /* outermost first, as the chain is walked */
  chain.n = 0;
  chain.used = 0;
  PyObject *get = attr(task, "get_coro"), *coro = get ? py.call0(get) : NULL;
  py.err_clear();
  unref(get);
  while (coro && coro != py.none && chain.n < CW_PY_MAX && coro_frame(coro, &chain) == 0) {
    PyObject *next = attr(coro, "cr_await");
    if (!next || next == py.none) {
      unref(next);
      next = attr(coro, "gi_yieldfrom");
    }
    py.decref(coro);
    coro = next;
  }
  unref(coro);
  for (int i = chain.n - 1; i >= 0; i--)
    add(out, "%s", chain.text + chain.off[i]);
}

/* bt lacks its caller: the same frames up to the loop's, then the awaiting tasks' chains, until
 * one holds a frame of the program's (at most four tasks up). Returns bt or its replacement. */
static struct cw_bt *join_awaiting(struct cw_bt *bt) {
  PyObject *mods = py.sys_get("modules"), *asyncio = mods ? py.dict_get(mods, "asyncio") : NULL;
  PyObject *cur = attr(asyncio, "current_task"), *task = cur ? py.call0(cur) : NULL;
  PyObject *all = attr(asyncio, "all_tasks"), *tasks = all && task && task != py.none ? py.call0(all) : NULL;
  py.err_clear();
  unref(cur);
  unref(all);
  if (!tasks) {
    unref(task);
    return bt;
  }
  struct frames f;
  f.n = 0;
  f.used = 0;
  for (int i = 0; i < bt->npy; i++) { /* the task's own frames, above the loop's */
    const char *fr = cw_py_frame(bt, i);
    if ((bt->lib & (1u << i)) && runs_loop(fr))
      break;
    add(&f, "%s", fr);
  }
  int join = f.n, found = 0;
  for (int depth = 0; depth < 4 && f.n < CW_PY_MAX && !found; depth++) {
    PyObject *up = awaiter(task, tasks);
    py.decref(task);
    task = up;
    if (!task)
      break;
    int from = f.n;
    task_chain(task, &f);
    for (int i = from; i < f.n && !found; i++)
      found = !cw_py_is_lib(f.text + f.off[i]);
  }
  unref(task);
  py.decref(tasks);
  struct cw_bt *joined = f.n > join ? make(&f, join) : NULL;
  if (!joined)
    return bt;
  cw_mem_free(bt);
  return joined;
}

/* ---- reading the calling thread's stack ------------------------------------------------------- */

/* May the calling thread read its stack now? Sets *ts, and *api when it holds the lock. */
static int safe_now(void **ts, int *api) {
  if (!py.initialized() || py.finalizing())
    return 0;
  void *t = py.this_thread();
  if (!t)
    return 0;
  int held = py.holder() == t;
  if (!held && !pthread_equal(pthread_self(), main_thread))
    return 0;
  *ts = t;
  *api = held && py.api;
  return 1;
}

#define TEXT_MAX 6144 /* the dumper's text kept: about 40 frames of usual length */

static struct cw_bt *read_stack(void *ts, int api) {
  char text[TEXT_MAX];
  struct sink s = {text, 0, sizeof text};
  sink_now = &s;
  py.dump(CW_PY_SINK_FD, ts);
  sink_now = NULL;
  struct cw_bt *bt = cw_py_parse(text, s.len);
  if (bt && (bt->flags & CW_BT_NO_CALLER) && api) {
    PyObject *t, *v, *tb;
    int gc = py.gc_disable ? py.gc_disable() : 0; /* no finaliser runs inside a wrapper's call */
    py.err_fetch(&t, &v, &tb);
    bt = join_awaiting(bt);
    py.err_restore(t, v, tb);
    if (gc)
      py.gc_enable();
  }
  return bt;
}

/* The audit hook's stack for the connect on fd this thread is about to make. */
static __thread struct cw_bt *stash __attribute__((tls_model("initial-exec")));
static __thread int stash_fd __attribute__((tls_model("initial-exec")));

struct cw_bt *cw_py_capture(int fd) {
  if (!__atomic_load_n(&py_on, __ATOMIC_ACQUIRE))
    return NULL;
  struct cw_bt *bt = stash;
  if (bt) {
    stash = NULL;
    if (stash_fd == fd)
      return bt;
    cw_mem_free(bt);
  }
  void *ts;
  int api;
  if (!safe_now(&ts, &api))
    return NULL;
  int saved = errno;
  bt = read_stack(ts, api);
  errno = saved;
  return bt;
}

/* An accept this thread made while its stack could not be read (fd + 1; 0: none). CPython's
 * socket.accept() wraps the new fd in a socket object at once, whose audit event (socket.__new__,
 * lock held) then reads the stack and gives it to the connection. */
static __thread int accepted __attribute__((tls_model("initial-exec")));

int cw_py_note_accept(int fd) {
  if (!__atomic_load_n(&py_on, __ATOMIC_ACQUIRE) || !py.api || !hooked || !py.initialized())
    return 0;
  accepted = fd + 1;
  return 1;
}

/* Called by the interpreter, with its lock held, for every audited event. */
static int audit(const char *event, PyObject *args, void *data) {
  (void)data;
  if (accepted && strcmp(event, "socket.__new__") == 0) {
    int fd = accepted - 1;
    accepted = 0;
    void *ts = py.finalizing() ? NULL : py.this_thread();
    int saved = errno;
    struct cw_bt *bt = ts ? read_stack(ts, 1) : NULL;
    if (bt)
      cw_table_replace_bt(fd, CW_DIR_IN, bt);
    errno = saved;
    return 0;
  }
  if (strcmp(event, "socket.connect") != 0 || py.finalizing())
    return 0;
  void *ts = py.this_thread();
  if (!ts)
    return 0;
  PyObject *t, *v, *tb;
  py.err_fetch(&t, &v, &tb);
  PyObject *sock = py.tuple_item(args, 0);
  int fd = sock ? py.as_fd(sock) : -1;
  py.err_clear();
  py.err_restore(t, v, tb);
  if (fd < 0)
    return 0;
  int saved = errno;
  struct cw_bt *bt = read_stack(ts, 1);
  errno = saved;
  cw_mem_free(stash);
  stash = bt;
  stash_fd = fd;
  return 0;
}

/* ---- start-up ---------------------------------------------------------------------------------- */

/* Debug memory hooks (-X dev, PYTHONDEVMODE, PYTHONMALLOC=debug, a debug build) free the audit
 * hook's entry at finalisation with a check that fails for a block allocated before they were
 * set up, which is when the library adds it: there, no hook (blocking connects in threads other
 * than the main one then have no Python stack). */
static int debug_allocator(void) {
  const char *m = getenv("PYTHONMALLOC"), *d = getenv("PYTHONDEVMODE");
  if ((m && strstr(m, "debug")) || (d && *d) || dlsym(RTLD_DEFAULT, "_Py_NegativeRefcount"))
    return 1;
  char args[4096];
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, args, sizeof args - 1) : -1;
  if (fd >= 0)
    close(fd);
  for (ssize_t i = 0; i < n;) {
    const char *a = args + i;
    size_t l = strnlen(a, (size_t)(n - i));
    if (strcmp(a, "-Xdev") == 0 || (strcmp(a, "-X") == 0 && i + (ssize_t)l + 1 < n && strcmp(a + l + 1, "dev") == 0))
      return 1;
    if (strcmp(a, "-c") == 0 || strcmp(a, "-m") == 0 || (i > 0 && a[0] != '-'))
      break; /* the interpreter's own options end here */
    i += (ssize_t)l + 1;
  }
  return 0;
}

void cw_py_init(void) {
  main_thread = pthread_self();
  const char *(*version)(void) = dlsym(RTLD_DEFAULT, "Py_GetVersion");
  int major = 0, minor = 0;
  if (!version || sscanf(version(), "%d.%d", &major, &minor) != 2 || !SYM(initialized, "Py_IsInitialized") ||
      !SYM2(finalizing, "Py_IsFinalizing", "_Py_IsFinalizing"))
    return; /* no interpreter here */
  __atomic_store_n(&py_found, 1, __ATOMIC_RELEASE);
  if (cw_cfg.backtrace != CW_BT_LANG)
    return;
  if (major != 3 || minor < 9 || !SYM(this_thread, "PyGILState_GetThisThreadState") ||
      !SYM2(holder, "PyThreadState_GetUnchecked", "_PyThreadState_UncheckedGet") || !SYM(dump, "_Py_DumpTraceback")) {
    cw_log(CW_LOG_WARN, CW_EV_STARTUP, "Python %d.%d: Python stacks need CPython 3.9 or later; stacks are native",
           major, minor);
    return;
  }
  /* the sink's number: at or above every fd that can exist, below the half of the slot array
   * that negative fds mask into */
  if (cw_slot_cap > (unsigned)CW_PY_SINK_FD) {
    cw_log(CW_LOG_WARN, CW_EV_STARTUP, "hard fd limit %u: Python stacks need one below %d; stacks are native",
           cw_slot_cap, CW_PY_SINK_FD);
    return;
  }
  __atomic_store_n(&cw_slots[CW_PY_SINK_FD], &cw_py_sink, __ATOMIC_RELEASE);
  py.api = SYM(add_audit_hook, "PySys_AddAuditHook") && SYM(as_fd, "PyObject_AsFileDescriptor") &&
           SYM(tuple_item, "PyTuple_GetItem") && SYM(err_fetch, "PyErr_Fetch") && SYM(err_restore, "PyErr_Restore") &&
           SYM(err_clear, "PyErr_Clear") && SYM(sys_get, "PySys_GetObject") && SYM(dict_get, "PyDict_GetItemString") &&
           SYM(getattr, "PyObject_GetAttrString") && SYM(call0, "PyObject_CallNoArgs") &&
           SYM(getitem, "PyObject_GetItem") && SYM(iter, "PyObject_GetIter") && SYM(next, "PyIter_Next") &&
           SYM(values, "PyMapping_Values") && SYM(long_ptr, "PyLong_AsVoidPtr") && SYM(long_val, "PyLong_AsLong") &&
           SYM(utf8, "PyUnicode_AsUTF8") && SYM(decref, "Py_DecRef") && SYM(none, "_Py_NoneStruct");
  if (!SYM(gc_disable, "PyGC_Disable") || !SYM(gc_enable, "PyGC_Enable"))
    py.gc_disable = NULL;
  __atomic_store_n(&py_on, 1, __ATOMIC_RELEASE);
  /* Before the interpreter starts, a hook needs no lock and no permission. Once it runs, adding
   * one would need its lock: a host that started it before us gets no hook. */
  if (py.api && !py.initialized() && !debug_allocator())
    hooked = py.add_audit_hook(audit, NULL) == 0;
}

int cw_py_finalizing(void) {
  return __atomic_load_n(&py_found, __ATOMIC_ACQUIRE) && py.finalizing(); /* not initialised any more by then */
}

void cw_py_fork_child(void) {
  main_thread = pthread_self();
  cw_mem_free(stash);
  stash = NULL;
}
