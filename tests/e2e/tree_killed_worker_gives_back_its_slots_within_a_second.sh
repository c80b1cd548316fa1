# Crash safety of a tree cap. Under --cap-scope tree --max-conns 2, worker A holds both slots and
# has a third connect waiting; workers B and C wait behind it. A is killed with SIGKILL: within
# 1 s its slots come back and its waiting connect leaves the queue (it is never granted), B and
# C get through, and a respawned worker D is admitted. The server never sees more than 2 at once,
# and the tree's file is gone when the last process exits.
# Host: tests/hosts/tree_kill_workers.py; server: tests/hosts/cap_count_server.py.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"

server up
bg "${CW_ENV[@]}" "$CW" run --cap-scope tree --max-conns 2 --queue-timeout 25s -- \
  $PY "$HOSTSRC/tree_kill_workers.py" "$PORT" >"$T/out" 2>"$T/err"
RUN=$BG_PID
wait_for 10 grep -q '^pid C' "$T/out"
A=$(awk '$1 == "pid" && $2 == "A" {print $3}' "$T/out")
# A's third connect, B's and C's wait in the tree's queue
tree_queued() { [ "$(stat_of "$A" 'j["tree"]["queued"]')" = "$1" ]; }
wait_for 5 tree_queued 3
assert_eq "$(stat_of "$A" 'j["tree"]["slots"]')" 2 "slots A holds"
sleep 0.5
assert_eq "$(grep -c '^got' "$T/out" || true)" 0 "connects through while A holds the cap"

KILLED=$($PY -c 'import time; print("%.3f" % time.monotonic())')
kill -9 "$A"
wait_for 10 grep -q '^done' "$T/out"
for w in B C; do
  got=$(awk -v w=$w '$1 == "got" && $2 == w {print $3}' "$T/out")
  [ -n "$got" ] || fail "worker $w never got through: $(cat "$T/out" "$T/err")"
  $PY -c "import sys; d = $got - $KILLED; print('# $w got through %.3f s after the kill' % d, file=sys.stderr); sys.exit(d >= 1.0)" ||
    fail "worker $w got its slot 1 s or more after A was killed"
done
assert_contains "$(cat "$T/out")" "got D" "the respawned worker was admitted"
expect_served up "0 2 5" # A's two, B's, C's and D's: never more than 2 at once
wait "$RUN" || fail "connwarden run failed: $(cat "$T/out" "$T/err")"
# the last member out removed the tree's file (A's row was reclaimed, not left behind)
assert_eq "$(ls "$CONNWARDEN_RUNDIR" | grep -c '^tree-' || true)" 0 "tree files left in the run directory"
