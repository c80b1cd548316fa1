/* real.h - the real libc functions behind every interposed name, resolved once. The shim reaches
 * libc's interposed functions only as CW_REAL(fn); everything else in libc is called directly. */
#ifndef CW_REAL_H
#define CW_REAL_H

#include <pthread.h>
#include <stdio.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netdb.h>
#include <signal.h>
#include <sys/syscall.h>
#include "cw.h"

struct gaicb; /* netdb.h declares it only with _GNU_SOURCE */
#define CW_HOOK(ret, name, params, args, kind, fd, raw) extern CW_HIDDEN ret(*cw_real_##name) params;
#include "hooks.def"
#undef CW_HOOK

#define CW_REAL(fn) cw_real_##fn

/* Resolve every pointer with dlsym(RTLD_NEXT), once, thread-safely. A pointer that would resolve
 * to the shim itself stays NULL. Safe to call from any wrapper unless cw_guard is set. */
CW_HIDDEN void cw_real_init(void);

/* on: the I/O pointers (IO_IN, IO_OUT, FASTOPEN kinds) become the shim's own system calls;
 * off: libc's. On only while the host has created no thread of its own (so nothing can cancel a
 * call, and libc's cancellation bookkeeping, which the shim's own threads would otherwise switch
 * on for every call, is pure cost) and every real I/O function is libc's (so no later preloaded
 * library is skipped). Called at start-up, in a fork child, and (off) before the host's first
 * thread. */
CW_HIDDEN void cw_real_use_raw(int on);

/* 1 once cw_real_init has finished. */
CW_HIDDEN int cw_real_ready(void);

#endif
