# A server that accepts, then forks a child to serve the connection, under
# CONNWARDEN_ONLY=in CONNWARDEN_IDLE_TIMEOUT=1s, with two clients at once: one idle (connected,
# greeted, then silent for 4 s), one busy (a line echoed every 200 ms for 4 s, and on until the
# test has looked).
# - The parent closes its copy at once (PostgreSQL's postmaster): the child, the connection's only
#   holder, polices it: the idle client sees its end about a second after the greeting, reaped by
#   its child; the busy one is never cut; the parent reaps nothing and holds nothing.
# - The parent keeps its copy, untouched, while the child serves: the parent sees the child's
#   bytes move in the kernel's counts and never cuts the busy client (nor does the child); the
#   idle one, idle for both holders, is reaped all the same.
# Without the shim the idle client lives on. Hosts: tests/hosts/accept_fork_server.c,
# tests/hosts/echo_session.py.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/accept_fork_server
[ -x "$HOST" ] || fail "build it first: make build/hosts/accept_fork_server"

# greeted FILE: "CHILD PORT" from a client's greeted line (its child's PID, its own port)
greeted() {
  wait_for 5 grep -q '"step": "greeted"' "$1"
  sed -n 's/^{"child": \([0-9]*\), "port": \([0-9]*\), "step": "greeted"}$/\1 \2/p' "$1"
}
# start NAME MODE ENV...: the server for two connections, an idle and a busy client on it; sets
# SPID, and IDLE_CHILD/BUSY_CHILD and IDLE_PORT/BUSY_PORT (each client's own port).
start() {
  local name=$1 mode=$2 port
  shift 2
  bg env "$@" "$HOST" "$mode" 2 >"$T/$name.srv" 2>"$T/$name.err"
  SPID=$BG_PID
  wait_for 5 grep -q '^pid=' "$T/$name.srv"
  port=$(sed -n 's/^pid=[0-9]* port=\([0-9]*\)$/\1/p' "$T/$name.srv")
  bg $PY "$HOSTSRC/echo_session.py" "$port" idle 4 >"$T/$name.idle"
  read -r IDLE_CHILD IDLE_PORT <<<"$(greeted "$T/$name.idle")"
  bg $PY "$HOSTSRC/echo_session.py" "$port" busy 4 "$T/$name.go" >"$T/$name.busy"
  read -r BUSY_CHILD BUSY_PORT <<<"$(greeted "$T/$name.busy")"
  CW_PIDS+=("$IDLE_CHILD" "$BUSY_CHILD")
}
result() { wait_for 25 grep -q '"step": "result"' "$1" && grep '"step": "result"' "$1"; }
seen() { jq_py "$(result "$1")" '(j["errors"], j["eof_at"], j["echoed"] == j["pings"] >= 10)'; }
reaped() { jq_py "$1" '(j["reaped"]["idle"], j["reaped"]["lifetime"], j["reaped"]["manual"], j["reaped"]["evicted"], j["released"])'; }
# server_ends NAME: the server exits 0 once both clients are gone (every child exited 0)
server_ends() {
  local rc=0
  wait "$SPID" || rc=$?
  assert_eq "$rc" 0 "$1: the server's exit status ($(cat "$T/$1.srv"))"
}
# reap_lines NAME PORT: the reap events naming the client whose own port is PORT
reap_lines() { grep "reaped: fd [0-9]* in 127.0.0.1:$2," "$T/$1.err" || true; }

# Without the shim the idle client lives on.
start plain close LD_PRELOAD=
touch "$T/plain.go"
assert_eq "$(seen "$T/plain.idle")" "([], None, False)" "plain: what the idle client met (errors, end, all echoed)"
assert_eq "$(seen "$T/plain.busy")" "([], None, True)" "plain: what the busy client met"
server_ends plain

for mode in close keep; do
  start "$mode" "$mode" LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_ONLY=in CONNWARDEN_IDLE_TIMEOUT=1s CONNWARDEN_LOG=info
  I=$(result "$T/$mode.idle")
  assert_eq "$(jq_py "$I" '(j["errors"], 0.8 <= (j["eof_at"] or 0) <= 2.5)')" "([], True)" \
    "$mode: the idle client saw its end about a second after its greeting: $I"
  # the idle client reaped, the busy one still at work (until the test lets it go): both
  # processes that hold the busy connection say what they did
  busy="'127.0.0.1:$BUSY_PORT'"
  assert_eq "$(jq_py "$(query "$(sock_of "$BUSY_CHILD")" conns)" '[(c["peer"], c["inherited"], c["reaped"]) for c in j]')" \
    "[($busy, True, None)]" "$mode: the busy child's connections (peer, inherited, reaped)"
  assert_eq "$(reaped "$(query "$(sock_of "$BUSY_CHILD")" stats)")" "(0, 0, 0, 0, 0)" \
    "$mode: the busy child reaped (idle, lifetime, manual, evicted, released)"
  if [ "$mode" = close ]; then
    S=$(query "$(sock_of "$SPID")" stats)
    assert_eq "$(reaped "$S")" "(0, 0, 0, 0, 0)" "close: the parent reaped (idle, lifetime, manual, evicted, released)"
    assert_eq "$(jq_py "$S" '(j["opened"]["in"], j["active"]["in"])')" "(2, 0)" "close: the parent's (opened, active in)"
  else
    # the busy copy the parent keeps, untouched: its child's bytes moved, none of its own
    assert_eq "$(jq_py "$(query "$(sock_of "$SPID")" conns)" \
      "[(c['reaped'], c['bytes_in'], c['bytes_out']) for c in j if c['peer'] == $busy]")" "[(None, 0, 0)]" \
      "keep: the parent's copy of the busy connection (reaped, bytes in, bytes out)"
  fi
  touch "$T/$mode.go"
  assert_eq "$(seen "$T/$mode.busy")" "([], None, True)" "$mode: what the busy client met (errors, end, all echoed)"
  server_ends "$mode"
  assert_eq "$(grep -c "^child=$IDLE_CHILD end=eof$" "$T/$mode.srv")" 1 "$mode: the idle client's child saw its end"
  assert_contains "$(reap_lines "$mode" "$IDLE_PORT")" "connwarden[$IDLE_CHILD]: reaped:" "$mode: the idle client's reap"
  assert_eq "$(reap_lines "$mode" "$BUSY_PORT")" "" "$mode: reaps of the busy client"
  if [ "$mode" = close ]; then
    assert_eq "$(grep -c "^connwarden\[$SPID\]" "$T/$mode.err")" 0 "close: the parent's events ($(cat "$T/$mode.err"))"
  fi
done
