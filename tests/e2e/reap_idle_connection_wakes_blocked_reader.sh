# A reaped connection wakes whoever waits on it. The server sends part of a response and stalls:
# under CONNWARDEN_IDLE_TIMEOUT=1s a C client blocked in read() gets EOF about 1 s after the last
# data, and so do asyncio and uvloop clients waiting in epoll; without the shim the C client is
# still blocked after 2.5 s. A stream that is read is cut at CONNWARDEN_MAX_LIFETIME=1s although
# active, while under the idle timeout alone it lives on; a stream left unread goes idle and is
# reaped. stats counts reaped.idle and reaped.lifetime; CONNWARDEN_LOG=info logs "reaped:".
# Hosts: tests/hosts/reap_stall_server.py, reap_reader.c, reap_async_reader.py.
. "$(dirname "$0")/lib.bash"
READER=$HOSTS/reap_reader
[ -x "$READER" ] || fail "build it first: make build/hosts/reap_reader"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
$PY -c 'import uvloop' 2>/dev/null || fail "python3-uvloop is not installed"

# host NAME CMD...: CMD in the background, stdin a fifo this test holds open (hosts stay until
# it ends), output in $T/NAME.out and $T/NAME.err; pid in HPID. The fifos of other hosts are
# closed in the child, so each host sees its own stdin end.
# field NAME KEY: the value of KEY=... on the host's first line that has it
field() { tr ' ' '\n' <"$T/$1.out" | sed -n "s/^$2=//p" | head -1; }
between() { $PY -c 'import sys; sys.exit(not float(sys.argv[2]) <= float(sys.argv[1]) <= float(sys.argv[3]))' "$@"; }
stats() { query "$(sock_of "$1")" stats; }
closed_one() { [ "$(stat_of "$1" 'j["closed"]["out"]')" = 1 ]; }

bg $PY "$HOSTSRC/reap_stall_server.py" stall >"$T/stall.server"
wait_for 5 grep -q listening "$T/stall.server"
STALL=$(jq_py "$(head -1 "$T/stall.server")" 'j["listening"]')
bg $PY "$HOSTSRC/reap_stall_server.py" stream >"$T/stream.server"
wait_for 5 grep -q listening "$T/stream.server"
STREAM=$(jq_py "$(head -1 "$T/stream.server")" 'j["listening"]')

SHIM=(env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_LOG=info)
# Everything runs at once; each host has its own connection and its own stats.
bg sh -c 'timeout 2.5 "$0" "$1" read </dev/null >"$2"; echo $? >"$2.rc"' "$READER" "$STALL" "$T/plain.out"
host blocked "${SHIM[@]}" CONNWARDEN_IDLE_TIMEOUT=1s "$READER" "$STALL" read
host async "${SHIM[@]}" CONNWARDEN_IDLE_TIMEOUT=1s $PY "$HOSTSRC/reap_async_reader.py" "$STALL"
host uv "${SHIM[@]}" CONNWARDEN_IDLE_TIMEOUT=1s $PY "$HOSTSRC/reap_async_reader.py" "$STALL" --loop uvloop
host lifetime "${SHIM[@]}" CONNWARDEN_MAX_LIFETIME=1s "$READER" "$STREAM" read
host active "${SHIM[@]}" CONNWARDEN_IDLE_TIMEOUT=1s "$READER" "$STREAM" read 2
host unread "${SHIM[@]}" CONNWARDEN_IDLE_TIMEOUT=1s "$READER" "$STREAM" skim 6

# 1. The blocked C reader: EOF about 1 s after the partial response.
wait_for 5 grep -q '^eof\|^error' "$T/blocked.out"
grep -q '^eof ' "$T/blocked.out" || fail "blocked reader: $(cat "$T/blocked.out")"
assert_eq "$(field blocked bytes)" 13 "blocked reader: bytes of the partial response"
between "$(field blocked idle)" 0.8 2.5 || fail "blocked reader: EOF $(field blocked idle)s after the last data, expected about 1 s"
assert_eq "$(field blocked close)" 0 "blocked reader: its own close after EOF"
S=$(stats "$PID_blocked")
assert_eq "$(jq_py "$S" '(j["reaped"], j["opened"]["out"], j["closed"]["out"], j["active"]["total"])')" \
  "({'idle': 1, 'lifetime': 0, 'manual': 0, 'evicted': 0}, 1, 1, 0)" "blocked reader: stats reaped, opened, closed, active"
