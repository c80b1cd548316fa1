/* backtrace.c - stack capture at connect/accept and symbolisation at report time. Captures run in
 * host threads inside wrappers (cw_guard set by the caller) and cost one unwind plus range checks
 * per frame; symbolisation (dladdr, /proc/self/exe) runs only in whichever thread writes a report.
 * A capture leaves out the shim's frames and, at the top, those of interposers loaded ahead of it
 * (a sanitizer runtime). Function names come from the dynamic symbol table; file and line are
 * left to addr2line. */
#define _GNU_SOURCE
#include "backtrace.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "python.h"

/* The loaded object that holds an address: [lo, hi) over its PT_LOAD segments. */
struct object {
  uintptr_t inside, lo, hi;
};

static int object_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct object *o = arg;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD)
      continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    if (a < lo)
      lo = a;
    if (a + ph->p_memsz > hi)
      hi = a + ph->p_memsz;
  }
  if (o->inside < lo || o->inside >= hi)
    return 0;
  o->lo = lo;
  o->hi = hi;
  return 1;
}

static int object_of(const void *inside, struct object *o) {
  *o = (struct object){.inside = (uintptr_t)inside};
  return dl_iterate_phdr(object_cb, o) ? 0 : -ENOENT;
}

/* The shim's own text: [self_lo, self_hi). Written once by find_self (racing writers store the
 * same values), read with relaxed loads; 0/0 until found. */
static uintptr_t self_lo, self_hi;

static void find_self(void) {
  struct object o;
  if (object_of((void *)&cw_bt_capture, &o) < 0)
    return;
  __atomic_store_n(&self_lo, o.lo, __ATOMIC_RELAXED);
  __atomic_store_n(&self_hi, o.hi, __ATOMIC_RELAXED);
}

static int in_shim(void *pc) {
  uintptr_t p = (uintptr_t)pc;
  return p >= __atomic_load_n(&self_lo, __ATOMIC_RELAXED) && p < __atomic_load_n(&self_hi, __ATOMIC_RELAXED);
}

/* Interposers ahead of the shim: objects before it in the link map, so before it in the lookup
 * order (LD_PRELOAD entries listed first, such as a sanitizer runtime), other than the main
 * program, that define a call the shim interposes (hooks.def) themselves. When the host calls
 * connect(), such an object's connect runs first and calls on into the shim; when the shim calls
 * backtrace(), such an object may serve that too. Either way its frames sit at the top of the
 * captured stack, above the host's, and are dropped there (only there). Their code lies in
 * functions of any name (GCC's libasan runs an interceptor's body in a local
 * __interceptor_NAME.part.0), so the whole object is the range. The main program and objects
 * loaded after the shim never count, so a host's own frames are kept.
 * Written by cw_bt_warm at start-up; nahead published with a release store after ahead[]. */
static struct object ahead[8];
static int nahead;

static const char *const hooked[] = {
#define CW_HOOK(ret, name, params, args, kind, fd, raw) #name,
#include "hooks.def"
#undef CW_HOOK
};

static int in_ahead(void *pc) {
  uintptr_t p = (uintptr_t)pc;
  int n = __atomic_load_n(&nahead, __ATOMIC_ACQUIRE);
  for (int i = 0; i < n; i++)
    if (p >= ahead[i].lo && p < ahead[i].hi)
      return 1;
  return 0;
}

