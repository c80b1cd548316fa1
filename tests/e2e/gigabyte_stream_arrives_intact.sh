# Nothing lost: 1 GiB streamed through a plain read()/write() proxy running under the shim with
# every policy on but none triggered (caps, idle timeout, lifetime, scope filters, leak check,
# backtraces) arrives with the sender's byte count and sha256; the proxy relays the reply back,
# and the shim's byte counts equal the proxy's own. Hosts: tests/hosts/stream_proxy.c and
# tests/hosts/stream_ends.py.
. "$(dirname "$0")/lib.bash"
PROXY=$HOSTS/stream_proxy
[ -x "$PROXY" ] || fail "build it first: make build/hosts/stream_proxy"
MIB=${CW_STREAM_MIB:-1024}

bg $PY "$HOSTSRC/stream_ends.py" sink "$T/sink.json" >"$T/sink.out"
SINK=$BG_PID
wait_for 5 grep -q listening "$T/sink.out"
up=$(jq_py "$(cat "$T/sink.out")" 'j["listening"]')

bg env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=8 CONNWARDEN_MAX_CONNS_PER_DEST=4 \
  CONNWARDEN_ON_CAP=refuse CONNWARDEN_IDLE_TIMEOUT=20s CONNWARDEN_MAX_LIFETIME=60s \
  CONNWARDEN_ONLY="in,127.0.0.1:$up" CONNWARDEN_LEAK_CHECK=1 CONNWARDEN_BACKTRACE=1 \
  "$PROXY" "$up" >"$T/proxy.out" 2>"$T/proxy.err"
PPID_=$BG_PID
wait_for 5 grep -q '^port=' "$T/proxy.out"
port=$(sed -n 's/^port=//p' "$T/proxy.out")

start=$(date +%s%N)
sent=$(timeout 60 $PY "$HOSTSRC/stream_ends.py" source "$port" "$MIB") || fail "the source failed: $sent"
note "$MIB MiB through the proxy in $((($(date +%s%N) - start) / 1000000)) ms"
wait "$SINK" || fail "the sink failed"
got=$(cat "$T/sink.json")
assert_eq "$(jq_py "$sent" 'j["reply"]')" "ok" "reply relayed back through the proxy"
assert_eq "$(jq_py "$got" 'j["bytes"]')" "$((MIB << 20))" "bytes that arrived"
assert_eq "$(jq_py "$got" 'j["sha256"]')" "$(jq_py "$sent" 'j["sha256"]')" "sha256 of what arrived"

wait_for 5 grep -q '^up=' "$T/proxy.out"
assert_eq "$(grep '^up=' "$T/proxy.out")" "up=$((MIB << 20)) down=2" "the proxy's own counts"
# both connections tracked, nothing refused or reaped, and the shim's bytes are the proxy's
assert_eq "$(stat_of "$PPID_" '(j["active"]["in"], j["active"]["out"], j["refused"], sum(j["reaped"].values()))')" \
  "(1, 1, 0, 0)" "connections tracked, refused and reaped"
assert_eq "$(stat_of "$PPID_" '(j["bytes"]["in"], j["bytes"]["out"])')" \
  "($(((MIB << 20) + 2)), $(((MIB << 20) + 2)))" "bytes the shim counted"
kill -TERM "$PPID_"
rc=0
wait "$PPID_" || rc=$?
assert_eq "$rc" 0 "proxy exit status"
[ ! -s "$T/proxy.err" ] || fail "the proxy or its shim complained: $(cat "$T/proxy.err")"
