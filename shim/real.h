/* real.h - the real libc functions behind every interposed name, resolved once. The shim reaches
 * libc's interposed functions only as CW_REAL(fn); everything else in libc is called directly. */
#ifndef CW_REAL_H
#define CW_REAL_H

#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include "cw.h"

#define CW_HOOK(ret, name, params, args, kind, fd, len, raw) extern CW_HIDDEN ret(*cw_real_##name) params;
#include "hooks.def"
#undef CW_HOOK

#define CW_REAL(fn) cw_real_##fn

/* A kernel call with libc's convention, any number of arguments up to six. */
#define CW_RAW(nr, ...) CW_RAW_(nr, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define CW_RAW_(nr, a, b, c, d, e, f, ...)                                                         \
  cw_raw_call(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* Resolve every pointer with dlsym(RTLD_NEXT), once, thread-safely. A pointer that would resolve
 * to the shim itself stays NULL. Safe to call from any wrapper unless cw_guard is set. */
CW_HIDDEN void cw_real_init(void);

/* 1 once cw_real_init has finished. */
CW_HIDDEN int cw_real_ready(void);

#endif
