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
#include <link.h>
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
  PyObject *(*iter)(PyObject *);
  PyObject *(*next)(PyObject *);
  void *(*long_ptr)(PyObject *);
  long (*long_val)(PyObject *);
  const char *(*utf8)(PyObject *);
  void (*decref)(PyObject *);
  void (*incref)(PyObject *);
  PyObject *(*type)(PyObject *);
  PyObject *(*generic_dict)(PyObject *, void *);
  PyObject *(*weakref_get)(PyObject *);
  PyObject *(*weakref_new)(PyObject *, PyObject *);
  PyObject *(*dict_get_item)(PyObject *, PyObject *);
  int (*dict_next)(PyObject *, ssize_t *, PyObject **, PyObject **);
  ssize_t (*tuple_size)(PyObject *);
  PyObject *none, *set_type, *dict_type, *tuple_type, *weakref_type, *type_type;
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

/* No bytecode runs here: a Python function (asyncio.all_tasks, a WeakKeyDictionary lookup, a
 * property) would let the interpreter run signal handlers and switch threads in the middle of a
 * wrapper, and their exceptions would be the program's. So every object is first checked to be of
 * a type whose attributes are C getters (the C Task, coroutines, functions, methods, cells,
 * functools.partial), containers are read with the C API, and the work is bounded. */

#define MAX_TASKS 20000 /* tasks looked through per join */
#define MAX_HELD 32     /* objects a task's done-callbacks hold, compared with awaited futures */

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

/* The types whose objects are read here; borrowed (their modules keep them). */
struct kinds {
  PyObject *task, *method, *function, *builtin, *partial, *coro, *gen;
};

static PyObject *borrowed_attr(PyObject *o, const char *name) {
  PyObject *r = attr(o, name);
  unref(r); /* kept alive by o */
  return r;
}

static int kinds_get(struct kinds *k, PyObject *mods) {
  PyObject *aio = py.dict_get(mods, "_asyncio"), *types = py.dict_get(mods, "types"),
           *ft = py.dict_get(mods, "functools");
  k->task = borrowed_attr(aio, "Task");
  k->method = borrowed_attr(types, "MethodType");
  k->function = borrowed_attr(types, "FunctionType");
  k->builtin = borrowed_attr(types, "BuiltinMethodType");
  k->coro = borrowed_attr(types, "CoroutineType");
  k->gen = borrowed_attr(types, "GeneratorType");
  k->partial = borrowed_attr(ft, "partial");
  return k->task && k->method && k->function && k->builtin && k->coro && k->gen ? 0 : -1;
}

static int is_a(PyObject *o, PyObject *type) {
  if (!o || !type)
    return 0;
  PyObject *t = py.type(o);
  unref(t);
  return t == type;
}
#define py_is_set(o) is_a((o), py.set_type)
#define py_is_dict(o) is_a((o), py.dict_type)
#define py_is_tuple(o) is_a((o), py.tuple_type)
#define py_is_weakref(o) is_a((o), py.weakref_type)
#define py_is_type(o) is_a((o), py.type_type)

/* The live C tasks of the interpreter, borrowed (their set keeps them while no bytecode runs),
 * at most max. 3.11 keeps them in a WeakSet, 3.12 and 3.13 scheduled ones in a WeakSet and eager
 * ones in a set; each WeakSet's data is a plain set of weak references. */
static int tasks_get(PyObject *aio, const struct kinds *k, PyObject **out, int max) {
  static const char *const sets[] = {"_all_tasks", "_scheduled_tasks", "_eager_tasks"};
  int n = 0;
  for (size_t i = 0; i < CW_ARRAY_LEN(sets) && n < max; i++) {
    PyObject *s = attr(aio, sets[i]), *data = NULL, *d = NULL;
    if (!s)
      continue;
    if (!py_is_set(s)) { /* a WeakSet: its data, read from its own dict */
      d = py.generic_dict(s, NULL);
      data = d ? py.dict_get(d, "data") : NULL;
      py.err_clear();
    } else {
      data = s;
    }
    PyObject *it = data && py_is_set(data) ? py.iter(data) : NULL, *x;
    while (it && n < max && (x = py.next(it)) != NULL) {
      PyObject *t = py_is_weakref(x) ? py.weakref_get(x) : x;
      if (is_a(t, k->task))
        out[n++] = t;
      py.decref(x);
    }
    py.err_clear();
    unref(it);
    unref(d);
    py.decref(s);
  }
  return n;
}