/* Does lm itself (not one of its dependencies) define one of the interposed calls? */
static int interposes(struct link_map *lm) {
  void *handle = dlopen(lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
  int found = 0;
  if (!handle)
    return 0;
  for (size_t i = 0; i < CW_ARRAY_LEN(hooked) && !found; i++) {
    void *addr = dlsym(handle, hooked[i]);
    Dl_info di;
    struct link_map *owner = NULL;
    found = addr && dladdr1(addr, &di, (void **)&owner, RTLD_DL_LINKMAP) && owner == lm;
  }
  dlclose(handle);
  return found;
}

static void find_ahead(void) {
  Dl_info di;
  struct link_map *self = NULL;
  int n = 0;
  if (!dladdr1((void *)&cw_bt_capture, &di, (void **)&self, RTLD_DL_LINKMAP) || !self)
    return;
  for (struct link_map *lm = self->l_prev; lm && n < (int)CW_ARRAY_LEN(ahead); lm = lm->l_prev)
    if (lm->l_name[0] != '\0' && interposes(lm) && object_of((void *)lm->l_ld, &ahead[n]) == 0)
      n++;
  __atomic_store_n(&nahead, n, __ATOMIC_RELEASE);
}

struct cw_bt *cw_bt_capture(int fd, int accepted) {
  if (!cw_cfg.backtrace)
    return NULL;
  if (cw_cfg.backtrace == CW_BT_LANG) {
    struct cw_bt *py = cw_py_capture(fd);
    if (py || (accepted && cw_py_note_accept(fd)))
      return py;
  }
  if (CW_UNLIKELY(!__atomic_load_n(&self_hi, __ATOMIC_RELAXED)))
    find_self();
  void *pcs[CW_BT_MAX + 8];
  int n = backtrace(pcs, (int)CW_ARRAY_LEN(pcs));
  struct cw_bt *bt = cw_mem_alloc(sizeof *bt);
  if (!bt)
    return NULL;
  bt->n = 0;
  /* Frames before the first of the shim's were called by it: whoever served backtrace(). */
  int i = 0;
  while (i < n && !in_shim(pcs[i]))
    i++;
  if (i == n)
    i = 0;
  int top = 1; /* no frame kept yet: an interposer's frames are still at the top */
  for (; i < n && bt->n < CW_BT_MAX; i++) {
    if (in_shim(pcs[i]) || (top && in_ahead(pcs[i])))
      continue;
    top = 0;
    bt->pc[bt->n++] = pcs[i];
  }
  return bt;
}

void cw_bt_warm(void) {
  void *pc[2];
  backtrace(pc, 2);
  find_self();
  find_ahead();
}

/* The main program's real path: its link map names it "" and dladdr gives argv[0], which may be
 * relative or a bare name found on PATH. Read once, in the reporting thread. */
static char exe_path[PATH_MAX];
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;
static void read_exe(void) {
  ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
  exe_path[n > 0 ? n : 0] = '\0';
}

int cw_bt_resolve(void *pc, struct cw_bt_frame *f) {
  Dl_info di;
  struct link_map *lm = NULL;
  memset(f, 0, sizeof *f);
  f->pc = pc;
  f->module = "";
  f->offset = (uintptr_t)pc;
  if (!dladdr1(pc, &di, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
    return -ENOENT;
  if (lm->l_name[0] == '\0') {
    pthread_once(&exe_once, read_exe);
    f->module = exe_path[0] ? exe_path : (di.dli_fname ? di.dli_fname : "");
  } else {
    f->module = lm->l_name;
  }
  f->offset = (uintptr_t)pc - (uintptr_t)lm->l_addr;
  f->func = di.dli_sname;
  return 0;
}

char *cw_bt_symbolise(void *pc, char *buf, size_t size) {
  struct cw_bt_frame f;
  if (cw_bt_resolve(pc, &f) < 0) {
    snprintf(buf, size, "%p", pc);
    return buf;
  }
  const char *mod = strrchr(f.module, '/');
  mod = mod ? mod + 1 : f.module;
  snprintf(buf, size, "%p in %s%s%s+0x%lx", pc, f.func ? f.func : "", f.func ? " " : "", mod,
           (unsigned long)f.offset);
  return buf;
}

char *cw_bt_where(const struct cw_bt *bt, char *buf, size_t size) {
  if (bt && bt->npy) {
    snprintf(buf, size, "%s", cw_py_frame(bt, bt->own < bt->npy ? bt->own : 0));
    return buf;
  }
  if (!bt || bt->n == 0) {
    if (size)
      buf[0] = '\0';
    return buf;
  }
  return cw_bt_symbolise(bt->pc[0], buf, size);
}

struct cw_bt *cw_bt_dup(const struct cw_bt *bt) {
  struct cw_bt *d = bt ? cw_mem_alloc(cw_bt_size(bt)) : NULL;
  if (d)
    memcpy(d, bt, cw_bt_size(bt));
  return d;
}
