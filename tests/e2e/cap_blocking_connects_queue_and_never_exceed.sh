# 32 threads each make a blocking connect and hold the connection. Without the shim the counting
# server sees all 32 at once; under CONNWARDEN_MAX_CONNS=8 they queue and all succeed while the
# server never sees more than 8; with CONNWARDEN_QUEUE_TIMEOUT=300ms and long holds the surplus
# 24 fail with ETIMEDOUT after the timeout; CONNWARDEN_MAX_CONNS_PER_DEST=3 holds each of two
# servers at 3. The stats' waited, refused and wait_ms agree with what the clients measured.
# Hosts: tests/hosts/cap_count_server.py (exact, single-threaded), tests/hosts/cap_clients.py.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

. "$(dirname "$0")/count_server.bash"

# clients NAME [VAR=VALUE...] MODE ARGS...: cap_clients.py with those variables; pid in CPID
clients() {
  local name=$1 envs=()
  shift
  while [[ $1 == *=* ]]; do envs+=("$1"); shift; done
  bg env "${envs[@]}" $PY "$HOSTSRC/cap_clients.py" "$@" --release "$T/$name.release" \
    >"$T/$name.out" 2>"$T/$name.err" </dev/null
  wait_for 5 grep -q '"pid"' "$T/$name.out"
  CPID=$(jq_py "$(head -1 "$T/$name.out")" 'j["pid"]')
}
# result NAME: the clients' result line, once they are all done
result() {
  wait_for 15 grep -q '"ok"' "$T/$1.out"
  grep '"ok"' "$T/$1.out"
}

# Start every scenario at once (separate servers, separate processes), then check each.
server plain; P_PLAIN=$PORT
clients plain LD_PRELOAD= threads --port "$P_PLAIN" --n 32 --hold 0.3

server queue; P_QUEUE=$PORT
clients queue LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=8 threads --port "$P_QUEUE" --n 32 --hold 0.3
PID_QUEUE=$CPID

server timeout; P_TIMEOUT=$PORT
clients timeout LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=8 CONNWARDEN_QUEUE_TIMEOUT=300ms \
  threads --port "$P_TIMEOUT" --n 32 --hold 2
PID_TIMEOUT=$CPID

server destA; P_A=$PORT
server destB; P_B=$PORT
clients perdest LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS_PER_DEST=3 \
  threads --port "$P_A" --port "$P_B" --n 12 --hold 0.3
PID_PERDEST=$CPID

# 1. Without the shim: all 32 at once.
R=$(result plain)
assert_eq "$(jq_py "$R" '(j["ok"], j["errors"])')" "(32, {})" "plain: every client connected"
expect_served plain "0 32 32"
[ ! -e "$(sock_of "$(jq_py "$(head -1 "$T/plain.out")" 'j["pid"]')")" ] || fail "an unshimmed client has a stats socket"

# 2. The cap: all 32 succeed, never more than 8 at the server, the surplus waited.
R=$(result queue)
assert_eq "$(jq_py "$R" '(j["ok"], j["errors"], j["exceptions"])')" "(32, {}, [])" "queue: every client connected"
[ "$(jq_py "$R" 'int(j["ok_secs_max"] >= 0.5)')" = 1 ] || fail "queue: the last wave did not wait for slots: $R"
expect_served queue "0 8 32"
S=$(query "$(sock_of "$PID_QUEUE")" stats)
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["closed"]["out"], j["peak"]["out"], j["refused"], j["queued"])')" \
  "(32, 32, 8, 0, 0)" "queue: stats opened, closed, peak, refused, queued"
[ "$(jq_py "$S" 'j["waited"]')" -ge 24 ] || fail "queue: waited < 24: $S"
# the shim's wait is inside the clients' connect calls: at most their total, and nearly all of it
CLIENT_MS=$(jq_py "$R" 'int(j["connect_secs_sum"] * 1000)')
WAIT_MS=$(jq_py "$S" 'j["wait_ms"]')
[ "$WAIT_MS" -le $((CLIENT_MS + 5)) ] && [ "$WAIT_MS" -ge $((CLIENT_MS * 9 / 10 - 50)) ] ||
  fail "queue: wait_ms $WAIT_MS does not match the clients' connect time ${CLIENT_MS}ms"
assert_eq "$(query "$(sock_of "$PID_QUEUE")" config | $PY -c 'import json,sys; print(json.load(sys.stdin)["max_conns"])')" \
  8 "queue: effective max_conns"

# 3. The queue timeout: 8 hold their slots for 2 s, the 24 others fail with ETIMEDOUT at 300 ms.
R=$(result timeout)
assert_eq "$(jq_py "$R" '(j["ok"], j["errors"])')" "(8, {'ETIMEDOUT': 24})" "timeout: successes and failures"
[ "$(jq_py "$R" 'int(0.29 <= j["fail_secs_min"] and j["fail_secs_max"] < 1.5)')" = 1 ] ||
  fail "timeout: failed connects did not wait about 300 ms: $R"
expect_served timeout "0 8 8"
S=$(query "$(sock_of "$PID_TIMEOUT")" stats)
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["peak"]["out"], j["refused"], j["queue_timeouts"], j["queued"])')" \
  "(8, 8, 0, 24, 0)" "timeout: stats opened, peak, refused, queue_timeouts, queued"
[ "$(jq_py "$S" 'j["waited"]')" -ge 24 ] || fail "timeout: waited < 24: $S"
CLIENT_MS=$(jq_py "$R" 'int(j["connect_secs_sum"] * 1000)')
WAIT_MS=$(jq_py "$S" 'j["wait_ms"]')
[ "$WAIT_MS" -ge $((24 * 300)) ] && [ "$WAIT_MS" -le $((CLIENT_MS + 5)) ] ||
  fail "timeout: wait_ms $WAIT_MS is not 24 waits of at least 300 ms within the clients' ${CLIENT_MS}ms"

# 4. Per destination: 3 at each server, 6 at once over both.
R=$(result perdest)
assert_eq "$(jq_py "$R" '(j["ok"], j["errors"])')" "(24, {})" "per destination: every client connected"
expect_served destA "0 3 12"
expect_served destB "0 3 12"
S=$(query "$(sock_of "$PID_PERDEST")" stats)
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["peak"]["out"], j["refused"], j["queued"])')" \
  "(24, 6, 0, 0)" "per destination: stats opened, peak, refused, queued"
[ "$(jq_py "$S" 'j["waited"]')" -ge 18 ] || fail "per destination: waited < 18: $S"
assert_eq "$(jq_py "$S" 'sorted((d["peer"], d["opened"], d["active"]) for d in j["destinations"])')" \
  "$($PY -c "print(sorted([('127.0.0.1:$P_A', 12, 0), ('127.0.0.1:$P_B', 12, 0)]))")" "per destination: destinations"

# the timeouts are logged (warn, the default level); nothing else is written anywhere
grep -q "^connwarden\[$PID_TIMEOUT\]: queue timeout: connect fd [0-9]* to 127.0.0.1:$P_TIMEOUT waited 300ms" "$T/timeout.err" ||
  fail "timeout: no queue timeout logged: $(cat "$T/timeout.err")"
assert_eq "$(grep -vc "^connwarden\[$PID_TIMEOUT\]: queue timeout: " "$T/timeout.err")" 0 "timeout: other lines on stderr"
for f in plain queue timeout perdest; do
  touch "$T/$f.release"
  [ "$f" = timeout ] || [ ! -s "$T/$f.err" ] || fail "$f clients wrote to stderr: $(cat "$T/$f.err")"
done
