# With no policy at all (observation only) and CONNWARDEN_ABANDON_AFTER=1s, a program that stops
# reading a stream and keeps the socket has an abandoned connection within a few seconds: stats
# abandoned and abandoned_now, conns state ABANDONED (tcp_state still the kernel's), both metric
# series, and exactly one log line naming it. A stream read all along, and a quiet keep-alive with
# nothing unread, are never flagged; once the program reads the stream again it is no longer
# abandoned now, and the counter keeps it. An inbound connection whose bytes the program never
# reads is abandoned too. With CONNWARDEN_ABANDON_AFTER=off nothing is. Bytes that arrive on a
# connection quiet for longer than ABANDON_AFTER wait ABANDON_AFTER of their own before it is
# flagged. The long reap grace does not slow any of it down.
# Hosts: tests/hosts/abandon_peer.py (unshimmed), abandon_client.py.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

host peer $PY "$HOSTSRC/abandon_peer.py" --max-secs 60
wait_for 5 grep -q listening "$T/peer.out"
PORT=$(jq_py "$(head -1 "$T/peer.out")" 'j["listening"]')

client() { # NAME ABANDON_AFTER: a shimmed client with no policy set, a long reap grace
  host "$1" env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_ABANDON_AFTER="$2" CONNWARDEN_REAP_GRACE=1m \
    $PY "$HOSTSRC/abandon_client.py" "$PORT"
  wait_for 5 grep -q ready "$T/$1.out"
}
said() { grep -q "\"$2\": \"$3\"" "$T/$1.out"; } # NAME KEY VALUE: the host said so
fd_of() { grep "\"opened\": \"$2\"" "$T/$1.out" | sed 's/.*"fd": \([0-9]*\).*/\1/'; }
stats() { query "$(sock_of "$(eval echo "\$PID_$1")")" stats; }
conns() { query "$(sock_of "$(eval echo "\$PID_$1")")" conns; }
metric() { query "$(sock_of "$(eval echo "\$PID_$1")")" metrics | sed -n "s/^connwarden_$2 //p"; }
ab() { jq_py "$(stats "$1")" '(j["abandoned"], j["abandoned_now"])'; }
state_of() { jq_py "$(conns "$1")" "[(c['state'], c['tcp_state']) for c in j if c['fd'] == $2][0]"; }

client main 1s
client off off
for h in main off; do
  for c in "open stream stream" "open control stream" "open quiet quiet"; do tell "$h" "$c"; done
done
for h in main off; do wait_for 5 said "$h" opened quiet; done
STREAM=$(fd_of main stream) CONTROL=$(fd_of main control) QUIET=$(fd_of main quiet)
sleep 0.3
tell main "stop stream"
tell off "stop stream"
wait_for 5 said main stop stream
STOPPED=$(date +%s%N)

# 1. Abandoned within a few seconds of ABANDON_AFTER: counted, gauged, shown, logged once.
one_abandoned() { [ "$(ab main)" = "(1, 1)" ]; }
wait_for 4 one_abandoned
FLAGGED_MS=$((($(date +%s%N) - STOPPED) / 1000000))
[ "$FLAGGED_MS" -ge 1000 ] || fail "flagged ${FLAGGED_MS} ms after the reads stopped: before ABANDON_AFTER"
assert_eq "$(state_of main "$STREAM")" "('ABANDONED', 'ESTABLISHED')" "conns: the stopped stream"
assert_eq "$(state_of main "$CONTROL")" "('ESTABLISHED', 'ESTABLISHED')" "conns: the stream read all along"
assert_eq "$(state_of main "$QUIET")" "('ESTABLISHED', 'ESTABLISHED')" "conns: the quiet keep-alive"
assert_eq "$(metric main connections_abandoned_total)" 1 "metric connwarden_connections_abandoned_total"
assert_eq "$(metric main connections_abandoned)" 1 "metric connwarden_connections_abandoned"
line=$(grep "abandoned:" "$T/main.err" || true)
[[ $line =~ ^connwarden\[$PID_main\]:\ abandoned:\ fd\ $STREAM\ out\ 127\.0\.0\.1:$PORT,\ age\ [0-9.]+s,\ idle\ [0-9.]+s,\ [0-9.]+\ (B|KiB)\ unread\ for\ [0-9.]+s\ \(CONNWARDEN_BACKTRACE=1\ records\ where\ connections\ are\ opened\)$ ]] ||
  fail "the abandoned line: $(cat "$T/main.err")"

