# A CPython client's `stats` and `conns` match what it did, to the byte and the call: 5
# connections sending 100..500 bytes and reading twice that back; its Unix socketpair, pipe, file
# and UDP socket never appear; a connection os.dup'd survives the close of its first fd and ends
# at the last. The echo server, shimmed too, shows the same connections as direction "in".
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

# conn_rows JSON: the comparable fields of a `conns` reply, sorted
conn_rows() { jq_py "$1" 'sorted((c["fd"], c["dir"], c["local"], c["peer"], c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"], c["inherited"]) for c in j)'; }
# want_rows STEPJSON KEY: the same rows as the client saw them (all direction out, none inherited)
want_rows() { jq_py "$1" 'sorted((c["fd"], "out", c["local"], c["peer"], c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"], False) for c in j["'"$2"'"])'; }
step_line() { grep "\"step\": \"$2\"" "$1"; }
at_step() { grep -q "\"step\": \"$2\"" "$1"; }
server_stat() { stat_of "$SERVER_PID" "$1"; }

# --- the client without the shim: the same exchange, counted by itself ------------------------
bg $PY "$HOSTSRC/echo_server.py" "$T/plain.status" --times 2 >"$T/plain.server"
wait_for 5 grep -q listening "$T/plain.server"
PORT=$(jq_py "$(head -1 "$T/plain.server")" 'j["listening"]')
mkdir "$T/plainctl" && touch "$T/plainctl/"{opened,first_closed,last_closed}.go
$PY "$HOSTSRC/py_conns_client.py" "$PORT" "$T/plainctl" >"$T/plain.client" || fail "client without the shim failed"
PLAIN=$(step_line "$T/plain.client" opened)
[ ! -e "$(sock_of "$(jq_py "$PLAIN" 'j["pid"]')")" ] || fail "an unshimmed client has a stats socket"

# --- both under the shim ---------------------------------------------------------------------
bg env LD_PRELOAD="$CW_PRELOAD" $PY "$HOSTSRC/echo_server.py" "$T/shim.status" --times 2 >"$T/shim.server"
wait_for 5 grep -q listening "$T/shim.server"
PORT=$(jq_py "$(head -1 "$T/shim.server")" 'j["listening"]')
SERVER_PID=$(jq_py "$(head -1 "$T/shim.server")" 'j["pid"]')
CW_PIDS+=("$SERVER_PID")
CTL=$T/ctl && mkdir "$CTL"
bg env LD_PRELOAD="$CW_PRELOAD" $PY "$HOSTSRC/py_conns_client.py" "$PORT" "$CTL" >"$T/client" 2>"$T/client.err"
wait_for 10 at_step "$T/client" opened
STEP=$(step_line "$T/client" opened)
PID=$(jq_py "$STEP" 'j["pid"]')
CW_PIDS+=("$PID")
SOCK=$(sock_of "$PID")

# the same bytes and calls as without the shim: the shim changed nothing the client can see
assert_eq "$(jq_py "$STEP" '[(c["bytes_out"], c["bytes_in"]) for c in j["conns"]]')" \
  "$(jq_py "$PLAIN" '[(c["bytes_out"], c["bytes_in"]) for c in j["conns"]]')" "client's own counts, shim vs none"

# stats: 5 out, exact bytes, one destination
S=$(query "$SOCK" stats)
out_sum=$(jq_py "$STEP" 'sum(c["bytes_out"] for c in j["conns"])')
in_sum=$(jq_py "$STEP" 'sum(c["bytes_in"] for c in j["conns"])')
assert_eq "$out_sum" 1500 "client sent 100+200+300+400+500"
assert_eq "$in_sum" 3000 "echo server replied twice that"
assert_eq "$(jq_py "$S" '(j["active"]["in"], j["active"]["out"], j["active"]["total"])')" "(0, 5, 5)" "active"
assert_eq "$(jq_py "$S" '(j["opened"]["in"], j["opened"]["out"], j["closed"]["in"], j["closed"]["out"])')" "(0, 5, 0, 0)" "opened/closed"
assert_eq "$(jq_py "$S" '(j["bytes"]["in"], j["bytes"]["out"])')" "($in_sum, $out_sum)" "bytes in/out"
assert_eq "$(jq_py "$S" '[(d["peer"], d["active"], d["opened"], d["refused"], d["reaped"]) for d in j["destinations"]]')" \
  "[('127.0.0.1:$PORT', 5, 5, 0, 0)]" "destinations"

