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
#include <string.h>
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
#define DECL_FASTOPEN DECL_IO_OUT
#define DECL_SINK DECL_IO_OUT
#define DECL_CHK_IN(ret, name, params, args, raw) STUB(ret, name, params, args, raw)
#define DECL_NEWFD(ret, name, params, args, raw) STUB(ret, name, params, args, raw)
#define DECL_HAND(ret, name, params, args, raw) CW_HIDDEN ret(*cw_real_##name) params;
#define CW_HOOK(ret, name, params, args, kind, fd, raw) DECL_##kind(ret, name, params, args, raw)
#include "hooks.def"
#undef CW_HOOK

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int io_libc; /* written once by resolve(): every I/O pointer is libc's */

/* libc's I/O functions, kept while the pointers name the raw ones; and the raw ones. */
#define KEEP_IO_IN(ret, name, params, args, raw)                                                   \
  static ret(*libc_##name) params;                                                                 \
  static ret rawfn_##name params { return (ret)(raw); }
#define KEEP_IO_OUT KEEP_IO_IN
#define KEEP_FASTOPEN KEEP_IO_IN
#define KEEP_SINK KEEP_IO_IN
#define KEEP_CHK_IN(ret, name, params, args, raw)
#define KEEP_NEWFD(ret, name, params, args, raw)
#define KEEP_HAND(ret, name, params, args, raw)
#define CW_HOOK(ret, name, params, args, kind, fd, raw) KEEP_##kind(ret, name, params, args, raw)
#include "hooks.def"
#undef CW_HOOK

void cw_real_use_raw(int on) {
  if (!io_libc)
    return;
#define SWAP_IO_IN(name)                                                                           \
  __atomic_store_n(&cw_real_##name, on ? rawfn_##name : libc_##name, __ATOMIC_RELEASE);
#define SWAP_IO_OUT SWAP_IO_IN
#define SWAP_FASTOPEN SWAP_IO_IN
#define SWAP_SINK SWAP_IO_IN
#define SWAP_CHK_IN(name)
#define SWAP_NEWFD(name)
#define SWAP_HAND(name)
#define CW_HOOK(ret, name, params, args, kind, fd, raw) SWAP_##kind(name)
#include "hooks.def"
#undef CW_HOOK
}

/* Is p libc's own function? (Not another preloaded library's, which raw system calls would skip.) */
static int in_libc(void *p) {
  Dl_info di;
  if (!p || !dladdr(p, &di) || !di.dli_fname)
    return 0;
  const char *base = strrchr(di.dli_fname, '/');
  return strncmp(base ? base + 1 : di.dli_fname, "libc.so", 7) == 0;
}
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
#define CW_HOOK(ret, name, params, args, kind, fd, raw)                                       \
  {                                                                                                \
    void *p_ = load(#name, (void *)&cw_w_##name);                                                  \
    if (p_)                                                                                        \
      cw_real_##name = (ret(*) params)p_;                                                          \
  }
#include "hooks.def"
#undef CW_HOOK
  int libc_io = 1;
#define SAVE_IO_IN(name)                                                                           \
  libc_##name = cw_real_##name;                                                                    \
  if (!in_libc((void *)cw_real_##name))                                                            \
    libc_io = 0;
#define SAVE_IO_OUT SAVE_IO_IN
#define SAVE_FASTOPEN SAVE_IO_IN
#define SAVE_SINK SAVE_IO_IN
#define SAVE_CHK_IN(name)
#define SAVE_NEWFD(name)
#define SAVE_HAND(name)
#define CW_HOOK(ret, name, params, args, kind, fd, raw) SAVE_##kind(name)
#include "hooks.def"
#undef CW_HOOK
  io_libc = libc_io;
  cw_guard--;
  __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

/* Reached from a wrapper before its real call (CW_ENSURE): dlsym must not leave the host an errno
 * its call did not set. */
void cw_real_init(void) { CW_SAVE_ERRNO(pthread_once(&once, resolve)); }

int cw_real_ready(void) { return __atomic_load_n(&ready, __ATOMIC_ACQUIRE); }
