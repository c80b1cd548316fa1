# The outage's other half: a FastAPI proxy (uvicorn --loop uvloop, StreamingResponse over httpx
# client.send(stream=True), aclose() in a finally, a pool of 4) whose clients go away after 1 s.
# Starlette cancels the stream, the aclose() in the finally is cancelled too, and httpx keeps the 4
# connections "active" in its pool for good: every later request is a 503. Two routes lose them:
# a stream that stalls after its first chunk and one that keeps sending a chunk every 50 ms.
# Neither leaves bytes unread in the kernel: the cancelled read never paused the event loop's
# transport, so uvloop goes on reading the flowing stream into the program's memory (it is never
# idle), and the stalled one has nothing more to read. What catches them is the reap: the idle
# timeout cuts the stalled one, the max lifetime the flowing one; the proxy reads the end of
# each and never closes it; connwarden releases it after the grace period and counts it as
# abandoned. connwarden cannot give the pool back; it names the line that opened each lost
# connection (client.send in the proxy, though anyio opens the socket in a task of its own) and
# fails `connwarden check`, for a supervisor to restart the process.
# 0. Without the shim the pool is lost: 4 requests the upstream still serves, a 503 for ever.
# 1. Under the shim: all 4 abandoned (stats, metrics, conns state ABANDONED with the proxy's
#    file:line in "stack"), check exits 1 naming that line, health says not ok; still a 503.
# 2. Clients that stay connected: the idle timeout cuts the stalled streams, the proxy's own error
#    path closes them and the pool recovers: nothing abandoned, check exits 0.
# Hosts: tests/hosts/story_fastapi_proxy.py, story_upstream.py.
. "$(dirname "$0")/lib.bash"
$PY -c 'import fastapi, uvicorn, uvloop, httpx' 2>/dev/null ||
  fail "python3-fastapi, python3-uvicorn, python3-uvloop or python3-httpx is missing"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
command -v curl >/dev/null || fail "curl is needed"

POOL=4
SRC=$HOSTSRC/story_fastapi_proxy.py
# where each lost connection was opened: the proxy's own call of client.send
line=$(grep -n 'await client\.send(' "$SRC" | cut -d: -f1)
[ "$(wc -l <<<"$line")" = 1 ] || fail "story_fastapi_proxy.py calls client.send on one line, not: $line"
WHERE="story_fastapi_proxy.py:$line in forward"
STALL='stream?stall=1'
FLOW='stream?chunks=100000&every=50' # a chunk every 50 ms, for longer than the test

. "$(dirname "$0")/story.bash"

# lost NAME: a request finds the pool full and gets the proxy's 503
lost() {
  get "$1"
  assert_eq "$CODE" 503 "$1: a request while the pool is lost"
  assert_contains "$(cat "$T/$1.body")" "pool exhausted" "$1: the 503 says why"
}

# --- 0. without the shim: the pool is lost for good ------------------------------------------
start_fastapi_proxy plain
t0=$(date +%s%N)
clients plain 1 "$STALL" "$STALL" "$FLOW" "$FLOW"
wait_for 3 px_is 'j["close_cancelled"]' $POOL
assert_eq "$(px '(j["closed"], j["pool"]["active"])')" "(0, $POOL)" "plain: responses closed, pool connections the proxy believes active"
lost plain-after
# past the moment the shim below has caught them all: nothing here ends them
sleep "$($PY -c "print(max(0, 5.5 - ($(date +%s%N) - $t0) / 1e9))")"
assert_eq "$(up stalled),$(up streaming)" "2,2" "plain: upstream streams still open (stalled, flowing)"
lost plain-later
[ ! -e "$(sock_of "$PROXY")" ] || fail "an unshimmed proxy has a stats socket"
kill -9 "$PROXY"
upstream_quiet() { up_is stalled 0 && up_is streaming 0; }
wait_for 5 upstream_quiet # the upstream sees them go with the process

# --- 1. under the shim: caught, named, and the health check fails ----------------------------
SHIM=(env CONNWARDEN_ABANDON_AFTER=2s CONNWARDEN_BACKTRACE=1 "${CW_ENV[@]}" "$CW" run
  --idle-timeout 2s --max-lifetime 3s --reap-grace 1s --log info --)
