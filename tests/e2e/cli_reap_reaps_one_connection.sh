# `connwarden reap PID FD` reaps that connection now: the host's blocked read returns EOF, and
# stats count a manual reap; an fd that is not a tracked connection is an error.
. "$(dirname "$0")/lib.bash"

cat >"$T/host.py" <<'PY'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
print(os.getpid(), c.fileno(), flush=True)
c.settimeout(10)
t0 = time.monotonic(); data = c.recv(10)          # the peer never sends: only a reap ends this
print("recv", data, round(time.monotonic() - t0, 1), flush=True)
deadline = time.monotonic() + 10
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.02)
PY
exec 3< <(LD_PRELOAD=$CW_PRELOAD timeout 20 $PY "$T/host.py" "$T/done")
read -r -t 10 pid fd <&3 || fail "host did not start"
CW_PIDS+=("$pid")
wait_for 5 test -S "$(sock_of "$pid")"

out=$("$CW" reap "$pid" 99999 2>&1) && fail "reap of an untracked fd succeeded: $out"
assert_contains "$out" "not a tracked connection" "untracked fd"
rc=0; out=$("$CW" reap "$pid" nine 2>&1) || rc=$?
assert_eq "$rc" 2 "a non-number is a usage error"

sleep 0.3
out=$("$CW" reap "$pid" "$fd") || fail "reap failed: $out"
assert_contains "$out" "ok reaped fd $fd" "reply"
read -r -t 5 line <&3 || fail "the blocked read did not return after the reap"
assert_contains "$line" "recv b''" "the host saw EOF"
assert_eq "$(stat_of "$pid" 'j["reaped"]["manual"]')" 1 "manual reaps"
touch "$T/done"
