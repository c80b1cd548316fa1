# With CONNWARDEN_BACKTRACE=1 a CPython host records, for each connection, the Python stack that
# opened it, innermost first, and marks the program's own frame: for a blocking connect in a
# thread (the interpreter lock is released around it: the audit hook takes the stack), requests,
# an accept in a server thread (the socket object's audit event takes it),
# asyncio, uvloop (libuv connects with the lock held), httpx (anyio connects in a task of its own:
# the stack goes on with the task that awaits it, up to the program's call), an accepted
# connection, an interpreter in libpython, a forked child and a spawned one (each records its own stacks; no deadlock while
# other threads run). conns --stacks prints the stack under each line, top the opening frame. A C
# host keeps native stacks.
# Host: tests/hosts/py_stacks.py (each connection's line carries "# opens: MODE").
. "$(dirname "$0")/lib.bash"
SRC=$HOSTSRC/py_stacks.py
[ -x "$HOSTS/conn_holder" ] || fail "build it first: make build/hosts/conn_holder"

# the line marked for MODE (uvloop runs asyncio's code: the same line)
line_of() { grep -n "# opens: ${1/uvloop/asyncio}\b" "$SRC" | head -1 | cut -d: -f1; }

# check PID MODE DIR: the connection of direction DIR has a Python stack whose own frame is this
# file at MODE's line, in a function of this file, and every frame is "file:line in func".
check() {
  local pid=$1 mode=$2 dir=$3 want
  want="$SRC:$(line_of "$mode") in "
  local conns
  conns=$(query "$(sock_of "$pid")" conns)
  $PY - "$want" "$dir" "$conns" <<'PYEOF' || fail "$mode: the stack of the $dir connection does not name $want: $conns"
import json, re, sys
want, d, conns = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
mine = [c for c in conns if c["dir"] == d and "stack" in c]
assert mine, "no stack"
ok = False
for c in mine:
    st = c["stack"]
    assert all(re.fullmatch(r".+:(\d+|\?\?\?) in .+", f) for f in st), st
    assert 0 < len(st) <= 32, st
    assert c["opened_at"].endswith("Z"), c
    if st[c["stack_own"]].startswith(want):
        ok = True
assert ok
PYEOF
}

for mode in thread requests asyncio uvloop httpx accept tserver; do
  host "$mode" env CONNWARDEN_BACKTRACE=1 LD_PRELOAD="$CW_PRELOAD" "$PY" "$SRC" "$mode"
  wait_for 20 grep -q "^ready" "$T/$mode.out" || fail "$mode host not ready: $(cat "$T/$mode.err")"
  pid=$(sed -n 's/^ready pid=//p' "$T/$mode.out")
  case $mode in accept | tserver) dir=in ;; *) dir=out ;; esac
  check "$pid" "$mode" "$dir"
done

# the task chain: the httpx connection's stack holds the awaiting task's frames from its mark on
conns=$(query "$(sock_of "$PID_httpx")" conns)
jq_py "$conns" '[c["stack"][:c["stack_awaited_from"]] for c in j if c["dir"] == "out" and c.get("stack_awaited_from", 0) > 0][0]' |
  grep -q "anyio/_core/_sockets.py" || fail "httpx: the connect ran in anyio's task, its frames first: $conns"

# a task of a library's awaited directly, by gather, wait_for, wait and a TaskGroup, on asyncio and
# uvloop: each connection's stack goes on with the awaiting task, down to the program's line
for loop in asyncio uvloop; do
  host "joins_$loop" env CONNWARDEN_BACKTRACE=1 LD_PRELOAD="$CW_PRELOAD" "$PY" "$SRC" joins "$loop"
  wait_for 20 grep -q "^ready" "$T/joins_$loop.out" || fail "joins on $loop not ready: $(cat "$T/joins_$loop.err")"
  pid=$(sed -n 's/^ready pid=//p' "$T/joins_$loop.out")
  conns=$(query "$(sock_of "$pid")" conns)
  assert_eq "$(jq_py "$conns" 'sorted(set((c["stack"][c["stack_own"]].split(" in ")[0], c.get("stack_awaited_from", 0) > 0) for c in j if c["dir"] == "out"))')" \
    "[('$SRC:$(line_of joins)', True)]" "joins on $loop"
  assert_eq "$(jq_py "$conns" 'len([c for c in j if c["dir"] == "out"])')" 5 "joins on $loop: connections"
  tell "joins_$loop" ""
done

# conns --stacks: the stack under the connection's line, the program's frame marked
out=$("$CW" conns --stacks "$PID_thread")
grep -q "^ *#[0-9]* $SRC:$(line_of thread) in run   <- the program's code\$" <<<"$out" ||
  fail "conns --stacks: $out"

