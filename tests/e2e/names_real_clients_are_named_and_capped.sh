# Real HTTP clients name their connections by the host they resolved, and the per-destination cap
# holds by that name. Each runs under `connwarden run --max-conns-per-dest 2 --evict-idle 200ms`
# with the test's names (names.bash) and asks api.cw.test:PORT for 6 answers at once that take
# 0.8 s each: requests.Session and httpx.Client (pools of 20, a thread per request),
# asyncio.open_connection on asyncio's loop and on uvloop, Node's http.get through an Agent with
# keepAlive and maxSockets 6, and one `curl --parallel --parallel-max 6`. Every request succeeds in
# about three waves of answers, and the server never sees more than 2 at once. While the first wave
# is answered the client has 2 connections open and more connects waiting (4; curl opens 5
# connections for 6 transfers to one host, with or without the shim, so 3): its conns name every
# outbound connection api.cw.test, its stats show the one destination api.cw.test:PORT (and, when it
# is done, as many connections opened there as the server took; curl has exited by then) and its
# metrics carry dest="api.cw.test:PORT".
# The pools, the Agent and curl keep finished connections for reuse: idle ones are evicted for the
# connects that wait. Node gives a connect 250 ms before it tries the name's next address (its
# autoSelectFamily), so its waiting connects move on to 127.0.0.3 and .4: the same destination.
# Without the cap asyncio has its 6 open at once. The Python clients and Node resolve the name in
# several threads at once: they resolve other.cw.test first (NAME_WARM, names.bash); curl resolves
# once, for its first transfer, and the others wait for that connection's answer.
# Hosts: tests/hosts/cap_count_server.py --http, http_clients.py, http_node_client.js.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
$PY -c 'import requests, httpx, uvloop' 2>/dev/null || fail "python3-requests, python3-httpx or python3-uvloop is missing"
command -v node >/dev/null || fail "node is not installed"
command -v curl >/dev/null || fail "curl is not installed"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/names.bash"
. "$(dirname "$0")/http_clients.bash"
HTTP_HOST=$NAME
HTTP_WARM=$NAME_WARM

N=6
CAP=2
DELAY=0.8
CAPPED_BY_NAME=("${NAMED_RUN[@]}" --max-conns-per-dest $CAP --evict-idle 200ms)

# named_while_waiting NAME PID WAITING: once the server NAME has CAP connections open and client PID
# at least WAITING connects queued, the client's conns, stats and metrics (queued_snapshot.py: all
# asked at that moment) name its destination api.cw.test:$PORT
named_while_waiting() {
  local snap
  snap=$($PY "$ROOT/tests/e2e/queued_snapshot.py" "$T/$1.status" "$(sock_of "$2")" $CAP "$3" 10) ||
    fail "$1: never $CAP open and $3 waiting"
  assert_eq "$(jq_py "$snap" '(sorted(set((c.get("host"), c["state"]) for c in j["conns"] if c["dir"] == "out")), sum(c["state"] == "ESTABLISHED" for c in j["conns"]))')" \
    "([('$NAME', 'ESTABLISHED'), ('$NAME', 'QUEUED')], $CAP)" "$1: conns name every outbound connection, $CAP open and the rest queued"
  assert_eq "$(jq_py "$snap" '[d["dest"] for d in j["stats"]["destinations"]]')" "['$NAME:$PORT']" "$1: stats destinations"
  assert_contains "$(jq_py "$snap" 'j["metrics"]')" "connwarden_destination_connections_active{dest=\"$NAME:$PORT\"} $CAP" "$1: metrics"
}
# curl_child PARENT: curl, started by the shell PARENT, is running; its PID in CURL_PID
curl_child() { CURL_PID=$(pgrep -P "$1" -x curl); }

for c in session httpx asyncio uvloop node curl; do
  name_server "$c" --http $DELAY
  case $c in
    node)
      nodeclient node keepalive:$N $N 1 0 -- "${CAPPED_BY_NAME[@]}"
      named_while_waiting node "$CPID" $((N - CAP))
      ;;
    curl)
      bg curls curl $N $N 1 0 "${CAPPED_BY_NAME[@]}"
      curls=$BG_PID
      wait_for 10 curl_child $curls
      CW_PIDS+=("$CURL_PID")
      named_while_waiting curl "$CURL_PID" $((N - CAP - 1))
      wait $curls
      ;;
    *)
      pyclient "$c" "$c" --n $N -- "${CAPPED_BY_NAME[@]}"
      named_while_waiting "$c" "$CPID" $((N - CAP))
      ;;
  esac
  if [ $c = curl ]; then # curl has exited: its codes and time
    assert_eq "$(cat "$T/curl.codes")" " $N 200 1000;" "curl: every transfer got its 1000 bytes"
    waves=$(((N + CAP - 1) / CAP))
    [ "$(jq_py "$(cat "$T/curl.ms")" "int($waves * $DELAY * 950 <= j <= (2 * $waves * $DELAY + 1) * 1000)")" = 1 ] ||
      fail "curl: $N transfers took $(cat "$T/curl.ms") ms, not between $waves and twice $waves waves of $DELAY s plus 1 s"
  else
    took_turns "$c" $N $DELAY $CAP
    assert_eq "$(jq_py "$(stats "$c")" '[(d["dest"], d["opened"]) for d in j["destinations"]]')" \
      "[('$NAME:$PORT', $(jq_py "$(cat "$T/$c.status")" 'j["total"]'))]" "$c: stats destination opened what the server took"
    release "$c"
  fi
  assert_eq "$(jq_py "$(cat "$T/$c.status")" '(j["peak"], j["answered"])')" "($CAP, $N)" "$c: the server's peak and answers"
  note "$c: $N requests, peak $CAP by name, addresses $(jq_py "$(cat "$T/$c.status")" '", ".join("%s: %d" % (a, p["total"]) for a, p in j["ports"].items() if p["total"])')"
done

# the cap is what kept them to 2: without it, 6 at once
name_server uncapped --http $DELAY
pyclient uncapped asyncio --n $N -- "${NAMED_RUN[@]}"
took_turns uncapped $N $DELAY $N
assert_eq "$(jq_py "$(cat "$T/uncapped.status")" '(j["peak"], j["answered"])')" "($N, $N)" "without the cap: the server's peak and answers"
release uncapped
