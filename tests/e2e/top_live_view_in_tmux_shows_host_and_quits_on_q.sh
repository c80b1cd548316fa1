# connwarden top, live in an 80x24 tmux pane, shows a running host's counters and destinations
# with the numbers of its stats reply, never draws past the pane's width or height, re-sorts the
# destinations on `s` and exits 0 on `q`. The host makes each destination distinct: A holds 3 of
# 5 opened connections and was refused once at the cap of 6; B holds 1 of 6 opened.
. "$(dirname "$0")/lib.bash"
command -v tmux >/dev/null || fail "tmux is not installed (scripts/deps installs it)"

cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
a = socket.socket(); a.bind(("127.0.0.1", 0)); a.listen(16)
b = socket.socket(); b.bind(("127.0.0.1", 0)); b.listen(16)
keep = []
def connect(l):
    c = socket.create_connection(l.getsockname()); s = l.accept()[0]; keep.extend([c, s]); return c, s
bs = [connect(b) for _ in range(6)]         # 6 of the cap of 6
for c, s in bs[1:]:
    c.close(); s.close(); keep.remove(c); keep.remove(s)
as_ = [connect(a) for _ in range(5)]        # 1 + 5: at the cap again
try:
    socket.create_connection(a.getsockname())
    sys.exit("not refused at the cap")
except ConnectionRefusedError:
    pass
for c, s in as_[3:]:
    c.close(); s.close(); keep.remove(c); keep.remove(s)
as_[0][0].sendall(b"x" * 3000)
got = 0
while got < 3000:
    got += len(as_[0][1].recv(65536))
open(sys.argv[1], "w").write("%d %d %d\n" % (os.getpid(), a.getsockname()[1], b.getsockname()[1]))
time.sleep(40)
PYEOF
bg env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=6 CONNWARDEN_ON_CAP=refuse CONNWARDEN_LOG=error \
  "$PY" "$T/host.py" "$T/ready"
wait_for 5 test -s "$T/ready"
read -r pid port_a port_b <"$T/ready"
json=$(query "$(sock_of "$pid")" stats)
j() { jq_py "$json" "$1"; }
assert_eq "$(j '[(d["active"], d["opened"], d["refused"]) for d in j["destinations"] if d["peer"].endswith(":'"$port_a"'")]')" "[(3, 5, 1)]" "host: destination A"
assert_eq "$(j '[(d["active"], d["opened"], d["refused"]) for d in j["destinations"] if d["peer"].endswith(":'"$port_b"'")]')" "[(1, 6, 0)]" "host: destination B"

# an 80x24 pane running top; its exit status lands in a file
tsock=$T/tmux.sock
tmx() { tmux -S "$tsock" "$@"; }
tmx -f /dev/null new-session -d -x 80 -y 24 -s top \
  "env CONNWARDEN_RUNDIR='$CONNWARDEN_RUNDIR' '$CW' top $pid; echo \$? >'$T/top.rc'"
CW_PIDS+=("$(tmx display-message -p '#{pid}')") # the tmux server, killed at exit
# -J: lines the terminal wrapped come back whole; it keeps blanks tmux remembers from longer
# lines it has since erased, so trailing blanks are dropped
pane() { tmx capture-pane -p -J -t top | sed 's/ *$//'; }
screen=""
shows() { screen=$(pane) && grep -qE "$1" <<<"$screen"; }
wait_for 5 shows "^rates +opened [0-9.]+/s"  # a second sample: rates are numbers, not "-"

