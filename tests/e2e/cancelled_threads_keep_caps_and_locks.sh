# A thread cancelled inside connect() or close() under a connection cap ends cancelled, as without
# the shim, and leaves nothing behind: no shim lock held (a parked connect's own close() and
# connect() under the lock are not cancellation points), no cap slot lost (a close cancelled after
# its bookkeeping gives its slot back). A connect cancelled while its SYN is out goes on in the
# kernel, so it keeps its slot until its fd is closed: under a cap of 2 (a filler connection
# holding the other) the listener never holds 3 while the cancelled thread's cleanup handler has
# not closed that fd yet (without the shim it does). Without the shim the same host runs the
# same way. Host: tests/hosts/cancel_at_cap.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/cancel_at_cap
[ -x "$HOST" ] || fail "build it first: make build/hosts/cancel_at_cap"

for mode in connect close; do
  out=$(timeout 30 "$HOST" "$mode") || fail "$mode: the host failed without the shim: $out"
  assert_eq "$out" "cancelled=1 reconnect=0" "$mode: without the shim"
done

out=$(CONNWARDEN_MAX_CONNS=1 CONNWARDEN_ON_CAP=queue CONNWARDEN_QUEUE_TIMEOUT=5s \
  LD_PRELOAD=$CW_PRELOAD timeout 30 "$HOST" connect 2>"$T/connect.err") || true
assert_eq "$out" "cancelled=1 reconnect=0" \
  "connect at the cap with a cancellation pending: cancelled, then a free slot ($(cat "$T/connect.err"))"

out=$(CONNWARDEN_MAX_CONNS=2 CONNWARDEN_ON_CAP=refuse LD_PRELOAD=$CW_PRELOAD timeout 30 "$HOST" close \
  2>"$T/close.err") || true
assert_eq "$out" "cancelled=1 reconnect=0" \
  "close cancelled under a cap of 2: its slot came back ($(cat "$T/close.err"))"

out=$(timeout 30 "$HOST" inflight) || fail "inflight: the host failed without the shim: $out"
assert_eq "$out" "inflight: A=cancelled B=connected at once=3" "inflight: without the shim"
out=$(CONNWARDEN_MAX_CONNS=2 LD_PRELOAD=$CW_PRELOAD timeout 30 "$HOST" inflight 2>"$T/inflight.err") || true
assert_eq "$out" "inflight: A=cancelled B=connected at once=2" \
  "a connect cancelled with its SYN out keeps its slot until its fd is closed ($(cat "$T/inflight.err"))"
