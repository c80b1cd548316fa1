# Event loops connect without blocking: under CONNWARDEN_MAX_CONNS=6, 24 concurrent connects from
# asyncio, uvloop and Node.js are parked (EINPROGRESS, "queued" in stats while they wait) and all
# succeed, the counting server never seeing more than 6 (24 without the shim). With
# CONNWARDEN_QUEUE_TIMEOUT=300ms and 1 s holds the surplus 18 fail as a refused connect does
# (ConnectionRefusedError, ECONNREFUSED). With CONNWARDEN_ON_CAP=refuse and
# CONNWARDEN_CAP_ERRNO=EHOSTUNREACH a connect at the cap fails at once with that errno, nothing is
# queued. Hosts: tests/hosts/cap_count_server.py, cap_clients.py, cap_node_client.js.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
$PY -c 'import uvloop' 2>/dev/null || fail "python3-uvloop is not installed"
command -v node >/dev/null || fail "node is not installed"

. "$(dirname "$0")/count_server.bash"

# clients NAME LOOP PORT N HOLD [VAR=VALUE...]: LOOP is asyncio, uvloop, node or refuse; pid in CPID
clients() {
  local name=$1 loop=$2 port=$3 n=$4 hold=$5
  shift 5
  if [ "$loop" = node ]; then
    bg env "$@" node "$HOSTSRC/cap_node_client.js" "$port" "$n" "$(jq_py "$hold" 'int(j * 1000)')" \
      "$T/$name.release" >"$T/$name.out" 2>"$T/$name.err" </dev/null
  else
    bg env "$@" $PY "$HOSTSRC/cap_clients.py" "$loop" --port "$port" --n "$n" --hold "$hold" \
      --release "$T/$name.release" >"$T/$name.out" 2>"$T/$name.err" </dev/null
  fi
  wait_for 5 grep -q '"pid"' "$T/$name.out"
  CPID=$(jq_py "$(head -1 "$T/$name.out")" 'j["pid"]')
  eval "PID_$name=\$CPID"
}
result() { # NAME: the result line, once every client is done
  wait_for 15 grep -q '"ok"' "$T/$1.out"
  grep '"ok"' "$T/$1.out"
}
stats() { query "$(sock_of "$1")" stats; }

LOOPS=(asyncio uvloop node)

# 1. Without the shim, then with the cap: all 24 connect. "queued" is counted while they wait.
for l in "${LOOPS[@]}"; do
  server "queue_$l"
  clients "queue_$l" "$l" "$PORT" 24 0.4 LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=6
  wait_for 5 grep -q '"issued"' "$T/queue_$l.out"
  S=$(stats "$CPID")
  [ "$(jq_py "$S" 'int(0 < j["queued"] <= 18 and j["active"]["out"] <= 6)')" = 1 ] ||
    fail "$l: mid-run stats do not show connects parked behind 6 active ones: $S"
  server "plain_$l"
  clients "plain_$l" "$l" "$PORT" 24 0.4 LD_PRELOAD=
done
for l in "${LOOPS[@]}"; do
  R=$(result "plain_$l")
  assert_eq "$(jq_py "$R" '(j["ok"], j["errors"])')" "(24, {})" "$l without the shim: connected"
  expect_served "plain_$l" "0 24 24"
  R=$(result "queue_$l")
  assert_eq "$(jq_py "$R" '(j["ok"], j["errors"])')" "(24, {})" "$l under the cap: connected in $R"
  case $l in
  asyncio) assert_contains "$(jq_py "$R" 'j["loop"]')" "asyncio." "event loop in use" ;;
  uvloop) assert_contains "$(jq_py "$R" 'j["loop"]')" "uvloop" "event loop in use" ;;
  esac
  [ "$(jq_py "$R" 'int(j["ok_secs_max"] >= 0.6)')" = 1 ] || fail "$l: the last wave did not wait: $R"
  expect_served "queue_$l" "0 6 24"
  eval "pid=\$PID_queue_$l"
  S=$(stats "$pid")
  assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["closed"]["out"], j["peak"]["out"], j["refused"], j["queued"])')" \
    "(24, 24, 6, 0, 0)" "$l under the cap: stats opened, closed, peak, refused, queued"
  [ "$(jq_py "$S" 'j["waited"]')" -ge 18 ] || fail "$l: waited < 18: $S"
  [ "$(jq_py "$S" 'j["wait_ms"]')" -ge 1000 ] || fail "$l: wait_ms too small for 3 waves of 18: $S"
  [ ! -s "$T/queue_$l.err" ] || fail "$l under the cap wrote to stderr: $(cat "$T/queue_$l.err")"
  touch "$T/plain_$l.release" "$T/queue_$l.release"
