# A Node.js keep-alive client pool (libuv closes with syscall(SYS_close)) is counted exactly: every
# socket it opened is opened and closed once, nothing stays active after agent.destroy(), and the
# byte counts equal what the client and the (unshimmed) server counted themselves. The same run
# without the shim behaves the same way.
. "$(dirname "$0")/lib.bash"
command -v node >/dev/null || fail "node is not installed"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

REQUESTS=200

# start_server NAME: an unshimmed HTTP keep-alive server; its port goes to $PORT
start_server() {
  bg $PY "$HOSTSRC/http_keepalive_server.py" "$T/$1.status" --close-every 7 >"$T/$1.out"
  wait_for 5 grep -q listening "$T/$1.out"
  PORT=$(jq_py "$(head -1 "$T/$1.out")" 'j["listening"]')
}

# run_client NAME PRELOAD: the Node client against the server NAME; its report goes to $CLIENT
run_client() {
  start_server "$1"
  bg env LD_PRELOAD="$2" node "$HOSTSRC/node_keepalive_client.js" "$PORT" $REQUESTS "$T/$1.release" \
    >"$T/$1.client" 2>"$T/$1.client.err"
  wait_for 20 grep -qx done "$T/$1.client"
  CLIENT=$(head -1 "$T/$1.client")
  CLIENT_PID=$(jq_py "$CLIENT" 'j["pid"]')
  CW_PIDS+=("$CLIENT_PID")
  # the server has seen every connection end once its closed count reaches its accepted count
  wait_for 5 $PY -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s["closed"] != s["accepted"])' "$T/$1.status"
  SERVER=$(cat "$T/$1.status")
}

# the client's own view must agree with the server's, with or without the shim
check_client_vs_server() { # LABEL
  local sockets
  sockets=$(jq_py "$CLIENT" 'j["sockets"]')
  assert_eq "$(jq_py "$CLIENT" 'j["closed"]')" "$sockets" "$1: client saw every socket close"
  assert_eq "$(jq_py "$SERVER" 'j["accepted"]')" "$sockets" "$1: server accepted one connection per client socket"
  assert_eq "$(jq_py "$SERVER" 'j["requests"]')" $REQUESTS "$1: server answered every request"
  assert_eq "$(jq_py "$CLIENT" 'j["bytes_out"]')" "$(jq_py "$SERVER" 'j["bytes_in"]')" "$1: client wrote what the server read"
  assert_eq "$(jq_py "$CLIENT" 'j["bytes_in"]')" "$(jq_py "$SERVER" 'j["bytes_out"]')" "$1: client read what the server wrote"
  # with a close every 7 responses the pool must have needed more than its 4 sockets
  [ "$sockets" -gt 4 ] || fail "$1: only $sockets sockets: the server's closes did not force new ones"
}

# --- without the shim: the baseline ----------------------------------------------------------
run_client plain ""
check_client_vs_server "without shim"
[ ! -e "$CONNWARDEN_RUNDIR/$CLIENT_PID.sock" ] || fail "an unshimmed client has a stats socket"
plain_sockets=$(jq_py "$CLIENT" 'j["sockets"]')
touch "$T/plain.release"

# --- under the shim --------------------------------------------------------------------------
run_client shim "$CW_PRELOAD"
check_client_vs_server "under the shim"
sockets=$(jq_py "$CLIENT" 'j["sockets"]')
note "sockets: $plain_sockets without the shim, $sockets with it"
S=$(query "$(sock_of "$CLIENT_PID")" stats)
assert_eq "$(jq_py "$S" 'j["opened"]["out"]')" "$sockets" "opened.out = sockets the client opened"
assert_eq "$(jq_py "$S" 'j["closed"]["out"]')" "$sockets" "closed.out = sockets the client opened"
assert_eq "$(jq_py "$S" 'j["active"]["out"]')" 0 "active.out after agent.destroy()"
assert_eq "$(jq_py "$S" 'j["active"]["total"]')" 0 "active.total after agent.destroy()"
assert_eq "$(jq_py "$S" 'j["opened"]["in"]')" 0 "a client accepts nothing"
assert_eq "$(jq_py "$S" 'j["missed_closes"]')" 0 "every close seen (syscall(SYS_close) included)"
assert_eq "$(jq_py "$S" 'j["bytes"]["out"]')" "$(jq_py "$CLIENT" 'j["bytes_out"]')" "bytes.out = node's bytesWritten"
assert_eq "$(jq_py "$S" 'j["bytes"]["in"]')" "$(jq_py "$CLIENT" 'j["bytes_in"]')" "bytes.in = node's bytesRead"
assert_eq "$(jq_py "$S" 'j["bytes"]["out"]')" "$(jq_py "$SERVER" 'j["bytes_in"]')" "bytes.out = what the server read"
assert_eq "$(jq_py "$S" 'j["bytes"]["in"]')" "$(jq_py "$SERVER" 'j["bytes_out"]')" "bytes.in = what the server wrote"
assert_eq "$(jq_py "$S" '[(d["opened"], d["active"]) for d in j["destinations"] if d["peer"] == "127.0.0.1:'"$PORT"'"]')" \
  "[($sockets, 0)]" "the server's destination entry"
assert_eq "$(query "$(sock_of "$CLIENT_PID")" conns)" "[]" "no live connection listed"

# the client exits cleanly when released, and its stats socket goes with it
touch "$T/shim.release"
wait_for 5 test ! -e "$(sock_of "$CLIENT_PID")"
[ ! -s "$T/shim.client.err" ] || fail "node wrote to stderr under the shim: $(cat "$T/shim.client.err")"
