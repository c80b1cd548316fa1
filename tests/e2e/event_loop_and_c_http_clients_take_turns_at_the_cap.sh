# HTTP clients built on event loops, and a C client, through a cap below their concurrency: 16
# concurrent GETs, each answered after 0.4 s, under CONNWARDEN_MAX_CONNS=4: asyncio.open_connection
# on asyncio's loop and on uvloop, Node's http with an Agent without and with keepAlive,
# `curl --parallel --parallel-max 12`, and a C client that connects without blocking and then waits
# in poll() with a 10 s timeout (tests/hosts/poll_connect_client.c). Every request succeeds, the
# server never sees more than 4 at once, each run takes about four waves of answers (at most
# twice that plus 1 s), and the C client's poll() returns when its turn comes, not at its timeout.
# A keep-alive Agent and curl keep every finished connection for reuse, so the connects queued
# behind them would wait for the queue timeout: they run with CONNWARDEN_EVICT_IDLE=200ms, and
# exactly one idle connection is evicted for each of the 12 that waited.
# Hosts: tests/hosts/cap_count_server.py --http, http_clients.py, http_node_client.js,
# poll_connect_client.c.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
$PY -c 'import uvloop' 2>/dev/null || fail "python3-uvloop is not installed"
command -v node >/dev/null || fail "node is not installed"
command -v curl >/dev/null || fail "curl is not installed"
[ -x "$HOSTS/poll_connect_client" ] || fail "build the test hosts first (make e2e)"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/http_clients.bash"

N=16
DELAY=0.4
EVICTING=("${CAPPED[@]}" CONNWARDEN_EVICT_IDLE=200ms)

# stats_are NAME "OPENED CLOSED WAITED EVICTED": the client's stats, with no refusal, queue timeout
# or connect still queued
stats_are() {
  assert_eq "$(jq_py "$(stats "$1")" '"%d %d %d %d %d" % (j["opened"]["out"], j["closed"]["out"], j["waited"], j["reaped"]["evicted"], j["refused"] + j["queue_timeouts"] + j["queued"])')" \
    "$2 0" "$1: stats opened, closed, waited, evicted, refused + queue_timeouts + queued"
}

for loop in asyncio uvloop; do
  server "$loop" --http "$DELAY"
  pyclient "$loop" "$loop" --n $N -- "${CAPPED[@]}"
  took_turns "$loop" $N $DELAY
  expect_served "$loop" "0 4 $N"
  stats_are "$loop" "$N $N $((N - 4)) 0"
  release "$loop"
done

server node_close --http "$DELAY"
nodeclient node_close close $N 1 0 -- "${CAPPED[@]}"
took_turns node_close $N $DELAY
expect_served node_close "0 4 $N"
stats_are node_close "$N $N $((N - 4)) 0"
release node_close

# agent.destroy() after the burst closes the 4 it kept; 12 were evicted on the way
server node_keepalive --http "$DELAY"
nodeclient node_keepalive keepalive $N 1 0 -- "${EVICTING[@]}"
took_turns node_keepalive $N $DELAY
expect_served node_keepalive "0 4 $N"
stats_are node_keepalive "$N $N $((N - 4)) $((N - 4))"
release node_keepalive

# curl exits when done: the server's counts are the evidence (it may reuse a kept connection for
# the last 4 transfers)
server curl --http "$DELAY"
curls curl $N 12 1 0 "${EVICTING[@]}"
assert_eq "$(cat "$T/curl.codes")" " $N 200 1000;" "curl: every transfer got its 1000 bytes"
[ "$(jq_py "$(cat "$T/curl.ms")" "int(j <= (2 * 4 * $DELAY + 1) * 1000)")" = 1 ] ||
  fail "curl: $N transfers took $(cat "$T/curl.ms") ms"
assert_eq "$(answered curl)" $N "curl: requests the server answered"
assert_eq "$(jq_py "$(cat "$T/curl.status")" '(j["current"], j["peak"], j["total"] <= '$N')')" "(0, 4, True)" \
  "curl: the server's current and peak connections"

server c_poll --http "$DELAY"
client c_poll "${CAPPED[@]}" -- "$HOSTS/poll_connect_client" "$PORT" $N 10000 "$T/c_poll.release"
took_turns c_poll $N $DELAY
[ "$(jq_py "$(result c_poll)" 'int(j["connect_wait_max"] < 5)')" = 1 ] ||
  fail "C client: a connect waited out its poll() timeout: $(result c_poll)"
expect_served c_poll "0 4 $N"
stats_are c_poll "$N $N $((N - 4)) 0"
release c_poll
