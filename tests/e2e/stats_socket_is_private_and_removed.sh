# The stats socket is private (0600 in a 0700 directory of ours), replaces a stale socket left at
# its path but never a live one, and is removed at a normal exit; an unsafe run directory (group
# or world writable, a symbolic link, another user's) is refused with a warning naming it while
# the host runs normally; CONNWARDEN_STATS=off makes no socket. Host: tests/hosts/conn_holder.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/conn_holder
[ -x "$HOST" ] || fail "build it first: make build/hosts/conn_holder"

declare -A CTL HPID
# fed FIFO CMD...: exec CMD with stdin from FIFO (a background job's stdin is /dev/null otherwise).

# start NAME CMD...: run CMD (which ends by exec'ing conn_holder) in the background with stdin
# from a fifo this shell holds open; NAME.out/.err collect its output. Sets HPID[NAME].
start() {
  local name=$1 fd; shift
  mkfifo "$T/$name.in"
  bg fed "$T/$name.in" "$@" >"$T/$name.out" 2>"$T/$name.err"
  exec {fd}>"$T/$name.in"
  CTL[$name]=$fd
  wait_for 5 grep -q '^pid=' "$T/$name.out"
  HPID[$name]=$(sed -n 's/^pid=\([0-9]*\).*/\1/p' "$T/$name.out")
}
# start_shimmed NAME [VAR=VALUE...]: conn_holder 1 under the shim with that extra environment.
start_shimmed() { local name=$1; shift; start "$name" env "$@" LD_PRELOAD="$CW_PRELOAD" "$HOST" 1; }
# finish NAME: end its stdin, wait for it; its exit status in $RC.
finish() {
  local fd=${CTL[$1]}
  exec {fd}>&-
  RC=0
  wait "${HPID[$1]}" || RC=$?
  assert_contains "$(cat "$T/$1.out")" "done" "$1 ran to its end"
}
answers_as() { # SOCKET PID: the server on SOCKET is the one of PID
  assert_eq "$(jq_py "$(query "$1" stats)" 'j["pid"]')" "$2" "pid answering on $1"
}
serves() { # SOCKET PID: the same as a condition, for wait_for
  [ "$(jq_py "$(query "$1" stats 2>/dev/null)" 'j["pid"]' 2>/dev/null)" = "$2" ]
}

# Without the shim: the same host makes no socket anywhere.
start plain "$HOST" 1
finish plain
assert_eq "$RC" 0 "plain exit status"
[ ! -e "$CONNWARDEN_RUNDIR" ] || fail "a run directory appeared without the shim"

# 1. Private: even under umask 000 the run directory the shim creates is 0700 and the socket 0600.
umask 000
start_shimmed a
umask 022
sock=$(sock_of "${HPID[a]}")
wait_for 5 test -S "$sock"
assert_eq "${HPID[a]}" "$BG_PID" "the host printed its own pid"
assert_eq "$(stat -c '%A %u' "$sock")" "srw------- $(id -u)" "socket mode and owner"
assert_eq "$(stat -c '%a %u' "$CONNWARDEN_RUNDIR")" "700 $(id -u)" "run directory mode and owner"
answers_as "$sock" "${HPID[a]}"
# 2. Removed at a normal exit.
finish a
assert_eq "$RC" 0 "exit status under the shim"
[ ! -e "$sock" ] || fail "$sock left behind after a normal exit"

# 3. A stale socket left by a SIGKILLed process is replaced by the next process given that path.
fixed=$CONNWARDEN_RUNDIR/fixed.sock
start_shimmed b CONNWARDEN_STATS="$fixed"
wait_for 5 test -S "$fixed"
answers_as "$fixed" "${HPID[b]}"
kill -9 "${HPID[b]}"
wait "${HPID[b]}" 2>/dev/null || true
[ -S "$fixed" ] || fail "expected the killed process's socket file to stay behind"
! query "$fixed" stats >/dev/null 2>&1 || fail "a dead process's socket still answers"
start_shimmed c CONNWARDEN_STATS="$fixed"
wait_for 5 serves "$fixed" "${HPID[c]}"
finish c
assert_eq "$RC" 0 "exit status after replacing a stale socket"
[ ! -e "$fixed" ] || fail "$fixed left behind"

