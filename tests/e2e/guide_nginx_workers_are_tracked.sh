# The README's nginx guide, for real: nginx started by `connwarden run` with the guide's env
# directives (tests/hosts/guide_nginx.conf), a master and 2 workers proxying to a small upstream.
# Each worker has its own stats socket with the master's settings, and counts exactly the client
# and upstream connections it handled; a held request shows in its conns. The master handles
# none. After a graceful stop, `connwarden ls` leaves no socket behind (workers that dropped
# privileges cannot remove their own). nginx's binary upgrade, the other use of `env LD_PRELOAD`,
# is not exercised: nginx refuses it in the foreground.
. "$(dirname "$0")/lib.bash"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/deps installs it)"

# the guide's lines are the README's
conf_src=$HOSTSRC/guide_nginx.conf
readme_nginx=$(sed -n '/^### nginx$/,/^### /p' "$ROOT/README.md")
grep '^env ' "$conf_src" | while read -r l; do
  assert_contains "$readme_nginx" "$l" "the README's nginx guide has '$l'"
done
assert_contains "$readme_nginx" "connwarden run --idle-timeout 60s -- nginx" "the README's start line"

mkdir -p "$T/up" "$T/nginx"
bg "$PY" "$HOSTSRC/guide_upstream.py" "$T/up/ready" --max-secs 40
wait_for 5 test -s "$T/up/ready"
up=$(cat "$T/up/ready")
port=$(free_port)
sed -e "s|@DIR@|$T/nginx|g" -e "s|@PORT@|$port|g" -e "s|@UPSTREAM@|$up|g" "$conf_src" >"$T/nginx/nginx.conf"
chmod 755 "$T" # workers run as nginx's user: they must reach the temp paths under $T

bg "${CW_ENV[@]}" "$CW" run --idle-timeout 60s -- "$NGINX" -e "$T/nginx/error.log" -p "$T/nginx/" -c "$T/nginx/nginx.conf"
master=$BG_PID
workers() { ps -o pid= --ppid "$master" | tr -d ' ' | sort -n; }
two_workers() { [ "$(workers | wc -l)" = 2 ]; }
wait_for 5 two_workers
mapfile -t ws < <(workers)
CW_PIDS+=("${ws[@]}")
for w in "$master" "${ws[@]}"; do wait_for 5 test -S "$(sock_of "$w")"; done
wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$port/"

# the master's settings in every worker, from its own socket
for w in "${ws[@]}"; do
  assert_eq "$(jq_py "$(query "$(sock_of "$w")" config)" 'j["idle_timeout_ms"]')" 60000 "worker $w: the idle timeout"
  assert_eq "$(jq_py "$(query "$(sock_of "$w")" stats)" 'j["pid"]')" "$w" "worker $w: its own socket"
done
ls_out=$("$CW" ls)
for w in "$master" "${ws[@]}"; do
  grep -qE "^ *$w +nginx " <<<"$ls_out" || fail "ls lacks $w: $ls_out"
done

# 5 requests in all (one was the readiness probe above), each a new client connection and, without
# upstream keepalive, a new upstream connection
for i in 1 2 3 4; do
  assert_eq "$(curl -sf "http://127.0.0.1:$port/r$i")" "hello from upstream" "request $i through nginx"
done
sum() { # EXPR over each worker's stats, summed
  local total=0 w
  for w in "${ws[@]}"; do total=$((total + $(stat_of "$w" "$1"))); done
  echo "$total"
}
settled() { [ "$(sum 'j["active"]["total"]')" = 0 ]; }
wait_for 5 settled
assert_eq "$(sum 'j["opened"]["in"]')" 5 "client connections the workers accepted"
assert_eq "$(sum 'j["opened"]["out"]')" 5 "upstream connections the workers opened"
assert_eq "$(sum 'j["closed"]["in"] + j["closed"]["out"]')" 10 "all closed"
assert_eq "$(sum 'sum(d["opened"] for d in j["destinations"] if d["peer"] == "127.0.0.1:'"$up"'")')" 5 "the upstream as a destination"
assert_eq "$(stat_of "$master" 'j["opened"]["in"] + j["opened"]["out"]')" 0 "the master handles no connection"

# a held request: one worker holds the client and the upstream connection
bg curl -sf -o "$T/held.out" "http://127.0.0.1:$port/hold/h1"
holder=""
find_holder() {
  local w
  for w in "${ws[@]}"; do
    [ "$(stat_of "$w" '(j["active"]["in"], j["active"]["out"])')" = "(1, 1)" ] && holder=$w && return 0
  done
  return 1
}
wait_for 5 find_holder
conns=$(query "$(sock_of "$holder")" conns)
assert_eq "$(jq_py "$conns" 'sorted((c["dir"], c["state"]) for c in j)')" "[('in', 'ESTABLISHED'), ('out', 'ESTABLISHED')]" "the held request's connections"
assert_eq "$(jq_py "$conns" '[c["local"] for c in j if c["dir"] == "in"]')" "['127.0.0.1:$port']" "the client's connection, on nginx's port"
assert_eq "$(jq_py "$conns" '[c["peer"] for c in j if c["dir"] == "out"]')" "['127.0.0.1:$up']" "the upstream connection"
touch "$T/up/h1.go"
wait_for 5 test -s "$T/held.out"
assert_eq "$(cat "$T/held.out")" "hello from upstream" "the held request completes"

# a graceful stop; ls clears what the workers could not remove
kill -QUIT "$master"
gone() { ! kill -0 "$master" 2>/dev/null && for w in "${ws[@]}"; do ! kill -0 "$w" 2>/dev/null || return 1; done; }
wait_for 10 gone
[ ! -e "$(sock_of "$master")" ] || fail "the master's socket is left"
"$CW" ls >/dev/null
left=$(ls "$CONNWARDEN_RUNDIR")
[ -z "$left" ] || fail "sockets left after ls: $left"
