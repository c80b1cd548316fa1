# Crash safety of a tree cap under gunicorn (4 sync workers, tests/hosts/tree_app.py), under
# `connwarden run --cap-scope tree --max-conns 2`. 4 requests at once each hold an upstream
# connection 2 s: two workers hold the slots, two wait in the tree's queue. A worker holding a slot
# and a waiting one are killed with SIGKILL: within 1 s the slot comes back and goes to the other
# waiter, and the killed waiter leaves the queue. gunicorn respawns both; once booted they are
# members, and a load of 8 requests afterwards is answered by all 4 workers, respawned ones
# included, every request with its upstream connection. The upstream never sees more than 2.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/tree_apps.bash"
[ -d /usr/lib/python3/dist-packages/gunicorn ] || fail "python3-gunicorn is not installed (scripts/deps installs it)"

serve up tree -- $PY -m gunicorn -w 4 -b 127.0.0.1:@PORT@ --chdir "$HOSTSRC" tree_app:app
M=$MASTER_up
up up
members() { [ "$(tree_of "$M" 't["processes"]')" = "$1" ]; }
wait_for 5 members 5

bg $PY "$HOSTSRC/tree_load.py" "$APP_up" 4 2000 >"$T/long.load"
LONG=$BG_PID
busy() { [ "$(tree_of "$M" '(t["slots"], t["queued"])')" = "(2, 2)" ]; }
wait_for 5 busy
holder="" waiter=""
for w in $(pgrep -P "$M"); do
  case $(stat_of "$w" '(j["active"]["out"], j["queued"])') in
  "(1, 0)") holder=$w ;;
  "(0, 1)") waiter=$w ;;
  esac
done
[ -n "$holder" ] && [ -n "$waiter" ] || fail "no worker holding a slot and one waiting: $(for w in $(pgrep -P "$M"); do stat_of "$w" '(j["pid"], j["active"], j["queued"])'; done)"

KILLED=$($PY -c 'import time; print(time.monotonic_ns())')
kill -9 "$holder" "$waiter"
# the other waiter gets the killed holder's slot, and the killed waiter's place is gone
moved() { [ "$(tree_of "$M" '(t["slots"], t["queued"])')" = "(2, 0)" ]; }
wait_for 2 moved
wait "$LONG"
# the killed workers' clients got no answer; the other waiter was connected within 1 s of the kill
LOAD=$(tail -1 "$T/long.load")
assert_eq "$(jq_py "$LOAD" 'j["ok"]')" 2 "the long requests answered (those of the 2 workers not killed)"
$PY - "$T/long.load" "$KILLED" <<'PY' || fail "the waiter got the killed worker's slot 1 s or more after the kill"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"got"' in l]
waited = [r for r in rows if r["got"] - r["start"] > 100_000_000]
assert len(waited) == 1, rows
after = (waited[0]["got"] - int(sys.argv[2])) / 1e9
print("# the other waiter got through %.3f s after the kill" % after, file=sys.stderr)
sys.exit(not 0 <= after < 1.0)
PY

# gunicorn respawns both; booted, they are members of the tree and get upstream connections
respawned() {
  local w n=0
  for w in $(pgrep -P "$M"); do
    [ "$w" != "$holder" ] && [ "$w" != "$waiter" ] && grep -q "Booting worker with pid: $w" "$T/up.app.err" && n=$((n + 1))
  done
  [ "$n" = 4 ] && members 5
}
wait_for 10 respawned
old=$(jq_py "$LOAD" 'j["pids"]')
load up 8 300
assert_eq "$(jq_py "$LOAD" 'j["ok"]')" 8 "requests after the respawn ($(grep error "$T/up.load" | head -3))"
assert_eq "$(jq_py "$LOAD" 'len(set(j["pids"]) - set('"$old"'))')" 2 "respawned workers that answered with their upstream connections (of $(jq_py "$LOAD" 'j["pids"]'))"
expect_served up "0 2 11" # 2 held, the other waiter's, then 8: never more than 2 at once
stop INT up
