# Suppressions and the JSON summary of connwarden run --check-leaks. A suppression file (peer:,
# func:, module: rules, # comments) silences a known leak: it is listed as suppressed, counted in
# "Suppressions used:", and no longer fails the run; a bad file stops the run before the command
# starts, naming the line. --report-format json prints one JSON document on stdout with the same
# facts as the text (processes, peers, kinds, the leaking function, counts, the status), and
# --report-dir keeps each process's report plus the summary, ignoring reports of earlier runs.
# Hosts: leaks_server.py, leaks_client.py, leaks_worker.c (the tree of leaks_run_check_...).
. "$(dirname "$0")/lib.bash"
WORKER=$HOSTS/leaks_worker
[ -x "$WORKER" ] || fail "build it first: make build/hosts/leaks_worker"

bg "$PY" "$HOSTSRC/leaks_server.py" "$T/ports" metrics cache --max-secs 60
wait_for 10 test -s "$T/ports"
metrics=$(sed -n 's/^metrics=//p' "$T/ports") cache=$(sed -n 's/^cache=//p' "$T/ports")
TREE="$PY $HOSTSRC/leaks_client.py leak $metrics >>$T/out; $WORKER leak $cache >>$T/out; $WORKER close $cache >>$T/out"

run_tree() { # ARGS...: connwarden run --check-leaks ARGS -- sh -c TREE
  RC=0
  : >"$T/out"
  "${CW_ENV[@]}" "$CW" run --check-leaks "$@" -- sh -c "$TREE" >"$T/stdout" 2>"$T/err" || RC=$?
  ERR=$(cat "$T/err") OUT=$(cat "$T/out")
  py=$(sed -n '1s/^pid=\([0-9]*\).*/\1/p' "$T/out") c=$(sed -n '2s/^pid=\([0-9]*\).*/\1/p' "$T/out")
}

# 1. One rule per known leak; the other still fails the run.
printf '# the metrics pusher is known to outlive main\npeer::%s\n' "$metrics" >"$T/supp.metrics"
run_tree --suppressions "$T/supp.metrics"
assert_eq "$RC" 23 "status with one of two leaks suppressed"
assert_not_contains "$ERR" "==$py==ERROR" "the suppressed Python leak has no error block"
assert_contains "$ERR" "==$c==ERROR: connwarden: 1 leaked connection" "the C leak is still an error"
grep -qE "^Suppressed connection fd [0-9]+ out 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$metrics ESTABLISHED, .*, in python3 \(pid $py\), by peer::$metrics$" <<<"$ERR" ||
  fail "the suppressed leak is not listed as suppressed: $ERR"
assert_contains "$ERR" "Suppressions used:" "suppressions block"
grep -qE "^ +1 peer::$metrics$" <<<"$ERR" || fail "the rule's count: $ERR"
[[ $(tail -n1 <<<"$ERR") =~ ^SUMMARY:\ connwarden:\ 1\ leaked\ connection\ in\ 1\ of\ [0-9]+\ processes\ \(1\ suppressed\)$ ]] ||
  fail "total line with a suppression: $(tail -n1 <<<"$ERR")"

# 2. Both known (the C one by its function, then by its module): the run passes.
printf 'peer::%s\n\n# the worker caches its connection on purpose\nfunc:open_cache_*\n' "$metrics" >"$T/supp.both"
run_tree --suppressions "$T/supp.both"
assert_eq "$RC" 0 "status with every leak suppressed"
assert_not_contains "$ERR" "ERROR" "no error block when all are suppressed"
grep -qE "^ +1 func:open_cache_\*$" <<<"$ERR" || fail "the func rule's count: $ERR"
[[ $(tail -n1 <<<"$ERR") =~ ^SUMMARY:\ connwarden:\ 0\ leaked\ connections\ in\ [0-9]+\ processes\ \(2\ suppressed\)$ ]] ||
  fail "total line with everything suppressed: $(tail -n1 <<<"$ERR")"
printf 'peer:127.0.0.1:%s\nmodule:leaks_worker\n' "$metrics" >"$T/supp.module"
run_tree --suppressions "$T/supp.module"
assert_eq "$RC" 0 "status with a host:port and a module rule"
# a rule for another port silences nothing
printf 'peer::1\nfunc:main_loop\nmodule:libnothing.so\n' >"$T/supp.none"
run_tree --suppressions "$T/supp.none"
assert_eq "$RC" 23 "rules that match nothing"
assert_not_contains "$ERR" "Suppressed connection" "nothing suppressed"