static PyObject *find(PyObject *const *tasks, int n, const void *o) {
  for (int i = 0; i < n; i++)
    if (tasks[i] == o)
      return tasks[i];
  return NULL;
}

/* The task that awaits task (borrowed from tasks), or NULL. */
static PyObject *awaiter(PyObject *task, PyObject *const *tasks, int n, const struct kinds *k, PyObject *mods) {
  /* anyio records each task's parent: _task_states.data maps a weak reference to the task to a
   * TaskState (slots) whose parent_id is the parent's id() */
  PyObject *anyio = py.dict_get(mods, "anyio._backends._asyncio");
  PyObject *states = attr(anyio, "_task_states"), *sd = states ? py.generic_dict(states, NULL) : NULL;
  PyObject *data = sd ? py.dict_get(sd, "data") : NULL, *ref = data ? py.weakref_new(task, NULL) : NULL;
  PyObject *st = ref && py_is_dict(data) ? py.dict_get_item(data, ref) : NULL; /* borrowed */
  PyObject *pid = st ? attr(st, "parent_id") : NULL;
  void *parent = pid && pid != py.none ? py.long_ptr(pid) : NULL;
  py.err_clear();
  unref(pid);
  unref(ref);
  unref(sd);
  unref(states);
  PyObject *up = parent ? find(tasks, n, parent) : NULL;
  if (up)
    return up;
  /* A done-callback of the task: a method of the awaiting task (it awaits this one directly), or
   * a function, method or partial holding the future that task awaits (asyncio.wait, gather,
   * wait_for, a TaskGroup). */
  PyObject *held[MAX_HELD];
  int nheld = 0;
  PyObject *cbs = attr(task, "_callbacks"), *it = cbs && cbs != py.none ? py.iter(cbs) : NULL, *item;
  py.err_clear();
  while (it && !up && (item = py.next(it)) != NULL) {
    PyObject *cb = py_is_tuple(item) ? py.tuple_item(item, 0) : item; /* borrowed */
    py.err_clear();
    PyObject *from = NULL; /* a tuple or dict whose items may be the awaited future */
    if (is_a(cb, k->method) || is_a(cb, k->builtin)) {
      PyObject *self = attr(cb, "__self__");
      if (self && self != task && !(up = find(tasks, n, self)) && !py_is_type(self))
        from = py.generic_dict(self, NULL); /* TaskGroup: its future is an attribute */
      py.err_clear();
      unref(self);
    } else if (is_a(cb, k->function)) {
      PyObject *cells = attr(cb, "__closure__");
      for (ssize_t i = 0; cells && py_is_tuple(cells) && i < py.tuple_size(cells) && nheld < MAX_HELD; i++) {
        PyObject *v = attr(py.tuple_item(cells, i), "cell_contents");
        if (v)
          held[nheld++] = v;
      }
      unref(cells);
    } else if (is_a(cb, k->partial)) {
      from = attr(cb, "args");
    }
    if (from && py_is_tuple(from))
      for (ssize_t i = 0; i < py.tuple_size(from) && nheld < MAX_HELD; i++) {
        held[nheld] = py.tuple_item(from, i);
        py.incref(held[nheld++]);
      }
    else if (from && py_is_dict(from)) {
      ssize_t pos = 0;
      PyObject *key, *v;
      while (nheld < MAX_HELD && py.dict_next(from, &pos, &key, &v)) {
        py.incref(v);
        held[nheld++] = v;
      }
    }
    unref(from);
    py.decref(item);
  }
  py.err_clear();
  unref(it);
  unref(cbs);
  for (int t = 0; !up && nheld && t < n; t++) {
    PyObject *w = attr(tasks[t], "_fut_waiter");
    for (int i = 0; w && w != py.none && i < nheld && !up; i++)
      if (held[i] == w && tasks[t] != task)
        up = tasks[t];
    unref(w);
  }
  for (int i = 0; i < nheld; i++)
    py.decref(held[i]);
  return up;
}

