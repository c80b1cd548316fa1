# Python's threaded HTTP clients through a cap below their concurrency: 16 concurrent GETs, each
# answered after 0.4 s, under CONNWARDEN_MAX_CONNS=4, with http.client, urllib.request, requests
# and urllib3, each with and without timeout= (which makes the socket non-blocking and the connect
# wait in poll()). Every request succeeds with its whole body, the server never sees more than 4
# at once, the run takes about four waves of answers (at most twice that plus 1 s), and the stats
# count each connection once: 12 waited, none refused or timed out. A queue that moves gives no
# pool starvation warning, though its last wave waits over a second. urllib3's shared PoolManager
# keeps one connection (its pool size is 1) and closes the rest.
# Hosts: tests/hosts/cap_count_server.py --http, http_clients.py.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
$PY -c 'import requests, urllib3' 2>/dev/null || fail "python3-requests or python3-urllib3 is missing"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/http_clients.bash"

N=16
DELAY=0.4
i=0
for mode in httpclient urllib requests urllib3; do
  for timeout in "" "--timeout 10"; do
    i=$((i + 1))
    c="$mode${timeout:+ with timeout=10}"
    server "c$i" --http "$DELAY"
    # shellcheck disable=SC2086
    pyclient "c$i" $mode $timeout --n $N -- "${CAPPED[@]}"
    took_turns "c$i" $N $DELAY
    kept=0
    [ $mode = urllib3 ] && kept=1 # the pool keeps one until exit
    expect_served "c$i" "$kept 4 $N"
    assert_eq "$(jq_py "$(stats "c$i")" '(j["opened"]["out"], j["closed"]["out"], j["peak"]["out"], j["waited"], j["refused"], j["queue_timeouts"], j["queued"])')" \
      "($N, $((N - kept)), 4, $((N - 4)), 0, 0, 0)" "$c: stats opened, closed, peak, waited, refused, queue_timeouts, queued"
    [ $kept = 1 ] || assert_not_contains "$(cat "$T/c$i.err")" "pool starvation" "$c: a moving queue is not starvation"
    release "c$i"
  done
done
