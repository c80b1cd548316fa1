# connwarden conns prints one line per live connection, sorted by fd, with the reply's direction,
# addresses and state, sizes in units and a flag for a peer that closed; --json is the raw reply.
# The same host run without the shim has no socket to ask.
. "$(dirname "$0")/lib.bash"

cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
ls = []
for _ in range(2):
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8); ls.append(l)
keep = []
def pair(l):
    c = socket.create_connection(l.getsockname()); a, _ = l.accept(); keep.extend([c, a]); return c, a
c1, a1 = pair(ls[0])
pair(ls[0])
c3, a3 = pair(ls[1])
c1.sendall(b"y" * 2048)       # 2.0 KiB out on c1, in on a1
got = 0
while got < 2048:
    got += len(a1.recv(4096))
c3.close(); keep.remove(c3)   # a3's peer closes: a3 reads EOF
assert a3.recv(10) == b""
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
bg env LD_PRELOAD="$CW_PRELOAD" "$PY" "$T/host.py" "$T/ready"
pid=$BG_PID
wait_for 5 test -s "$T/ready"

json=$("$CW" conns --json "$pid")
table=$("$CW" conns "$pid")
assert_eq "$(jq_py "$json" 'len(j)')" 5 "five live connections in the reply"
grep -qE '^FD +DIR +LOCAL +PEER +STATE +AGE +IDLE +IN +OUT +FLAGS$' <<<"$(head -1 <<<"$table")" ||
  fail "header: $table"
assert_eq "$(($(wc -l <<<"$table") - 1))" 5 "one line per connection"

# each line, in fd order, carries that connection's fields
want=$(jq_py "$json" '"\n".join("%d %s %s %s %s" % (c["fd"], c["dir"], c["local"], c["peer"], c["state"]) for c in sorted(j, key=lambda c: c["fd"]))')
got=$(tail -n +2 <<<"$table" | awk '{print $1, $2, $3, $4, $5}')
assert_eq "$got" "$want" "fd, dir, local, peer, state per line"

# the right peers: two outbound to the first listener, one inbound from the closed one
ports=$(jq_py "$json" '" ".join(sorted(set(c["peer"] for c in j if c["dir"] == "out")))')
assert_eq "$(wc -w <<<"$ports")" 1 "the two remaining outbound connections go to one listener"
assert_eq "$(tail -n +2 <<<"$table" | awk -v p="$ports" '$2 == "out" && $4 == p' | wc -l)" 2 "two out lines to $ports"

# sizes in units: the 2 KiB written by one outbound connection and read by its accepted end
fd_out=$(jq_py "$json" '[c["fd"] for c in j if c["bytes_out"] == 2048][0]')
fd_in=$(jq_py "$json" '[c["fd"] for c in j if c["bytes_in"] == 2048][0]')
row() { tail -n +2 <<<"$table" | awk -v fd="$1" '$1 == fd'; }
grep -qE ' 0 B +2\.0 KiB( |$)' <<<"$(row "$fd_out")" || fail "IN 0 B, OUT 2.0 KiB on fd $fd_out: $table"
grep -qE ' 2\.0 KiB +0 B( |$)' <<<"$(row "$fd_in")" || fail "IN 2.0 KiB, OUT 0 B on fd $fd_in: $table"

# the connection whose peer closed is flagged, and only it
fd_closed=$(jq_py "$json" '[c["fd"] for c in j if c["peer_closed"]][0]')
assert_contains "$(row "$fd_closed")" "peer-closed" "flag on fd $fd_closed"
assert_eq "$(grep -c peer-closed <<<"$table")" 1 "one flagged line"

# without the shim the same host has nothing to ask
"$PY" "$T/host.py" "$T/plain.ready" & plain=$!; CW_PIDS+=("$plain")
wait_for 5 test -s "$T/plain.ready"
rc=0; err=$("$CW" conns "$plain" 2>&1) || rc=$?
assert_eq "$rc" 1 "unshimmed process: exit status"
assert_contains "$err" "connwarden: pid $plain has no stats socket" "unshimmed process: message"