grep -q "^connwarden\[$PID_blocked\]: reaped: fd $(field blocked fd) out 127.0.0.1:$STALL, .*(idle)$" "$T/blocked.err" ||
  fail "blocked reader: no reaped: line in: $(cat "$T/blocked.err")"

# 2. Event loops waiting in epoll get EOF the same way.
for h in async uv; do
  wait_for 5 grep -q '"end"' "$T/$h.out"
  R=$(grep '"end"' "$T/$h.out")
  assert_eq "$(jq_py "$R" '(j["end"], j["bytes"])')" "('eof', 13)" "$h reader: end of the stream"
  [ "$(jq_py "$R" 'int(0.8 <= j["idle"] <= 2.5)')" = 1 ] || fail "$h reader: EOF not about 1 s after the last data: $R"
  eval "pid=\$PID_$h"
  wait_for 5 closed_one "$pid"
  assert_eq "$(stat_of "$pid" '(j["reaped"]["idle"], j["reaped"]["lifetime"])')" "(1, 0)" "$h reader: stats reaped"
  grep -q "^connwarden\[$pid\]: reaped: fd [0-9]* out 127.0.0.1:$STALL, .*(idle)$" "$T/$h.err" || fail "$h reader: no reaped: line"
done
assert_contains "$(grep '"loop"' "$T/uv.out")" uvloop "uvloop reader: event loop in use"

# 3. The stream being read is cut at the maximum lifetime; under the idle timeout it lives on.
wait_for 5 grep -q '^eof\|^error' "$T/lifetime.out"
grep -q '^eof ' "$T/lifetime.out" || fail "lifetime: $(cat "$T/lifetime.out")"
between "$(field lifetime secs)" 0.8 2.5 || fail "lifetime: cut after $(field lifetime secs)s, expected about 1 s"
[ "$(field lifetime lines)" -ge 10 ] || fail "lifetime: the stream was not active: $(cat "$T/lifetime.out")"
assert_eq "$(stat_of "$PID_lifetime" '(j["reaped"]["idle"], j["reaped"]["lifetime"])')" "(0, 1)" "lifetime: stats reaped"
grep -q "^connwarden\[$PID_lifetime\]: reaped: fd [0-9]* out 127.0.0.1:$STREAM, .*(lifetime)$" "$T/lifetime.err" ||
  fail "lifetime: no reaped: line in: $(cat "$T/lifetime.err")"

# 4. Data arriving unread is not activity: the skimming host is reaped while it sleeps, the
#    reading one is not.
unread_reaped() { [ "$(stat_of "$PID_unread" 'j["reaped"]["idle"]')" = 1 ]; }
wait_for 3 unread_reaped
C=$(query "$(sock_of "$PID_unread")" conns)
! grep -q '^woke' "$T/unread.out" || fail "unread stream: reaped only after the host read again"
assert_eq "$(jq_py "$C" '[(c["reaped"], c["calls_in"]) for c in j]')" "[('idle', 1)]" \
  "unread stream: conns shows it reaped after its one read"
assert_eq "$(stat_of "$PID_unread" 'j["reaped"]["lifetime"]')" 0 "unread stream: stats reaped.lifetime"
wait_for 5 grep -q '^drained' "$T/unread.out"
grep -q 'end=eof\|end=ECONNRESET' "$T/unread.out" || fail "unread stream: the drain did not end: $(cat "$T/unread.out")"
wait_for 5 grep -q '^alive\|^eof\|^error' "$T/active.out"
grep -q '^alive ' "$T/active.out" || fail "active stream under the idle timeout ended: $(cat "$T/active.out")"
[ "$(field active lines)" -ge 20 ] || fail "active stream: too few lines: $(cat "$T/active.out")"
assert_eq "$(stat_of "$PID_active" '(j["reaped"]["idle"], j["reaped"]["lifetime"])')" "(0, 0)" "active stream: stats reaped"
assert_not_contains "$(cat "$T/active.err")" "reaped:" "active stream: log"

# 5. Without the shim the reader is still blocked when timeout(1) stops it at 2.5 s.
wait_for 5 test -s "$T/plain.out.rc"
assert_eq "$(cat "$T/plain.out.rc")" 124 "plain reader: exit status from timeout(1)"
assert_not_contains "$(cat "$T/plain.out")" "eof" "plain reader: output"
grep -q '^connected ' "$T/plain.out" || fail "plain reader did not connect: $(cat "$T/plain.out")"
