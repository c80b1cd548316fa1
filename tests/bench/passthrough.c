/* passthrough.c - the floor for the per-call rows: a preload library whose read() and write()
 * call the real ones through a pointer resolved once, with no bookkeeping. Built as
 * build/bench/libpassthrough.so; scripts/bench measures it next to connwarden, so the table shows
 * what interposition alone costs on this machine. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>

static ssize_t (*real_read)(int, void *, size_t);       /* resolved once, then immutable */
static ssize_t (*real_write)(int, const void *, size_t); /* likewise */

__attribute__((constructor)) static void resolve(void) {
  real_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
  real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
}

/* Calls that come before the constructor (another library's) resolve on the spot. */
ssize_t read(int fd, void *buf, size_t n) {
  if (__builtin_expect(!real_read, 0))
    resolve();
  return real_read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n) {
  if (__builtin_expect(!real_write, 0))
    resolve();
  return real_write(fd, buf, n);
}
