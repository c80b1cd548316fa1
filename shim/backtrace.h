/* backtrace.h - cheap stack capture at connect/accept (frame addresses only, the shim's own frames
 * left out); symbolised only when a report is written, with what the dynamic loader knows. */
#ifndef CW_BACKTRACE_H
#define CW_BACKTRACE_H

#include <stddef.h>
#include <stdint.h>
#include "table.h"

/* Where the calling thread opens (accepted: accepts) a connection on fd: the Python stack in a
 * CPython host (with CONNWARDEN_BACKTRACE=1, where python.c can read it), else the native stack
 * without the shim's frames. NULL when backtraces are off, memory is short, or the Python stack
 * of an accept comes later (cw_py_note_accept). Called from wrappers in host threads: no shim
 * lock, no system call. */
CW_HIDDEN struct cw_bt *cw_bt_capture(int fd, int accepted);

/* A copy (mem.c), or NULL for NULL or when memory is short. */
CW_HIDDEN struct cw_bt *cw_bt_dup(const struct cw_bt *bt);

/* Load the unwinder and find the shim's own address range once, at start-up, so the first
 * capture does not dlopen or walk the loader's list inside a wrapper. */
CW_HIDDEN void cw_bt_warm(void);

/* One frame as the loader sees it. module and func point into the loader's (or a static) store
 * and stay valid while the object is loaded. */
struct cw_bt_frame {
  void *pc;
  const char *module; /* path of the object holding pc ("" unknown); the main program's real path */
  uintptr_t offset;   /* pc minus the object's load bias: the address addr2line, nm, objdump use */
  const char *func;   /* the exported (dynamic) symbol holding pc, or NULL */
};

/* Fill f for pc. Returns 0, or -ENOENT when no loaded object holds pc (f->module is ""). */
CW_HIDDEN int cw_bt_resolve(void *pc, struct cw_bt_frame *f);

/* Where a connection was opened, as one phrase for a log line: the program's own innermost
 * Python frame ("/srv/app.py:12 in fetch"), or the innermost native frame as cw_bt_symbolise
 * writes it; "" when bt is NULL or empty. Returns buf. */
CW_HIDDEN char *cw_bt_where(const struct cw_bt *bt, char *buf, size_t size);

/* One frame as "0x55d0c1a2b1c9 in func module+0x1c9" (func left out when unknown). Returns buf. */
CW_HIDDEN char *cw_bt_symbolise(void *pc, char *buf, size_t size);

#endif
