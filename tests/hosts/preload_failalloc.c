/* preload_failalloc.c - preloaded after the shim (LD_PRELOAD=libconnwarden.so:preload_failalloc.so)
 * by the allocation-failure test: malloc, calloc, realloc and mmap called from inside
 * libconnwarden.so (its own allocator maps memory) fail with ENOMEM as $CW_FAILALLOC says; other
 * callers, and every free and munmap, get glibc's unchanged. At exit it writes "refused=R passed=P" (the shim's calls) to
 * $CW_FAILALLOC_REPORT/PID. CW_FAILALLOC, comma-separated: `every=K` refuses one call in K (`all`:
 * every=1); `after=N` lets N through first (then all, unless every= says otherwise); `main` only
 * counts and refuses calls on the main thread; `reserve` also refuses the MAP_NORESERVE mappings
 * (the shim reserves its fd-indexed arrays so, once, at start-up), which are otherwise let through
 * uncounted. Unset: nothing is refused, calls are counted.
 * Why after the shim: the later preload's constructor runs first, so the shim's text range is known
 * before the shim's constructor allocates; the shim's calls bind to this malloc either way. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

#define MAX_RANGES 8
static uintptr_t lo[MAX_RANGES], hi[MAX_RANGES]; /* the shim's executable segments */
static int nranges;                              /* immutable once ready */
static long every, after;                        /* the rule; immutable once ready */
static int main_only, reserve;
static int ready;                                /* set (release) when the above are filled */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static long counted, refused, passed;            /* atomic */

static int find_shim(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size, (void)arg;
  const char *name = info->dlpi_name ? info->dlpi_name : "", *base = strrchr(name, '/');
  if (strcmp(base ? base + 1 : name, "libconnwarden.so") != 0)
    return 0;
  for (int i = 0; i < info->dlpi_phnum && nranges < MAX_RANGES; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
      lo[nranges] = info->dlpi_addr + ph->p_vaddr;
      hi[nranges++] = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
  }
  return 1;
}

/* No allocation in here: it may run inside the first malloc. */
static void setup(void) {
  dl_iterate_phdr(find_shim, NULL);
  const char *rule = getenv("CW_FAILALLOC");
  for (const char *p = rule ? rule : ""; *p;) {
    size_t len = strcspn(p, ",");
    if (len == 3 && strncmp(p, "all", 3) == 0)
      every = 1;
    else if (len == 4 && strncmp(p, "main", 4) == 0)
      main_only = 1;
    else if (len == 7 && strncmp(p, "reserve", 7) == 0)
      reserve = 1;
    else if (strncmp(p, "every=", 6) == 0)
      every = strtol(p + 6, NULL, 10);
    else if (strncmp(p, "after=", 6) == 0)
      after = strtol(p + 6, NULL, 10);
    p += len;
    p += *p == ',';
  }
  if (after > 0 && every == 0)
    every = 1;
  __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void init(void) { pthread_once(&once, setup); }

/* Should this call, made from return address ra, fail? Counts the shim's calls. */
static int refuse(void *ra) {
  if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
    pthread_once(&once, setup);
  int shim = 0;
  for (int i = 0; i < nranges; i++)
    shim |= (uintptr_t)ra >= lo[i] && (uintptr_t)ra < hi[i];
  if (!shim || (main_only && gettid() != getpid()))
    return 0;
  long n = __atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
  if (every > 0 && n > after && (n - after) % every == 0) {
    __atomic_add_fetch(&refused, 1, __ATOMIC_RELAXED);
    errno = ENOMEM;
    return 1;
  }
  __atomic_add_fetch(&passed, 1, __ATOMIC_RELAXED);
  return 0;
}

void *malloc(size_t n) {
  if (refuse(__builtin_return_address(0)))
    return NULL;
  return __libc_malloc(n);
}

void *calloc(size_t n, size_t size) {
  if (refuse(__builtin_return_address(0)))
    return NULL;
  return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n) {
  if (n > 0 && refuse(__builtin_return_address(0)))
    return NULL; /* p stays as it was, as with a real failure */
  return __libc_realloc(p, n);
}

/* The kernel's directly: resolving the next mmap could allocate inside the first call. */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if ((reserve || !(flags & MAP_NORESERVE)) && refuse(__builtin_return_address(0)))
    return MAP_FAILED;
  return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

__attribute__((destructor)) static void report(void) {
  const char *dir = getenv("CW_FAILALLOC_REPORT");
  if (!dir)
    return;
  char path[4096], line[128];
  snprintf(path, sizeof path, "%s/%d", dir, (int)getpid());
  int n = snprintf(line, sizeof line, "refused=%ld passed=%ld\n", refused, passed);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    if (write(fd, line, (size_t)n) != n)
      unlink(path);
    close(fd);
  }
}
