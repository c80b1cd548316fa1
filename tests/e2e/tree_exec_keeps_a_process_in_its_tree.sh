# A process of a tree that execs stays the same member of it: under --cap-scope tree --max-conns 1
# a process holds the tree's slot on an fd that survives exec, and its forked worker's connect
# waits. The process execs itself: the tree still counts 2 processes (its row carried, not a new
# one) and 1 slot, held through the exec, and the worker still waits; once the new image closes
# the fd, the worker gets the slot. Host: tests/hosts/tree_exec.py.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
CTL=$T/ctl
mkdir -p "$CTL"

server up
bg "${CW_ENV[@]}" "$CW" run --cap-scope tree --max-conns 1 --queue-timeout 20s -- \
  $PY "$HOSTSRC/tree_exec.py" "$CTL" "$PORT" >"$T/out" 2>"$T/err"
wait_for 10 grep -q '"step": "before_exec"' "$T/out"
P=$(jq_py "$(grep '"step": "before_exec"' "$T/out")" 'j["pid"]')
tree_is() { [ "$(stat_of "$P" '"%d %d %d" % (j["tree"]["processes"], j["tree"]["slots"], j["tree"]["queued"])')" = "$1" ]; }
wait_for 5 tree_is "2 1 1"
touch "$CTL/before_exec.go"
wait_for 10 grep -q '"step": "after_exec"' "$T/out"
wait_for 5 test -S "$(sock_of "$P")"
# the same process, the same row: 2 processes, the slot held across exec, the worker waiting
assert_eq "$(stat_of "$P" '"%d %d %d %s" % (j["tree"]["processes"], j["tree"]["slots"], j["tree"]["queued"], j["tree"]["pids"].count(j["pid"]))')" \
  "2 1 1 1" "the tree after exec (processes, slots, queued, rows of this pid)"
assert_eq "$(grep -c worker_got "$T/out" || true)" 0 "the worker got through while the slot was held"
touch "$CTL/after_exec.go"
wait_for 10 grep -q '"worker_exit": 0' "$T/out"
assert_contains "$(cat "$T/out")" '"worker_got": true' "the worker's connect"
expect_served up "0 1 2"