# 2. Two more ABANDON_AFTERs: still one, the others untouched, one line.
sleep 2
assert_eq "$(ab main)" "(1, 1)" "abandoned after more time"
assert_eq "$(grep -c "abandoned" "$T/main.err")" 1 "abandoned lines"
assert_eq "$(wc -l <"$T/main.err")" 1 "lines on the host's stderr"

# 3. It reads again: no longer abandoned now; the counter keeps it.
tell main "resume stream"
not_now() { [ "$(ab main)" = "(1, 0)" ]; }
wait_for 3 not_now
assert_eq "$(state_of main "$STREAM")" "('ESTABLISHED', 'ESTABLISHED')" "conns: the stream read again"
assert_eq "$(metric main connections_abandoned)" 0 "the gauge after the stream is read again"
assert_eq "$(metric main connections_abandoned_total)" 1 "the counter after the stream is read again"

# 4. ABANDON_AFTER=off: the same stopped stream, nothing flagged, nothing said.
assert_eq "$(ab off)" "(0, 0)" "with ABANDON_AFTER=off"
assert_eq "$(jq_py "$(conns off)" 'sorted(set(c["state"] for c in j))')" "['ESTABLISHED']" "conns with ABANDON_AFTER=off"
[ ! -s "$T/off.err" ] || fail "with ABANDON_AFTER=off the host logged: $(cat "$T/off.err")"
assert_eq "$(jq_py "$(query "$(sock_of "$PID_off")" config)" 'j["abandon_after_ms"]')" 0 "config with off"
assert_eq "$(jq_py "$(query "$(sock_of "$PID_main")" config)" 'j["abandon_after_ms"]')" 1000 "config with 1s"

# 5. Inbound: a connection the program accepts and never reads.
tell main listen
wait_for 5 grep -q '"listening"' "$T/main.out"
LPORT=$(jq_py "$(grep '"listening"' "$T/main.out")" 'j["listening"]')
tell peer "connect $LPORT"
wait_for 5 grep -q '"accepted"' "$T/main.out"
IN_FD=$(jq_py "$(grep '"accepted"' "$T/main.out")" 'j["fd"]')
two() { [ "$(ab main)" = "(2, 1)" ]; }
wait_for 4 two
assert_eq "$(state_of main "$IN_FD")" "('ABANDONED', 'ESTABLISHED')" "conns: the inbound connection never read"
wait_for 3 grep -q "abandoned: fd $IN_FD in 127.0.0.1:[0-9]*, age [0-9.]*s, idle [0-9.]*s, 1000 B unread for [0-9.]*s$" "$T/main.err"

# 6. Bytes that arrive on a connection quiet for longer than ABANDON_AFTER: not abandoned before
# they have waited ABANDON_AFTER themselves (3 s here), abandoned within a second or two after.
client late 3s
tell late "open burst burst 4.5"
wait_for 5 grep -q '"opened": "burst"' "$T/late.out"
wait_for 8 grep -q '"sent": "burst"' "$T/peer.out"
ARRIVED=$(date +%s%N)
sleep 2
assert_eq "$(ab late)" "(0, 0)" "2 s after a burst on a connection quiet for 4.5 s"
late_one() { [ "$(ab late)" = "(1, 1)" ]; }
wait_for 4 late_one
WAITED_MS=$((($(date +%s%N) - ARRIVED) / 1000000))
# ARRIVED is when the test saw the peer's "sent" line, up to a poll (50 ms) and a grep after the
# bytes arrived: the flag may come that much less than 3 s after ARRIVED, never more
[ "$WAITED_MS" -ge 2900 ] || fail "the burst was flagged ${WAITED_MS} ms after it arrived"
wait_for 3 grep -q "abandoned: fd [0-9]* out 127.0.0.1:$PORT, age [0-9.]*s, idle [0-9.]*s, 4.0 KiB unread for [0-9.]*s" "$T/late.err"