# the counters, as in the stats reply
line() { grep -E "^$1 " <<<"$screen" | head -1; }
assert_contains "$(line connwarden)" "connwarden top - pid $pid (python3 host.py)" "title: the process's name"
assert_eq "$(line active | sed 's/ *\[.*//')" "active   $(j '"%d (in %d, out %d)" % (j["active"]["total"], j["active"]["in"], j["active"]["out"])')" "active"
assert_contains "$(line active)" "out $(j 'j["active"]["out"]') of cap 6" "active against the cap"
filled=$(line active | sed 's/.*\[\(#*\).*/\1/' | tr -d '\n' | wc -c)
assert_eq "$filled" "$(($(j 'j["active"]["out"]') * 24 / 6))" "the bar is out/cap of its 24 marks"
assert_eq "$(line peak)" "peak     $(j '"%d (in %d, out %d)" % (j["peak"]["total"], j["peak"]["in"], j["peak"]["out"])')" "peak"
assert_eq "$(line opened)" "opened   $(j '"%d (in %d, out %d)  closed %d (in %d, out %d)  refused %d" % (j["opened"]["in"] + j["opened"]["out"], j["opened"]["in"], j["opened"]["out"], j["closed"]["in"] + j["closed"]["out"], j["closed"]["in"], j["closed"]["out"], j["refused"]) + (", %d timed out" % j["queue_timeouts"] if j["queue_timeouts"] else "")')" "opened, closed, refused"
assert_eq "$(line reaped)" "reaped   $(j '"%d (idle %d, lifetime %d, manual %d)  released %d  close-wait leaks %d" % (sum(j["reaped"].values()), j["reaped"]["idle"], j["reaped"]["lifetime"], j["reaped"]["manual"], j["released"], j["close_wait_leaks"])')" "reaped"
assert_eq "$(line waited)" "waited   $(j '"%d (%dms in total)  queued %d  bytes in %.1f KiB, out %.1f KiB" % (j["waited"], j["wait_ms"], j["queued"], j["bytes"]["in"] / 1024, j["bytes"]["out"] / 1024)')" "waited, queued, bytes in units"
assert_eq "$(line rates)" "rates    opened 0.0/s  closed 0.0/s  refused 0.0/s  reaped 0.0/s" "a quiet host's rates"

# the destinations, busiest first, with the reply's numbers
dests() { sed -n '/^DESTINATION /,/^$/p' <<<"$screen" | sed '1d;/^$/d' | awk '{print $1, $2, $3, $4, $5}'; }
want() { j '"\n".join("%s %d %d %d %d" % (d["peer"], d["active"], d["opened"], d["refused"], d["reaped"]) for d in sorted(j["destinations"], key=lambda d: '"$1"'))'; }
grep -qE '^DESTINATION +ACTIVE +OPENED +REFUSED +REAPED$' <<<"$screen" || fail "destinations header: $screen"
assert_eq "$(dests)" "$(want '-d["active"]')" "destinations by active: A first"
assert_contains "$(dests | head -1)" "127.0.0.1:$port_a 3 5 1 0" "destination A's row"

# the oldest and idlest connections: every open one fits in this pane, so all are listed
conns=$(query "$(sock_of "$pid")" conns)
n=$(jq_py "$conns" 'len(j)')
grep -qE '^OLDEST FD +DIR +STATE +AGE +IDLE +IN +OUT +PEER$' <<<"$screen" || fail "oldest header: $screen"
grep -qE '^IDLEST FD +DIR +STATE +AGE +IDLE +IN +OUT +PEER$' <<<"$screen" || fail "idlest header: $screen"
oldest=$(sed -n '/^OLDEST FD/,/^$/p' <<<"$screen" | sed '1d;/^$/d')
rows=$(wc -l <<<"$oldest")
[ "$rows" -ge 1 ] && [ "$rows" -le "$n" ] || fail "oldest rows: $rows of $n: $screen"
first_fd=$(awk 'NR == 1 {print $1}' <<<"$oldest")
# the first row is one of the two first connections (B's first connect and its accept, opened
# within a few ms of each other)
assert_eq "$(jq_py "$conns" '[c["fd"] for c in j if c["age_ms"] >= max(x["age_ms"] for x in j) - 20 and c["fd"] == '"$first_fd"']')" "[$first_fd]" "oldest first"
assert_contains "$(awk 'NR == 1 {print $NF}' <<<"$oldest")" "127.0.0.1:" "oldest row ends with the peer"

# it fits: 24 rows, none wider than 80, the footer on the last row
assert_eq "$(wc -l <<<"$screen")" 24 "pane height"
long=$(awk 'length > 80' <<<"$screen")
[ -z "$long" ] || fail "lines wider than the pane: $long"
assert_contains "$(tail -1 <<<"$screen")" "q quit  s sort destinations (by active)" "footer on the last row"

# s: by opened, B (6) before A (5)
tmx send-keys -t top s
wait_for 5 shows "sort destinations \(by opened\)"
assert_eq "$(dests)" "$(want '-d["opened"]')" "destinations by opened"
assert_contains "$(dests | head -1)" "127.0.0.1:$port_b 1 6 0 0" "B first by opened"

# q: top ends with status 0 and the pane closes
tmx send-keys -t top q
wait_for 5 test -s "$T/top.rc"
assert_eq "$(cat "$T/top.rc")" 0 "exit status after q"
wait_for 5 sh -c "! tmux -S '$tsock' has-session -t top 2>/dev/null"
kill -0 "$pid" || fail "the host should still run: top only reads"
