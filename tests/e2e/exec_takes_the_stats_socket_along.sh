# exec removes the stats socket (the new image makes its own if it runs the shim); a failed exec
# puts it back. Python's os.execv goes through glibc's execv, which calls execve internally.
. "$(dirname "$0")/lib.bash"

cat >"$T/host.py" <<'PY'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
c = socket.create_connection(l.getsockname())
print(os.getpid(), flush=True)
while not os.path.exists(sys.argv[1]):   # bounded by the test's own wait
    time.sleep(0.02)
try:
    os.execv("/nonexistent/program", ["x"])
except OSError as e:
    print("exec failed", e.errno, flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
os.execv("/bin/sleep", ["sleep", "2"])   # no TCP in the new image: it makes no socket
PY

exec 3< <(LD_PRELOAD=$CW_PRELOAD timeout 20 $PY "$T/host.py" "$T/go1" "$T/go2")
read -r -t 10 pid <&3 || fail "host did not start"
CW_PIDS+=("$pid")
sock=$(sock_of "$pid")
wait_for 5 test -S "$sock"
assert_eq "$(stat_of "$pid" 'j["active"]["out"]')" 1 "before exec"

touch "$T/go1"
read -r -t 10 line <&3 || fail "no word from the failed exec"
assert_eq "$line" "exec failed 2" "exec of a missing program fails as without the shim"
wait_for 5 test -S "$sock"
assert_eq "$(stat_of "$pid" 'j["active"]["out"]')" 1 "the socket answers again after the failed exec"

touch "$T/go2"
wait_for 5 bash -c "[ \"\$(cat /proc/$pid/comm 2>/dev/null)\" = sleep ]"
[ ! -e "$sock" ] || fail "the stats socket outlived the image that served it"
