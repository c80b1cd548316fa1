# The stats socket under attack: another uid is refused (at the socket's permissions and, when
# they are opened up, by SO_PEERCRED); 1,000 clients in a burst, 50 silent clients, binary junk, a
# 1 MiB line, half-closed clients and bad `set` values each get an `error: ...` line or a close,
# the next normal query answers at once, and the host's own loopback traffic keeps moving with its
# counts exact. Host: tests/hosts/hostile_traffic.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/hostile_traffic
[ -x "$HOST" ] || fail "build it first: make build/hosts/hostile_traffic"

# The attacks, one mode per run: each prints what every client got, one word a line.
cat >"$T/attack.py" <<'EOF'
import json, os, random, resource, socket, sys, threading, time
path, mode, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])

def verdict(data, err=None):
    """stats: the full stats JSON of the host; error: an error line; closed: nothing at all."""
    if err is not None and not data:
        return "closed"
    if data.startswith(b"error: ") and data.endswith(b"\n") and data.count(b"\n") == 1:
        return "error"
    if not data:
        return "closed"
    try:
        return "stats" if json.loads(data)["pid"] == pid else "wrong"
    except Exception:
        return "garbage:" + repr(data[:60])

def read_all(s, limit=5):
    s.settimeout(limit)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, None
            data += chunk
    except OSError as e:  # a reset after an error line is a close too
        return data, e

def one(payload, shut=False):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    try:
        s.sendall(payload)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    return verdict(*read_all(s))

if mode == "ask":  # one query; what came before any reset, as text
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    try:
        s.sendall(b"stats\n")
    except OSError:  # refused before the command was even sent
        pass
    sys.stdout.write(read_all(s)[0].decode())
elif mode == "burst":  # 1000 connected at once, then each asks
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    socks = []
    for _ in range(1000):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)  # blocking: waits while the backlog is full (the run is time-limited)
        socks.append(s)
    for s in socks:
        try:
            s.sendall(b"stats\n")
        except OSError:
            pass
    for s in socks:
        print(verdict(*read_all(s)))
        s.close()
elif mode == "threads":  # 1000 clients from 50 threads at once
    out, lock = [], threading.Lock()
    def worker():
        for _ in range(20):
            v = one(b"stats\n")
            with lock:
                out.append(v)
    ts = [threading.Thread(target=worker) for _ in range(50)]
    for t in ts: t.start()
    for t in ts: t.join()
    print("\n".join(out))
elif mode == "silent":  # 50 connect and say nothing; meanwhile a normal client is served
    silent = []
    for _ in range(50):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        silent.append(s)
    time.sleep(0.2)
    t0 = time.monotonic()
    served = one(b"stats\n")
    print("meanwhile", served, "%.2f" % (time.monotonic() - t0))
    t0 = time.monotonic()
    for s in silent:
        print(verdict(*read_all(s, 10)))
    print("dropped_within %.1f" % (time.monotonic() - t0))
elif mode == "junk":
    rnd = random.Random(7)
    for i in range(20):
        blob = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 900)))
        print(one(blob + b"\n"))
    print(one(b"\x00\xff\xfe\n"))
    print(one(b"stats\x7f\n"))
    print(one(b"\n"))
elif mode == "huge":  # 1 MiB with no newline, and 1 MiB of newlines-free junk then a newline
    print(one(b"s" * (1 << 20)))
    print(one(b"stats " + b"x" * (1 << 20) + b"\n"))
elif mode == "halfclosed":
    print(one(b"stats", shut=True))
    print(one(b"", shut=True))
    print(one(b"sta", shut=True))
elif mode == "badset":
    for line in ["set max_conns -1", "set max_conns abc", "set max_conns 99999999999",
                 "set idle_timeout 5x", "set idle_timeout -1s", "set idle_timeout 1e3",
                 "set max_lifetime ''", "set nosuch 1", "set max_conns", "set max_conns 1 2",
                 "set " + "n" * 200 + " 1", "set max_conns " + "9" * 200, "reap -1", "reap x",
                 "reap 99999999999", "stats now", "STATS"]:
        print(one(line.encode() + b"\n"))
EOF

# fed FIFO CMD...: exec CMD with stdin from FIFO (a background job's stdin is /dev/null otherwise).
mkfifo "$T/host.in"
bg fed "$T/host.in" env LD_PRELOAD="$CW_PRELOAD" "$HOST" >"$T/host.out" 2>"$T/host.err"
HPID=$BG_PID
exec {CTL}>"$T/host.in"
wait_for 5 grep -q '^pid=' "$T/host.out"
assert_eq "$(sed -n 's/^pid=//p' "$T/host.out")" "$HPID" "host pid"
SOCK=$(sock_of "$HPID")
wait_for 5 test -S "$SOCK"

roundtrips() { jq_py "$(query "$SOCK" stats)" 'j["bytes"]["out"]'; }
# answers_at_once WHAT: a normal query right after the attack is answered within a second.
answers_at_once() {
  local start end reply
  start=$(date +%s%N)
  reply=$(timeout 5 $PY "$ROOT/tests/e2e/cwq.py" "$SOCK" stats) || fail "$1: the next query failed"
  end=$(date +%s%N)
  assert_eq "$(jq_py "$reply" 'j["pid"]')" "$HPID" "$1: the next query's pid"
  [ $(((end - start) / 1000000)) -lt 1000 ] || fail "$1: the next query took $(((end - start) / 1000000)) ms"
}
# attack MODE: run it (bounded), keep what each client got in $OUT; the host's traffic must
# have moved meanwhile and a normal query must answer at once afterwards.
attack() {
  local before after
  before=$(roundtrips)
  OUT=$(timeout 60 $PY "$T/attack.py" "$SOCK" "$1" "$HPID") || fail "$1: the attack itself failed: $OUT"
  answers_at_once "$1"
  after=$(roundtrips)
  [ "$after" -gt "$before" ] || fail "$1: the host's traffic stood still ($before -> $after bytes)"
}
only_these() { # WHAT ALLOWED-REGEX: every client's verdict matches
  local bad
  bad=$(grep -vxE "$2" <<<"$OUT" || true)
  [ -z "$bad" ] || fail "$1: unexpected replies: $(sort <<<"$bad" | uniq -c | head -5)"
}

