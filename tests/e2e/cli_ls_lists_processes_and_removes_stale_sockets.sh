# connwarden ls lists the live shimmed processes with their counters and names (derived from the
# command line: the interpreter and its script) and removes stale sockets
# without a word: one left by a process killed with SIGKILL, and one nobody listens on. The query
# verbs without a target use the one live process, and name them all when there are several.
# The run directories outside this test's own (/run/connwarden for root, /tmp/connwarden-UID) may
# hold other people's processes: checks that need "no others" say so when they cannot run.
. "$(dirname "$0")/lib.bash"
export XDG_RUNTIME_DIR=$T/xdg # keep the user's session directory out of it

cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
keep = []
for _ in range(int(sys.argv[2])):
    keep.append(socket.create_connection(l.getsockname())); keep.append(l.accept()[0])
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
start() { # NAME CONNECTIONS: start a shimmed host, its PID in $BG_PID once it is ready
  bg env LD_PRELOAD="$CW_PRELOAD" "$PY" "$T/host.py" "$T/$1.ready" "$2"
  wait_for 5 test -s "$T/$1.ready"
  wait_for 5 test -S "$(sock_of "$BG_PID")"
}
alone=0
[ "$("$CW" ls)" = "no shimmed processes" ] && alone=1
[ $alone = 1 ] || note "other shimmed processes run outside this test: exact-output checks skipped"

start a 2; a=$BG_PID
start b 1; b=$BG_PID
kill -9 "$b"
wait_for 5 sh -c "! kill -0 $b"
[ -S "$(sock_of "$b")" ] || fail "a SIGKILLed process should leave its socket behind"
# a socket named after a live PID (this shell) that nobody listens on
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$(sock_of $$)"
[ -S "$(sock_of $$)" ] || fail "could not create the unlistened socket"
echo notes >"$CONNWARDEN_RUNDIR/notes.txt"

out=$("$CW" ls)
grep -qE '^ *PID +COMM +ACTIVE +IN +OUT +PEAK +OPENED +SOCKET +NAME$' <<<"$(head -1 <<<"$out")" || fail "header: $out"
row=$(awk -v p="$a" '$1 == p' <<<"$out")
want="$a python3 $(stat_of "$a" '"%d %d %d %d %d" % (j["active"]["total"], j["active"]["in"], j["active"]["out"], j["peak"]["total"], j["opened"]["in"] + j["opened"]["out"])') $(sock_of "$a") $(stat_of "$a" 'j["name"]')"
assert_eq "$(awk '{$1=$1; print}' <<<"$row")" "$want" "the live process's line"
assert_eq "$want" "$a python3 4 2 2 4 4 $(sock_of "$a") python3 host.py" "the host's own numbers and name"
assert_not_contains "$out" "$(sock_of "$b")" "the killed process is not listed"
[ ! -e "$(sock_of "$b")" ] || fail "the killed process's socket was not removed"
[ ! -e "$(sock_of $$)" ] || fail "the socket nobody listens on was not removed"
[ -e "$CONNWARDEN_RUNDIR/notes.txt" ] || fail "ls removed a file that is not a stats socket"
[ $alone = 0 ] || assert_eq "$(($(wc -l <<<"$out") - 1))" 1 "exactly one process listed"

# no target: the only live one, or a list of all when there are several
if [ $alone = 1 ]; then
  assert_eq "$(jq_py "$("$CW" stats --json)" 'j["pid"]')" "$a" "stats without a target"
fi
start c 1; c=$BG_PID
rc=0; err=$("$CW" conns 2>&1) || rc=$?
assert_eq "$rc" 2 "several processes and no target: exit status"
assert_contains "$err" "connwarden: " "several processes: prefix"
assert_contains "$err" "$a (python3)" "several processes: names the first"
assert_contains "$err" "$c (python3)" "several processes: names the second"
out=$("$CW" ls)
assert_eq "$(awk -v a="$a" -v c="$c" '$1 == a || $1 == c' <<<"$out" | wc -l)" 2 "both listed"

# none left: ls says so, a query without a target fails with one line
kill -9 "$a" "$c"
wait_for 5 sh -c "! kill -0 $a 2>/dev/null && ! kill -0 $c 2>/dev/null"
out=$("$CW" ls)
assert_not_contains "$out" "$CONNWARDEN_RUNDIR" "no process of this test listed"
[ -z "$(ls "$CONNWARDEN_RUNDIR" | grep '\.sock$')" ] || fail "stale sockets left: $(ls "$CONNWARDEN_RUNDIR")"
if [ $alone = 1 ]; then
  assert_eq "$out" "no shimmed processes" "ls with none"
  rc=0; err=$("$CW" stats 2>&1) || rc=$?
  assert_eq "$rc" 1 "stats with none: exit status"
  assert_contains "$err" "connwarden: no shimmed processes" "stats with none: message"
fi
