# Policy changed at run time over the stats socket. A connect queued behind max_conns=1 is
# admitted as soon as `set max_conns 2` arrives, long before its queue timeout. Lowering the cap
# never touches open connections (3 open under max_conns 1 all still echo) and a new connect
# waits until they are all closed. `reap FD` wakes a reader blocked on that fd with EOF and counts
# reaped.manual. Bad commands get an `error: ...` line and change nothing. Hosts:
# tests/hosts/cap_step_client.c (connections on command), cap_count_server.py (echo and counts).
. "$(dirname "$0")/lib.bash"
STEP=$HOSTS/cap_step_client
[ -x "$STEP" ] || fail "build it first: make build/hosts/cap_step_client"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

bg $PY "$HOSTSRC/cap_count_server.py" "$T/server.status" --max-secs 30 >"$T/server.out"
wait_for 5 grep -q listening "$T/server.out"
PORT=$(jq_py "$(head -1 "$T/server.out")" 'j["listening"]')
served() { jq_py "$(cat "$T/server.status")" '"%d %d %d" % (j["current"], j["peak"], j["total"])'; }

mkfifo "$T/ctl"
bg fed "$T/ctl" env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1 CONNWARDEN_QUEUE_TIMEOUT=5s "$STEP" \
  >"$T/out" 2>"$T/err"
PID=$BG_PID
exec {CTL}>"$T/ctl"
SOCK=$(sock_of "$PID")
wait_for 5 grep -qx "pid=$PID" "$T/out"

say() { echo "$1" >&"$CTL"; }
has() { grep -q "^$1" "$T/out"; }
# val PREFIX KEY: KEY=... from the host's line starting with PREFIX
val() { grep "^$1" "$T/out" | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
queued_is() { [ "$(stat_of "$PID" 'j["queued"]')" = "$1" ]; }
# not_within SECS PREFIX: the host prints no line starting with PREFIX for SECS seconds
not_within() { sleep "$1"; ! has "$2" || fail "$2 came too early: $(cat "$T/out")"; }
since_ms() { echo $((($1 - $2) / 1000000)); }

# 1. A connect blocked at the cap is admitted by raising it, at once.
say "open 1 $PORT"
wait_for 5 has "opened 1 "
say "open 2 $PORT"
wait_for 5 queued_is 1
not_within 0.3 "opened 2 "
SET_AT=$(date +%s%N)
assert_eq "$(query "$SOCK" "set max_conns 2")" "ok max_conns 2" "reply to set max_conns 2"
wait_for 5 has "opened 2 "
MS=$(since_ms "$(val "opened 2 " at)" "$SET_AT")
[ "$MS" -ge 0 ] && [ "$MS" -lt 500 ] || fail "the queued connect was admitted ${MS}ms after the set"
[ "$(jq_py "$(val "opened 2 " secs)" 'int(j < 4)')" = 1 ] || fail "open 2 waited for its queue timeout"
assert_eq "$(query "$SOCK" config | $PY -c 'import json,sys; print(json.load(sys.stdin)["max_conns"])')" 2 "config max_conns"

# 2. Lowering the cap keeps what is open: 3 connections under max_conns 1 all still work ...
assert_eq "$(query "$SOCK" "set max_conns 3")" "ok max_conns 3" "reply to set max_conns 3"
say "open 3 $PORT"
wait_for 5 has "opened 3 "
assert_eq "$(query "$SOCK" "set max_conns 1")" "ok max_conns 1" "reply to set max_conns 1"
for k in 1 2 3; do say "ping $k"; done
wait_for 5 has "pong 3"
for k in 1 2 3; do has "pong $k" || fail "connection $k no longer echoes: $(cat "$T/out")"; done
assert_eq "$(stat_of "$PID" '(j["active"]["out"], j["reaped"], j["config"]["max_conns"])')" \
  "(3, {'idle': 0, 'lifetime': 0, 'manual': 0, 'evicted': 0}, 1)" "stats with 3 open under max_conns 1"
assert_eq "$(served)" "3 3 3" "the server's current, peak, total"
# ... and a fourth waits until the open ones are below the cap: after all three are closed.
say "open 4 $PORT"
wait_for 5 queued_is 1
not_within 0.3 "opened 4 "
say "close 1"
not_within 0.3 "opened 4 "
say "close 2"
not_within 0.3 "opened 4 "
CLOSE_AT=$(date +%s%N)
say "close 3"
wait_for 5 has "opened 4 "
MS=$(since_ms "$(val "opened 4 " at)" "$CLOSE_AT")
[ "$MS" -lt 500 ] || fail "the fourth connect was admitted ${MS}ms after the last close"
assert_eq "$(stat_of "$PID" '(j["active"]["out"], j["queued"], j["refused"], j["waited"])')" "(1, 0, 0, 2)" \
  "stats after the fourth connect (active, queued, refused, waited)"

# 3. `reap FD` wakes a reader blocked on it.
FD4=$(val "opened 4 " fd)
say "read 4"
sleep 0.2
! has "eof 4" || fail "the reader of connection 4 did not block"
REAP_AT=$(date +%s%N)
assert_eq "$(query "$SOCK" "reap $FD4")" "ok reaped fd $FD4" "reply to reap $FD4"
wait_for 5 has "eof 4 "
MS=$(since_ms "$(val "eof 4 " at)" "$REAP_AT")
[ "$MS" -lt 500 ] || fail "the blocked reader got EOF ${MS}ms after the reap"
assert_eq "$(stat_of "$PID" '(j["reaped"]["manual"], j["reaped"]["idle"], j["reaped"]["lifetime"])')" "(1, 0, 0)" \
  "stats reaped after reap $FD4"
assert_eq "$(jq_py "$(query "$SOCK" conns)" '[(c["fd"], c["reaped"]) for c in j]')" "[($FD4, 'manual')]" "conns after the reap"

# 4. Bad commands: an error line each, and nothing changes.
for cmd in "reap 99999" "set nope 1" "set max_conns -1" "reap $FD4" "set max_conns" "reap x"; do
  R=$(query "$SOCK" "$cmd")
  [[ $R == "error: "* ]] || fail "'$cmd' got: $R"
  [ "$(wc -l <<<"$R")" = 1 ] || fail "'$cmd' got more than one line: $R"
done
assert_contains "$(query "$SOCK" "reap $FD4")" "reaped already" "a second reap of fd $FD4"
assert_eq "$(stat_of "$PID" '(j["config"]["max_conns"], j["reaped"]["manual"])')" "(1, 1)" "stats after the bad commands"
say "close 4"
wait_for 5 has "closed 4 rc=0"
exec {CTL}>&-
[ ! -s "$T/err" ] || fail "the host wrote to stderr: $(cat "$T/err")"
