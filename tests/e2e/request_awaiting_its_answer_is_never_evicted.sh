# A connection whose last transfer was the host's write, a request waiting for its answer, is
# never evicted, however long connects wait. requests.Session (a pool of 20) under
# CONNWARDEN_MAX_CONNS=4 and CONNWARDEN_EVICT_IDLE=200ms sends 4 requests whose answers take 3 s
# (300000 bytes each), then 8 more: the 8 wait in the queue (QUEUED in conns) with nothing
# evicted while the 4 are answered, all 4 answers arrive whole, and only then are idle
# connections evicted, one for each of the 8 that waited. The server never sees more than 4.
# Hosts: tests/hosts/cap_count_server.py --http, http_clients.py.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
$PY -c 'import requests' 2>/dev/null || fail "python3-requests is not installed"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/http_clients.bash"

server slow --http 0.2
pyclient slow session --n 12 --slow 4 -- "${CAPPED[@]}" CONNWARDEN_EVICT_IDLE=200ms
# at 1.5 s the 8 wait behind the 4 that wait for their answers
sleep 1.5
S=$(stats slow)
assert_eq "$(jq_py "$S" '(j["active"]["out"], j["queued"], j["reaped"]["evicted"])')" "(4, 8, 0)" \
  "half way through the slow answers: active, queued, evicted"
C=$(query "$(sock_of "$PID_slow")" conns)
assert_eq "$(jq_py "$C" 'sorted((c["state"], c["bytes_in"]) for c in j)')" \
  "$(jq_py 0 '[("ESTABLISHED", 0)] * 4 + [("QUEUED", 0)] * 8')" "half way: conns"

R=$(result slow)
assert_eq "$(jq_py "$R" '(j["ok"], j["requests"], j["errors"])')" "(12, 12, {})" "every request, the slow ones whole: $R"
[ "$(jq_py "$R" 'int(j["secs"][0] >= 3.2)')" = 1 ] || fail "the 8 did not wait for the slow answers: $R"
expect_served slow "4 4 12" # the pool keeps its last 4
S=$(stats slow)
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["waited"], j["reaped"]["evicted"], j["released"] <= 8, j["queue_timeouts"])')" \
  "(12, 8, 8, True, 0)" "stats opened, waited, evicted, released (at most the evicted), queue_timeouts"
release slow
