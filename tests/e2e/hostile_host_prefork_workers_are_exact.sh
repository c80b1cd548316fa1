# A prefork server: 8 workers forked after listen() accept on one listener while the parent's 4
# threads make 400 echo connections to it. Each worker that accepted anything has its own stats
# socket whose accepted count is exactly the worker's own; the workers' counts sum to 400, their
# bytes to 400 x 100 each way, nothing is left open, and the parent counts its 400 connects.
# Host: tests/hosts/hostile_load.c (prefork).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/hostile_load
[ -x "$HOST" ] || fail "build it first: make build/hosts/hostile_load"

run_prefork() { # PRELOAD
  if [ -n "$1" ]; then bg shimmed "$HOST" prefork >"$T/out" 2>"$T/err"; else bg "$HOST" prefork >"$T/out" 2>"$T/err"; fi
  HPID=$BG_PID
  wait_for 20 grep -q '^clients=' "$T/out"
  LINE=$(grep '^clients=' "$T/out")
  note "$([ -n "$1" ] && echo shim || echo plain): $LINE"
  eval "$(tr ' ' '\n' <<<"$LINE" | grep -E '^[a-z_]+=[0-9,]+$')"
  assert_eq "$served" 400 "echo connections served"
  assert_eq "$errors" 0 "client errors"
}
finish() {
  kill -TERM "$HPID"
  local rc=0
  wait "$HPID" || rc=$?
  assert_eq "$rc" 0 "$1: exit status ($(cat "$T/out"))"
  assert_contains "$(cat "$T/out")" "bad_workers=0" "$1: every worker exited cleanly"
}

run_prefork ""
finish plain
run_prefork shim
sum=0 bytes_in=0 bytes_out=0 socks=0
declare -A SEEN
for w in ${workers//,/ }; do
  [ -S "$(sock_of "$w")" ] || continue # a worker that accepted nothing tracked nothing
  socks=$((socks + 1))
  read -r opened closed active bin bout < <(stat_of "$w" '" ".join(map(str, (j["opened"]["in"], j["closed"]["in"], j["active"]["total"], j["bytes"]["in"], j["bytes"]["out"])))')
  assert_eq "$closed $active" "$opened 0" "worker $w: closed and active"
  SEEN[$w]=$opened
  sum=$((sum + opened)) bytes_in=$((bytes_in + bin)) bytes_out=$((bytes_out + bout))
done
[ "$socks" -ge 2 ] || fail "only $socks of 8 workers had a stats socket: the load did not spread"
assert_eq "$sum" 400 "connections the workers' shims counted"
assert_eq "$bytes_in $bytes_out" "40000 40000" "bytes the workers' shims counted"
assert_eq "$(stat_of "$HPID" '(j["opened"]["out"], j["closed"]["out"], j["active"]["total"], j["bytes"]["out"], j["bytes"]["in"])')" \
  "(400, 400, 0, 40000, 40000)" "the parent's connections"
finish shim
# each worker's own count, printed at its exit, is what its shim reported
for w in "${!SEEN[@]}"; do
  assert_contains "$(cat "$T/out")" "worker pid=$w accepted=${SEEN[$w]}" "worker $w's own count"
done
