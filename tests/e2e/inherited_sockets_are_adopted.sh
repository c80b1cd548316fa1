# A connection handed over by exec (FD_CLOEXEC cleared, os.execv) is adopted by the shim in the new
# image: `conns` lists it with "inherited": true and counts its traffic from then on, and the
# exit-time leak check leaves it out while it reports the connection the new image opened itself
# and never closed. Shown from an unshimmed parent (the child alone runs the shim), from a
# shimmed parent, and with no shim at all.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

bg $PY "$HOSTSRC/echo_server.py" "$T/echo.status" >"$T/echo.out"
wait_for 5 grep -q listening "$T/echo.out"
PORT=$(jq_py "$(head -1 "$T/echo.out")" 'j["listening"]')

# start NAME PARENT-PRELOAD CHILD-PRELOAD: exec_parent.py -> inherit_child.py, up to step "running"
start() {
  CTL=$T/$1.ctl && mkdir "$CTL"
  REPORTS=$T/$1.reports
  bg env LD_PRELOAD="$2" CONNWARDEN_LEAK_CHECK=1 CONNWARDEN_LEAK_EXITCODE=23 CONNWARDEN_REPORT="$REPORTS" \
    $PY "$HOSTSRC/exec_parent.py" "$PORT" "$CTL" ${3:+--preload "$3"} >"$T/$1.out" 2>"$T/$1.err"
  PID=$BG_PID # env and both images run in this one process
  wait_for 10 grep -q '"step": "running"' "$T/$1.out"
  STEP=$(grep '"step": "running"' "$T/$1.out")
  assert_eq "$(jq_py "$STEP" 'j["pid"]')" "$PID" "$1: exec keeps the pid"
  assert_eq "$(jq_py "$STEP" 'j["inherited"]["fd"]')" "$(jq_py "$(head -1 "$T/$1.out")" 'j["fd"]')" \
    "$1: the child works on the fd the parent handed over"
}

# finish NAME: release the child and collect its exit status in RC
finish() {
  touch "$CTL/running.go"
  RC=0
  wait "$PID" || RC=$?
}

check_shimmed_child() { # NAME
  local S C inh own rep
  S=$(query "$(sock_of "$PID")" stats)
  assert_eq "$(jq_py "$S" '(j["inherited"], j["active"]["out"], j["opened"]["out"], j["active"]["in"])')" \
    "(1, 2, 2, 0)" "$1: stats: one inherited and one own connection"
  C=$(query "$(sock_of "$PID")" conns)
  inh=$(jq_py "$STEP" '[(c["fd"], c["local"], "127.0.0.1:'"$PORT"'", "out", c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"]) for c in [j["inherited"]]][0]')
  own=$(jq_py "$STEP" '[(c["fd"], c["local"], "127.0.0.1:'"$PORT"'", "out", c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"]) for c in [j["own"]]][0]')
  assert_eq "$(jq_py "$C" '[(c["fd"], c["local"], c["peer"], c["dir"], c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"]) for c in j if c["inherited"]]')" \
    "[$inh]" "$1: the handed-over connection, inherited, with the child's traffic on it"
  assert_eq "$(jq_py "$C" '[(c["fd"], c["local"], c["peer"], c["dir"], c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"]) for c in j if not c["inherited"]]')" \
    "[$own]" "$1: the child's own connection, not inherited"
  finish
  assert_eq "$RC" 23 "$1: exit status with CONNWARDEN_LEAK_EXITCODE=23 and one leak"
  rep=$(cat "$REPORTS/connwarden.$PID.txt") || fail "$1: no leak report in $REPORTS"
  assert_contains "$rep" "==$PID==ERROR: connwarden: 1 leaked connection (1 open at exit" "$1: report header"
  assert_contains "$rep" "Leaked connection fd $(jq_py "$STEP" 'j["own"]["fd"]') out $(jq_py "$STEP" 'j["own"]["local"]') -> 127.0.0.1:$PORT" \
    "$1: the child's own connection is reported"
  assert_not_contains "$rep" "fd $(jq_py "$STEP" 'j["inherited"]["fd"]') " "$1: the inherited connection is not a leak"
  assert_contains "$rep" "SUMMARY: connwarden: 1 leaked connection in" "$1: summary"
  [ ! -e "$(sock_of "$PID")" ] || fail "$1: stats socket left behind at exit"
  [ ! -s "$T/$1.err" ] || fail "$1: stderr: $(cat "$T/$1.err")"
}

# 1. an unshimmed parent execs a shimmed child
start unshimmed-parent "" "$CW_PRELOAD"
check_shimmed_child unshimmed-parent

# 2. a shimmed parent (its own stats socket under the same pid) execs a shimmed child
start shimmed-parent "$CW_PRELOAD" ""
check_shimmed_child shimmed-parent

# 3. no shim anywhere: the same hand-over works, nothing is reported
start no-shim "" ""
[ ! -e "$(sock_of "$PID")" ] || fail "no-shim: a stats socket appeared"
finish
assert_eq "$RC" 0 "no-shim: exit status"
[ ! -e "$REPORTS" ] || fail "no-shim: a leak report appeared"
