# A pytest suite in which one test keeps its connection in a module-level list: the suite passes,
# and at exit the interpreter's teardown closes the connection, so on its own nothing shows the
# leak. `connwarden run --check-leaks -- python3 -m pytest ...` (which records Python stacks by
# itself) exits 23 and names the test: the leak's stack marks the leaking test's file and line, in
# that test's function, as the program's code. The connections the other tests close are not
# reported; the same facts are in the JSON summary.
# Hosts: tests/hosts/pytest_leaky/ (the suite), leaks_server.py (its service, outside the tree).
. "$(dirname "$0")/lib.bash"
$PY -c 'import pytest' 2>/dev/null || fail "python3-pytest is missing (scripts/deps installs it)"
SUITE=$HOSTSRC/pytest_leaky
line=$(grep -n '# leaks: kept in SESSIONS' "$SUITE/test_leaky.py" | cut -d: -f1)
[ -n "$line" ] || fail "test_leaky.py marks no leaking line"

bg "$PY" "$HOSTSRC/leaks_server.py" "$T/ports" api --max-secs 40
wait_for 10 test -s "$T/ports"
PORT=$(sed -n 's/^api=//p' "$T/ports")
export PYTEST_LEAKY_PORT=$PORT
export PYTHONDONTWRITEBYTECODE=1 # nothing written into the source tree (nor -p no:cacheprovider)
PYTEST=("$PY" -m pytest -q -p no:cacheprovider "$SUITE")

# 0. On its own the suite passes: the leak is invisible to it.
RC=0
"${PYTEST[@]}" >"$T/plain" 2>&1 || RC=$?
assert_eq "$RC" 0 "the suite on its own ($(cat "$T/plain"))"
assert_contains "$(cat "$T/plain")" "4 passed" "the suite ran"

# 1. Under the check: status 23, one leak, opened by test_report at that line.
RC=0
"${CW_ENV[@]}" "$CW" run --check-leaks -- "${PYTEST[@]}" >"$T/out" 2>"$T/err" || RC=$?
ERR=$(cat "$T/err")
assert_eq "$RC" 23 "status of the suite with the kept connection ($ERR)"
assert_contains "$(cat "$T/out")" "4 passed" "the suite itself passed"
assert_contains "$ERR" "ERROR: connwarden: 1 leaked connection (1 open at exit, 0 close-wait)" "header"
assert_eq "$(grep -c '^Leaked connection' <<<"$ERR")" 1 "only the kept connection is a leak"
grep -qE "^Leaked connection fd [0-9]+ out 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$PORT ESTABLISHED, .*closed only by the interpreter's teardown at exit, opened at:$" <<<"$ERR" ||
  fail "no leak line for the connection to :$PORT, closed by the teardown: $ERR"
grep -qE "^ +#[0-9]+ $SUITE/test_leaky\.py:$line in test_report   <- the program's code$" <<<"$ERR" ||
  fail "the report does not mark test_leaky.py:$line in test_report as the program's code: $ERR"
assert_eq "$(tail -n1 <<<"$ERR")" "SUMMARY: connwarden: 1 leaked connection in 1 of 1 process" "total line"

# 2. The same in the JSON summary (on stdout after the suite's own lines).
RC=0
"${CW_ENV[@]}" "$CW" run --check-leaks --report-format json -- "${PYTEST[@]}" >"$T/out" 2>"$T/err" || RC=$?
assert_eq "$RC" 23 "status with --report-format json"
sed -n '/^{/,$p' "$T/out" >"$T/summary.json"
$PY - "$T/summary.json" "$SUITE/test_leaky.py" "$line" "$PORT" <<'PYEOF' || fail "JSON summary: $(cat "$T/out")"
import json, sys
doc = json.load(open(sys.argv[1]))
path, line, port = sys.argv[2], int(sys.argv[3]), sys.argv[4]
assert doc["leaks"] == 1 and doc["exit_status"] == 23 and doc["command_status"] == 0, doc
(rep,) = doc["reports"]
(leak,) = rep["leaks"]
assert leak["peer"] == f"127.0.0.1:{port}" and leak["teardown"] is True, leak
own = [f for f in leak["frames"] if f.get("own")]
assert own and (own[0]["file"], own[0]["line"], own[0]["func"]) == (path, line, "test_report"), own
PYEOF
