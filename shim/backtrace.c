/* backtrace.c - stack capture at connect/accept and symbolisation at report time. Captures run in
 * host threads inside wrappers (cw_guard set by the caller) and cost one unwind plus a range check
 * per frame; symbolisation (dladdr, /proc/self/exe) runs only in whichever thread writes a report.
 * Function names come from the dynamic symbol table; file and line are left to addr2line. */
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

/* The shim's own text: [self_lo, self_hi). Written once by find_self (racing writers store the
 * same values), read with relaxed loads; 0/0 until found. */
static uintptr_t self_lo, self_hi;

static int find_self_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uintptr_t me = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
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
  if (me < lo || me >= hi)
    return 0;
  __atomic_store_n(&self_lo, lo, __ATOMIC_RELAXED);
  __atomic_store_n(&self_hi, hi, __ATOMIC_RELAXED);
  return 1;
}

static void find_self(void) { dl_iterate_phdr(find_self_cb, (void *)(uintptr_t)&cw_bt_capture); }

static int in_shim(void *pc) {
  uintptr_t p = (uintptr_t)pc;
  return p >= __atomic_load_n(&self_lo, __ATOMIC_RELAXED) && p < __atomic_load_n(&self_hi, __ATOMIC_RELAXED);
}

struct cw_bt *cw_bt_capture(void) {
  if (!cw_cfg.backtrace)
    return NULL;
  if (CW_UNLIKELY(!__atomic_load_n(&self_hi, __ATOMIC_RELAXED)))
    find_self();
  void *pcs[CW_BT_MAX + 8];
  int n = backtrace(pcs, (int)CW_ARRAY_LEN(pcs));
  struct cw_bt *bt = malloc(sizeof *bt);
  if (!bt)
    return NULL;
  bt->n = 0;
  for (int i = 0; i < n && bt->n < CW_BT_MAX; i++)
    if (!in_shim(pcs[i]))
      bt->pc[bt->n++] = pcs[i];
  return bt;
}

void cw_bt_warm(void) {
  void *pc[2];
  backtrace(pc, 2);
  find_self();
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
