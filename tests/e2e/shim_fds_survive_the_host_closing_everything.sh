# A host that closes every fd above stderr (closefrom, close_range, or close() up to 4096) after its
# first connection: the stats socket still answers and saw the sweep close the connection, fds 0-2
# are untouched, close() of unopened numbers gives EBADF as without the shim, and tracking goes on.
# Host: tests/hosts/close_all.c (MODE LIMIT).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/close_all
[ -x "$HOST" ] || fail "build it first: make build/hosts/close_all"
# With no room above the soft fd limit (soft = hard), the shim keeps its fds just under it, where
# a host can reach them: make that limit, soft and hard, the end of the sweep.
LIMIT=4096
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge "$LIMIT" ] || LIMIT=$hard
ulimit -n "$LIMIT" || fail "cannot set the fd limits to $LIMIT"

step() { # CMD: one command to the host, waits for its answer line (in LINE)
  N=$((N + 1))
  CMDS+=("$1")
  echo "$1" >&"$CTL"
  wait_for 5 grep -q "^$N " "$T/shim.out"
  LINE=$(grep "^$N " "$T/shim.out")
}
counters() { stat_of "$PID" '(j["active"]["out"], j["opened"]["out"], j["closed"]["out"], j["missed_closes"])'; }

for mode in closefrom close_range close_loop; do
  rm -f "$T/ctl"
  mkfifo "$T/ctl"
  bg fed "$T/ctl" env LD_PRELOAD="$CW_PRELOAD" "$HOST" "$mode" "$LIMIT" >"$T/shim.out" 2>"$T/shim.err"
  PID=$BG_PID
  exec {CTL}>"$T/ctl"
  wait_for 5 grep -q '^pid=' "$T/shim.out"
  FD=$(sed -n 's/^pid=[0-9]* port=[0-9]* fd=\([0-9]*\)$/\1/p' "$T/shim.out")
  N=0 CMDS=()
  assert_eq "$(counters)" "(1, 1, 0, 0)" "$mode: before the sweep (active, opened, closed, missed_closes)"
  assert_eq "$(jq_py "$(query "$(sock_of "$PID")" conns)" '[c["fd"] for c in j]')" "[$FD]" "$mode: conns before"

  step closeall
  # what is left above stderr is the shim's, and the sweep went over it
  left=$(cd "/proc/$PID/fd" && ls | awk '$1 > 2' | sort -n | tr '\n' ' ')
  [ -n "$left" ] || fail "$mode: no fd of the shim is left"
  for fd in $left; do
    [ "$fd" -lt "$LIMIT" ] || fail "$mode: fd $fd lies beyond the sweep: the test proves nothing"
  done
  assert_eq "$(counters)" "(0, 1, 1, 0)" "$mode: the stats socket answers; the sweep closed the connection"
  assert_eq "$(query "$(sock_of "$PID")" conns | tr -d ' \n')" "[]" "$mode: conns after the sweep"

  step probe
  never="ok=0 ebadf=$((LIMIT - 3)) other=0"
  assert_eq "$LINE" "$N probe std=ok close: $never syscall: $never" \
    "$mode: std fds; close() and syscall(SYS_close) of unopened numbers"
  assert_contains "$(cat "$T/shim.err")" "stderr still works" "$mode: stderr"

  step reconnect
  assert_eq "$(counters)" "(1, 2, 1, 0)" "$mode: a new connection after the sweep"
  assert_eq "$(jq_py "$(query "$(sock_of "$PID")" conns)" '[c["fd"] for c in j]')" "[${LINE##*fd=}]" "$mode: its fd"

  exec {CTL}>&-
  rc=0
  wait "$PID" || rc=$?
  assert_eq "$rc" 0 "$mode: host exit status"
  [ ! -e "$(sock_of "$PID")" ] || fail "$mode: stats socket left after exit"

  # Without the shim: the same answers, every count and errno included.
  printf '%s\n' "${CMDS[@]}" | "$HOST" "$mode" "$LIMIT" >"$T/plain.out" 2>/dev/null
  diff <(sed 1d "$T/plain.out") <(sed 1d "$T/shim.out") >&2 || fail "$mode: the shim changed what the host sees"
done