# 4. The same at the default path RUNDIR/PID.sock: a stale socket made there before the process
# starts (bash execs the host, so $$ is its pid).
start stale bash -c '"$1" -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" \
    "$CONNWARDEN_RUNDIR/$$.sock" && echo "stale=$$" >&2 &&
  exec env LD_PRELOAD="$2" "$3" 1' stale "$PY" "$CW_PRELOAD" "$HOST"
assert_contains "$(cat "$T/stale.err")" "stale=${HPID[stale]}" "stale socket made at the pid's path"
wait_for 5 serves "$(sock_of "${HPID[stale]}")" "${HPID[stale]}"
finish stale
assert_eq "$RC" 0 "exit status after replacing a stale default socket"
[ ! -e "$(sock_of "${HPID[stale]}")" ] || fail "default socket left behind"

# 5. A live server is never replaced: a second process given its path runs without a socket and
# leaves the first one's in place when it exits.
shared=$CONNWARDEN_RUNDIR/shared.sock
start_shimmed d CONNWARDEN_STATS="$shared"
wait_for 5 serves "$shared" "${HPID[d]}"
start_shimmed e CONNWARDEN_STATS="$shared"
answers_as "$shared" "${HPID[d]}"
finish e
assert_eq "$RC" 0 "exit status of the second process"
answers_as "$shared" "${HPID[d]}"
finish d
[ ! -e "$shared" ] || fail "$shared left behind"

# 6. Unsafe run directories are refused: the host runs normally, a warning names the directory,
# no socket is made, and the directory is left as it was.
refused() { # NAME DIR WHY REASON: REASON is what the warning must say of DIR
  start_shimmed "$1" CONNWARDEN_RUNDIR="$2"
  local pid=${HPID[$1]} before
  before=$(stat -c '%a %U' "$2")
  wait_for 5 grep -qF "$2" "$T/$1.err"
  assert_contains "$(cat "$T/$1.err")" "connwarden[$pid]: stats off: $2 $4" "$3: warning from the host's shim"
  [ ! -e "$2/$pid.sock" ] || fail "$3: a socket was made in $2"
  finish "$1"
  assert_eq "$RC" 0 "$3: exit status"
  assert_eq "$(stat -c '%a %U' "$2")" "$before" "$3: directory untouched"
}
mkdir -m 0770 "$T/group"
refused group "$T/group" "group-writable run directory" "is open to group or others"
mkdir -m 0707 "$T/world"
refused world "$T/world" "world-writable run directory" "is open to group or others"
mkdir -m 0700 "$T/target" && ln -s "$T/target" "$T/link"
refused link "$T/link" "symbolic link run directory" "is a symbolic link"
[ -z "$(ls -A "$T/target")" ] || fail "a socket was made through the symbolic link"
if [ "$(id -u)" = 0 ]; then
  mkdir -m 0700 "$T/others" && chown nobody "$T/others"
  refused others "$T/others" "run directory owned by another user" "is owned by another user"
else
  note "not root: the other-owner case needs chown, skipped"
fi

# 7. CONNWARDEN_STATS=off: the shim is loaded but makes no socket.
ls -A "$CONNWARDEN_RUNDIR" >"$T/before.ls"
start_shimmed off CONNWARDEN_STATS=off
grep -q libconnwarden.so "/proc/${HPID[off]}/maps" || fail "the shim is not loaded in the host"
sleep 0.2
ls -A "$CONNWARDEN_RUNDIR" >"$T/after.ls"
cmp -s "$T/before.ls" "$T/after.ls" || fail "CONNWARDEN_STATS=off made: $(comm -13 "$T/before.ls" "$T/after.ls")"
finish off
assert_eq "$RC" 0 "exit status with stats off"
