# Fork while other threads hold the shim's locks: a host whose threads ping-pong and churn
# connections (connect, accept, dup, close) forks 60 children one after another; each child must
# open and use a connection of its own and, under the shim, have its own stats server answer
# with its pid, within 5 s (a child stuck on an inherited lock dies of SIGALRM and is counted).
# The parent's table is exact afterwards. Host: tests/hosts/hostile_load.c (fork).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/hostile_load
[ -x "$HOST" ] || fail "build it first: make build/hosts/hostile_load"

run_forks() { # PRELOAD: result line in $LINE, the host still holding
  if [ -n "$1" ]; then bg shimmed "$HOST" fork >"$T/out" 2>"$T/err"; else bg "$HOST" fork >"$T/out" 2>"$T/err"; fi
  HPID=$BG_PID
  wait_for 40 grep -q '^children=' "$T/out"
  LINE=$(grep '^children=' "$T/out")
  note "$([ -n "$1" ] && echo shim || echo plain): $LINE"
  eval "$(tr ' ' '\n' <<<"$LINE" | grep -E '^[a-z_]+=[0-9]+$')"
  assert_eq "$children" 60 "children forked"
  assert_eq "$deadlocked" 0 "children stuck after fork"
  assert_eq "$failed" 0 "children that failed ($(cat "$T/err"))"
  assert_eq "$ok" 60 "children that worked"
  assert_eq "$stuck" 0 "parent threads stuck"
  assert_eq "$errors" 0 "errors in the parent's traffic"
}
finish() {
  kill -TERM "$HPID"
  local rc=0
  wait "$HPID" || rc=$?
  assert_eq "$rc" 0 "$1: exit status"
}

run_forks ""
finish plain
run_forks shim
assert_eq "$(stat_of "$HPID" '(j["active"]["total"], j["opened"]["in"] - j["closed"]["in"], j["opened"]["out"] - j["closed"]["out"])')" \
  "($open, $((open / 2)), $((open / 2)))" "the parent's connections after the forks"
finish shim
# every child removed its socket at exit: only the parent's is left
assert_eq "$(ls "$CONNWARDEN_RUNDIR")" "" "sockets left by the children and the parent"
