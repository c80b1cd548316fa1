# The outage story: a uvicorn + httpx proxy with a pool of 4 upstream connections forwards
# streams that stall after their first chunk; 4 clients give up after 1 s. Without the shim the
# stalled streams hold the whole pool: the upstream still counts 4 stalled connections and a new
# request gets 503 (pool exhausted), however long one waits. Under the shim (idle timeout 1s,
# grace 1s, policy on the upstream port only) the 4 are reaped, the proxy's own error path closes
# them, and new requests through the same proxy succeed, complete and with status 200.
. "$(dirname "$0")/lib.bash"
$PY -c 'import uvicorn, httpx' 2>/dev/null || fail "python3-uvicorn and python3-httpx are needed"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
command -v curl >/dev/null || fail "curl is needed"

POOL=4           # the proxy's pool size (httpx.Limits in story_proxy.py)
POOL_TIMEOUT=1.5 # how long a request waits for a pool connection before the proxy says 503

. "$(dirname "$0")/story.bash"

# start_proxy NAME [VAR=VALUE...]: the proxy, with those variables; sets PPORT and PROXY
start_proxy() {
  local name=$1
  shift
  bg env "$@" "$PY" "$HOSTSRC/story_proxy.py" --upstream "$UPORT" --pool-timeout $POOL_TIMEOUT \
    --max-secs 60 >"$T/$name.out" 2>"$T/$name.err"
  wait_for 10 grep -q listening "$T/$name.out"
  PPORT=$(jq_py "$(head -1 "$T/$name.out")" 'j["listening"]')
  PROXY=$(jq_py "$(head -1 "$T/$name.out")" 'j["pid"]')
  CW_PIDS+=("$PROXY")
}

# abandon NAME: POOL clients ask for a stream that stalls and go away after 1 s
abandon() { clients "$1" 1 $(printf 'stream?stall=1 %.0s' $(seq $POOL)); }

# --- without the shim: the pool is held for ever ---------------------------------------------
start_proxy plain X=1
healthy plain-before
abandon plain
wait_for 5 up_is stalled $POOL
assert_eq "$(px 'j["upstream_open"]')" $POOL "plain: upstream streams the proxy still holds after its clients left"
start=$(date +%s%N)
get plain-after
waited=$((($(date +%s%N) - start) / 1000000))
assert_eq "$CODE" 503 "plain: a new request while the pool is held"
assert_contains "$(cat "$T/plain-after.body")" "pool exhausted" "plain: the 503 says why"
[ "$waited" -ge 1400 ] || fail "plain: the 503 came after ${waited}ms, before the pool timeout"
# by now the streams have been stalled longer than the shim's idle timeout plus grace: nothing
# here frees them without it
assert_eq "$(up stalled)" $POOL "plain: stalled upstream connections after the pool timeout"
assert_eq "$(px 'j["upstream_open"]')" $POOL "plain: upstream streams still held"
[ ! -e "$(sock_of "$PROXY")" ] || fail "an unshimmed proxy has a stats socket"
kill -9 "$PROXY"
wait_for 5 up_is stalled 0 # the upstream sees them go with the process

# --- under the shim: the stalled connections are reaped, the pool recovers -------------------
start_proxy shim LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_IDLE_TIMEOUT=1s CONNWARDEN_REAP_GRACE=1s \
  CONNWARDEN_ONLY=":$UPORT" CONNWARDEN_LOG=info
wait_for 5 test -S "$(sock_of "$PROXY")"
ENDED=$(up stalls_ended)
healthy shim-before
abandon shim
# the upstream sees its 4 stalled connections end, and the proxy holds no stream any more
wait_for 5 up_is stalls_ended $((ENDED + POOL))
assert_eq "$(up stalled)" 0 "shim: stalled upstream connections after the reap"
wait_for 3 test "$(px 'j["upstream_open"]')" = 0
assert_eq "$(px 'j["upstream_errors"]')" $POOL "shim: streams the proxy saw cut"
for i in 1 2 3; do healthy "shim-after-$i"; done
assert_eq "$(px 'j["pool_timeouts"]')" 0 "shim: requests that found the pool full"

S=$(query "$(sock_of "$PROXY")" stats)
[ "$(jq_py "$S" 'j["reaped"]["idle"]')" -ge $POOL ] || fail "shim: reaped.idle below $POOL: $S"
assert_eq "$(jq_py "$S" 'j["reaped"]["lifetime"] + j["reaped"]["manual"]')" 0 "shim: reaped for another reason"
assert_eq "$(jq_py "$S" 'j["released"]')" 0 "shim: reaped fds the proxy did not close itself"
! grep -q 'reaped: fd [0-9]* in ' "$T/shim.err" || fail "shim: a client connection was reaped (policy is on :$UPORT only)"
[ "$(jq_py "$S" 'j["peak"]["out"]')" -le $POOL ] || fail "shim: more upstream connections than the pool: $S"
[ "$(jq_py "$S" '[d["reaped"] for d in j["destinations"] if d["peer"] == "127.0.0.1:'"$UPORT"'"][0]')" -ge $POOL ] ||
  fail "shim: the upstream's destination entry does not show the reaps: $S"
# every reap is logged: one line a second, the others summed up by a "reaped: N more" line
reaps_logged() {
  awk '/: reaped: fd .*\(idle\)$/ {n++}
       match($0, /: reaped: [0-9]+ more in the last /) {split(substr($0, RSTART + 10), w, " "); n += w[1]}
       END {print n + 0}' "$T/shim.err"
}
all_reaps_logged() { [ "$(reaps_logged)" -ge $POOL ]; }
wait_for 3 all_reaps_logged
