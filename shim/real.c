/* real.c - the real functions, resolved once with dlsym(RTLD_NEXT) under pthread_once. Called by
 * the constructor, or by the first wrapper that runs before it (another library's constructor).
 * While dlsym runs, cw_guard is set, so anything dlsym calls goes straight to the kernel. */
#define _GNU_SOURCE
#include "real.h"
#include "hooks.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <fcntl.h>
#include <unistd.h>

/* Each pointer: written once by resolve() under pthread_once, read by every wrapper. The I/O and
 * NEWFD kinds start at a stub that resolves on first use (or serves the call from the kernel
 * while resolving), so their wrappers call through the pointer with no test. The others start
 * NULL and their wrappers check (CW_ENSURE): they are variadic or have no kernel twin. */
#define STUB(ret, name, params, args, raw)                                                         \
  static ret cw_first_##name params;                                                               \
  CW_HIDDEN ret(*cw_real_##name) params = cw_first_##name;                                          \
  static ret cw_first_##name params {                                                              \
    if (!cw_guard)                                                                                 \
      cw_real_init();                                                                              \
    if (cw_real_##name != cw_first_##name)                                                         \
      return cw_real_##name args;                                                                  \
    return (ret)(raw);                                                                             \
  }
#define DECL_IO_IN(ret, name, params, args, raw) STUB(ret, name, params, args, raw)
#define DECL_IO_OUT(ret, name, params, args, raw) STUB(ret, name, params, args, raw)
#define DECL_NEWFD(ret, name, params, args, raw) STUB(ret, name, params, args, raw)
#define DECL_HAND(ret, name, params, args, raw) CW_HIDDEN ret(*cw_real_##name) params;
#define CW_HOOK(ret, name, params, args, kind, fd, len, raw) DECL_##kind(ret, name, params, args, raw)
#include "hooks.def"
#undef CW_HOOK

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ready; /* written once by resolve(); read by cw_real_ready() */

static void *load(const char *name, void *self) {
  void *p = dlsym(RTLD_NEXT, name);
  /* Loaded twice, RTLD_NEXT can lead back into a copy of the shim: refuse, and let the wrapper
   * take its kernel path rather than recurse forever. */
  if (p == self)
    p = NULL;
  return p;
}

static void resolve(void) {
  cw_guard++;
#define CW_HOOK(ret, name, params, args, kind, fd, len, raw)                                       \
  {                                                                                                \
    void *p_ = load(#name, (void *)&cw_w_##name);                                                  \
    if (p_)                                                                                        \
      cw_real_##name = (ret(*) params)p_;                                                          \
  }
#include "hooks.def"
#undef CW_HOOK
  cw_guard--;
  __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

void cw_real_init(void) { pthread_once(&once, resolve); }

int cw_real_ready(void) { return __atomic_load_n(&ready, __ATOMIC_ACQUIRE); }
