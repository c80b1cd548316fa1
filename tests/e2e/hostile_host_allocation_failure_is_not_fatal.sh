# Allocation failure inside the shim is never the host's problem. preload_failalloc.so makes the
# shim's own malloc/calloc/realloc/mmap calls fail: all of them, all on the main thread, or all on
# the main thread after the first half of what it needs; or even the reservation of its tables at
# start-up, which leaves the shim inert (no tracking, no stats socket, no fd of its own). A single-threaded host that connects, accepts, echoes and closes
# 1000 connections up to EMFILE (enough for several of the shim's record chunks) prints exactly what it prints under the shim without failures; a
# host whose threads start 300 children (which fail the same way) while moving data prints what
# it prints without the shim. No crash, no hang, no false leak report. Connections the shim could
# not record are counted as `untracked` (exactly, where the failures are deterministic) and served
# on the stats socket even when none could be recorded; the records kept stay exact; a stats reply
# that cannot be built is an `error: ...` line or a close. The failing allocator says how many of
# the shim's calls it refused: never none. (Not under a sanitizer: its runtime owns malloc.)
# Hosts: tests/hosts/fd_exhaust.c, tests/hosts/spawn_storm.c; tests/hosts/preload_failalloc.c.
. "$(dirname "$0")/lib.bash"
FA=$HOSTS/preload_failalloc.so
for f in "$FA" "$HOSTS/fd_exhaust" "$HOSTS/spawn_storm"; do
  [ -e "$f" ] || fail "build it first: make ${f#"$ROOT"/}"
done
[ -z "${CW_PRELOAD_PREFIX:-}" ] || fail "cannot run under a sanitizer runtime ($CW_PRELOAD_PREFIX): first in" \
  "LD_PRELOAD, its malloc is the one the shim's calls reach, never preload_failalloc.so's"

# failing NAME MODE: in $FAIL, the env command that runs a host under the shim with the shim's
# allocations failing as MODE says (an empty MODE refuses nothing); reports go to $T/fa.NAME/
failing() {
  mkdir -p "$T/fa.$1"
  FAIL=(env LD_PRELOAD="$CW_PRELOAD:$FA" CW_FAILALLOC="$2" CW_FAILALLOC_REPORT="$T/fa.$1")
}
# refused NAME PID / passed NAME PID: how many of the shim's allocations the process was refused,
# or given
refused() {
  local line
  line=$(cat "$T/fa.$1/$2" 2>/dev/null) || fail "$1: no allocator report from pid $2"
  line=${line#refused=}
  echo "${line%% *}"
}
passed() { sed -n 's/.* passed=\([0-9]*\)$/\1/p' "$T/fa.$1/$2"; }
# ask PID COMMAND: one stats command; prints json, error or closed (anything else fails), the
# reply in $T/reply
ask() {
  $PY - "$(sock_of "$1")" "$2" "$1" "$T/reply" >"$T/verdict" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
data = b""
try:
    s.sendall(sys.argv[2].encode() + b"\n")
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:  # a reset: what came before it counts
    pass
open(sys.argv[4], "wb").write(data)
if not data:
    print("closed")
elif data.startswith(b"error: ") and data.endswith(b"\n") and data.count(b"\n") == 1:
    print("error")
else:
    j = json.loads(data)
    print("json" if (j["pid"] if isinstance(j, dict) else 0) == int(sys.argv[3]) or isinstance(j, list) else "wrong")
EOF
  cat "$T/verdict"
}
# ask_until_json PID COMMAND: ask up to 20 times; the JSON reply in $REPLY (each miss must be an
# error line or a close)
ask_until_json() {
  local i v
  for i in $(seq 20); do
    v=$(ask "$1" "$2")
    [ "$v" = json ] && { REPLY=$(cat "$T/reply"); return 0; }
    [ "$v" = error ] || [ "$v" = closed ] || fail "$2: a reply that is neither JSON, an error line nor a close: $(head -c 300 "$T/reply")"
  done
  fail "$2: 20 replies, none of them JSON"
}
# only_shim_lines FILE: stderr may hold the shim's own lines, nothing else
only_shim_lines() {
  local other
  other=$(grep -v '^connwarden\[[0-9]*\]: ' "$1" | head -5) || true
  [ -z "$other" ] || fail "stderr holds more than the shim's lines: $other"
}

# ---- one thread that connects and accepts: fd_exhaust, 253 connections ----------------------
# exhaust NAME MODE: run it to its "settled" pause (PID in $HPID, its totals eval'd)
exhaust() {
  failing "$1" "$2"
  host "$1" "${FAIL[@]}" "$HOSTS/fd_exhaust" setrlimit 1024
  wait_for 10 grep -q '^pause exhausted' "$T/$1.out"
  tell "$1" go
  wait_for 10 grep -q '^pause settled' "$T/$1.out"
  eval "$(grep '^totals ' "$T/$1.out" | tr ' ' '\n' | grep -E '^[a-z_]+=[0-9]+$')"
}
end_exhaust() { # NAME
  tell "$1" go
  local rc=0
  wait "$HPID" || rc=$?
  assert_eq "$rc" 0 "$1: exit status"
  only_shim_lines "$T/$1.err"
  assert_eq "$(cat "$T/$1.out")" "$(cat "$T/ref.out")" "$1: what the host printed, against the shim without failures"
  [ "$1" = ref ] || [ "$(refused "$1" "$HPID")" -gt 0 ] || fail "$1: the shim was refused no allocation"
}

exhaust ref main
S=$(query "$(sock_of "$HPID")" stats)
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["opened"]["in"], j["untracked"])')" "($opened_out, $opened_in, 0)" "no failures: all tracked"
end_exhaust ref
assert_eq "$(refused ref "$HPID")" 0 "no failures: calls refused"
NEED=$(passed ref "$HPID")
[ "$NEED" -ge 2 ] || fail "no failures: the shim made only $NEED allocations on the main thread"
HALF=$((NEED / 2))
note "fd_exhaust made $opened_out connections and accepted $opened_in; the shim allocated $NEED times on the main thread"