start_fastapi_proxy leave "${SHIM[@]}"
wait_for 5 test -S "$(sock_of "$PROXY")"
S=$(sock_of "$PROXY")
clients leave 1 "$STALL" "$STALL" "$FLOW" "$FLOW"
wait_for 3 px_is 'j["close_cancelled"]' $POOL
# the upstream sees each stream end: the stalled ones at the idle timeout, the flowing ones at the
# max lifetime
wait_for 8 up_is stalls_ended 2
wait_for 8 up_is cut 2
# Every lost connection the proxy still holds is abandoned. The stalled ones always are; a
# flowing one, after its reap, may instead be closed by the event loop itself (the upstream's next
# bytes after the reap's shutdown reset it, and uvloop closes a reset transport): its pool slot is
# lost all the same, but there is no socket left to flag (README: Abandoned connections).
held() { jq_py "$(query "$S" conns)" "len([c for c in j if c['peer'] == '127.0.0.1:$UPORT'])"; }
abandoned() {
  local n
  n=$(held)
  [ "$n" -ge 2 ] && [ "$(stat_of "$PROXY" '(j["abandoned"], j["abandoned_now"], j["released"])')" = "($n, $n, $n)" ]
}
for _ in $(seq 240); do abandoned && break; sleep 0.05; done # 12 s: a loaded machine
abandoned || {
  query "$(sock_of "$PROXY")" conns >&2
  fail "not all abandoned: $(stat_of "$PROXY" '(j["abandoned"], j["abandoned_now"], j["released"], j["reaped"])')"
}
N=$(held)
ST=$(query "$S" stats)
assert_eq "$(jq_py "$ST" '(j["reaped"]["idle"], j["reaped"]["lifetime"], j["released"])')" "(2, 2, $N)" \
  "leave: reaped (idle, lifetime) and released: every one the proxy still holds"
M=$(query "$S" metrics)
grep -qx "connwarden_connections_abandoned_total $N" <<<"$M" || fail "leave: metrics abandoned_total: $M"
grep -qx "connwarden_connections_abandoned $N" <<<"$M" || fail "leave: metrics abandoned now: $M"
# conns: each lost connection is ABANDONED, and its stack names the line of the proxy that opened
# it (the first of the proxy's own frames, innermost first)
query "$S" conns >"$T/conns.json"
$PY - "$T/conns.json" "$UPORT" "$WHERE" "$N" <<'PYEOF' || fail "leave: conns: $(cat "$T/conns.json")"
import json, sys
path, port, where, n = sys.argv[1:]
conns = [c for c in json.load(open(path)) if c["peer"] == f"127.0.0.1:{port}"]
assert len(conns) == int(n) and all(c["state"] == "ABANDONED" for c in conns), conns
for c in conns:
    own = [f for f in c.get("stack", []) if f.split(":")[0].endswith("story_fastapi_proxy.py")]
    assert own, ("no frame of the proxy's own", c)
    assert own[0] == where or own[0].endswith("/" + where), ("opened elsewhere", own[0], where, c)
PYEOF
lost leave-after
assert_eq "$(px 'j["pool"]["active"]')" $POOL "leave: pool connections the proxy still believes active"
RC=0
OUT=$("${CW_ENV[@]}" "$CW" check "$PROXY" 2>&1) || RC=$?
assert_eq "$RC" 1 "leave: check's status ($OUT)"
assert_contains "$OUT" "abandoned" "leave: check says what is wrong"
assert_contains "$OUT" "$WHERE" "leave: check names the line that opened them"
assert_eq "$(jq_py "$(query "$S" health)" '(j["ok"], len(j["problems"]) > 0)')" "(False, True)" "leave: health"
assert_contains "$(cat "$T/leave.err")" "$WHERE" "leave: the abandon is logged with where it was opened"
kill -9 "$PROXY"

# --- 2. clients that stay: the idle timeout heals the pool, check passes ---------------------
start_fastapi_proxy stay "${SHIM[@]}"
wait_for 5 test -S "$(sock_of "$PROXY")"
S=$(sock_of "$PROXY")
ENDED=$(up stalls_ended)
healthy stay-before
clients stay 15 "$STALL" "$STALL" "$STALL" "$STALL" # ended by the cut, long before 15 s
assert_eq "$(up stalls_ended)" $((ENDED + POOL)) "stay: stalled streams the upstream saw end"
wait_for 3 px_is 'j["closed"]' $((1 + POOL))
assert_eq "$(px '(j["close_cancelled"], j["upstream_errors"], j["pool"]["active"])')" "(0, $POOL, 0)" \
  "stay: closes cancelled, streams the proxy saw cut, pool connections active"
for i in 1 2 3; do healthy "stay-after-$i"; done
assert_eq "$(px 'j["pool_timeouts"]')" 0 "stay: requests that found the pool full"
ST=$(query "$S" stats)
assert_eq "$(jq_py "$ST" '(j["reaped"]["idle"] >= 4, j["released"], j["abandoned"], j["abandoned_now"])')" \
  "(True, 0, 0, 0)" "stay: reaped by the idle timeout, released, abandoned ever and now"
RC=0
OUT=$("${CW_ENV[@]}" "$CW" check "$PROXY" 2>&1) || RC=$?
assert_eq "$RC" 0 "stay: check's status ($OUT)"
assert_eq "$(jq_py "$(query "$S" health)" '(j["ok"], j["problems"])')" "(True, [])" "stay: health"
