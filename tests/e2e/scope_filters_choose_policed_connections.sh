# CONNWARDEN_ONLY and CONNWARDEN_EXCLUDE choose which connections the policy applies to; the rest
# are tracked and listed but left alone. Under CONNWARDEN_MAX_CONNS=1 with
# CONNWARDEN_EXCLUDE=:PORT_B, three connections to B are open at once while a second one to A
# waits for the first to close. Under CONNWARDEN_ONLY=in with an idle timeout, an idle inbound
# connection is reaped and an idle outbound one survives and still works; both are in `conns`.
# Without CONNWARDEN_ONLY (outbound by default) it is the other way round: an inbound client that
# waits on a slow answer is left alone. Hosts: tests/hosts/cap_step_client.c, cap_count_server.py
# (echo and counts).
. "$(dirname "$0")/lib.bash"
STEP=$HOSTS/cap_step_client
[ -x "$STEP" ] || fail "build it first: make build/hosts/cap_step_client"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

server() { # NAME: a fresh counting server; its port in PORT
  bg $PY "$HOSTSRC/cap_count_server.py" "$T/$1.status" --max-secs 30 >"$T/$1.server"
  wait_for 5 grep -q listening "$T/$1.server"
  PORT=$(jq_py "$(head -1 "$T/$1.server")" 'j["listening"]')
}
served() { jq_py "$(cat "$T/$1.status")" '"%d %d %d" % (j["current"], j["peak"], j["total"])'; }

has() { grep -q "^$2" "$T/$1.out"; }
val() { grep "^$2" "$T/$1.out" | head -1 | tr ' ' '\n' | sed -n "s/^$3=//p"; } # NAME PREFIX KEY

server A; PA=$PORT
server B; PB=$PORT

# 1. EXCLUDE=:PB: B is not capped, A is capped at 1.
host ex env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1 CONNWARDEN_EXCLUDE=":$PB" CONNWARDEN_QUEUE_TIMEOUT=5s "$STEP"
for k in 1 2 3; do tell ex "open $k $PB"; done
tell ex "open 4 $PA"
for k in 1 2 3 4; do wait_for 5 has ex "opened $k "; done
for k in 1 2 3; do
  [ "$(jq_py "$(val ex "opened $k " secs)" 'int(j < 0.2)')" = 1 ] || fail "connection $k to B waited: $(cat "$T/ex.out")"
done
tell ex "open 5 $PA"
queued_one() { [ "$(stat_of "$PID_ex" 'j["queued"]')" = 1 ]; }
wait_for 5 queued_one
sleep 0.3
! has ex "opened 5 " || fail "a second connection to A was admitted past max_conns 1"
assert_eq "$(served B)" "3 3 3" "server B: current, peak, total"
assert_eq "$(served A)" "1 1 1" "server A: current, peak, total"
assert_eq "$(jq_py "$(query "$(sock_of "$PID_ex")" conns)" 'sorted(c["peer"] for c in j if c["state"] != "QUEUED")')" \
  "$($PY -c "print(sorted(['127.0.0.1:$PB'] * 3 + ['127.0.0.1:$PA']))")" "conns lists all four, policed or not"
assert_eq "$(jq_py "$(query "$(sock_of "$PID_ex")" conns)" '[c["peer"] for c in j if c["state"] == "QUEUED"]')" \
  "['127.0.0.1:$PA']" "conns lists the fifth, queued"
tell ex "close 4"
wait_for 5 has ex "opened 5 "
assert_eq "$(stat_of "$PID_ex" '(j["active"]["out"], j["waited"], j["refused"], j["queued"])')" "(4, 1, 0, 0)" \
  "stats of the excluding host"

# inbound NAME: an unshimmed peer connects to host NAME's listener and reports when it reads EOF
# (or nothing within 5 s), in $T/NAME.peer; the host accepts it as connection 2.
inbound() {
  tell "$1" listen
  wait_for 5 has "$1" "listening "
  bg $PY -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("connected", flush=True)
t0 = time.monotonic()
s.settimeout(5)
try:
    end = "eof" if s.recv(100) == b"" else "data"
except OSError as e:
    end = type(e).__name__
print("%s secs=%.3f" % (end, time.monotonic() - t0), flush=True)
' "$(val "$1" "listening " port)" >"$T/$1.peer"
  tell "$1" "accept 2"
  wait_for 5 has "$1" "accepted 2 "
}

# reaped_only NAME DIR: of host NAME's two connections only the DIR one was reaped (idle), and the
# other has been idle over 1 s
reaped_only() {
  local pid c kept=in
  eval "pid=\$PID_$1"
  [ "$2" = in ] && kept=out
  c=$(query "$(sock_of "$pid")" conns)
  assert_eq "$(jq_py "$c" 'sorted((c["dir"], c["reaped"]) for c in j)')" \
    "$(jq_py '[]' "sorted([('$2', 'idle'), ('$kept', None)])")" "$1: conns lists both, only the $2 one reaped"
  [ "$(jq_py "$c" "int([c['idle_ms'] for c in j if c['dir'] == '$kept'][0] >= 1000)")" = 1 ] ||
    fail "$1: the $kept connection was not idle long: $c"
}

# 2. ONLY=in with an idle timeout: the inbound connection is reaped, the outbound one is not.
host only env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_ONLY=in CONNWARDEN_IDLE_TIMEOUT=500ms "$STEP"
tell only "open 1 $PA"
wait_for 5 has only "opened 1 "
inbound only
wait_for 5 grep -q '^eof\|^data\|^timeout' "$T/only.peer"
grep -q '^eof ' "$T/only.peer" || fail "the inbound peer: $(cat "$T/only.peer")"
[ "$(jq_py "$(sed -n 's/.*secs=//p' "$T/only.peer")" 'int(0.3 <= j <= 2.0)')" = 1 ] ||
  fail "the inbound connection was not reaped after about 500 ms: $(cat "$T/only.peer")"
sleep 0.5 # the outbound connection is idle for more than twice the timeout
reaped_only only in
tell only "ping 1"
wait_for 5 has only "pong 1\|noping 1"
has only "pong 1" || fail "the outbound connection no longer works: $(cat "$T/only.out")"
assert_eq "$(stat_of "$PID_only" '(j["reaped"], j["active"]["in"], j["active"]["out"])')" \
  "({'idle': 1, 'lifetime': 0, 'manual': 0, 'evicted': 0}, 1, 1)" "stats of the host with ONLY=in"

# 3. No ONLY, an idle timeout: the outbound connection is reaped, the inbound one is not.
host dflt env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_IDLE_TIMEOUT=500ms "$STEP"
tell dflt "open 1 $PA"
wait_for 5 has dflt "opened 1 "
inbound dflt
reaped_out() { [ "$(stat_of "$PID_dflt" 'j["reaped"]["idle"]')" = 1 ]; }
wait_for 5 reaped_out
sleep 1 # the inbound connection is idle for more than twice the timeout
reaped_only dflt out
! grep -q '^eof' "$T/dflt.peer" || fail "the inbound peer saw its connection end: $(cat "$T/dflt.peer")"
assert_eq "$(jq_py "$(query "$(sock_of "$PID_dflt")" config)" 'j["only"]')" out "config shows the default"
