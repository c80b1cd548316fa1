# Calls that fail leave a connection and its cap slot as they were. Under CONNWARDEN_MAX_CONNS=1
# a host holds connection A and makes calls on A's number that the kernel refuses with EINVAL or
# EBADF (close_range with invalid flags or an inverted range, dup3 onto itself or with invalid
# flags, dup2/dup3 from a closed fd onto A, F_DUPFD with a negative floor, the same through
# syscall()): A still echoes, `conns` still lists it as the one connection, and it still holds
# the slot, since a second connect B waits in the queue while the server sees one connection.
# Then connects that fail (refused, blocking and non-blocking, each closed) give back the slot
# they took: the next connect is made at once, not after the queue timeout. Every line the host
# prints is the one it prints without the shim, but for B's poll (connected there; held back here).
# Host: tests/hosts/failed_calls.c; server: tests/hosts/cap_count_server.py.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/failed_calls
[ -x "$HOST" ] || fail "build it first: make build/hosts/failed_calls"
. "$(dirname "$0")/count_server.bash"
REFUSED=$(free_port)

at_pause() { wait_for 10 grep -q "^pause $2\$" "$T/$1.out"; }

server plain
host plain "$HOST" "$PORT" "$REFUSED"
for p in held queued end; do
  at_pause plain "$p"
  tell plain go
done
wait "$HPID" || fail "without the shim the host failed: $(cat "$T/plain.out" "$T/plain.err")"
expect_served plain "0 2 3"

server capped
host capped env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1 CONNWARDEN_QUEUE_TIMEOUT=3s "$HOST" "$PORT" "$REFUSED"
SOCK=$(sock_of "$PID_capped")
counts() { jq_py "$(query "$SOCK" stats)" \
  '"active %d opened %d closed %d queued %d waited %d refused %d queue_timeouts %d missed %d" % (j["active"]["out"],
   j["opened"]["out"], j["closed"]["out"], j["queued"], j["waited"], j["refused"], j["queue_timeouts"], j["missed_closes"])'; }

at_pause capped held
S=$(counts)
assert_eq "$S" "active 1 opened 1 closed 0 queued 0 waited 0 refused 0 queue_timeouts 0 missed 0" \
  "after the failed calls on A: stats"
C=$(query "$SOCK" conns)
assert_eq "$(jq_py "$C" '[(c["dir"], c["peer"], c["state"], c["bytes_out"], c["bytes_in"]) for c in j]')" \
  "[('out', '127.0.0.1:$PORT', 'ESTABLISHED', 5, 5)]" "after the failed calls on A: conns"
expect_served capped "1 1 1"

tell capped go
at_pause capped queued
S=$(counts)
assert_eq "$S" "active 1 opened 1 closed 0 queued 1 waited 1 refused 0 queue_timeouts 0 missed 0" \
  "B at the cap: A still holds the slot, B waits"
assert_eq "$(jq_py "$(query "$SOCK" conns)" 'sorted(c["state"] for c in j)')" "['ESTABLISHED', 'QUEUED']" \
  "B at the cap: conns"
expect_served capped "1 1 1"

tell capped go
at_pause capped end
# A and D are connections; E (non-blocking) was one until it failed; C (blocking) never was
S=$(counts)
assert_eq "$S" "active 1 opened 3 closed 2 queued 0 waited 1 refused 0 queue_timeouts 0 missed 0" \
  "after the failed connects: stats (D connected at once: $(cat "$T/capped.err"))"
expect_served capped "1 1 2"
tell capped go
wait "$HPID" || fail "under the shim the host failed: $(cat "$T/capped.out" "$T/capped.err")"

DIFF=$(diff "$T/plain.out" "$T/capped.out") && fail "B's poll should differ (connected without the cap)"
assert_eq "$DIFF" $'23c23\n< poll B 1\n---\n> poll B 0' "the host's output with and without the shim"
assert_contains "$(cat "$T/capped.out")" "connect D at once: yes" "the slot of the failed connects came back"
assert_eq "$(grep -vc '^connect D took' "$T/capped.err")" 0 "stderr under the shim: $(cat "$T/capped.err")"
