# connwarden --version names the version the library reports; --help (and help) documents every
# verb and every run option on stdout with status 0; no verb or an unknown one is a usage error.
. "$(dirname "$0")/lib.bash"

assert_eq "$("$CW" --version)" "connwarden 0.1.0" "--version"
# the same version as the library's stats reply
cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname())
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
bg env LD_PRELOAD="$CW_PRELOAD" "$PY" "$T/host.py" "$T/ready"
wait_for 5 test -s "$T/ready"
wait_for 5 test -S "$(sock_of "$BG_PID")"
assert_eq "connwarden $(stat_of "$BG_PID" 'j["version"]')" "$("$CW" --version)" "CLI and library versions"

help=$("$CW" --help)
assert_eq "$("$CW" help)" "$help" "help is --help"
assert_eq "$("$CW" stats --help)" "$help" "VERB --help is --help"
for v in "run [OPTIONS]" "stats [--json|--prom] [PID|SOCKET]" "conns [--json] [--stacks] [PID|SOCKET]" "ls" \
  "set PID|SOCKET NAME VALUE" "--version"; do
  assert_contains "$help" "  $v" "help shows $v"
done
for o in max-conns max-conns-per-dest on-cap queue-timeout cap-errno idle-timeout max-lifetime \
  reap-grace only exclude stats rundir check-leaks leak-exitcode report backtrace log; do
  assert_contains "$help" "  --$o " "help shows --$o"
  # and run knows it: a known option never gets "unknown option"
  err=$("$CW" run "--$o=1" 2>&1 || true)
  assert_not_contains "$err" "unknown option" "run accepts --$o"
done

rc=0; err=$("$CW" 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 2 "no verb: status"
assert_contains "$err" "usage: connwarden" "no verb: usage on stderr"
rc=0; err=$("$CW" frobnicate 2>&1) || rc=$?
assert_eq "$rc" 2 "unknown verb: status"
assert_eq "$err" "connwarden: unknown command 'frobnicate' (see connwarden --help)" "unknown verb: message"
rc=0; err=$("$CW" --frob 2>&1) || rc=$?
assert_eq "$rc" 2 "unknown option: status"
assert_contains "$err" "connwarden: unknown option '--frob'" "unknown option: message"
rc=0; err=$("$CW" ls extra 2>&1) || rc=$?
assert_eq "$rc" 2 "ls takes no arguments"