/* Add one coroutine's (or generator's) frame ("F:N in FUNC") to f. 0, or -1 when it has none. */
static int coro_frame(PyObject *coro, const struct kinds *k, struct frames *f) {
  int gen = is_a(coro, k->gen);
  if (!gen && !is_a(coro, k->coro))
    return -1;
  PyObject *fr = attr(coro, gen ? "gi_frame" : "cr_frame");
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
static void task_chain(PyObject *task, const struct kinds *k, struct frames *out) {
  struct frames chain; /* outermost first, as the chain is walked */
  chain.n = 0;
  chain.used = 0;
  PyObject *coro = attr(task, "_coro");
  while (coro && chain.n < CW_PY_MAX && coro_frame(coro, k, &chain) == 0) {
    PyObject *next = attr(coro, is_a(coro, k->gen) ? "gi_yieldfrom" : "cr_await");
    py.decref(coro);
    coro = next;
  }
  unref(coro);
  for (int i = chain.n - 1; i >= 0; i--)
    add(out, "%s", chain.text + chain.off[i]);
}

/* The task running now on this thread's loop (borrowed), or NULL. */
static PyObject *current_task(PyObject *aio, const struct kinds *k) {
  PyObject *cur = attr(aio, "current_task"); /* C in 3.12 and later */
  if (cur && is_a(cur, k->builtin)) {
    PyObject *t = py.call0(cur);
    py.err_clear();
    py.decref(cur);
    unref(t); /* the loop's record of it keeps it */
    return t && t != py.none ? t : NULL;
  }
  unref(cur);
  PyObject *get = attr(aio, "_get_running_loop"), *loop = get && is_a(get, k->builtin) ? py.call0(get) : NULL;
  PyObject *tasks = attr(aio, "_current_tasks"); /* 3.11: a dict, loop -> task */
  PyObject *t = loop && loop != py.none && tasks && py_is_dict(tasks) ? py.dict_get_item(tasks, loop) : NULL;
  py.err_clear();
  unref(tasks);
  unref(loop);
  unref(get);
  return t;
}

/* bt lacks its caller: the same frames up to the loop's, then the awaiting tasks' chains, until
 * one holds a frame of the program's (at most four tasks up). Returns bt or its replacement. */
static struct cw_bt *join_awaiting(struct cw_bt *bt) {
  PyObject *mods = py.sys_get("modules"), *aio = mods ? py.dict_get(mods, "_asyncio") : NULL;
  struct kinds k;
  if (!aio || kinds_get(&k, mods) < 0)
    return bt;
  PyObject *task = current_task(aio, &k);
  if (!is_a(task, k.task))
    return bt;
  PyObject **all = cw_mem_alloc(MAX_TASKS * sizeof *all);
  int n = all ? tasks_get(aio, &k, all, MAX_TASKS) : 0;
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
  for (int depth = 0; depth < 4 && f.n < CW_PY_MAX && !found && task; depth++) {
    task = awaiter(task, all, n, &k, mods);
    if (!task)
      break;
    int from = f.n;
    task_chain(task, &k, &f);
    for (int i = from; i < f.n && !found; i++)
      found = !cw_py_is_lib(f.text + f.off[i]);
  }
  cw_mem_free(all);
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
static pthread_key_t stash_key;

static void stash_free(void *bt) {
  if (bt == stash) {
    stash = NULL;
    cw_mem_free(bt);
  }
}

struct cw_bt *cw_py_capture(int fd) {
  if (!__atomic_load_n(&py_on, __ATOMIC_ACQUIRE))
    return NULL;
  struct cw_bt *bt = stash;
  if (bt) {
    stash = NULL;
    pthread_setspecific(stash_key, NULL);
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
  accepted = 0;
  /* only a thread the interpreter knows, while it runs, makes the socket object */
  if (!__atomic_load_n(&py_on, __ATOMIC_ACQUIRE) || !py.api || !hooked || !py.initialized() || py.finalizing() ||
      !py.this_thread())
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
    void *ts = py.finalizing() ? NULL : py.holder(); /* the lock is held: the running state */
    int saved = errno;
    struct cw_bt *bt = ts ? read_stack(ts, 1) : NULL;
    if (bt)
      cw_table_replace_bt(fd, CW_DIR_IN, bt);
    errno = saved;
    return 0;
  }
  if (strcmp(event, "socket.connect") != 0 || py.finalizing())
    return 0;
  void *ts = py.holder(); /* the lock is held: the running state (a subinterpreter's too) */
  if (!ts)
    return 0;
  PyObject *t, *v, *tb;
  py.err_fetch(&t, &v, &tb);
  PyObject *sock = py.tuple_item(args, 0);
  int fd = sock ? py.as_fd(sock) : -1;
  py.err_clear();
  py.err_restore(t, v, tb);
  if (fd < 0 || !cw_fdflag(fd, CW_FD_TCP))
    return 0; /* only a TCP connect reaches the capture that takes the stash */
  int saved = errno;
  struct cw_bt *bt = read_stack(ts, 1);
  errno = saved;
  cw_mem_free(stash);
  stash = bt;
  stash_fd = fd;
  if (bt)
    pthread_setspecific(stash_key, bt); /* so that a thread that exits with one frees it */
  return 0;
}

/* ---- start-up ---------------------------------------------------------------------------------- */

/* Debug memory hooks (-X dev, PYTHONDEVMODE, PYTHONMALLOC=debug, a debug build) free the audit
 * hook's entry at finalisation with a check that fails for a block allocated before they were
 * set up, which is when the library adds it: there, no hook (blocking connects in threads other
 * than the main one then have no Python stack). The interpreter's options are read as CPython
 * reads them: flags run together (-bX dev), -W and -X take their value attached or as the next
 * word, and the options end at -c, -m, -, -- or the script. */
static int debug_allocator(void) {
  const char *m = getenv("PYTHONMALLOC"), *d = getenv("PYTHONDEVMODE");
  if ((m && strstr(m, "debug")) || (d && *d) || dlsym(RTLD_DEFAULT, "_Py_NegativeRefcount"))
    return 1;
  char args[8192];
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, args, sizeof args - 1) : -1;
  if (fd >= 0)
    close(fd);
  if (n <= 0)
    return 0;
  args[n] = '\0';
  const char *end = args + n, *a = args + strlen(args) + 1; /* past argv[0] */
  while (a < end) {
    const char *next = a + strlen(a) + 1;
    if (a[0] != '-' || strcmp(a, "-") == 0 || strcmp(a, "--") == 0)
      return 0;
    if (a[1] == '-') { /* --check-hash-based-pycs MODE, --help... */
      a = strcmp(a, "--check-hash-based-pycs") == 0 && next < end ? next + strlen(next) + 1 : next;
      continue;
    }
    for (const char *c = a + 1; *c; c++) {
      if (*c == 'c' || *c == 'm')
        return 0;
      if (*c == 'W' || *c == 'X') {
        const char *val = c[1] ? c + 1 : next < end ? next : "";
        if (!c[1] && next < end)
          next += strlen(next) + 1;
        if (*c == 'X' && (strcmp(val, "dev") == 0 || strncmp(val, "dev=", 4) == 0))
          return 1;
        break;
      }
    }
    a = next;
  }
  return 0;
}

/* Is this CPython's own program, its main the interpreter's: the interpreter in the executable,
 * or an executable named python* over libpython (a shared build)? An embedding program sets the
 * interpreter up its own way (its allocators too): no hook is added to it before it starts. */
static int own_program(void) {
  Dl_info di;
  struct link_map *lm = NULL;
  if (dladdr1(*(void **)&py.initialized, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm && lm->l_name[0] == '\0')
    return 1;
  return strncmp(program_invocation_short_name, "python", 6) == 0;
}

void cw_py_init(void) {
  main_thread = pthread_self();
  const char *(*version)(void) = dlsym(RTLD_DEFAULT, "Py_GetVersion");
  int major = 0, minor = 0;
  if (!version || sscanf(version(), "%d.%d", &major, &minor) != 2 || !SYM(initialized, "Py_IsInitialized") ||
      !SYM2(finalizing, "Py_IsFinalizing", "_Py_IsFinalizing") || !SYM(this_thread, "PyGILState_GetThisThreadState") ||
      !SYM2(holder, "PyThreadState_GetUnchecked", "_PyThreadState_UncheckedGet"))
    return; /* no interpreter here */
  __atomic_store_n(&py_found, 1, __ATOMIC_RELEASE);
  if (cw_cfg.backtrace != CW_BT_LANG)
    return;
  if (major != 3 || minor < 9 || !SYM(dump, "_Py_DumpTraceback")) {
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
           SYM(iter, "PyObject_GetIter") && SYM(next, "PyIter_Next") &&
           SYM(long_ptr, "PyLong_AsVoidPtr") && SYM(long_val, "PyLong_AsLong") && SYM(utf8, "PyUnicode_AsUTF8") &&
           SYM(decref, "Py_DecRef") && SYM(incref, "Py_IncRef") && SYM(type, "PyObject_Type") &&
           SYM(generic_dict, "PyObject_GenericGetDict") && SYM(weakref_get, "PyWeakref_GetObject") &&
           SYM(weakref_new, "PyWeakref_NewRef") && SYM(dict_get_item, "PyDict_GetItemWithError") &&
           SYM(dict_next, "PyDict_Next") && SYM(tuple_size, "PyTuple_Size") && SYM(none, "_Py_NoneStruct") &&
           SYM(set_type, "PySet_Type") && SYM(dict_type, "PyDict_Type") && SYM(tuple_type, "PyTuple_Type") &&
           SYM(weakref_type, "_PyWeakref_RefType") && SYM(type_type, "PyType_Type");
  if (!SYM(gc_disable, "PyGC_Disable") || !SYM(gc_enable, "PyGC_Enable"))
    py.gc_disable = NULL;
  __atomic_store_n(&py_on, 1, __ATOMIC_RELEASE);
  /* Before the interpreter starts, a hook needs no lock and no permission. Once it runs, adding
   * one would need its lock: a host that started it before us gets no hook. */
  if (py.api && !py.initialized() && own_program() && !debug_allocator() && pthread_key_create(&stash_key, stash_free) == 0)
    hooked = py.add_audit_hook(audit, NULL) == 0;
}

int cw_py_finalizing(void) {
  if (!__atomic_load_n(&py_found, __ATOMIC_ACQUIRE) || !py.finalizing())
    return 0; /* (the interpreter says it is not initialised any more by then) */
  /* On the thread that runs the teardown: the main thread, with a state (the socket's close
   * itself runs with the lock released). Finalising stays true once the teardown is over, when
   * the thread has no state any more; other threads' closes meanwhile are theirs. */
  return pthread_equal(pthread_self(), main_thread) && py.this_thread() != NULL;
}

void cw_py_fork_child(void) {
  main_thread = pthread_self();
  cw_mem_free(stash);
  stash = NULL;
  accepted = 0;
  if (hooked)
    pthread_setspecific(stash_key, NULL);
}