# conns: exactly the client's 5, field by field; none of its other fds
C=$(query "$SOCK" conns)
assert_eq "$(conn_rows "$C")" "$(want_rows "$STEP" conns)" "conns vs the client's own view"
assert_eq "$(jq_py "$C" 'sorted(set(c["state"] for c in j))')" "['ESTABLISHED']" "tcp state"
assert_eq "$(jq_py "$C" '[c["fd"] for c in j if c["fd"] in '"$(jq_py "$STEP" 'j["others"]')"']')" "[]" \
  "socketpair, pipe, file and UDP fds are not connections"

# the server's side of the same 5: direction in, peers = the client's local addresses
SC=$(query "$(sock_of "$SERVER_PID")" conns)
assert_eq "$(jq_py "$SC" 'sorted((c["dir"], c["local"], c["peer"], c["bytes_in"], c["bytes_out"]) for c in j)')" \
  "$(jq_py "$STEP" 'sorted(("in", c["peer"], c["local"], c["bytes_out"], c["bytes_in"]) for c in j["conns"])')" \
  "server conns mirror the client's"
assert_eq "$(server_stat '(j["active"]["in"], j["active"]["out"], j["opened"]["in"], j["opened"]["out"])')" \
  "(5, 0, 5, 0)" "server active/opened by direction"
assert_eq "$(server_stat '(j["bytes"]["in"], j["bytes"]["out"], j["destinations"])')" \
  "($out_sum, $in_sum, [])" "server bytes (inbound has no destinations)"

# dup: closing the first of two fds keeps the connection, now named by the duplicate
touch "$CTL/opened.go"
wait_for 10 at_step "$T/client" first_closed
STEP2=$(step_line "$T/client" first_closed)
S=$(query "$SOCK" stats)
assert_eq "$(jq_py "$S" '(j["active"]["out"], j["opened"]["out"], j["closed"]["out"], j["missed_closes"])')" \
  "(5, 5, 0, 0)" "after closing one of two fds"
assert_eq "$(jq_py "$S" '(j["bytes"]["in"], j["bytes"]["out"])')" "($((in_sum + 100)), $((out_sum + 50)))" \
  "bytes through the duplicate count on the connection"
C=$(query "$SOCK" conns)
dupfd=$(jq_py "$STEP2" 'j["conn"]["fd"]')
assert_eq "$(jq_py "$C" '[(c["fd"], c["local"], c["peer"], c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"]) for c in j if c["local"] == "'"$(jq_py "$STEP2" 'j["conn"]["local"]')"'"]')" \
  "$(jq_py "$STEP2" '[(c["fd"], c["local"], c["peer"], c["bytes_in"], c["bytes_out"], c["calls_in"], c["calls_out"]) for c in [j["conn"]]]')" \
  "the connection listed once, under the duplicate fd $dupfd, with all its traffic"
assert_eq "$(jq_py "$C" 'len(j)')" 5 "still 5 connections"

# the last fd closed: the connection ends, once
touch "$CTL/first_closed.go"
wait_for 10 at_step "$T/client" last_closed
S=$(query "$SOCK" stats)
assert_eq "$(jq_py "$S" '(j["active"]["out"], j["opened"]["out"], j["closed"]["out"], j["missed_closes"])')" \
  "(4, 5, 1, 0)" "after closing the last fd"
assert_eq "$(jq_py "$S" '(j["bytes"]["in"], j["bytes"]["out"])')" "($((in_sum + 100)), $((out_sum + 50)))" \
  "bytes of an ended connection stay counted"
assert_eq "$(jq_py "$S" '[(d["active"], d["opened"]) for d in j["destinations"]]')" "[(4, 5)]" "destination after one close"
C=$(query "$SOCK" conns)
assert_eq "$(jq_py "$C" 'len(j)')" 4 "4 connections left"
assert_eq "$(jq_py "$C" '[c for c in j if c["fd"] == '"$dupfd"']')" "[]" "the ended connection is gone"
wait_for 5 test "$(server_stat '(j["active"]["in"], j["closed"]["in"])')" = "(4, 1)"

touch "$CTL/last_closed.go"
wait_for 5 test ! -e "$SOCK"
[ ! -s "$T/client.err" ] || fail "client wrote to stderr: $(cat "$T/client.err")"
