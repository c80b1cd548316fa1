# connwarden run --check-leaks over a whole process tree: a shell runs two Python and two C
# programs; one of each leaks a connection. The run exits 23 and its summary names both leaking
# processes (PID, program, command line), both peers, the C program's leaking function (frame #0,
# with file and line), and "2 leaked connections in 2 of N processes". The same tree without leaks
# exits 0 with a clean summary; a failing command keeps its status (also when killed by a signal);
# the check never changes the tree's own statuses; without addr2line frames keep the loader's
# names and module+offset. Hosts: leaks_server.py (the services, outside
# the tree), leaks_client.py, leaks_worker.c.
. "$(dirname "$0")/lib.bash"
WORKER=$HOSTS/leaks_worker
[ -x "$WORKER" ] || fail "build it first: make build/hosts/leaks_worker"

bg "$PY" "$HOSTSRC/leaks_server.py" "$T/ports" metrics cache --max-secs 60
wait_for 10 test -s "$T/ports"
metrics=$(sed -n 's/^metrics=//p' "$T/ports") cache=$(sed -n 's/^cache=//p' "$T/ports")

# tree PY_MODE C_MODE [TAIL]: the shell command; each program appends "pid=..." to $T/out
tree() {
  echo "set -e; $PY $HOSTSRC/leaks_client.py $1 $metrics >>$T/out; $WORKER $2 $cache >>$T/out;" \
    "$PY $HOSTSRC/leaks_client.py close $metrics >>$T/out; $WORKER close $cache >>$T/out; echo reached >>$T/out; ${3:-exit 0}"
}
# run_tree ARGS...: connwarden ARGS; status in RC, stderr in ERR, the programs' lines in OUT. A
# sanitizer runtime (make check-asan) goes in the LD_PRELOAD run inherits, so it stays first.
run_tree() {
  RC=0
  : >"$T/out"
  "${CW_ENV[@]}" "$CW" "$@" 2>"$T/err" || RC=$?
  ERR=$(cat "$T/err") OUT=$(cat "$T/out")
}
pid_of() { sed -n "$1p" <<<"$OUT" | sed 's/^pid=\([0-9]*\).*/\1/'; }

# 0. Without the shim the same tree runs to the end and says nothing about leaks.
RC=0; : >"$T/out"; sh -c "$(tree leak leak)" 2>"$T/err" || RC=$?
assert_eq "$RC" 0 "the tree on its own"
assert_eq "$(tail -n1 "$T/out")" reached "the tree on its own runs to its end"
assert_eq "$(cat "$T/err")" "" "the tree on its own prints nothing on stderr"

# 1. Two leaks: status 23, one block per leaking process, one total line.
run_tree run --check-leaks -- sh -c "$(tree leak leak)"
assert_eq "$RC" 23 "status of a leaking tree"
assert_eq "$(tail -n1 <<<"$OUT")" reached "the check leaves the tree's own statuses alone (set -e ran on)"
py=$(pid_of 1) c=$(pid_of 2) py_clean=$(pid_of 3) c_clean=$(pid_of 4)
pusher=$(sed -n '1s/.*pusher_local=//p' <<<"$OUT") c_local=$(sed -n '2s/.*local=//p' <<<"$OUT")
[ -n "$py" ] && [ -n "$c" ] && [ -n "$py_clean" ] && [ -n "$c_clean" ] || fail "programs printed no pids: $OUT"

assert_contains "$ERR" "==$py==ERROR: connwarden: 1 leaked connection (1 open at exit, 0 close-wait)" "Python header"
assert_contains "$ERR" "Process $py (python3), parent " "Python process line"
assert_contains "$ERR" "exit status 0: $PY $HOSTSRC/leaks_client.py leak $metrics" "Python command line"
grep -qE "^Leaked connection fd [0-9]+ out 127\.0\.0\.1:$pusher -> 127\.0\.0\.1:$metrics ESTABLISHED, age [^,]+, idle [^,]+, in 16 B, out 13 B, opened at:$" <<<"$ERR" ||
  fail "no leak line for the Python pusher 127.0.0.1:$pusher -> :$metrics: $ERR"
assert_contains "$ERR" "SUMMARY: connwarden: 1 leaked connection in python3 leaks_client.py (pid $py)" "Python summary: the interpreter and its script"

