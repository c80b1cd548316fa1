/* backtrace.c - stack capture at connect/accept and symbolisation at report time. Captures run
 * in host threads inside wrappers (cw_guard set by the caller); symbolisation runs in whichever
 * thread writes a report. */
#define _GNU_SOURCE
#include "backtrace.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

static int in_shim(void *pc) {
  Dl_info self, di;
  if (!dladdr((void *)&cw_bt_capture, &self) || !dladdr(pc, &di))
    return 0;
  return di.dli_fbase == self.dli_fbase;
}

struct cw_bt *cw_bt_capture(void) {
  if (!cw_cfg.backtrace)
    return NULL;
  void *pcs[CW_BT_MAX + 8];
  int n = backtrace(pcs, (int)CW_ARRAY_LEN(pcs));
  int skip = 0;
  while (skip < n && in_shim(pcs[skip]))
    skip++;
  struct cw_bt *bt = malloc(sizeof *bt);
  if (!bt)
    return NULL;
  bt->n = 0;
  for (int i = skip; i < n && bt->n < CW_BT_MAX; i++)
    bt->pc[bt->n++] = pcs[i];
  return bt;
}

void cw_bt_warm(void) {
  void *pc[2];
  backtrace(pc, 2);
}

char *cw_bt_symbolise(void *pc, char *buf, size_t size) {
  Dl_info di;
  if (dladdr(pc, &di) && di.dli_fname) {
    const char *mod = strrchr(di.dli_fname, '/');
    mod = mod ? mod + 1 : di.dli_fname;
    if (di.dli_sname)
      snprintf(buf, size, "%p in %s %s+0x%lx", pc, di.dli_sname, mod,
               (unsigned long)((char *)pc - (char *)di.dli_fbase));
    else
      snprintf(buf, size, "%p in %s+0x%lx", pc, mod, (unsigned long)((char *)pc - (char *)di.dli_fbase));
  } else {
    snprintf(buf, size, "%p", pc);
  }
  return buf;
}
