# A host that forgets a connection (never reads it, never closes it) under
# CONNWARDEN_IDLE_TIMEOUT=500ms and CONNWARDEN_REAP_GRACE=500ms: the reap shuts it down (the server
# reads EOF), and after the grace the kernel socket is released: ss no longer shows a socket of
# the host's PID on that connection, while the host's fd number stays valid (fcntl(F_GETFD) works)
# and reads EOF. stats counts the release and conns shows the fd as ABANDONED (tcp_state RELEASED:
# a connection the host did not close after its reap is abandoned); the host's own close
# later ends it. Without the shim the same host keeps an established socket and the server no EOF.
# Hosts: tests/hosts/reap_stall_server.py (--keep: it never closes first), reap_reader.c.
. "$(dirname "$0")/lib.bash"
READER=$HOSTS/reap_reader
[ -x "$READER" ] || fail "build it first: make build/hosts/reap_reader"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
command -v ss >/dev/null || fail "ss (iproute2) is not installed"

field() { grep "^$2 " "$T/$1.out" | tail -1 | tr ' ' '\n' | sed -n "s/^$3=//p"; } # NAME LINE KEY
# owned PID LPORT: the lines ss shows for sockets of PID with local port LPORT
owned() { ss -tnpH state all "( sport = :$2 )" | grep "pid=$1," || true; }
server_event() { # EVENT LPORT: the server's EVENT line for the client at LPORT, if any
  grep "\"event\": \"$1\"" "$T/server.out" | grep "\"peer_port\": $2[,}]" || true
}
stats() { query "$(sock_of "$PID_rel")" stats; }

bg $PY "$HOSTSRC/reap_stall_server.py" stall --keep >"$T/server.out"
wait_for 5 grep -q listening "$T/server.out"
PORT=$(jq_py "$(head -1 "$T/server.out")" 'j["listening"]')

host plain "$READER" "$PORT" forget
host rel env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_IDLE_TIMEOUT=500ms CONNWARDEN_REAP_GRACE=500ms CONNWARDEN_LOG=info \
  "$READER" "$PORT" forget
wait_for 5 grep -q '^connected' "$T/plain.out"
wait_for 5 grep -q '^connected' "$T/rel.out"
FD=$(field rel connected fd)
LPORT=$(field rel connected lport)
PLAIN_LPORT=$(field plain connected lport)
assert_contains "$(owned "$PID_rel" "$LPORT")" "ESTAB" "right after connect, ss shows the host's socket"

# 1. The reap: the server reads EOF after the idle timeout.
saw_eof() { [ -n "$(server_event eof "$1")" ]; }
wait_for 3 saw_eof "$LPORT"
[ "$(jq_py "$(server_event eof "$LPORT")" 'int(0.4 <= j["secs"] <= 2.0)')" = 1 ] ||
  fail "the server saw EOF at the wrong time: $(server_event eof "$LPORT")"

# 2. The release, a grace period after the reap.
deadline=$(($(date +%s%N) + 3000000000))
until [ "$(jq_py "$(stats)" 'j["released"]')" = 1 ]; do
  [ "$(date +%s%N)" -lt "$deadline" ] ||
    fail "no release within 3 s: $(stats) conns: $(query "$(sock_of "$PID_rel")" conns) log: $(cat "$T/rel.err")"
  sleep 0.05
done
assert_eq "$(owned "$PID_rel" "$LPORT")" "" "after the release, ss shows no socket of the host on port $LPORT"
REAPED_AGE=$(sed -n "s/^connwarden\[$PID_rel\]: reaped: fd $FD out 127.0.0.1:$PORT, age \([0-9.]*\)s.*(idle)$/\1/p" "$T/rel.err")
RELEASED_AGE=$(sed -n "s/^connwarden\[$PID_rel\]: released: fd $FD out 127.0.0.1:$PORT, age \([0-9.]*\)s.*/\1/p" "$T/rel.err")
[ -n "$REAPED_AGE" ] && [ -n "$RELEASED_AGE" ] || fail "reaped: and released: lines missing: $(cat "$T/rel.err")"
$PY -c 'import sys; r, l = map(float, sys.argv[1:]); sys.exit(not (0.4 <= r <= 1.5 and l - r >= 0.4))' \
  "$REAPED_AGE" "$RELEASED_AGE" || fail "reaped at ${REAPED_AGE}s, released at ${RELEASED_AGE}s: not a 500 ms grace"

# 3. The fd number is still the host's: fcntl works and a read gets EOF.
tell rel check
wait_for 5 grep -q '^check' "$T/rel.out"
[[ $(grep '^check' "$T/rel.out") =~ ^check\ getfd=[01]\ read=0$ ]] || fail "host's check of fd $FD: $(grep '^check' "$T/rel.out")"
S=$(stats)
assert_eq "$(jq_py "$S" '(j["released"], j["reaped"]["idle"], j["active"]["out"], j["closed"]["out"])')" \
  "(1, 1, 1, 0)" "stats released, reaped.idle, active.out, closed.out before the host's close"
assert_eq "$(jq_py "$(query "$(sock_of "$PID_rel")" conns)" '[(c["fd"], c["state"], c["tcp_state"], c["reaped"]) for c in j]')" \
  "[($FD, 'ABANDONED', 'RELEASED', 'idle')]" "conns before the host's close (released unclosed: abandoned)"

# 4. The host closes it at last: an ordinary close, counted.
tell rel close
wait_for 5 grep -q '^close=' "$T/rel.out"
assert_eq "$(grep '^close=' "$T/rel.out")" "close=0" "the host's close of the released fd"
S=$(stats)
assert_eq "$(jq_py "$S" '(j["released"], j["active"]["out"], j["closed"]["out"], j["missed_closes"])')" \
  "(1, 0, 1, 0)" "stats after the host's close"
assert_eq "$(query "$(sock_of "$PID_rel")" conns)" "[]" "conns after the host's close"

# 5. Without the shim: established and owned all along, and the server never saw EOF.
assert_contains "$(owned "$PID_plain" "$PLAIN_LPORT")" "ESTAB" "the unshimmed host's forgotten socket"
assert_eq "$(server_event eof "$PLAIN_LPORT")" "" "the server's view of the unshimmed host's connection"
tell plain check
wait_for 5 grep -q '^check' "$T/plain.out"
assert_eq "$(grep '^check' "$T/plain.out")" "check getfd=0 read=1" "the unshimmed host's check (its unread data is still there)"
