/* hooks.h - the exported wrappers, declared from hooks.def. Each is a C function cw_w_<name>
 * whose symbol is <name>: this keeps glibc's own prototypes (transparent unions, fortify
 * redirects) out of the way while the linker sees exactly the libc name. */
#ifndef CW_HOOKS_H
struct gaicb; /* netdb.h declares it only with _GNU_SOURCE */
#define CW_HOOKS_H

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
#include "cw.h"

#define CW_HOOK(ret, name, params, args, kind, fd, raw)                                       \
  CW_EXPORT ret cw_w_##name params __asm__(#name);
#include "hooks.def"
#undef CW_HOOK

#endif
