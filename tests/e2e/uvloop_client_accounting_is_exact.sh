# 200 short asyncio connections are counted exactly under uvloop (libuv: syscall(SYS_close)) and
# under the plain asyncio loop: opened = closed = 200, nothing active, no missed close, bytes equal
# to the client's and the (unshimmed) echo server's own counts. Each loop also runs without the
# shim, to show the same work with nothing changed.
. "$(dirname "$0")/lib.bash"
$PY -c 'import uvloop' 2>/dev/null || fail "python3-uvloop is not installed"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

N=200

# run NAME LOOP PRELOAD: a fresh echo server and one client run; sets CLIENT, SERVER, CLIENT_PID
run() {
  bg $PY "$HOSTSRC/echo_server.py" "$T/$1.status" --times 2 >"$T/$1.server"
  wait_for 5 grep -q listening "$T/$1.server"
  PORT=$(jq_py "$(head -1 "$T/$1.server")" 'j["listening"]')
  bg env LD_PRELOAD="$3" $PY "$HOSTSRC/uvloop_client.py" "$PORT" $N "$T/$1.release" --loop "$2" --times 2 \
    >"$T/$1.client" 2>"$T/$1.err"
  wait_for 20 grep -qx done "$T/$1.client"
  CLIENT=$(head -1 "$T/$1.client")
  CLIENT_PID=$(jq_py "$CLIENT" 'j["pid"]')
  CW_PIDS+=("$CLIENT_PID")
  wait_for 5 $PY -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s["closed"] != s["accepted"])' "$T/$1.status"
  SERVER=$(cat "$T/$1.status")
  assert_eq "$(jq_py "$CLIENT" 'j["conns"]')" $N "$1: connections the client completed"
  assert_eq "$(jq_py "$SERVER" 'j["accepted"]')" $N "$1: connections the server accepted"
  assert_eq "$(jq_py "$CLIENT" 'j["bytes_out"]')" "$(jq_py "$SERVER" 'j["bytes_in"]')" "$1: client wrote what the server read"
  assert_eq "$(jq_py "$CLIENT" 'j["bytes_in"]')" "$(jq_py "$SERVER" 'j["bytes_out"]')" "$1: client read what the server wrote"
}

check_shimmed() { # NAME LOOP-CLASS-PREFIX
  assert_contains "$(jq_py "$CLIENT" 'j["loop"]')" "$2" "$1: event loop in use"
  local S
  S=$(query "$(sock_of "$CLIENT_PID")" stats)
  assert_eq "$(jq_py "$S" 'j["opened"]["out"]')" $N "$1: opened.out"
  assert_eq "$(jq_py "$S" 'j["closed"]["out"]')" $N "$1: closed.out"
  assert_eq "$(jq_py "$S" 'j["active"]["total"]')" 0 "$1: active after every close"
  assert_eq "$(jq_py "$S" 'j["opened"]["in"]')" 0 "$1: opened.in"
  assert_eq "$(jq_py "$S" 'j["missed_closes"]')" 0 "$1: missed closes"
  assert_eq "$(jq_py "$S" 'j["untracked"]')" 0 "$1: untracked"
  [ "$(jq_py "$S" 'j["peak"]["out"]')" -le 8 ] || fail "$1: peak.out above the client's 8 at once: $S"
  assert_eq "$(jq_py "$S" 'j["bytes"]["out"]')" "$(jq_py "$CLIENT" 'j["bytes_out"]')" "$1: bytes.out"
  assert_eq "$(jq_py "$S" 'j["bytes"]["in"]')" "$(jq_py "$CLIENT" 'j["bytes_in"]')" "$1: bytes.in"
  assert_eq "$(jq_py "$S" '[(d["opened"], d["active"]) for d in j["destinations"] if d["peer"] == "127.0.0.1:'"$PORT"'"]')" \
    "[($N, 0)]" "$1: destination entry"
  assert_eq "$(query "$(sock_of "$CLIENT_PID")" conns)" "[]" "$1: no live connection listed"
}

run uvloop-plain uvloop ""
assert_contains "$(jq_py "$CLIENT" 'j["loop"]')" "uvloop" "uvloop without the shim"
[ ! -e "$(sock_of "$CLIENT_PID")" ] || fail "an unshimmed client has a stats socket"
touch "$T/uvloop-plain.release"

run uvloop-shim uvloop "$CW_PRELOAD"
check_shimmed "uvloop" "uvloop"
touch "$T/uvloop-shim.release"

run asyncio-plain asyncio ""
touch "$T/asyncio-plain.release"

run asyncio-shim asyncio "$CW_PRELOAD"
check_shimmed "asyncio" "asyncio."
touch "$T/asyncio-shim.release"

# both shimmed clients exit cleanly when released and take their stats sockets with them
wait_for 5 test ! -e "$(sock_of "$CLIENT_PID")"
for f in uvloop-shim asyncio-shim; do
  [ ! -s "$T/$f.err" ] || fail "$f wrote to stderr: $(cat "$T/$f.err")"
done
