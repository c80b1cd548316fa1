# The shim makes read/write system calls itself while the host has no thread of its own (libc's
# cancellation bookkeeping is then pure cost). A host's own thread brings libc back: a thread
# blocked in read() can still be cancelled. And a library preloaded after the shim that wraps
# read() still sees every read: then libc (and that library) are always used.
. "$(dirname "$0")/lib.bash"

out=$(timeout 10 "$HOSTS/cancel_reader" 0)
assert_eq "$out" "cancelled" "without the shim"
out=$(LD_PRELOAD=$CW_PRELOAD timeout 10 "$HOSTS/cancel_reader" 0) || fail "host failed under the shim"
assert_eq "$out" "cancelled" "a thread blocked in read is cancelled under the shim"

# a read-counting library preloaded after connwarden
cat >"$T/count.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
static long reads;
ssize_t read(int fd, void *b, size_t n) {
  static ssize_t (*real)(int, void *, size_t);
  if (!real) real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
  if (fd > 2) reads++;
  return real(fd, b, n);
}
__attribute__((destructor)) static void report(void) { fprintf(stderr, "reads=%ld\n", reads); }
C
cc -shared -fPIC -o "$T/libcount.so" "$T/count.c" -ldl
base=$(LD_PRELOAD="$T/libcount.so" timeout 10 "$HOSTS/cancel_reader" 25 2>&1 >/dev/null | grep -o 'reads=[0-9]*')
stacked=$(LD_PRELOAD="$CW_PRELOAD:$T/libcount.so" timeout 10 "$HOSTS/cancel_reader" 25 2>&1 >/dev/null | grep -o 'reads=[0-9]*')
assert_eq "$stacked" "$base" "reads seen by a library preloaded after the shim"
