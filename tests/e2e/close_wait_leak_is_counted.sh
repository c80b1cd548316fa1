# The server sends a line and closes. A host that keeps its end open without reading past
# CONNWARDEN_REAP_GRACE=300ms is counted once as a close-wait leak (stats, metrics, one log line
# that is not repeated), and nothing is done to its socket: ss still shows it in CLOSE-WAIT, as
# for the same host without the shim (which nothing counts). A host that reads the EOF and closes
# at once counts no leak. Hosts: tests/hosts/reap_stall_server.py (close), reap_reader.c.
. "$(dirname "$0")/lib.bash"
READER=$HOSTS/reap_reader
[ -x "$READER" ] || fail "build it first: make build/hosts/reap_reader"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
command -v ss >/dev/null || fail "ss (iproute2) is not installed"

lport() { tr ' ' '\n' <"$T/$1.out" | sed -n 's/^lport=//p' | head -1; }
owned() { ss -tnpH state all "( sport = :$2 )" | grep "pid=$1," || true; } # PID LPORT
leaks() { stat_of "$1" 'j["close_wait_leaks"]'; }
metric() { query "$(sock_of "$1")" metrics | sed -n "s/^connwarden_close_wait_leaks_total //p"; }

bg $PY "$HOSTSRC/reap_stall_server.py" close >"$T/server.out"
wait_for 5 grep -q listening "$T/server.out"
PORT=$(jq_py "$(head -1 "$T/server.out")" 'j["listening"]')

host plain "$READER" "$PORT" forget
host leaky env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_REAP_GRACE=300ms "$READER" "$PORT" forget
host prompt env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_REAP_GRACE=300ms "$READER" "$PORT" read
for h in plain leaky prompt; do wait_for 5 grep -q '^connected' "$T/$h.out"; done
wait_for 5 grep -q '^close=0' "$T/prompt.out"

# 1. The leak is counted once the grace has passed, in stats and metrics.
one_leak() { [ "$(leaks "$PID_leaky")" = 1 ]; }
wait_for 3 one_leak
assert_eq "$(metric "$PID_leaky")" 1 "metrics of the leaky host"
assert_eq "$(jq_py "$(query "$(sock_of "$PID_leaky")" conns)" '[(c["state"], c["peer_closed"], c["reaped"]) for c in j]')" \
  "[('CLOSE_WAIT', True, None)]" "conns of the leaky host"
FD=$(tr ' ' '\n' <"$T/leaky.out" | sed -n 's/^fd=//p' | head -1)
grep -q "^connwarden\[$PID_leaky\]: close-wait leak: fd $FD out 127.0.0.1:$PORT, age [0-9.]*s, idle [0-9.]*s" "$T/leaky.err" ||
  fail "no close-wait leak line: $(cat "$T/leaky.err")"

# 2. Three more grace periods: still one leak, one line, and the socket left as it is.
sleep 1
assert_eq "$(leaks "$PID_leaky")" 1 "leaks after more time"
assert_eq "$(grep -c "close-wait leak" "$T/leaky.err")" 1 "close-wait leak lines"
assert_eq "$(wc -l <"$T/leaky.err")" 1 "lines on the leaky host's stderr"
assert_contains "$(owned "$PID_leaky" "$(lport leaky)")" "CLOSE-WAIT" "the leaky host's socket"
assert_contains "$(owned "$PID_plain" "$(lport plain)")" "CLOSE-WAIT" "the same leak without the shim"
[ ! -e "$(sock_of "$PID_plain")" ] || fail "an unshimmed host has a stats socket"

# 3. The host that closes at once: no leak.
assert_eq "$(stat_of "$PID_prompt" '(j["close_wait_leaks"], j["closed"]["out"], j["active"]["total"])')" "(0, 1, 0)" \
  "stats of the prompt host"
assert_eq "$(metric "$PID_prompt")" 0 "metrics of the prompt host"
[ ! -s "$T/prompt.err" ] || fail "the prompt host logged: $(cat "$T/prompt.err")"