assert_contains "$ERR" "==$c==ERROR: connwarden: 1 leaked connection (1 open at exit, 0 close-wait)" "C header"
assert_contains "$ERR" "Process $c (leaks_worker), parent " "C process line"
grep -qE "^Leaked connection fd 3 out 127\.0\.0\.1:$c_local -> 127\.0\.0\.1:$cache ESTABLISHED, .*in 15 B, out 12 B, opened at:$" <<<"$ERR" ||
  fail "no leak line for the C worker 127.0.0.1:$c_local -> :$cache: $ERR"
block=$(sed -n "/^==$c==ERROR/,/^SUMMARY: connwarden: 1 leaked connection in leaks_worker leak (pid $c)$/p" <<<"$ERR")
[ -n "$block" ] || fail "no block for the C worker: $ERR"
grep -qE '^    #0 0x[0-9a-f]+ in open_cache_connection .*leaks_worker\.c:[0-9]+$' <<<"$block" ||
  fail "frame #0 does not name the leaking function with its source line: $block"
grep -qE '^    #1 0x[0-9a-f]+ in main ' <<<"$block" || fail "frame #1 is not main: $block"
assert_not_contains "$ERR" "libconnwarden" "the library's own frames are left out"

assert_not_contains "$ERR" "==$py_clean==" "the Python program that closed is not reported"
assert_not_contains "$ERR" "==$c_clean==" "the C program that closed is not reported"
assert_eq "$(grep -c '^Leaked connection' <<<"$ERR")" 2 "leak lines"
last=$(tail -n1 <<<"$ERR")
[[ $last =~ ^SUMMARY:\ connwarden:\ 2\ leaked\ connections\ in\ 2\ of\ ([0-9]+)\ processes$ ]] ||
  fail "the last line is not the total: $last"
[ "${BASH_REMATCH[1]}" -ge 4 ] || fail "fewer than the 4 programs counted: $last"

# 2. The same tree without leaks: status 0 and a clean summary.
run_tree run --check-leaks -- sh -c "$(tree close close)"
assert_eq "$RC" 0 "status of a clean tree"
assert_not_contains "$ERR" "ERROR" "a clean tree has no error block"
assert_not_contains "$ERR" "Leaked connection" "a clean tree lists no leak"
[[ $(tail -n1 <<<"$ERR") =~ ^SUMMARY:\ connwarden:\ 0\ leaked\ connections\ in\ ([0-9]+)\ processes$ ]] ||
  fail "no clean total line: $ERR"
[ "${BASH_REMATCH[1]}" -ge 4 ] || fail "fewer than the 4 programs counted: $ERR"

# 3. A failing command keeps its status, and the leaks are still reported.
run_tree run --check-leaks -- sh -c "$(tree leak leak 'exit 3')"
assert_eq "$RC" 3 "a failing command's own status wins"
assert_contains "$ERR" "SUMMARY: connwarden: 2 leaked connections in 2 of" "leaks still reported"
run_tree run --check-leaks -- sh -c "$(tree close leak 'kill -TERM $$')"
assert_eq "$RC" 143 "a command killed by SIGTERM: 128+15"
assert_contains "$ERR" "SUMMARY: connwarden: 1 leaked connection in 1 of" "leak of a killed command's child"

# 4. --leak-exitcode chooses the status on leaks; the command itself is not found: 127.
run_tree run --check-leaks --leak-exitcode 9 -- sh -c "$(tree close leak)"
assert_eq "$RC" 9 "status with --leak-exitcode 9"
assert_eq "$(tail -n1 <<<"$OUT")" reached "--leak-exitcode is run's status, not each process's"
run_tree run --check-leaks -- cw-no-such-command
assert_eq "$RC" 127 "a missing command"
assert_contains "$ERR" "connwarden: cw-no-such-command: command not found" "missing command message"

# 5. Without addr2line the stack keeps what the loader knows: the exported function, module+offset.
CONNWARDEN_ADDR2LINE=off run_tree run --check-leaks -- "$WORKER" leak "$cache"
assert_eq "$RC" 23 "status without addr2line"
grep -qE "^    #0 0x[0-9a-f]+ in open_cache_connection \($WORKER\+0x[0-9a-f]+\)$" <<<"$ERR" ||
  fail "frame #0 without addr2line: $ERR"
assert_not_contains "$ERR" "leaks_worker.c:" "no file and line without addr2line"
assert_contains "$ERR" "connwarden: note: addr2line (binutils) not found" "the note says why"
