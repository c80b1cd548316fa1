# A connection closed by a raw close system call (no wrapper sees it) whose number then names a pipe
# or a file: a `conns` query checks the inode, drops it as a missed close, and I/O on the number no
# longer counts for it; socket() handed the number ends the old record at once. The host answers
# the same without the shim. Host: tests/hosts/raw_close.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/raw_close
[ -x "$HOST" ] || fail "build it first: make build/hosts/raw_close"

mkfifo "$T/ctl"
bg fed "$T/ctl" env LD_PRELOAD="$CW_PRELOAD" "$HOST" >"$T/shim.out" 2>"$T/shim.err"
PID=$BG_PID
exec {CTL}>"$T/ctl"
wait_for 5 grep -q '^pid=' "$T/shim.out"
assert_eq "$(sed -n 's/^pid=\([0-9]*\) .*/\1/p' "$T/shim.out")" "$PID" "host pid"
SOCK=$(sock_of "$PID")

N=0 CMDS=()
step() { # CMD: one command to the host, waits for its reply; FDNOW is the fd it reports
  N=$((N + 1))
  CMDS+=("$1")
  echo "$1" >&"$CTL"
  wait_for 5 grep -q "^$N " "$T/shim.out"
  local line
  line=$(grep "^$N " "$T/shim.out")
  [[ $line =~ ^$N\ $1\ ok\ fd=(-?[0-9]+) ]] || fail "host step: $line"
  FDNOW=${BASH_REMATCH[1]}
}
counters() { stat_of "$PID" '(j["active"]["out"], j["opened"]["out"], j["closed"]["out"], j["missed_closes"])'; }
conn_fds() { jq_py "$(query "$SOCK" conns)" '[c["fd"] for c in j]'; }

# 1. A pipe on the number: reads on it are the pipe's, and the record is dropped by inode.
step open
C=$FDNOW
assert_eq "$(conn_fds)" "[$C]" "tracked connection"
step rawclose
step pipe
assert_eq "$FDNOW" "$C" "the pipe's read end got the closed connection's number"
step pipeio
assert_eq "$(conn_fds)" "[]" "conns after the pipe took fd $C"
assert_eq "$(counters)" "(0, 1, 1, 1)" "after the inode check (active, opened, closed, missed_closes)"
bytes_in=$(stat_of "$PID" 'j["bytes"]["in"]')
step pipeio
assert_eq "$(stat_of "$PID" 'j["bytes"]["in"]')" "$bytes_in" "pipe reads after the check count for no connection"
assert_eq "$(counters)" "(0, 1, 1, 1)" "counters after more pipe reads"
step release

# 2. A file on the number: writes on it, the same.
step open
C=$FDNOW
step rawclose
step file
assert_eq "$FDNOW" "$C" "the file got the closed connection's number"
step fileio
assert_eq "$(conn_fds)" "[]" "conns after the file took fd $C"
assert_eq "$(counters)" "(0, 2, 2, 2)" "after the second inode check"
bytes_out=$(stat_of "$PID" 'j["bytes"]["out"]')
step fileio
assert_eq "$(stat_of "$PID" 'j["bytes"]["out"]')" "$bytes_out" "file writes after the check count for no connection"
step release

# 3. socket() handed the number ends the old record at once, with no query in between.
step open
C=$FDNOW
old_local=$(jq_py "$(query "$SOCK" conns)" 'j[0]["local"]')
step rawclose
step socket
assert_eq "$FDNOW" "$C" "socket() got the closed connection's number"
assert_eq "$(counters)" "(0, 3, 3, 3)" "after socket() reused the number"
step connect
assert_eq "$(counters)" "(1, 4, 3, 3)" "the new connection on fd $C"
conns=$(query "$SOCK" conns)
assert_eq "$(jq_py "$conns" '[(c["fd"], c["bytes_out"]) for c in j]')" "[($C, 0)]" "conns of the new connection"
new_local=$(jq_py "$conns" 'j[0]["local"]')
[ "$new_local" != "$old_local" ] || fail "the old record ($old_local) shows through on fd $C"
step release
assert_eq "$(counters)" "(0, 4, 4, 3)" "a seen close is not a missed one"

exec {CTL}>&-
rc=0
wait "$PID" || rc=$?
assert_eq "$rc" 0 "host exit status"

# Without the shim: the same commands, the same answers and fd numbers.
printf '%s\n' "${CMDS[@]}" | "$HOST" >"$T/plain.out"
diff <(sed 1d "$T/plain.out") <(sed 1d "$T/shim.out") >&2 || fail "the shim changed what the host sees"