# top: the opening frame of the oldest and idlest connections
out=$("$CW" top "$PID_thread")
grep -q "OPENED BY" <<<"$out" && grep -q "py_stacks.py:$(line_of thread) in run" <<<"$out" || fail "top: $out"

# fork and spawn: children record their own stacks while other threads run in the parent
for mode in fork spawn; do
  host "$mode" env CONNWARDEN_BACKTRACE=1 LD_PRELOAD="$CW_PRELOAD" "$PY" "$SRC" "$mode"
  wait_for 20 grep -q "^ready" "$T/$mode.out" || fail "$mode host not ready: $(cat "$T/$mode.err")"
done
child=$(sed -n 's/^child=\([0-9]*\)$/\1/p' "$T/fork.out")
wait_for 10 test -S "$(sock_of "$child")" || fail "fork: the child has no stats socket"
check "$child" fork out
child=$(sed -n 's/^child=\([0-9]*\) .*/\1/p' "$T/spawn.out")
check "$child" thread out

# the interpreter in libpython (a shared build) instead of the executable
[ -x "$HOSTS/python_shared" ] || fail "build it first: make build/hosts/python_shared"
host embed env CONNWARDEN_BACKTRACE=1 LD_PRELOAD="$CW_PRELOAD" "$HOSTS/python_shared" "$SRC" thread
wait_for 20 grep -q "^ready" "$T/embed.out" || fail "embedded host not ready: $(cat "$T/embed.err")"
check "$(sed -n 's/^ready pid=//p' "$T/embed.out")" thread out

# Python's debug memory hooks (-X dev, PYTHONMALLOC=debug) check every block the interpreter frees:
# the library adds no audit hook there (its entry would fail the check at exit), and stacks of the
# main thread are still read
for opt in "-X dev" "-W default -X dev" "-bX dev" "-X dev=1" "-X importtime -X dev" "PYTHONMALLOC=debug"; do
  rc=0
  out=$(env ${opt/#-*/} CONNWARDEN_BACKTRACE=1 CONNWARDEN_LEAK_CHECK=1 LD_PRELOAD="$CW_PRELOAD" \
    "$PY" ${opt/#PYTHONMALLOC=debug/} -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
c = socket.create_connection(s.getsockname())' 2>&1) || rc=$?
  assert_eq "$rc" 0 "$opt: status"
  assert_contains "$out" "<string>:4 in <module>   <- the program's code" "$opt: the leak's Python stack"
done

# The dumper's reserved fd number (and numbers that mask onto it, or onto a live slot) name
# nothing: closing or dup2'ing onto them is the kernel's EBADF, and the table is intact after.
out=$(CONNWARDEN_BACKTRACE=1 LD_PRELOAD="$CW_PRELOAD" "$PY" -c '
import os, socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
held = [socket.create_connection(s.getsockname()) for _ in range(3)]
for fd in (2097151, -2097153, held[0].fileno() - 4194304):
    for call in (lambda: os.close(fd), lambda: os.dup2(0, fd)):
        try:
            call()
            print("no error", fd)
        except OSError as e:
            assert e.errno == 9, e
for _ in range(20):
    socket.create_connection(s.getsockname()).close()
print("ok")' 2>&1)
assert_eq "$out" "ok" "closing the reserved number"

# with CONNWARDEN_BACKTRACE=native the same host records native frames only
host nat env CONNWARDEN_BACKTRACE=native LD_PRELOAD="$CW_PRELOAD" "$PY" "$SRC" thread
wait_for 20 grep -q "^ready" "$T/nat.out" || fail "native host not ready: $(cat "$T/nat.err")"
pid=$(sed -n 's/^ready pid=//p' "$T/nat.out")
conns=$(query "$(sock_of "$pid")" conns)
assert_eq "$(jq_py "$conns" '[("stack_own" in c, c["stack"][0].startswith("0x")) for c in j if c["dir"] == "out"]')" \
  "[(False, True)]" "native stack in a Python host"

# a C host: native frames, and the reserved fd number of Python's dumper stays the kernel's (EBADF)
host c env CONNWARDEN_BACKTRACE=1 LD_PRELOAD="$CW_PRELOAD" "$HOSTS/conn_holder" 2
wait_for 10 grep -q "^pid=" "$T/c.out" || fail "C host not ready: $(cat "$T/c.err")"
conns=$(query "$(sock_of "$PID_c")" conns)
assert_eq "$(jq_py "$conns" 'sorted(set(("stack_own" in c, c["stack"][0].startswith("0x")) for c in j))')" \
  "[(False, True)]" "native stacks in a C host"
for h in thread requests asyncio uvloop httpx accept tserver fork spawn embed nat c; do tell "$h" ""; done