# 1. Another uid: kept out by the 0700 directory, and with every permission opened up, refused
# by the server itself after the peer-credential check.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  out=$(runuser -u nobody -- $PY "$ROOT/tests/e2e/cwq.py" "$SOCK" stats 2>&1) &&
    fail "another uid was answered through the 0700 directory: $out"
  assert_contains "$out" "Permission denied" "another uid at the 0700 directory"
  chmod 0711 "$T" "$CONNWARDEN_RUNDIR"
  chmod 0666 "$SOCK"
  # (the server closes with the command unread, so the error line may be followed by a reset)
  out=$(runuser -u nobody -- timeout 5 $PY "$T/attack.py" "$SOCK" ask "$HPID" 2>&1) ||
    fail "another uid: no reply at all through open permissions: $out"
  assert_eq "$out" "error: permission denied" "another uid with open permissions"
  chmod 0700 "$T" "$CONNWARDEN_RUNDIR"
  chmod 0600 "$SOCK"
  answers_at_once "another uid"
else
  note "not root or no user nobody: the other-uid case is skipped"
fi

# 2. 1,000 clients connected at once before any asks: each gets its stats or, silent while others
# waited, an error, and none hangs. Then 1,000 from 50 threads that ask at once: beyond the 32
# served at a time they wait their turn, so every one gets its stats.
attack burst
only_these "burst" 'stats|error|closed'
ok=$(grep -cx stats <<<"$OUT" || true)
[ "$ok" -ge 32 ] || fail "burst: only $ok of 1000 clients got the stats"
note "burst: $(sort <<<"$OUT" | uniq -c | tr '\n' ' ')"
attack threads
only_these "threads" 'stats|error'
[ "$(wc -l <<<"$OUT")" = 1000 ] || fail "threads: $(wc -l <<<"$OUT") replies for 1000 clients"
ok=$(grep -cx stats <<<"$OUT" || true)
[ "$ok" = 1000 ] || fail "threads: only $ok of 1000 clients got the stats"
note "threads: $(sort <<<"$OUT" | uniq -c | tr '\n' ' ')"

# 3. 50 clients that say nothing: each is told it timed out (or is turned away) within a few
# seconds, and a normal client is served meanwhile.
attack silent
meanwhile=$(grep '^meanwhile ' <<<"$OUT")
dropped=$(sed -n 's/^dropped_within //p' <<<"$OUT")
OUT=$(grep -v -e '^meanwhile ' -e '^dropped_within ' <<<"$OUT")
only_these "silent" 'error'
[ "$(wc -l <<<"$OUT")" = 50 ] || fail "silent: $(wc -l <<<"$OUT") of 50 silent clients accounted for"
[ "${dropped%.*}" -lt 5 ] || fail "silent: the silent clients were dropped only after ${dropped}s"
assert_contains "$meanwhile" "meanwhile stats" "a normal client while 50 silent ones are connected"
# served at once, not after the silent ones were timed out (2 s each)
[ "$(awk '{print ($3 < 1.5)}' <<<"$meanwhile")" = 1 ] || fail "silent: the normal client waited: $meanwhile"

# 4. Binary junk, control characters and empty lines: an error line each.
attack junk
only_these "junk" 'error'
# 5. A 1 MiB line, with and without a newline: an error line or a close, no hang.
attack huge
only_these "huge" 'error|closed'
# 6. Half-closed clients: a complete word is answered, a partial one refused, silence closed.
attack halfclosed
assert_eq "$(sed -n 1p <<<"$OUT")" "stats" "half-closed after 'stats'"
assert_eq "$(sed -n 2p <<<"$OUT")" "closed" "half-closed with nothing sent"
assert_eq "$(sed -n 3p <<<"$OUT")" "error" "half-closed after 'sta'"
# 7. Bad `set` values and malformed commands: an error line each; the config is unchanged.
attack badset
only_these "badset" 'error'
assert_eq "$(jq_py "$(query "$SOCK" config)" '(j["max_conns"], j["idle_timeout_ms"], j["max_lifetime_ms"])')" \
  "(0, 0, 0)" "config after bad set values"

# The host's own traffic: never stalled for long, no error, its byte counts exactly the shim's.
exec {CTL}>&-
wait_for 5 grep -q '^roundtrips=' "$T/host.out"
line=$(grep '^roundtrips=' "$T/host.out")
note "host: $line"
eval "$(tr ' ' '\n' <<<"$line" | grep -E '^[a-z_]+=[0-9]+$')"
assert_eq "$errors" 0 "host traffic errors"
[ "$roundtrips" -gt 1000 ] || fail "host made only $roundtrips round trips"
[ "$max_gap_ms" -lt 1500 ] || fail "host traffic stalled for $max_gap_ms ms"
assert_eq "$(stat_of "$HPID" '(j["bytes"]["in"], j["bytes"]["out"], j["active"]["total"])')" \
  "($((2 * bytes)), $((2 * bytes)), 2)" "shim's bytes and connections against the host's own"
kill -TERM "$HPID"
wait "$HPID" || fail "host exit status $?"
assert_contains "$(cat "$T/host.out")" "done" "host ran to its end"
