# A fork child never cuts a connection its parent is using. A CPython process under
# CONNWARDEN_IDLE_TIMEOUT=1s holds a connection and forks a child that never touches it and
# sleeps 3 s, so the child's copy of the connection is idle by every count of its own. Meanwhile
# the parent keeps the connection busy (3.5 s, then until the test has looked): writing 10 bytes
# every 200 ms in one run, reading a line the server sends every 200 ms in another. In both the parent meets no EPIPE, no
# ECONNRESET and no end of file, the server never sees the connection end early, and neither the
# child's stats (read 2 s into its sleep, when its own timeout has long passed) nor the parent's
# show anything reaped: the child sees the bytes move in the kernel's counters. Conversely, when
# neither holder uses the connection, it is reaped about a second after the fork, as both rules
# agree it is idle: the parent sees its end, the server too, and both processes count it reaped.
# Without the shim the idle connection lives on. Hosts: tests/hosts/fork_traffic.py,
# tests/hosts/reap_stall_server.py.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

# run NAME MODE SERVER_MODE [VAR=VALUE...]: a server, and the host against it; once it forked,
# the parent's PID in PID, the child's in CHILD
run() {
  local name=$1 mode=$2 smode=$3
  shift 3
  bg $PY "$HOSTSRC/reap_stall_server.py" "$smode" --every 0.2 --max-secs 30 >"$T/$name.srv"
  wait_for 5 grep -q listening "$T/$name.srv"
  local port
  port=$(jq_py "$(head -1 "$T/$name.srv")" 'j["listening"]')
  mkdir "$T/$name.ctl"
  bg env "$@" $PY "$HOSTSRC/fork_traffic.py" "$port" "$mode" "$T/$name.ctl" >"$T/$name.out" 2>"$T/$name.err"
  PID=$BG_PID
  wait_for 10 grep -q '"step": "forked"' "$T/$name.out"
  CHILD=$(jq_py "$(grep '"step": "forked"' "$T/$name.out")" 'j["child"]')
  CW_PIDS+=("$CHILD")
}
result() { wait_for 10 grep -q '"step": "result"' "$T/$1.out" && grep '"step": "result"' "$T/$1.out"; }
server_events() { grep -o '"event": "[a-z_]*"' "$T/$1.srv" | sed 's/"event": //; s/"//g' | tr '\n' ' ' | sed 's/ $//'; }
reaped() { jq_py "$1" '(j["reaped"]["idle"], j["reaped"]["lifetime"], j["reaped"]["manual"], j["reaped"]["evicted"], j["released"])'; }
# child_stats: the child's stats once it has slept 2 s (its timeout of 1 s long passed)
child_stats() {
  local S
  wait_for 5 test -S "$(sock_of "$CHILD")"
  wait_for 5 eval '[ "$(stat_of "$CHILD" "int(j[\"uptime_s\"] >= 2.0)")" = 1 ]'
  S=$(query "$(sock_of "$CHILD")" stats)
  assert_eq "$(jq_py "$S" '(j["pid"], j["inherited"], j["active"]["out"])')" "($CHILD, 1, 1)" \
    "$1: the child's stats (pid, inherited, active) ($S)"
  echo "$S"
}

for mode in write read; do
  smode=stall
  [ "$mode" = read ] && smode=stream
  run "$mode" "$mode" "$smode" LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_IDLE_TIMEOUT=1s
  S=$(child_stats "$mode")
  assert_eq "$(reaped "$S")" "(0, 0, 0, 0, 0)" "$mode: the child reaped (idle, lifetime, manual, evicted, released)"
  R=$(result "$mode")
  assert_eq "$(jq_py "$R" '(j["errors"], j["eof_at"], j["child_status"])')" "([], None, 0)" \
    "$mode: what the parent met (errors, end of file, the child's exit status) in $R"
  if [ "$mode" = write ]; then
    [ "$(jq_py "$R" 'j["sent"]')" -ge 150 ] || fail "write: the parent did not write every 200 ms: $R"
  else
    [ "$(jq_py "$R" 'j["received"]')" -ge 90 ] || fail "read: the parent did not read every 200 ms: $R"
  fi
  S=$(query "$(sock_of "$PID")" stats)
  assert_eq "$(reaped "$S")" "(0, 0, 0, 0, 0)" "$mode: the parent reaped (idle, lifetime, manual, evicted, released)"
  assert_eq "$(server_events "$mode")" "accepted" "$mode: what the server saw before the parent closed"
  touch "$T/$mode.ctl/result.go"
  wait_for 5 grep -q '"step": "after"' "$T/$mode.out"
  A=$(grep '"step": "after"' "$T/$mode.out")
  assert_eq "$(jq_py "$A" '(j["errors"], j["eof_at"])')" "([], None)" "$mode: what the parent met while the test looked"
  assert_eq "$(stat_of "$PID" '(j["active"]["out"], j["bytes"]["out"], j["bytes"]["in"])')" \
    "(1, $(jq_py "$A" 'j["sent"]'), $(($(jq_py "$(grep forked "$T/$mode.out")" 'j["greeting"]') + $(jq_py "$A" 'j["received"]'))))" \
    "$mode: the parent's stats (active, bytes out and in)"
  touch "$T/$mode.ctl/after.go"
  # the parent's close: an end of file, or a reset when lines it did not read were waiting
  wait_for 5 grep -qE '"event": "(eof|reset|send_failed)"' "$T/$mode.srv"
  [ ! -s "$T/$mode.err" ] || fail "$mode: stderr: $(cat "$T/$mode.err")"
done

# Idle in both processes: reaped about a second after the fork, by both.
run idle idle stall LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_IDLE_TIMEOUT=1s
S=$(child_stats idle)
assert_eq "$(reaped "$S")" "(1, 0, 0, 0, 0)" "idle: the child reaped (idle, lifetime, manual, evicted, released)"
R=$(result idle)
assert_eq "$(jq_py "$R" '(j["errors"], j["child_status"], 0.8 <= (j["eof_at"] or 0) <= 2.5)')" "([], 0, True)" \
  "idle: the parent saw the connection end about a second after the fork: $R"
assert_eq "$(reaped "$(query "$(sock_of "$PID")" stats)")" "(1, 0, 0, 0, 0)" \
  "idle: the parent reaped (idle, lifetime, manual, evicted, released)"
assert_eq "$(server_events idle)" "accepted eof" "idle: what the server saw"
touch "$T/idle.ctl/result.go" "$T/idle.ctl/after.go"

# Without the shim the idle connection lives on.
run plain idle stall LD_PRELOAD=
R=$(result plain)
assert_eq "$(jq_py "$R" '(j["errors"], j["eof_at"], j["child_status"])')" "([], None, 0)" \
  "idle without the shim: what the parent met"
assert_eq "$(server_events plain)" "accepted" "idle without the shim: what the server saw"
touch "$T/plain.ctl/result.go" "$T/plain.ctl/after.go"