done

# 2. The queue timeout: 6 hold for 1 s, 18 fail after 300 ms like a refused connect.
for l in "${LOOPS[@]}"; do
  server "timeout_$l"
  clients "timeout_$l" "$l" "$PORT" 24 1 LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=6 CONNWARDEN_QUEUE_TIMEOUT=300ms
done
# and refuse: a connect at the cap fails at once with the chosen errno, blocking or not
server refuse_one
clients refuse_one refuse "$PORT" 2 0 LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=2 CONNWARDEN_ON_CAP=refuse \
  CONNWARDEN_CAP_ERRNO=EHOSTUNREACH
P_REFUSE_ONE=$PORT
server refuse_asyncio
clients refuse_asyncio asyncio "$PORT" 24 0.3 LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=6 CONNWARDEN_ON_CAP=refuse \
  CONNWARDEN_CAP_ERRNO=EHOSTUNREACH

for l in "${LOOPS[@]}"; do
  R=$(result "timeout_$l")
  assert_eq "$(jq_py "$R" '(j["ok"], j["errors"])')" "(6, {'ECONNREFUSED': 18})" "$l queue timeout: outcomes in $R"
  [ "$l" = node ] || assert_eq "$(jq_py "$R" 'j["exceptions"]')" "['ConnectionRefusedError']" "$l queue timeout: exception"
  [ "$(jq_py "$R" 'int(0.29 <= j["fail_secs_min"] and j["fail_secs_max"] < 0.9)')" = 1 ] ||
    fail "$l: failures did not come at the 300 ms queue timeout: $R"
  expect_served "timeout_$l" "0 6 6"
  eval "pid=\$PID_timeout_$l"
  S=$(stats "$pid")
  assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["refused"], j["queue_timeouts"], j["queued"])')" "(6, 0, 18, 0)" \
    "$l queue timeout: stats opened, refused, queue_timeouts, queued"
  [ "$(jq_py "$S" 'j["waited"]')" -ge 18 ] && [ "$(jq_py "$S" 'j["wait_ms"]')" -ge $((18 * 300)) ] ||
    fail "$l queue timeout: waited or wait_ms too small: $S"
  grep -q "queue timeout: connect fd [0-9]* to 127.0.0.1:" "$T/timeout_$l.err" || fail "$l: no queue timeout logged"
  touch "$T/timeout_$l.release"
done

R=$(result refuse_one)
assert_eq "$(jq_py "$R" '(j["ok"], j["nonblocking"], j["blocking"])')" "(2, 'EHOSTUNREACH', 'EHOSTUNREACH')" \
  "refuse: a connect past 2 fails with the cap errno"
[ "$(jq_py "$R" 'int(j["nonblocking_secs"] < 0.1 and j["blocking_secs"] < 0.1)')" = 1 ] ||
  fail "refuse: the refusals were not immediate: $R"
S=$(stats "$PID_refuse_one")
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["refused"], j["waited"], j["queued"])')" "(2, 2, 0, 0)" \
  "refuse: stats opened, refused, waited, queued"
assert_eq "$(jq_py "$S" '[(d["active"], d["refused"]) for d in j["destinations"] if d["peer"] == "127.0.0.1:'"$P_REFUSE_ONE"'"]')" \
  "[(2, 2)]" "refuse: destination active and refused"
grep -q "refused: connect fd [0-9]* to 127.0.0.1:$P_REFUSE_ONE" "$T/refuse_one.err" || fail "refuse: no refusal logged"

R=$(result refuse_asyncio)
assert_eq "$(jq_py "$R" '(j["ok"], j["errors"])')" "(6, {'EHOSTUNREACH': 18})" "refuse under asyncio: outcomes in $R"
[ "$(jq_py "$R" 'int(j["fail_secs_max"] < 0.2)')" = 1 ] || fail "refuse under asyncio: refusals waited: $R"
S=$(stats "$PID_refuse_asyncio")
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["refused"], j["waited"], j["queued"], j["wait_ms"])')" \
  "(6, 18, 0, 0, 0)" "refuse under asyncio: stats"
touch "$T/refuse_one.release" "$T/refuse_asyncio.release"
