# A daemon started with its stdio closed gets one of its TCP connections as fd 2. The shim's event
# lines never go into it: the peer reads the host's own bytes and nothing else. With
# CONNWARDEN_REPORT=DIR the lines are in DIR/connwarden.PID.log; without it they are dropped and
# counted (stats log_dropped, metrics connwarden_log_lines_dropped_total). fd 2 is asked about at
# every line: once the host puts a file back there, the lines go to it again. The lines come from
# refusals at a cap of 1 (the sink itself is left out of the cap). Host: tests/hosts/stderr_sock.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/stderr_sock
[ -x "$HOST" ] || fail "build it first: make build/hosts/stderr_sock"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

# sink NAME: a listener on 127.0.0.1 that keeps every byte it receives in $T/NAME.bytes; its port
# in $T/NAME.port
cat >"$T/sink.py" <<'PYEOF'
import os, socket, sys, threading
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
out = open(sys.argv[1] + ".bytes", "ab", buffering=0)
def serve(c):
    while True:
        b = c.recv(65536)
        if not b:
            return
        out.write(b)
with open(sys.argv[1] + ".port.tmp", "w") as f:
    f.write(str(l.getsockname()[1]))
os.rename(sys.argv[1] + ".port.tmp", sys.argv[1] + ".port")
while True:
    threading.Thread(target=serve, args=(l.accept()[0],), daemon=True).start()
PYEOF
sink() {
  bg $PY "$T/sink.py" "$T/$1"
  wait_for 5 test -s "$T/$1.port"
  : >>"$T/$1.bytes"
}

# run NAME COMMAND: tell the host a command and wait for its answer (its next stdout line), in $ANS
declare -A ASKED
answered() { [ "$(wc -l <"$T/$1.out")" -ge "$2" ]; }
run() {
  local n=$((${ASKED[$1]:-0} + 1))
  ASKED[$1]=$n
  tell "$1" "$2"
  wait_for 5 answered "$1" "$n"
  ANS=$(sed -n "${n}p" "$T/$1.out")
}
cap() { echo CONNWARDEN_MAX_CONNS=1 CONNWARDEN_ON_CAP=refuse CONNWARDEN_EXCLUDE=:"$(cat "$T/$1.port")"; }
LINE='refused: connect fd [0-9]+ to 127\.0\.0\.1:[0-9]+ at the cap \(cap 1, per destination 0\)$'

# 1. The daemon: no stderr at start, its first socket (to the sink) takes number 2.
sink s1
host daemon sh -c 'exec "$@" 2>&-' sh env LD_PRELOAD="$CW_PRELOAD" $(cap s1) CONNWARDEN_REPORT="$T/reports" \
  "$HOST" "$(cat "$T/s1.port")"
run daemon sink
assert_eq "$ANS" "sink fd=2" "the daemon's first socket"
run daemon "say hello from the host"
run daemon hold
assert_eq "$ANS" "hold ok" "the daemon's one connection under the cap"
run daemon "connect 5"
assert_eq "$ANS" "connect ok=0 refused=5 other=0" "connects past the cap"
LOG=$T/reports/connwarden.$PID_daemon.log
has_summary() { grep -q "refused: 4 more in the last" "$LOG"; }
wait_for 5 has_summary
run daemon "say bye"
grep -qE "^connwarden\[$PID_daemon\]: $LINE" "$LOG" || fail "the report file lacks the refusal: $(cat "$LOG")"
grep -qE "^connwarden\[$PID_daemon\]: refused: 4 more in the last [0-9]+\.[0-9]s$" "$LOG" ||
  fail "the report file lacks the summary: $(cat "$LOG")"
assert_eq "$(wc -l <"$LOG")" 2 "lines in the report file"
assert_eq "$(ls "$T/reports")" "connwarden.$PID_daemon.log" "files in the report directory"
assert_eq "$(stat_of "$PID_daemon" '(j["refused"], j["log_dropped"])')" "(5, 0)" "the daemon's refused and log_dropped"
exec {CTL_daemon}>&-
wait "$PID_daemon" || fail "the daemon failed: $(cat "$T/daemon.out")"
assert_eq "$(cat "$T/s1.bytes")" $'hello from the host\nbye' "what the daemon's stderr peer received"
assert_eq "$(cat "$T/daemon.err")" "" "stderr of the daemon's starter"

# 2. stderr a file, then the sink, then the file again; no report directory.
sink s2
host change env LD_PRELOAD="$CW_PRELOAD" $(cap s2) "$HOST" "$(cat "$T/s2.port")"
run change hold
run change "connect 1"
assert_eq "$ANS" "connect ok=0 refused=1 other=0" "a connect past the cap"
assert_eq "$(grep -cE "^connwarden\[$PID_change\]: $LINE" "$T/change.err")" 1 "the refusal on stderr, a file"
sleep 1.1 # the next refusal opens a new second: it is written (somewhere), not only counted
run change sink
run change "say hello again"
run change "connect 3"
assert_eq "$ANS" "connect ok=0 refused=3 other=0" "connects past the cap, stderr a TCP socket"
dropped() { [ "$(stat_of "$PID_change" 'j["log_dropped"]')" = "$1" ]; }
wait_for 5 dropped 2 # the refusal, then its "2 more" summary at the reaper's next tick
assert_eq "$(query "$(sock_of "$PID_change")" metrics | sed -n 's/^connwarden_log_lines_dropped_total //p')" 2 \
  "connwarden_log_lines_dropped_total"
run change restore
run change "connect 1"
assert_eq "$(grep -cE "^connwarden\[$PID_change\]: $LINE" "$T/change.err")" 2 "the refusal on stderr, a file again"
assert_eq "$(wc -l <"$T/change.err")" 2 "lines on the file"
assert_eq "$(stat_of "$PID_change" '(j["refused"], j["log_dropped"])')" "(5, 2)" "refused and log_dropped"
wait_for 5 test -s "$T/s2.bytes"
assert_eq "$(cat "$T/s2.bytes")" "hello again" "what the peer received while it was stderr"
