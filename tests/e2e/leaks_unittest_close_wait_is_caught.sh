# A Python unittest suite in which one test forgets to close an HTTP response on a shared
# keep-alive connection; the server then closes its idle side. The client holds the connection in
# CLOSE_WAIT until interpreter shutdown closes it, so it is not open at exit: the check catches it
# as a close-wait leak (held past the grace period), points at that very connection (its local
# port, the server's port) and fails the run, while the suite itself passes. With a grace period
# longer than the suite, it is caught as held until exit: the interpreter's teardown closed it.
# Host: tests/hosts/leaks_unittest.py.
. "$(dirname "$0")/lib.bash"
SUITE=$HOSTSRC/leaks_unittest.py

# run_suite ARGS...: connwarden run --check-leaks ARGS -- the suite; RC, ERR, LOCAL, SERVER
run_suite() {
  RC=0
  rm -f "$T/info"
  "${CW_ENV[@]}" "$CW" run --check-leaks "$@" -- "$PY" "$SUITE" "$T/info" >"$T/stdout" 2>"$T/err" || RC=$?
  ERR=$(cat "$T/err")
  LOCAL=$(sed -n 's/.*leaked_local=\([0-9]*\).*/\1/p' "$T/info") SERVER=$(sed -n 's/.*server=\([0-9]*\).*/\1/p' "$T/info")
  [ -n "$LOCAL" ] && [ -n "$SERVER" ] || fail "the suite wrote no ports (status $RC): $ERR"
}

# 0. On its own the suite passes: the bug is invisible to it.
rc=0; "$PY" "$SUITE" "$T/info" 2>"$T/plain" || rc=$?
assert_eq "$rc" 0 "the suite on its own"
assert_contains "$(cat "$T/plain")" "Ran 3 tests" "the suite ran"

# 1. Under the check with a 200ms grace: one close-wait leak, that connection, status 23.
run_suite --reap-grace 200ms
assert_eq "$RC" 23 "status of the suite with the forgotten response"
assert_contains "$ERR" "Ran 3 tests" "the suite ran"
grep -qx "OK" <<<"$ERR" || fail "the suite itself passed: $ERR"
assert_contains "$ERR" "ERROR: connwarden: 1 leaked connection (0 open at exit, 1 close-wait)" "header: a close-wait leak"
grep -qE "^Leaked connection fd [0-9]+ out 127\.0\.0\.1:$LOCAL -> 127\.0\.0\.1:$SERVER CLOSE_WAIT, age [^,]+, idle [^,]+, in [^,]+, out [^,]+, close-wait: held [^,]+ after the peer closed, closed before exit, opened at:$" <<<"$ERR" ||
  fail "no close-wait leak line for 127.0.0.1:$LOCAL -> :$SERVER: $ERR"
assert_eq "$(grep -c '^Leaked connection' <<<"$ERR")" 1 "only that connection is a leak (the server's own sides closed)"
grep -qE "close-wait leak: fd [0-9]+ out 127\.0\.0\.1:$SERVER, .*, opened at $SUITE:[0-9]+ in [a-z_]+\$" <<<"$ERR" ||
  fail "the close-wait event line names the suite's own frame: $ERR"
assert_eq "$(tail -n1 <<<"$ERR")" "SUMMARY: connwarden: 1 leaked connection in 1 of 1 process" "total line"

# 2. The same facts in JSON.
run_suite --reap-grace 200ms --report-format json
assert_eq "$RC" 23 "status with --report-format json"
$PY - "$T/stdout" "$LOCAL" "$SERVER" <<'PYEOF' || fail "JSON summary: $(cat "$T/stdout")"
import json, sys
doc = json.load(open(sys.argv[1]))
local, server = sys.argv[2:]
(rep,) = doc["reports"]
(leak,) = rep["leaks"]
assert doc["leaks"] == 1 and doc["exit_status"] == 23 and rep["program"] == "python3", doc
assert leak["kind"] == "close-wait" and leak["open_at_exit"] is False, leak
assert leak["local"] == f"127.0.0.1:{local}" and leak["peer"] == f"127.0.0.1:{server}", leak
assert leak["state"] == "CLOSE_WAIT" and leak["held_ms"] >= 200 and leak["dir"] == "out", leak
assert leak["frames"] and leak["bytes_in"] > 0 and leak["bytes_out"] > 0, leak
PYEOF

# 3. A grace period longer than the suite: no close-wait record while it ran, but the connection
# was still open when the interpreter began to shut down, whose teardown closed it: the check
# looks before that, so it is a leak held until exit.
run_suite --reap-grace 30s
assert_eq "$RC" 23 "status when the suite ends within the grace period"
grep -qE "^Leaked connection fd [0-9]+ out 127\.0\.0\.1:$LOCAL -> 127\.0\.0\.1:$SERVER [A-Z_]+, .*closed only by the interpreter's teardown at exit, opened at:$" <<<"$ERR" ||
  fail "no teardown leak line for 127.0.0.1:$LOCAL -> :$SERVER: $ERR"
assert_eq "$(grep -c '^Leaked connection' <<<"$ERR")" 1 "only that connection is a leak"
