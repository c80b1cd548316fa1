# The query verbs against a scripted stats server: they send exactly one command line, show keys
# the protocol may gain later, and turn an error reply, an unreadable or empty reply, a socket
# nobody listens on and a missing socket into one "connwarden: " line with status 1.
. "$(dirname "$0")/lib.bash"

cat >"$T/fake.py" <<'PYEOF'
import json, socket, sys
path, log = sys.argv[1], sys.argv[2]
stats = {"version": "0.1.0", "pid": 4242, "uptime_s": 150.0,
         "active": {"in": 1, "out": 2, "total": 3}, "peak": {"in": 1, "out": 2, "total": 3},
         "opened": {"in": 1, "out": 2}, "closed": {"in": 0, "out": 0},
         "refused": 0, "waited": 2, "wait_ms": 1500, "queued": 1,
         "reaped": {"idle": 4, "lifetime": 0, "manual": 1}, "released": 0, "close_wait_leaks": 0,
         "bytes": {"in": 10, "out": 3 << 20}, "reconnects": 42,
         "config": {"max_conns": 0, "max_conns_per_dest": 2, "idle_timeout_ms": 0,
                    "max_lifetime_ms": 0, "queue_timeout_ms": 1500},
         "destinations": [{"peer": "[::1]:8000", "active": 1, "opened": 1, "refused": 0, "reaped": 0},
                          {"peer": "127.0.0.1:9", "active": 2, "opened": 7, "refused": 0, "reaped": 5}]}
replies = {"stats": json.dumps(stats) + "\n", "conns": "this is not json\n", "metrics": "",
           "set": "error: settings are read-only here\n"}
srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(4); srv.settimeout(20)
for _ in range(20):
    c, _ = srv.accept(); c.settimeout(5)
    line = b""
    while not line.endswith(b"\n") and len(line) < 2048:
        chunk = c.recv(1024)
        if not chunk:
            break
        line += chunk
    with open(log, "a") as f:
        f.write(repr(line) + "\n")
    c.sendall(replies.get(line.decode().split(" ")[0].strip(), "error: unknown\n").encode())
    c.close()
PYEOF
bg "$PY" "$T/fake.py" "$T/fake.sock" "$T/log"
wait_for 5 test -S "$T/fake.sock"

out=$("$CW" stats "$T/fake.sock")
assert_eq "$(tail -1 "$T/log")" "b'stats\\n'" "one command line, newline-terminated"
line() { grep -E "^$1  " <<<"$out" | sed "s/^$1 *//"; }
assert_eq "$(line reconnects)" 42 "a key the CLI does not know is still shown"
assert_eq "$(line 'queue timeout')" "1.5s" "an unknown config duration, in units"
assert_eq "$(line uptime)" "2.5m" "uptime in units"
assert_eq "$(line active)" "3 (in 1, out 2), no outbound cap, 2 per destination" "active and caps"
assert_eq "$(line waited)" "2 (1.5s in total)" "waited"
assert_eq "$(line reaped)" "5 (idle 4, lifetime 0, manual 1)" "reaped by reason"
assert_eq "$(line bytes)" "in 10 B, out 3.0 MiB (3145728 B)" "bytes"
# destinations by active connections, most first; IPv6 peers as the server wrote them
# (a reply without "dest", from before destinations had names, shows its peer there)
assert_eq "$(sed -n '/^DESTINATION /,$p' <<<"$out" | awk 'NR > 1 {print $1, $3, $4, $6}' | tr '\n' ';')" \
  "127.0.0.1:9 2 7 5;[::1]:8000 1 1 0;" "destinations sorted by active"

err_of() { # STATUS TEXT ARGS...
  local want=$1 text=$2 rc=0 err; shift 2
  err=$("$CW" "$@" 2>&1 >/dev/null) || rc=$?
  assert_eq "$rc" "$want" "status of: connwarden $*"
  assert_eq "$(wc -l <<<"$err")" 1 "one line for: connwarden $*"
  assert_contains "$err" "connwarden: " "prefix for: connwarden $*"
  assert_contains "$err" "$text" "message for: connwarden $*"
}
err_of 1 "$T/fake.sock: unreadable reply" conns "$T/fake.sock"
err_of 1 "$T/fake.sock: empty reply" stats --prom "$T/fake.sock"
err_of 1 "$T/fake.sock: settings are read-only here" set "$T/fake.sock" max_conns 1
assert_eq "$(tail -1 "$T/log")" "b'set max_conns 1\\n'" "the set line"
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/dead.sock"
err_of 1 "nobody is listening" stats "$T/dead.sock"
err_of 1 "$T/none.sock: no such socket" stats "$T/none.sock"
