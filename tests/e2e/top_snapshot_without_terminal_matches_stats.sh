# connwarden top with stdout not a terminal prints one plain snapshot (no escape sequences, no key
# help) with the numbers of the stats and conns replies, rates measured over one second, every
# destination, and exits 0; the bar compares with the cap, or the peak without one. A process
# that is gone, or a bad command line, ends it with status 1 or 2 and one line.
. "$(dirname "$0")/lib.bash"
make -s -C "$ROOT" "build/hosts/conn_holder" >/dev/null

holder() { # VAR=VALUE...: a shimmed conn_holder with $N connections; its pid in $BG_PID
  local fifo=$T/in.$RANDOM
  mkfifo "$fifo"
  exec {keep}<>"$fifo" # a writer that stays: the holder keeps its connections until the test ends
  # (a background command's stdin would be /dev/null: the redirection goes inside, same PID)
  bg sh -c 'exec "$@" <"$0" >/dev/null' "$fifo" env LD_PRELOAD="$CW_PRELOAD" "$@" "$HOSTS/conn_holder" "$N"
  wait_for 5 test -S "$(sock_of "$BG_PID")"
  wait_for 5 holds "$BG_PID" "$N"
}
holds() { [ "$(stat_of "$1" 'j["active"]["out"]')" = "$2" ]; }

N=5
holder CONNWARDEN_MAX_CONNS=8
pid=$BG_PID
start=$(date +%s%N)
"$CW" top "$pid" >"$T/snap.txt"
took=$((($(date +%s%N) - start) / 1000000))
snap=$(cat "$T/snap.txt")
json=$(query "$(sock_of "$pid")" stats)
j() { jq_py "$json" "$1"; }
line() { grep -E "^$1 " <<<"$snap" | head -1; }

! grep -q $'\e' "$T/snap.txt" || fail "escape sequences in the snapshot: $(cat -A "$T/snap.txt")"
assert_not_contains "$snap" "q quit" "no key help in a snapshot"
[ "$took" -ge 950 ] || fail "rates need two samples a second apart; took ${took}ms"
[ "$took" -lt 4000 ] || fail "one snapshot took ${took}ms"
assert_contains "$(line connwarden)" "connwarden top - pid $pid (conn_holder $N)" "title: the process's name"
assert_eq "$(line active)" "active   $N (in 0, out $N)  [###############.........] out $N of cap 8" "active, a bar of 5/8 of 24 marks, the cap"
assert_eq "$(line peak)" "peak     $(j '"%d (in %d, out %d)" % (j["peak"]["total"], j["peak"]["in"], j["peak"]["out"])')" "peak"
assert_eq "$(line rates)" "rates    opened 0.0/s  closed 0.0/s  refused 0.0/s  reaped 0.0/s" "rates of a quiet host"
assert_eq "$(line opened)" "opened   $N (in 0, out $N)  closed 0 (in 0, out 0)  refused 0" "opened"
assert_eq "$(line waited)" "waited   0 (0ms in total)  queued 0  bytes in 0 B, out $(j 'j["bytes"]["out"]') B" "bytes"
assert_eq "$(j 'j["bytes"]["out"]')" $((5 * N)) "the holder wrote hello on each"
dest=$(sed -n '/^DESTINATION /,/^$/p' <<<"$snap" | sed '1d;/^$/d' | awk '{print $1, $2, $3, $4, $5}')
assert_eq "$dest" "$(j '"\n".join("%s %d %d %d %d" % (d["peer"], d["active"], d["opened"], d["refused"], d["reaped"]) for d in j["destinations"])')" "destinations"
oldest=$(sed -n '/^OLDEST FD/,/^$/p' <<<"$snap" | sed '1d;/^$/d')
conns=$(query "$(sock_of "$pid")" conns)
assert_eq "$(awk '{print $1, $2, $3}' <<<"$oldest" | sort -n)" "$(jq_py "$conns" '"\n".join("%d %s %s" % (c["fd"], c["dir"], c["state"]) for c in sorted(j, key=lambda c: c["fd"]))')" "every connection among the oldest"
assert_eq "$(awk '{print $6, $7, $8, $9, $NF}' <<<"$oldest" | sort -u)" "0 B 5 B $(j 'j["destinations"][0]["peer"]')" "bytes and peer of each"
grep -qE '^IDLEST FD ' <<<"$snap" || fail "idlest table: $snap"

# without a cap the bar is against the peak
N=2
holder
nocap=$("$CW" top "$BG_PID" | grep '^active ')
assert_eq "$nocap" "active   2 (in 0, out 2)  [########################] out 2 of peak 2, no cap" "no cap"

# a host that churns: the rates are real
cat >"$T/churn.py" <<'PYEOF'
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(16)
open(sys.argv[1], "w").write("x")
end = time.monotonic() + 20
while time.monotonic() < end:
    c = socket.create_connection(l.getsockname()); s = l.accept()[0]
    c.close(); s.close()
    time.sleep(0.02)
PYEOF
bg env LD_PRELOAD="$CW_PRELOAD" "$PY" "$T/churn.py" "$T/churn.ready"
wait_for 5 test -s "$T/churn.ready"
rates=$("$CW" top "$BG_PID" | grep '^rates ')
opened_rate=$(sed -E 's/.*opened ([0-9.]+)\/s.*/\1/' <<<"$rates")
closed_rate=$(sed -E 's/.*closed ([0-9.]+)\/s.*/\1/' <<<"$rates")
# about 2 connections (connect + accept) every 20 ms: far above 5/s, below the 200/s a loop
# without the sleep could not reach either
$PY -c "import sys; r=[float(x) for x in sys.argv[1:]]; sys.exit(0 if all(5 < x < 200 for x in r) else 1)" \
  "$opened_rate" "$closed_rate" || fail "churn rates: $rates"
assert_contains "$rates" "refused 0.0/s  reaped 0.0/s" "nothing refused or reaped"

# gone, or wrong: one line and the status
kill -9 "$pid"
wait_for 5 sh -c "! kill -0 $pid 2>/dev/null"
rc=0; err=$("$CW" top "$pid" 2>&1 >/dev/null) || rc=$?
assert_eq "$rc" 1 "a dead process: status"
assert_contains "$err" "connwarden: pid $pid: nobody is listening (the process is gone)" "a dead process: message"
rc=0; err=$("$CW" top --frob 2>&1) || rc=$?
assert_eq "$rc" 2 "unknown option: status"
assert_contains "$err" "connwarden: top: unknown option '--frob'" "unknown option: message"
rc=0; "$CW" top 1 2 2>/dev/null || rc=$?
assert_eq "$rc" 2 "two targets"
