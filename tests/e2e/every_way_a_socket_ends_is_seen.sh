# Every way a socket can end is seen (close, close_range, closefrom, fclose, dup2/dup3 over it,
# F_DUPFD/F_DUPFD_CLOEXEC/dup then both closed, shutdown then close, syscall(SYS_close)): after each
# step the stats move exactly before any inode check and missed_closes stays 0; the host answers
# the same, fd numbers included, without the shim. A UDP socket dup2'd over a TCP socket's number
# and connected is no TCP connection. Host: tests/hosts/close_ways.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/close_ways
[ -x "$HOST" ] || fail "build it first: make build/hosts/close_ways"

mkfifo "$T/ctl"
bg fed "$T/ctl" env LD_PRELOAD="$CW_PRELOAD" "$HOST" >"$T/shim.out" 2>"$T/shim.err"
PID=$BG_PID
exec {CTL}>"$T/ctl"
wait_for 5 grep -q '^pid=' "$T/shim.out"
assert_eq "$(sed -n 's/^pid=\([0-9]*\) .*/\1/p' "$T/shim.out")" "$PID" "host pid"
PORT=$(sed -n 's/^pid=[0-9]* port=\([0-9]*\)$/\1/p' "$T/shim.out")

N=0 OPENED=0 CMDS=()
# step CMD: one command to the host; waits for its reply; FDNOW is the fd naming the connection.
step() {
  N=$((N + 1))
  CMDS+=("$1")
  echo "$1" >&"$CTL"
  wait_for 5 grep -q "^$N " "$T/shim.out"
  local line
  line=$(grep "^$N " "$T/shim.out")
  [[ $line =~ ^$N\ $1\ ok\ fd=(-?[0-9]+)$ ]] || fail "host step: $line"
  FDNOW=${BASH_REMATCH[1]}
}
# expect WHAT ACTIVE: stats first (they check no inode, so an unseen close would still count as
# active), then conns (which checks inodes), then stats again: nothing may have been missed.
expect() {
  local want="($2, $OPENED, $((OPENED - $2)), 0)" conns
  assert_eq "$(stat_of "$PID" '(j["active"]["out"], j["opened"]["out"], j["closed"]["out"], j["missed_closes"])')" \
    "$want" "$1: stats (active, opened, closed, missed_closes)"
  conns=$(query "$(sock_of "$PID")" conns)
  if [ "$2" = 1 ]; then
    assert_eq "$(jq_py "$conns" '[(c["fd"], c["peer"], c["bytes_out"]) for c in j]')" \
      "[($FDNOW, '127.0.0.1:$PORT', 5)]" "$1: conns (fd, peer, bytes_out)"
  else
    assert_eq "$(jq_py "$conns" 'len(j)')" 0 "$1: conns left: $conns"
  fi
  assert_eq "$(stat_of "$PID" '(j["active"]["out"], j["opened"]["out"], j["closed"]["out"], j["missed_closes"])')" \
    "$want" "$1: stats after the inode check"
}
# way NAME CMD:ACTIVE...: open a connection, then end it with the commands, checking after each.
way() {
  local name=$1 s; shift
  step open
  OPENED=$((OPENED + 1))
  expect "$name: open" 1
  for s in "$@"; do
    step "${s%%:*}"
    expect "$name: after ${s%%:*}" "${s##*:}"
  done
}

way close close:0
way close_range close_range:0
way closefrom closefrom:0
way "fclose of fdopen" fclose:0
way "dup2 over it" dup2:0
way "dup3 over it" dup3:0
way "F_DUPFD, close both" dupfd:1 close:0
way "F_DUPFD_CLOEXEC, close both" dupfd_cloexec:1 close:0
way "dup, close both" dup:1 close:0
way "shutdown then close" shutdown:1 close:0
way "syscall(SYS_close)" syscall_close:0
step udp_over
expect "a UDP socket over a TCP socket's number, connected" 0

exec {CTL}>&-
rc=0
wait "$PID" || rc=$?
assert_eq "$rc" 0 "host exit status"
assert_eq "$(cat "$T/shim.err")" "" "host stderr under the shim"

# Without the shim: the same commands give the same answers and the same fd numbers.
printf '%s\n' "${CMDS[@]}" | "$HOST" >"$T/plain.out"
diff <(sed 1d "$T/plain.out") <(sed 1d "$T/shim.out") >&2 || fail "the shim changed what the host sees"
