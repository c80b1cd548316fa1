# connwarden stats shows the numbers of the stats reply: the human view has the same counters as
# --json (with sizes in units and the exact count beside them), a destinations table, and the
# caps; --prom prints the Prometheus metrics. A host with a cap of 3 that is refused once and
# closes one connection makes every counter distinct.
. "$(dirname "$0")/lib.bash"

cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(16)
outs, ins = [], []
def connect():
    c = socket.create_connection(l.getsockname()); outs.append(c); ins.append(l.accept()[0])
for _ in range(3):
    connect()
try:
    socket.create_connection(l.getsockname())  # the fourth: refused at the cap
    sys.exit("not refused")
except ConnectionRefusedError:
    pass
outs.pop(0).close()
connect()
outs[0].sendall(b"x" * 3000)
got = 0
while got < 3000:
    got += len(ins[1].recv(65536))
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
bg env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=3 CONNWARDEN_ON_CAP=refuse CONNWARDEN_IDLE_TIMEOUT=120s CONNWARDEN_LOG=error \
  "$PY" "$T/host.py" "$T/ready"
pid=$BG_PID
wait_for 5 test -s "$T/ready"

json=$("$CW" stats --json "$pid")
human=$("$CW" stats "$pid")
j() { jq_py "$json" "$1"; }
assert_eq "$(j 'j["pid"]')" "$pid" "--json is the stats reply of the process"
assert_eq "$(j 'j["refused"]')" 1 "the host was refused once"

# the numbers on a labelled line, in order
nums() { grep -E "^$1  " <<<"$human" | sed "s/^$1 *//" | grep -oE '[0-9]+(\.[0-9]+)?' | tr '\n' ' ' | sed 's/ $//'; }
line() { grep -E "^$1  " <<<"$human" | sed "s/^$1 *//"; }
assert_eq "$(nums pid)" "$pid" "pid"
assert_eq "$(nums active)" "$(j '"%d %d %d %d" % (j["active"]["total"], j["active"]["in"], j["active"]["out"], j["config"]["max_conns"])')" "active and the cap"
for k in peak; do
  assert_eq "$(nums $k)" "$(j '"%d %d %d" % (j["peak"]["total"], j["peak"]["in"], j["peak"]["out"])')" "$k"
done
for k in opened closed; do
  assert_eq "$(nums $k)" "$(j '"%d %d %d" % (j["'$k'"]["in"] + j["'$k'"]["out"], j["'$k'"]["in"], j["'$k'"]["out"])')" "$k"
done
assert_eq "$(nums refused)" "$(j 'j["refused"]')" "refused"
assert_eq "$(line waited)" "$(j '"%d (%dms in total)" % (j["waited"], j["wait_ms"])')" "waited and the time"
assert_eq "$(nums queued)" "$(j 'j["queued"]')" "queued"
assert_eq "$(nums 'queue timeouts')" "$(j 'j["queue_timeouts"]')" "queue timeouts"
assert_eq "$(nums reaped)" "$(j '"%d %d %d %d %d" % (sum(j["reaped"].values()), j["reaped"]["idle"], j["reaped"]["lifetime"], j["reaped"]["manual"], j["reaped"]["evicted"])')" "reaped"
assert_eq "$(nums released)" "$(j 'j["released"]')" "released"
assert_eq "$(nums 'close-wait leaks')" "$(j '"%d %d" % (j["close_wait_leaks"], j["close_wait_now"])')" "close-wait leaks"
assert_eq "$(nums abandoned)" "$(j '"%d %d" % (j["abandoned"], j["abandoned_now"])')" "abandoned"
for k in inherited untracked; do assert_eq "$(nums $k)" "$(j 'j["'$k'"]')" "$k"; done
assert_eq "$(nums 'missed closes')" "$(j 'j["missed_closes"]')" "missed closes"
assert_eq "$(line bytes)" "$(j '"in %.1f KiB (%d B), out %.1f KiB (%d B)" % (j["bytes"]["in"] / 1024, j["bytes"]["in"], j["bytes"]["out"] / 1024, j["bytes"]["out"])')" "bytes in units and exact"
assert_eq "$(line 'max conns')" 3 "config: cap"
assert_eq "$(line 'max conns per dest')" "0 (no cap)" "config: per-destination cap"
assert_eq "$(line 'idle timeout')" "2.0m" "config: idle timeout in units"
assert_eq "$(line 'max lifetime')" "off" "config: lifetime"
assert_contains "$(line uptime)" "s" "uptime in units"
assert_eq "$(line version)" "$(j 'j["version"]')" "version"

# destinations: one row per destination with the reply's numbers, after a header
grep -qE '^DESTINATION +PEER +ACTIVE +OPENED +REFUSED +REAPED$' <<<"$human" || fail "destinations header: $human"
want=$(j '"\n".join("%s %s %d %d %d %d" % (d["dest"], d["peer"], d["active"], d["opened"], d["refused"], d["reaped"]) for d in j["destinations"])')
got=$(sed -n '/^DESTINATION /,$p' <<<"$human" | tail -n +2 | awk '{print $1, $2, $3, $4, $5, $6}')
assert_eq "$got" "$want" "destinations rows"
assert_contains "$want" "127.0.0.1:" "the host's one destination"

# --prom: the metrics reply, names prefixed connwarden_, values matching
prom=$("$CW" stats --prom "$pid")
for m in connections_active connections_peak connections_opened_total connections_closed_total \
  connect_refused_total connect_waited_total connect_queued connect_wait_seconds_total \
  connect_queue_timeouts_total \
  connections_reaped_total connections_released_total close_wait_leaks_total close_wait_leaks \
  connections_abandoned_total connections_abandoned bytes_total \
  connection_duration_seconds max_connections; do
  assert_contains "$prom" "# TYPE connwarden_$m " "metric $m"
done
assert_contains "$prom" 'connwarden_connections_active{direction="out"} 3' "active out in metrics"
assert_contains "$prom" 'connwarden_connect_refused_total 1' "refused in metrics"
assert_contains "$prom" 'connwarden_max_connections 3' "cap in metrics"
assert_not_contains "$prom" '{"' "--prom is not JSON"

rc=0; err=$("$CW" stats --json --prom "$pid" 2>&1) || rc=$?
assert_eq "$rc" 2 "--json with --prom"
assert_contains "$err" "connwarden: stats: --json and --prom" "--json with --prom message"
rc=0; err=$("$CW" stats --yaml "$pid" 2>&1) || rc=$?
assert_eq "$rc" 2 "unknown stats option"
