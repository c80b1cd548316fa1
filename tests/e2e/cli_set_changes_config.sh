# connwarden set changes a policy setting of a running process: the reply is printed, the
# process's `config` shows the new value; a bad value or unknown setting is the server's error,
# printed on stderr with status 1 and no change; a wrong number of words is a usage error (2).
. "$(dirname "$0")/lib.bash"

cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
bg env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=10 "$PY" "$T/host.py" "$T/ready"
pid=$BG_PID
wait_for 5 test -s "$T/ready"
cfg() { jq_py "$(query "$(sock_of "$pid")" config)" "j[\"$1\"]"; }
assert_eq "$(cfg max_conns)" 10 "the cap before"

out=$("$CW" set "$pid" max_conns 5)
assert_eq "$out" "ok max_conns 5" "the reply is printed"
assert_eq "$(cfg max_conns)" 5 "config shows the new cap"
out=$("$CW" set "$(sock_of "$pid")" idle_timeout 2s)
assert_eq "$out" "ok idle_timeout 2s" "a socket path names the process too"
assert_eq "$(cfg idle_timeout_ms)" 2000 "config shows the new idle timeout"
assert_eq "$(cfg evict_idle_ms)" 0 "eviction off before"
assert_eq "$("$CW" set "$pid" evict_idle 1.5s)" "ok evict_idle 1.5s" "eviction is set at run time"
assert_eq "$(cfg evict_idle_ms)" 1500 "config shows the eviction's idle time"
assert_eq "$(jq_py "$("$CW" stats --json "$pid")" 'j["config"]["max_conns"]')" 5 "stats agrees"

bad() { # STATUS TEXT ARGS...: fails with one "connwarden: " line on stderr, nothing on stdout
  local want=$1 text=$2 rc=0 out; shift 2
  out=$("$CW" set "$@" 2>"$T/err") || rc=$?
  assert_eq "$rc" "$want" "status of: set $*"
  assert_eq "$out" "" "no output for: set $*"
  assert_eq "$(wc -l <"$T/err")" 1 "one line for: set $*"
  assert_contains "$(cat "$T/err")" "connwarden: " "prefix for: set $*"
  assert_contains "$(cat "$T/err")" "$text" "message for: set $*"
}
bad 1 "bad value 'lots' for max_conns" "$pid" max_conns lots
bad 1 "unknown setting 'colour'" "$pid" colour blue
bad 1 "bad value '-3s' for max_lifetime" "$pid" max_lifetime -3s
bad 1 "bad value 'soon' for evict_idle" "$pid" evict_idle soon
bad 2 "usage: connwarden set" "$pid" max_conns
bad 2 "usage: connwarden set" "$pid" max_conns 1 2
bad 2 "single words" "$pid" max_conns "1 2"
bad 2 "neither a PID nor a socket path" nosuch max_conns 1
bad 1 "no process with pid" 999999999 max_conns 1
assert_eq "$(cfg max_conns)" 5 "a refused set changes nothing"
