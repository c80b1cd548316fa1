# A preloaded library whose constructor talks TCP (socket, connect, write, dup, syscall(SYS_close),
# shutdown, close) works whether its constructor runs after the shim's or before it: the host runs
# normally, the peer gets the bytes, errno is what those successful calls leave (untouched,
# although the first of them starts the shim up), and that connection is the process's own (counted; reported
# if left open). Host: tests/hosts/conn_holder.c; the library is built here from the source below.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/conn_holder
[ -x "$HOST" ] || fail "build it first: make build/hosts/conn_holder"

cat >"$T/early.c" <<'EOF'
/* early.c - a library that talks TCP from its constructor, before main (and, preloaded after
 * connwarden, before connwarden's own constructor). Reports each step on stdout; with EARLY_KEEP
 * set it leaves the connection open. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((constructor)) static void early_connect(void) {
  const char *port = getenv("EARLY_PORT");
  if (!port)
    return;
  static const char msg[] = "from a constructor\n";
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  errno = 4242; /* no errno has this value: successful calls keep it */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int c = connect(fd, (struct sockaddr *)&a, sizeof a);
  ssize_t w = write(fd, msg, sizeof msg - 1);
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  long dc = syscall(SYS_close, d);
  int keep = getenv("EARLY_KEEP") != NULL;
  int s = keep ? 0 : shutdown(fd, SHUT_WR);
  int r = keep ? 0 : close(fd);
  int kept = errno == 4242;
  char line[192];
  int n = snprintf(line, sizeof line, "early: socket=%s connect=%d write=%zd dup=%s close_dup=%ld shutdown=%d close=%d errno=%s%s\n",
                   fd >= 0 ? "ok" : "FAIL", c, w, d > fd ? "ok" : "FAIL", dc, s, r,
                   kept ? "kept" : "CHANGED", keep ? " (kept open)" : "");
  if (write(1, line, (size_t)n) != n)
    _exit(3);
}
EOF
cc -O2 -std=gnu11 -Wall -shared -fPIC -o "$T/libearly.so" "$T/early.c"
EARLY=$T/libearly.so
EXPECT_EARLY="early: socket=ok connect=0 write=19 dup=ok close_dup=0 shutdown=0 close=0 errno=kept"

# The peer: appends what each connection sent (until EOF) as one line of the log.
bg $PY -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
s.settimeout(30)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    c.close()
    with open(sys.argv[1], "ab") as f:
        f.write(data)
' "$T/peer.log" >"$T/peer.port"
wait_for 5 test -s "$T/peer.port"
export EARLY_PORT
EARLY_PORT=$(cat "$T/peer.port")

# run_with NAME PRELOAD: conn_holder with that LD_PRELOAD, checked from start to exit. Under the
# shim, STATS gets (active, opened, closed, missed_closes) while the host holds its connection.
run_with() {
  local name=$1 ctl lines port rc=0
  mkfifo "$T/$name.in"
  bg fed "$T/$name.in" env LD_PRELOAD="$2" "$HOST" 1 >"$T/$name.out" 2>"$T/$name.err"
  PID=$BG_PID
  exec {ctl}>"$T/$name.in"
  wait_for 5 grep -q '^pid=' "$T/$name.out"
  lines=$(cat "$T/$name.out")
  [[ $lines =~ ^"$EXPECT_EARLY"$'\n'pid=$PID\ port=([0-9]+)\ conns=1$ ]] || fail "$name: stdout: $lines"
  port=${BASH_REMATCH[1]}
  wait_for 5 test -s "$T/peer.log"
  assert_eq "$(cat "$T/peer.log")" "from a constructor" "$name: what the peer got"
  rm "$T/peer.log"
  STATS=
  if [ "$2" != "$EARLY" ]; then
    # the shim works after the early calls: the host's own connection is tracked exactly
    assert_eq "$(jq_py "$(query "$(sock_of "$PID")" conns)" '[(c["peer"], c["bytes_out"]) for c in j]')" \
      "[('127.0.0.1:$port', 5)]" "$name: the host's connection"
    STATS=$(stat_of "$PID" '(j["active"]["out"], j["opened"]["out"], j["closed"]["out"], j["missed_closes"])')
  fi
  exec {ctl}>&-
  wait "$PID" || rc=$?
  assert_eq "$rc" 0 "$name: exit status"
  assert_eq "$(tail -n 1 "$T/$name.out")" "done" "$name: ran to its end"
  assert_eq "$(cat "$T/$name.err")" "" "$name: stderr"
}

# The library alone: what the constructor does without the shim.
run_with plain "$EARLY"

# Listed first, ld.so runs the shim's constructor first; listed after the shim, the library's
# constructor runs before the shim's, whose wrappers must then resolve the real calls on the spot.
run_with early_first "$CW_FIRST$EARLY:$CW_LIB"
early_first=$STATS
run_with shim_first "$CW_PRELOAD:$EARLY"
shim_first=$STATS
# Both ran normally. In both orders the constructor's connection is the process's own: opened and
# closed, next to the host's own, which is still open.
assert_eq "$early_first" "(1, 2, 1, 0)" "early_first: (active, opened, closed, missed_closes)"
assert_eq "$shim_first" "(1, 2, 1, 0)" \
  "shim_first: (active, opened, closed, missed_closes), counting the connection made before the shim's constructor"

# Left open by the constructor, it is a leak of this process (not an inherited socket) in both
# orders.
for order in "$CW_FIRST$EARLY:$CW_LIB" "$CW_PRELOAD:$EARLY"; do
  rc=0
  env EARLY_KEEP=1 CONNWARDEN_LEAK_CHECK=1 LD_PRELOAD="$order" "$HOST" 0 </dev/null >"$T/keep.out" 2>"$T/keep.err" || rc=$?
  assert_eq "$rc" 0 "kept open, LD_PRELOAD=$order: exit status"
  assert_contains "$(head -n 1 "$T/keep.out")" "(kept open)" "kept open, LD_PRELOAD=$order: the constructor ran"
  report=$(cat "$T/keep.err")
  assert_contains "$report" "ERROR: connwarden: 1 leaked connection" "kept open, LD_PRELOAD=$order: leak report"
  echo "$report" | grep -qE "^Leaked connection fd [0-9]+ out 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$EARLY_PORT .*out 19 B" ||
    fail "kept open, LD_PRELOAD=$order: no leaked connection to the peer with its 19 bytes: $report"
done
