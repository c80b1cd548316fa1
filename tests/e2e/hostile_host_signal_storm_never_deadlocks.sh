# A SIGALRM storm (every 200 us, and aimed at a thread blocked in read and at one ending batches
# of 24 connections with close_range) whose handler writes on, dups, dup2s, closes and connects
# sockets while four threads ping-pong and one churns connections, under a connection cap that is
# never reached (so every close gives a slot back): no thread deadlocks, every interrupted read
# returns -1/EINTR as without the shim, no data is corrupted, and the shim's table holds exactly
# the host's 12 open connections afterwards.
# Host: tests/hosts/hostile_load.c (storm).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/hostile_load
[ -x "$HOST" ] || fail "build it first: make build/hosts/hostile_load"

# run_storm PRELOAD: run the storm; its result line in $LINE, its pid in $HPID (still holding).
run_storm() {
  if [ -n "$1" ]; then bg env CONNWARDEN_MAX_CONNS=1000 LD_PRELOAD="$CW_PRELOAD" "$HOST" storm >"$T/out" 2>"$T/err"; else bg "$HOST" storm >"$T/out" 2>"$T/err"; fi
  HPID=$BG_PID
  wait_for 20 grep -q '^handled=' "$T/out"
  LINE=$(grep '^handled=' "$T/out")
  note "$([ -n "$1" ] && echo shim || echo plain): $LINE"
  eval "$(tr ' ' '\n' <<<"$LINE" | grep -E '^[a-z_]+=[0-9]+$')"
  assert_eq "$stuck" 0 "threads stuck after the storm"
  assert_eq "$errors" 0 "errors in the host's own traffic"
  assert_eq "$handler_errors" 0 "failed calls inside the signal handler"
  assert_eq "$idle_other" 0 "interrupted reads that did not return -1/EINTR"
  [ "$idle_eintr" -gt 100 ] || fail "only $idle_eintr interrupted reads came back as EINTR"
  [ "$handled" -gt 1000 ] || fail "only $handled signals were handled"
  [ "$moved" -gt 1000 ] || fail "only $moved round trips during the storm"
  [ "$batches" -gt 10 ] || fail "only $batches batches ended by close_range during the storm"
}
finish() {
  kill -TERM "$HPID"
  local rc=0
  wait "$HPID" || rc=$?
  assert_eq "$rc" 0 "$1: exit status"
}

run_storm ""
finish plain
run_storm shim
assert_eq "$(stat_of "$HPID" '(j["active"]["total"], j["opened"]["in"] + j["opened"]["out"] - j["closed"]["in"] - j["closed"]["out"])')" \
  "($open, $open)" "connections the shim holds after the storm (active, opened - closed)"
[ "$(stat_of "$HPID" 'j["opened"]["out"]')" -ge "$churned" ] || fail "fewer connects counted than the churn made"
finish shim
