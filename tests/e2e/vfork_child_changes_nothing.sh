# A shimmed CPython parent holding 3 connections (one busy in a thread) runs 50 vfork'd
# subprocesses (close_range, execve in the child) and 10 posix_spawns: the children change
# nothing in the parent. Its stats stay exact (3 active, none closed or missed, bytes and calls
# to the unit), its stats socket still answers, and every connection still echoes. The same
# parent also runs without the shim.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

bg $PY "$HOSTSRC/echo_server.py" "$T/echo.status" >"$T/echo.out"
wait_for 5 grep -q listening "$T/echo.out"
PORT=$(jq_py "$(head -1 "$T/echo.out")" 'j["listening"]')

# without the shim: the same children, the same exchanges
mkdir "$T/plainctl" && touch "$T/plainctl/done.go"
$PY "$HOSTSRC/vfork_parent.py" "$PORT" "$T/plainctl" >"$T/plain.out" || fail "parent without the shim failed"

CTL=$T/ctl && mkdir "$CTL"
bg env LD_PRELOAD="$CW_PRELOAD" $PY "$HOSTSRC/vfork_parent.py" "$PORT" "$CTL" >"$T/parent.out" 2>"$T/parent.err"
wait_for 20 grep -q '"step": "done"' "$T/parent.out"
STEP=$(grep '"step": "done"' "$T/parent.out")
PID=$(jq_py "$STEP" 'j["pid"]')
CW_PIDS+=("$PID")
note "data rounds on the busy connection during the spawns: $(jq_py "$STEP" 'j["rounds"]')"
[ "$(jq_py "$STEP" 'j["rounds"]')" -gt 0 ] || fail "the busy thread moved no data during the spawns"

[ -S "$(sock_of "$PID")" ] || fail "the parent's stats socket is gone after its vfork children exec'd"
S=$(query "$(sock_of "$PID")" stats)
assert_eq "$(jq_py "$S" '(j["active"]["out"], j["active"]["in"], j["opened"]["out"], j["closed"]["out"])')" \
  "(3, 0, 3, 0)" "active/opened/closed after the spawns"
assert_eq "$(jq_py "$S" '(j["missed_closes"], j["untracked"], j["inherited"])')" "(0, 0, 0)" "missed/untracked/inherited"
assert_eq "$(jq_py "$S" '(j["bytes"]["in"], j["bytes"]["out"])')" \
  "$(jq_py "$STEP" '(sum(c["bytes_in"] for c in j["conns"]), sum(c["bytes_out"] for c in j["conns"]))')" "bytes"
C=$(query "$(sock_of "$PID")" conns)
assert_eq "$(jq_py "$C" 'sorted((c["fd"], c["local"], c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"], c["state"]) for c in j)')" \
  "$(jq_py "$STEP" 'sorted((c["fd"], c["local"], c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"], "ESTABLISHED") for c in j["conns"])')" \
  "conns, per connection, after the spawns (each also echoed once more at the end)"

touch "$CTL/done.go"
wait_for 5 test ! -e "$(sock_of "$PID")"
[ ! -s "$T/parent.err" ] || fail "parent wrote to stderr: $(cat "$T/parent.err")"
