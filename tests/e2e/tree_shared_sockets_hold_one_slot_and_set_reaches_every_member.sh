# Shared sockets and tree-wide control under --cap-scope tree. A parent opens 2 connections and
# forks: the tree counts 2 connections and 2 slots (not 4) for 2 processes. The parent closes its
# copy of one: it still holds its slot, the child holds it. `connwarden set CHILD max_conns 7`
# changes the cap of the parent and of the tree at once. `connwarden reap CHILD FD` on the other
# one ends it for both holders (the parent's recv sees EOF). Once both have closed everything the
# tree holds no slot, and the counting server saw 2 connections.
# Host: tests/hosts/tree_shared.py; server: tests/hosts/cap_count_server.py.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
CTL=$T/ctl
mkdir -p "$CTL"
go() { touch "$CTL/$1.go"; }

server up
bg "${CW_ENV[@]}" "$CW" run --cap-scope tree --max-conns 4 -- $PY "$HOSTSRC/tree_shared.py" "$CTL" "$PORT" \
  >"$T/out" 2>"$T/err"
wait_for 20 grep -q '"step": "forked"' "$T/out"
LINE=$(grep '"step": "forked"' "$T/out")
P=$(jq_py "$LINE" 'j["pid"]') C=$(jq_py "$LINE" 'j["child"]') FD_B=$(jq_py "$LINE" 'j["fd_b"]')
wait_for 5 test -S "$(sock_of "$C")"
# the tree as PIDS ACTIVE SLOTS OPENED: PIDS, which of the parent and the child are members (a
# sanitizer's helper process may be one too)
tree() { stat_of "$1" '"%s %d %d %d" % ("".join(x for x, p in (("P", '"$P"'), ("C", '"$C"')) if p in j["tree"]["pids"]), j["tree"]["active"]["out"], j["tree"]["slots"], j["tree"]["opened"]["out"])'; }
tree_of_is() { [ "$(tree "$1")" = "$2" ]; }
# the tree after the fork (processes, active, slots, opened), asked through the parent and the child
wait_for 30 tree_of_is "$P" "PC 2 2 2" # long: a sanitizer runtime is slow to start
assert_eq "$(tree "$P")" "PC 2 2 2" "the tree after the fork (members, active, slots, opened)"
assert_eq "$(tree "$C")" "PC 2 2 2" "the tree, asked through the child"
assert_eq "$(stat_of "$C" 'j["active"]["out"]')" 2 "the child's own connections"

go forked
wait_for 5 grep -q '"step": "parent_closed"' "$T/out"
assert_eq "$(stat_of "$P" 'j["active"]["out"]')" 1 "the parent's own connections after its close"
assert_eq "$(tree "$P")" "PC 2 2 2" "the tree after the parent closed one copy (the child holds it)"

out=$("${CW_ENV[@]}" "$CW" set "$C" max_conns 7)
assert_contains "$out" "max_conns" "set's answer"
for pid in "$P" "$C"; do
  assert_eq "$(stat_of "$pid" '(j["config"]["max_conns"], j["tree"]["config"]["max_conns"])')" "(7, 7)" "pid $pid: its cap and the tree's"
done

go parent_closed
"${CW_ENV[@]}" "$CW" reap "$C" "$FD_B" >/dev/null || fail "reap through the child failed"
wait_for 5 grep -q '"parent_read": 0' "$T/out"
wait_for 5 grep -q '"child_exit": 0' "$T/out"
wait_for 5 grep -q '"step": "all_closed"' "$T/out"
tree_is() { [ "$(tree "$P")" = "$1" ]; }
wait_for 2 tree_is "P 0 0 2" # the child is gone from the tree (it exited without an exit handler)
assert_eq "$(stat_of "$P" '(j["tree"]["closed"]["out"], j["tree"]["reaped"]["manual"])')" "(2, 1)" "the tree's closed and reaped"
go all_closed
expect_served up "0 2 2"
