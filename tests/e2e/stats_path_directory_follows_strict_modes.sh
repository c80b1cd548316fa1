# The directory of a CONNWARDEN_STATS path follows OpenSSH's StrictModes rule: owned by the user
# or root and writable by no one else. A 0755 directory of the user's serves the socket (0600); a
# group-writable one, another user's, and /tmp (1777), named directly or through a symbolic link,
# are refused with a warning that names the real directory and why, while the host runs on
# normally and no socket appears. Host: tests/hosts/conn_holder.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/conn_holder
[ -x "$HOST" ] || fail "build it first: make build/hosts/conn_holder"

# start NAME PATH: conn_holder under the shim with CONNWARDEN_STATS=PATH, its stdin a fifo we
# hold; sets HPID.
start() {
  mkfifo "$T/$1.in"
  bg fed "$T/$1.in" env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_STATS="$2" "$HOST" 1 >"$T/$1.out" 2>"$T/$1.err"
  exec {CTL}>"$T/$1.in"
  HPID=$BG_PID
  wait_for 5 grep -q '^pid=' "$T/$1.out"
}
finish() { # NAME: the host ends its run normally
  exec {CTL}>&-
  local rc=0
  wait "$HPID" || rc=$?
  assert_eq "$rc" 0 "$1: exit status"
  assert_contains "$(cat "$T/$1.out")" "done" "$1 ran to its end"
}
# refused NAME DIR REALDIR REASON: a socket in DIR is refused with a warning naming REALDIR
refused() {
  local sock=$2/cw-strict-$$.sock
  start "$1" "$sock"
  wait_for 5 grep -qF "stats off" "$T/$1.err"
  assert_contains "$(cat "$T/$1.err")" "connwarden[$HPID]: stats off: $3 $4" "$1: the warning"
  [ ! -e "$sock" ] || fail "$1: a socket was made at $sock"
  finish "$1"
}

# 1. A 0755 directory of the user's: the socket is made there, private, and answers.
mkdir -m 0755 "$T/own"
start own "$T/own/app.sock"
wait_for 5 test -S "$T/own/app.sock"
assert_eq "$(jq_py "$(query "$T/own/app.sock" stats)" 'j["pid"]')" "$HPID" "the host answers"
assert_eq "$(stat -c '%a %u' "$T/own/app.sock")" "600 $(id -u)" "socket mode and owner"
assert_eq "$(stat -c '%a' "$T/own")" 755 "the directory is left as it was"
assert_eq "$(cat "$T/own.err")" "" "no warning"
finish own
[ ! -e "$T/own/app.sock" ] || fail "socket left behind"

# ... and through a symbolic link to it
ln -s "$T/own" "$T/ownlink"
start ownlink "$T/ownlink/app.sock"
wait_for 5 test -S "$T/own/app.sock"
assert_eq "$(jq_py "$(query "$T/ownlink/app.sock" stats)" 'j["pid"]')" "$HPID" "the host answers through the link"
finish ownlink

# 2. Refused: /tmp, by name and through a link; a group-writable directory; another user's.
[ "$(stat -c '%a' /tmp)" = 1777 ] || fail "/tmp is not 1777 here: $(stat -c '%a' /tmp)"
refused tmp /tmp /tmp "is writable by group or others (mode 1777)"
ln -s /tmp "$T/tmplink"
refused tmplink "$T/tmplink" /tmp "is writable by group or others (mode 1777)"
mkdir -m 0775 "$T/group"
refused group "$T/group" "$T/group" "is writable by group or others (mode 0775)"
ln -s "$T/group" "$T/grouplink"
refused grouplink "$T/grouplink" "$T/group" "is writable by group or others"
if [ "$(id -u)" = 0 ]; then
  mkdir -m 0755 "$T/others" && chown nobody "$T/others"
  refused others "$T/others" "$T/others" "is owned by another user"
else
  note "not root: the other-owner case needs chown, skipped"
fi