# 3. A bad file: status 2, the line named, the command never runs.
printf 'peer::%s\nleak:malloc\n' "$metrics" >"$T/supp.bad"
run_tree --suppressions "$T/supp.bad"
assert_eq "$RC" 2 "a bad suppression file"
assert_contains "$ERR" "$T/supp.bad: line 2: unknown kind" "the bad line is named"
assert_eq "$OUT" "" "the command did not run"
run_tree --suppressions "$T/missing"
assert_eq "$RC" 2 "a missing suppression file"

# 4. JSON on stdout: the same facts.
run_tree --report-format json --suppressions "$T/supp.metrics"
assert_eq "$RC" 23 "status with --report-format json"
assert_not_contains "$ERR" "SUMMARY" "no text summary beside the JSON"
$PY - "$T/stdout" "$py" "$c" "$metrics" "$cache" <<'PYEOF' || fail "JSON summary: $(cat "$T/stdout")"
import json, sys
doc = json.load(open(sys.argv[1]))
py, c, metrics, cache = (int(a) for a in sys.argv[2:])
def want(cond, what):
    if not cond:
        sys.exit(f"{what}: {json.dumps(doc)[:3000]}")
want(doc["exit_status"] == 23 and doc["command_status"] == 0, "statuses")
want(doc["leaks"] == 1 and doc["suppressed"] == 1 and doc["processes_with_leaks"] == 1, "counts")
want(doc["processes"] >= 3, "processes counted")
want(doc["command"][:2] == ["sh", "-c"], "command")
reps = {r["pid"]: r for r in doc["reports"]}
want(set(reps) == {py, c}, "reports of the two leaking processes only")
want(reps[py]["program"] == "python3" and reps[c]["program"] == "leaks_worker", "program names")
want(reps[c]["cmdline"][1:] == ["leak", str(cache)] and reps[c]["exit_status"] == 0, "command line and status")
(pl,), (cl,) = reps[py]["leaks"], reps[c]["leaks"]
want(pl["peer"] == f"127.0.0.1:{metrics}" and pl["suppressed_by"] == f"peer::{metrics}", "Python leak")
want(cl["peer"] == f"127.0.0.1:{cache}" and cl["suppressed_by"] is None, "C leak")
for l in (pl, cl):
    want(l["kind"] == "open" and l["open_at_exit"] and l["dir"] == "out" and l["state"] == "ESTABLISHED", "kind")
want(cl["bytes_out"] == 12 and cl["bytes_in"] == 15 and cl["age_ms"] >= 0 and cl["idle_ms"] >= 0, "C bytes")
f0 = cl["frames"][0]
want(f0["func"] == "open_cache_connection" and f0["module"].endswith("/leaks_worker"), "frame #0")
want(f0["file"].endswith("leaks_worker.c") and f0["line"] > 0 and f0["pc"].startswith("0x"), "frame #0 source")
want(all("libconnwarden" not in f.get("module", "") for l in (pl, cl) for f in l["frames"]), "no library frames")
want(pl["frames"] and all("python" in f and "module" not in f for f in pl["frames"]), "the Python leak's frames are Python's")
want(doc["suppressions"] == [{"rule": f"peer::{metrics}", "line": 2, "hits": 1}], "suppressions")
PYEOF

# 5. --report-dir keeps the reports and the summary; a second run into it ignores the first's.
mkdir "$T/reports"
run_tree --report-dir "$T/reports"
assert_eq "$RC" 23 "status with --report-dir"
[ -s "$T/reports/connwarden.$py.json" ] && [ -s "$T/reports/connwarden.$c.json" ] ||
  fail "per-process reports missing: $(ls -A "$T/reports")"
[ -s "$T/reports/connwarden.summary.txt" ] || fail "no saved summary: $(ls -A "$T/reports")"
assert_eq "$(tail -n1 "$T/reports/connwarden.summary.txt")" "$(tail -n1 <<<"$ERR")" "saved summary"
first=$(tail -n1 <<<"$ERR")
run_tree --report-dir "$T/reports"
assert_eq "$(tail -n1 <<<"$ERR")" "$first" "the second run counts only its own processes"
