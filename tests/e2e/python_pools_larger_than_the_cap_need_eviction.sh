# Python connection pools larger than the cap: requests.Session with HTTPAdapter(pool_maxsize=20),
# urllib3.PoolManager(maxsize=20) and httpx.Client with limits of 20, each with 20 threads, under
# CONNWARDEN_MAX_CONNS=4, against a server that answers after 0.2 s.
# With CONNWARDEN_EVICT_IDLE=200ms, 3 bursts of 20 requests 1.5 s apart succeed: idle pool members
# are evicted (shut down; closed by the client, or released) for the connects that wait, the server never sees more than 4 at once,
# and the stats open exactly the connections the server saw. An eviction can meet a thread that
# has just taken that connection out of the pool (checked it, not yet written to it), as a server
# closing an idle keep-alive connection can: urllib3 retries the request on a new connection, so
# all 60 of its requests succeed; requests (Retry(0)) and httpx report that one request failed
# (ConnectionError; WriteError or RemoteProtocolError), at most once for each connection the pool
# kept between bursts, and the server answers exactly the requests that succeeded.
# Without eviction (and CONNWARDEN_QUEUE_TIMEOUT=2s), the pool keeps its 4 connections idle ahead
# of the queue: the server never sees a fifth, the connects that wait all time out (requests
# raises ConnectTimeout, a blocking connect's ETIMEDOUT; httpx ConnectError, a non-blocking one's
# refusal; urllib3 MaxRetryError after its 3 retries), and the pool starvation warning names the
# destination. Hosts: tests/hosts/cap_count_server.py --http, http_clients.py.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
$PY -c 'import requests, urllib3, httpx' 2>/dev/null || fail "python3-requests, python3-urllib3 or python3-httpx is missing"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/http_clients.bash"

POOLS=(session poolmanager httpx)
declare -A FAILS=([session]=ConnectTimeout [poolmanager]=MaxRetryError [httpx]=ConnectError)
# what a request that met the eviction of the connection it had taken from the pool raises
declare -A MET=([session]="['ConnectionError']" [poolmanager]="[]" [httpx]="['RemoteProtocolError', 'WriteError']")

# all at once: each client has its own server and its own cap
for p in "${POOLS[@]}"; do
  server "evict_$p" --http 0.2
  pyclient "evict_$p" "$p" --n 20 --bursts 3 --pause 1.5 -- "${CAPPED[@]}" CONNWARDEN_EVICT_IDLE=200ms
  server "starve_$p" --http 0.2
  pyclient "starve_$p" "$p" --n 20 -- "${CAPPED[@]}" CONNWARDEN_QUEUE_TIMEOUT=2s
  eval "PORT_starve_$p=\$PORT"
done

for p in "${POOLS[@]}"; do
  R=$(result "evict_$p")
  met=$(jq_py "$R" 'sum(j["errors"].values())')
  assert_eq "$(jq_py "$R" '(j["ok"] + '"$met"', '"$met"' <= 8, set(j["errors"]) <= set('"${MET[$p]}"'))')" "(60, True, True)" \
    "$p with eviction: outcomes in $R"
  S=$(stats "evict_$p")
  total=$(jq_py "$(cat "$T/evict_$p.status")" 'j["total"]')
  assert_eq "$(jq_py "$(cat "$T/evict_$p.status")" '(j["peak"], j["answered"])')" "(4, $((60 - met)))" "$p with eviction: server peak, answered"
  assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["refused"], j["queue_timeouts"], j["queued"], j["reaped"]["evicted"] >= j["released"] and j["reaped"]["evicted"] > 0)')" \
    "($total, 0, 0, 0, True)" "$p with eviction: stats opened (= the server's), refused, queue_timeouts, queued, evicted > 0, released <= evicted"
  note "$p: $((60 - met)) of 60 with eviction, $(jq_py "$S" 'j["reaped"]["evicted"]') evicted, $total connections"
  release "evict_$p"

  R=$(result "starve_$p")
  assert_eq "$(jq_py "$R" '(4 <= j["ok"] < 20, j["ok"] + sum(j["errors"].values()), list(j["errors"]))')" "(True, 20, ['${FAILS[$p]}'])" \
    "$p without eviction: outcomes in $R"
  expect_served "starve_$p" "4 4 4"
  S=$(stats "starve_$p")
  assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["queue_timeouts"] == j["waited"] > 0, j["reaped"]["evicted"])')" "(4, True, 0)" \
    "$p without eviction: stats opened, every wait timed out, evicted"
  eval "starved \"\$T/starve_$p.err\" \$PORT_starve_$p"
  note "$p: $(jq_py "$R" 'j["ok"]') of 20 without eviction"
  release "starve_$p"
done