# the shim cannot even reserve its tables: it stays out of the way entirely
exhaust inert all,reserve
assert_contains "$(cat "$T/inert.err")" "cannot map the connection table: tracking and stats are off" "inert: the shim says so"
[ ! -e "$(sock_of "$HPID")" ] || fail "inert: a stats socket exists: $(ls -l "$CONNWARDEN_RUNDIR")"
SHIM_FDS=$(find "/proc/$HPID/fd" -mindepth 1 -lname 'anon_inode:*' 2>/dev/null | wc -l)
assert_eq "$SHIM_FDS" 0 "inert: eventfds and other anonymous fds in the host"
assert_eq "$(ls "/proc/$HPID/task" | wc -l)" 1 "inert: threads in the host"
end_exhaust inert

# every allocation on the main thread fails: nothing is recorded, every connection is counted
exhaust main main,all
ask_until_json "$HPID" stats
assert_eq "$(jq_py "$REPLY" '(j["opened"]["out"], j["opened"]["in"], j["active"]["total"], j["bytes"]["out"], j["bytes"]["in"], j["missed_closes"])')" \
  "(0, 0, 0, 0, 0, 0)" "main,all: nothing recorded"
assert_eq "$(jq_py "$REPLY" 'j["untracked"]')" "$((opened_out + opened_in))" "main,all: untracked connections"
ask_until_json "$HPID" conns
assert_eq "$REPLY" "[]" "main,all: connections listed"
end_exhaust main

# start-up and the first records get memory, then nothing more on the main thread (where this
# host's connections are recorded): the records kept are exact, the rest is counted untracked
exhaust after "main,after=$HALF"
ask_until_json "$HPID" stats
S=$REPLY
ask_until_json "$HPID" conns
C=$REPLY
U=$(jq_py "$S" 'j["untracked"]')
[ "$U" -gt 0 ] && [ "$(jq_py "$S" 'j["opened"]["out"] + j["opened"]["in"]')" -gt 0 ] ||
  fail "main,after=$HALF: wanted some connections recorded and some not: $(jq_py "$S" '(j["opened"], j["untracked"])')"
assert_eq "$(jq_py "$S" 'j["opened"]["out"] + j["opened"]["in"] + j["untracked"]')" "$((opened_out + opened_in))" \
  "main,after=$HALF: recorded + untracked connections"
assert_eq "$(jq_py "$S" '(j["active"]["out"] == j["opened"]["out"] - j["closed"]["out"], j["active"]["in"] == j["opened"]["in"] - j["closed"]["in"], j["missed_closes"], j["inherited"])')" \
  "(True, True, 0, 0)" "main,after=$HALF: active = opened - closed; nothing missed"
assert_eq "$(jq_py "$C" 'len(j)')" "$(jq_py "$S" 'j["active"]["total"]')" "main,after=$HALF: connections listed"
assert_eq "$(jq_py "$C" 'sorted(set((c["bytes_out"], c["bytes_in"], c["calls_out"], c["calls_in"]) for c in j) - {(100, 100, 1, 1), (0, 0, 0, 0)})')" "[]" \
  "main,after=$HALF: bytes and calls of each recorded connection (100 each way once, or none for a never-accepted client)"
end_exhaust after

# every allocation fails, the stats server's too: its replies are errors or closes
exhaust all all
for cmd in stats conns metrics; do
  v=$(ask "$HPID" "$cmd")
  [ "$v" = error ] || [ "$v" = closed ] || fail "all: $cmd replied $v with no memory to build it: $(head -c 200 "$T/reply")"
