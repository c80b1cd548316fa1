# What a process tree looks like from the command line. A prefork program under --cap-scope tree
# --max-conns 5 --name api: its 3 workers each hold a connection. `connwarden ls --tree` shows the
# tree (its name, root, 4 processes, 3 slots of 5) with its members; `stats` of any worker has the
# tree object; `top` shows the tree's line; the exporter labels every sample name="api" and
# tree="api" and serves the tree's gauges; a process outside the tree is listed apart.
# Hosts: tests/hosts/tree_workers.c, conn_holder.c; server: tests/hosts/cap_count_server.py.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
export XDG_RUNTIME_DIR=$T/xdg # keep the user's session directory out of the scan
make -s -C "$ROOT" build/hosts/tree_workers build/hosts/conn_holder >/dev/null
alone_in_sight

server up
bg "${CW_ENV[@]}" "$CW" run --cap-scope tree --max-conns 5 --name api -- "$HOSTS/tree_workers" "$PORT" 3 1 20000 \
  >"$T/out" 2>"$T/err"
wait_for 10 sh -c "[ \$(grep -c '^connect' '$T/out') = 3 ]"
# one process outside any tree
fifo=$T/in
mkfifo "$fifo"
exec {keep}<>"$fifo"
bg sh -c 'exec "$@" <"$0" >/dev/null' "$fifo" env LD_PRELOAD="$CW_PRELOAD" "$HOSTS/conn_holder" 1
alone=$BG_PID
wait_for 5 test -S "$(sock_of "$alone")"

in_sight "$CW" ls --tree >"$T/ls"
note "$(cat "$T/ls")"
head=$(grep '^tree ' "$T/ls")
assert_contains "$head" "tree api (root pid" "ls --tree: the tree's line"
assert_contains "$head" "4 processes, active 3 (in 0, out 3), slots 3 of 5, queued 0, opened 3" "ls --tree: the tree's totals"
assert_eq "$(sed -n '/^tree /,/^$/p' "$T/ls" | awk '$1 ~ /^[0-9]+$/ && $NF == "api"' | wc -l)" 3 "ls --tree: the tree's members (its workers, named api)"
assert_contains "$(sed -n '/^not in a tree:/,$p' "$T/ls")" "$alone" "ls --tree: the process in no tree"
worker=$(sed -n '/^tree /,/^$/p' "$T/ls" | awk '$1 ~ /^[0-9]+$/ {print $1; exit}')

assert_eq "$(stat_of "$worker" '"%s %d %d %d" % (j["tree"]["name"], j["tree"]["processes"], j["tree"]["slots"], j["tree"]["config"]["max_conns"])')" \
  "api 4 3 5" "stats of a worker: the tree"
assert_eq "$(stat_of "$worker" 'j["name"]')" api "stats of a worker: its name"

"$CW" top "$worker" >"$T/top"
assert_contains "$(grep '^tree ' "$T/top")" "api (root pid" "top: the tree's line"
assert_contains "$(cat "$T/top")" "slots 3 of cap 5" "top: the tree's slots"

scrape "$T/metrics"
grep -q "^connwarden_tree_slots{pid=\"$worker\",.*name=\"api\".*tree=\"api\".*} 3$" "$T/metrics" ||
  fail "exporter: no tree gauge labelled name and tree for worker $worker: $(grep '^connwarden_tree_slots' "$T/metrics")"
grep -q "^connwarden_connections_active{pid=\"$alone\",.*tree=\"conn_holder 1\".*direction=\"out\"} 1$" "$T/metrics" ||
  fail "exporter: the process in no tree is its own tree: $(grep "pid=\"$alone\"" "$T/metrics" | head -3)"
