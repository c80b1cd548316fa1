# A posix_spawn-heavy host: 3 threads start 300 children (posix_spawn, posix_spawnp with file
# actions that close, dup2 over and reopen tracked sockets in the child, closefrom, vfork + dup2 +
# close_range + execve; 120 of them echo over a connection handed down as fd 3) while 3 threads
# ping-pong with an echo server and one churns connections. Every child exits 0, the host prints
# the same as without the shim, and its stats are exact afterwards: opened/closed/active, bytes
# and calls (per open connection too), nothing missed, untracked or inherited. The children ran
# the shim (each had a stats socket) and left no socket behind. Host: tests/hosts/spawn_storm.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/spawn_storm
[ -x "$HOST" ] || fail "build it first: make build/hosts/spawn_storm"

bg $PY "$HOSTSRC/echo_server.py" "$T/echo.status" >"$T/echo.out"
wait_for 5 grep -q listening "$T/echo.out"
PORT=$(jq_py "$(head -1 "$T/echo.out")" 'j["listening"]')

# run_storm NAME PRELOAD: run the storm until it holds; its lines in $SPAWNS / $TRAFFIC, pid $HPID
run_storm() {
  export SPAWN_STORM_CHILD_LOG=$T/$1.children
  if [ -n "$2" ]; then bg shimmed "$HOST" "$PORT" >"$T/$1.out" 2>"$T/$1.err"; else bg "$HOST" "$PORT" >"$T/$1.out" 2>"$T/$1.err"; fi
  HPID=$BG_PID
  wait_for 60 grep -q '^traffic ' "$T/$1.out" # about 20 s under ThreadSanitizer
  SPAWNS=$(grep '^spawns=' "$T/$1.out")
  TRAFFIC=$(grep '^traffic ' "$T/$1.out")
  note "$1: $SPAWNS"
  note "$1: $TRAFFIC"
  assert_eq "$SPAWNS" "spawns=300 kinds=60,60,60,60,60 failed=0 errors=0" "$1: children and errors ($(head -c 2000 "$T/$1.err"))"
  eval "$(tr ' ' '\n' <<<"${TRAFFIC#traffic }" | grep -E '^[a-z_]+=[0-9]+$')"
  [ "$rounds" -gt 0 ] || fail "$1: the movers moved nothing during the spawns"
  [ "$churned" -gt 0 ] || fail "$1: no connection was churned during the spawns"
  assert_eq "$opened $closed" "$((3 + churned + 120)) $((churned + 120))" "$1: the host's own connection counts"
  assert_eq "$(wc -l <"$T/$1.children")" 120 "$1: echo children that reported"
}
finish() { # NAME
  kill -TERM "$HPID"
  local rc=0
  wait "$HPID" || rc=$?
  assert_eq "$rc" 0 "$1: exit status ($(head -c 2000 "$T/$1.err"))"
  assert_eq "$(tail -1 "$T/$1.out")" done "$1: last line"
}

run_storm plain ""
assert_eq "$(grep -c 'sock=0$' "$T/plain.children")" 120 "children without the shim have no stats socket"
finish plain
PLAIN=$SPAWNS

run_storm shim shim
assert_eq "$SPAWNS" "$PLAIN" "what the host prints, with and without the shim"
# every echo child ran the shim: it adopted fd 3 and had a stats socket of its own
assert_eq "$(grep -c 'sock=1$' "$T/shim.children")" 120 "echo children that had their own stats socket"
# only the parent's socket is left: the 300 children removed theirs
assert_eq "$(ls "$CONNWARDEN_RUNDIR")" "$HPID.sock" "stats sockets while the parent holds"
S=$(query "$(sock_of "$HPID")" stats)
assert_eq "$(jq_py "$S" '(j["active"]["out"], j["active"]["in"], j["opened"]["out"], j["closed"]["out"], j["opened"]["in"])')" \
  "(3, 0, $opened, $closed, 0)" "active/opened/closed after the storm"
assert_eq "$(jq_py "$S" '(j["missed_closes"], j["untracked"], j["inherited"], j["close_wait_leaks"])')" "(0, 0, 0, 0)" \
  "missed/untracked/inherited/close-wait"
assert_eq "$(jq_py "$S" '(j["bytes"]["out"], j["bytes"]["in"])')" "($bytes_out, $bytes_in)" "bytes"
assert_eq "$(jq_py "$S" '[(d["active"], d["opened"]) for d in j["destinations"]]')" "[(3, $opened)]" "the echo server's destination"
C=$(query "$(sock_of "$HPID")" conns)
assert_eq "$(jq_py "$C" '",".join("%d:%d:%d:%d:%d" % (c["fd"], c["bytes_out"], c["bytes_in"], c["calls_out"], c["calls_in"]) for c in sorted(j, key=lambda c: c["fd"]))')" \
  "${TRAFFIC##*movers=}" "each open connection: fd, bytes and calls"
# the stats socket still answers (a second command) and the host ends cleanly, removing it
assert_contains "$(query "$(sock_of "$HPID")" metrics)" 'connwarden_connections_active{direction="out"} 3' "metrics after the storm"
finish shim
assert_eq "$(ls "$CONNWARDEN_RUNDIR")" "" "stats sockets left after the parent exited"
