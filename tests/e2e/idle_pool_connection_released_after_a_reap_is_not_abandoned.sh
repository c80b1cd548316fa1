# A healthy pool is not an abandoned one. The FastAPI proxy of the outage story (httpx pool of 4,
# uvicorn --loop uvloop) answers two streams in full; httpx keeps their connections idle in its
# pool, with reading paused. The idle timeout reaps them, and httpx closes them only when it next
# looks at them, at its next request: so connwarden releases them a grace period later. They were
# not lost (the pool counts them idle, the next request succeeds on a new connection), and the
# host never read their end: they are not abandoned at the release, `connwarden check` passes,
# and a request within ABANDON_AFTER lets httpx close them, so they never are. (A lost stream is
# told apart at once by what the host did: it read the end of the reaped connection and still did
# not close it, or left the peer's bytes unread; one that did neither counts once it has been kept
# ABANDON_AFTER past the release, which is what an idle pool nobody uses then looks like too.)
# Hosts: tests/hosts/story_fastapi_proxy.py, story_upstream.py.
. "$(dirname "$0")/lib.bash"
$PY -c 'import fastapi, uvicorn, uvloop, httpx' 2>/dev/null ||
  fail "python3-fastapi, python3-uvicorn, python3-uvloop or python3-httpx is missing"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
command -v curl >/dev/null || fail "curl is needed"
. "$(dirname "$0")/story.bash"

start_fastapi_proxy idle env CONNWARDEN_ABANDON_AFTER=2s CONNWARDEN_BACKTRACE=1 "${CW_ENV[@]}" "$CW" run \
  --idle-timeout 1s --reap-grace 500ms --log info --
wait_for 5 test -S "$(sock_of "$PROXY")"
S=$(sock_of "$PROXY")
clients idle 5 stream stream # two at once: two pool connections
wait_for 3 px_is '(j["closed"], j["pool"]["idle"], j["pool"]["active"])' "(2, 2, 0)" # two idle in the pool

both_released() { [ "$(stat_of "$PROXY" '(j["reaped"]["idle"], j["released"])')" = "(2, 2)" ]; }
wait_for 6 both_released
assert_eq "$(px '(j["pool"]["idle"], j["pool"]["active"])')" "(2, 0)" "the proxy's pool after the release"
sleep 0.5 # longer than a look at them takes
assert_eq "$(stat_of "$PROXY" '(j["abandoned"], j["abandoned_now"])')" "(0, 0)" "idle pool connections released are not abandoned"
assert_not_contains "$(cat "$T/idle.err")" "abandoned:" "no abandoned line"
RC=0
OUT=$("${CW_ENV[@]}" "$CW" check "$PROXY" 2>&1) || RC=$?
assert_eq "$RC" 0 "check's status ($OUT)"
healthy idle-after # httpx finds the released ones dead and opens a new connection
# the released ones are closed now: ABANDON_AFTER past their release, still nothing abandoned
# (the new connection of that request is reaped and released in turn, not yet kept that long)
sleep 2
assert_eq "$(stat_of "$PROXY" '(j["abandoned"], j["abandoned_now"])')" "(0, 0)" \
  "released pool connections closed by the pool's next use"
