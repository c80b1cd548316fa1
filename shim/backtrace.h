/* backtrace.h - cheap stack capture at connect/accept (frame addresses only); symbolised only
 * when a report is written. */
#ifndef CW_BACKTRACE_H
#define CW_BACKTRACE_H

#include <stddef.h>
#include "table.h"

/* Capture the caller's stack, dropping the shim's own frames. NULL when backtraces are off or
 * memory is short. Called from wrappers in host threads. */
CW_HIDDEN struct cw_bt *cw_bt_capture(void);

/* Load the unwinder once, at start-up, so the first capture does not dlopen inside a wrapper. */
CW_HIDDEN void cw_bt_warm(void);

/* One frame as "0x55d0c1a2b1c9 in func module+0x1c9". Returns buf. */
CW_HIDDEN char *cw_bt_symbolise(void *pc, char *buf, size_t size);

#endif