done
end_exhaust all
note "fd_exhaust: refused main,all $(refused main "$PID_main"), main,after=$HALF $(refused after "$PID_after") ($U untracked), all $(refused all "$PID_all")"

# ---- threads and 300 children: spawn_storm ---------------------------------------------------
bg $PY "$HOSTSRC/echo_server.py" "$T/echo.status" >"$T/echo.out"
wait_for 5 grep -q listening "$T/echo.out"
PORT=$(jq_py "$(head -1 "$T/echo.out")" 'j["listening"]')

bg "$HOSTS/spawn_storm" "$PORT" >"$T/plain.out" 2>"$T/plain.err"
wait_for 30 grep -q '^traffic ' "$T/plain.out"
kill -TERM "$BG_PID"
wait "$BG_PID" || fail "spawn_storm without the shim failed: $(cat "$T/plain.err")"
PLAIN=$(grep '^spawns=' "$T/plain.out")

# storm NAME MODE [VAR=VALUE...]: run it under the failing allocator until it holds
storm() {
  local name=$1 mode=$2
  shift 2
  failing "$name" "$mode"
  bg "${FAIL[@]}" "$@" "$HOSTS/spawn_storm" "$PORT" >"$T/$name.out" 2>"$T/$name.err"
  HPID=$BG_PID
  wait_for 30 grep -q '^traffic ' "$T/$name.out"
  assert_eq "$(grep '^spawns=' "$T/$name.out")" "$PLAIN" "$mode: what the host printed, against no shim"
  TRAFFIC=$(grep '^traffic ' "$T/$name.out")
  eval "$(tr ' ' '\n' <<<"${TRAFFIC#traffic }" | grep -E '^[a-z_]+=[0-9]+$')"
}
end_storm() { # NAME MODE
  kill -TERM "$HPID"
  local rc=0
  wait "$HPID" || rc=$?
  assert_eq "$rc" 0 "$2: exit status ($(grep -v '^connwarden\[' "$T/$1.err" | head -5))"
  assert_eq "$(tail -1 "$T/$1.out")" done "$2: last line"
  only_shim_lines "$T/$1.err"
  assert_not_contains "$(cat "$T/$1.err")" "leaked connection" "$2: leak reports"
  # the children ran the failing allocator too (and the echo children's shims adopted fd 3)
  assert_eq "$(ls "$T/fa.$1" | wc -l)" 301 "$2: allocator reports (the host and its 300 children)"
  [ "$(refused "$1" "$HPID")" -gt 0 ] || fail "$2: the host's shim was refused no allocation"
  local kids
  kids=$(cd "$T/fa.$1" && for f in *; do [ "$f" = "$HPID" ] || cat "$f"; done | awk '!/^refused=0 /' | wc -l)
  [ "$kids" -ge 120 ] || fail "$2: only $kids children had an allocation refused"
  note "$2: children refused an allocation: $kids"
}

# the main thread connected the three movers: exactly those are untracked; the other threads'
# connections are all recorded, closed and counted to the byte
storm storm_main main,all
ask_until_json "$HPID" stats
MOVED=$(tr ',' '\n' <<<"${TRAFFIC##*movers=}" | awk -F: '{o += $2; i += $3} END {print o, i}')
assert_eq "$(jq_py "$REPLY" '(j["untracked"], j["opened"]["out"], j["closed"]["out"], j["active"]["total"], j["missed_closes"])')" \
  "(3, $((opened - 3)), $closed, 0, 0)" "main,all: untracked, opened, closed, active"
assert_eq "$(jq_py "$REPLY" '"%d %d" % (j["bytes"]["out"], j["bytes"]["in"])')" \
  "$((bytes_out - ${MOVED% *})) $((bytes_in - ${MOVED#* }))" "main,all: bytes of the recorded connections"
end_storm storm_main main,all

# everything fails, in the host's threads, the shim's and the children, with the leak check and
# backtraces on: the host's work is untouched and nothing is reported as leaked
storm storm_all all CONNWARDEN_LEAK_CHECK=1 CONNWARDEN_LEAK_EXITCODE=23 CONNWARDEN_BACKTRACE=1
SOCK=none
if [ -S "$(sock_of "$HPID")" ]; then
  SOCK=yes
  v=$(ask "$HPID" stats)
  [ "$v" = error ] || [ "$v" = closed ] || fail "all: stats replied $v with no memory to build it"
fi
end_storm storm_all all
# last, as it is the only check here that is about the stats server: a process whose every
# connection went untracked still serves its stats (that is where `untracked` shows), as a
# process whose connections were recorded does
[ "$SOCK" = yes ] || fail "all: $opened connections, none recorded, and no stats socket to tell it (only a recorded connection starts the server)"
