# A connection connwarden had to release because the program did not close it after a reap is
# abandoned: an idle reap (CONNWARDEN_IDLE_TIMEOUT=300ms, CONNWARDEN_REAP_GRACE=500ms) of a host
# that forgets its connection, and an operator's `connwarden reap` of another, each counted once,
# shown as ABANDONED (tcp_state RELEASED) and logged once with how long after its reap; when the
# host closes the fd at last it is no longer abandoned now, and the counter keeps it. A host that
# closes after the reap (its blocked read sees EOF) is not abandoned. The unread bytes of the
# connection (13 of a response) would make it abandoned only after ABANDON_AFTER (30s here). An
# evicted connection is abandoned only when the program still holds it a grace after the eviction.
# Hosts: tests/hosts/reap_stall_server.py (stall --keep), reap_reader.c.
. "$(dirname "$0")/lib.bash"
READER=$HOSTS/reap_reader
[ -x "$READER" ] || fail "build it first: make build/hosts/reap_reader"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

bg $PY "$HOSTSRC/reap_stall_server.py" stall --keep >"$T/server.out"
wait_for 5 grep -q listening "$T/server.out"
PORT=$(jq_py "$(head -1 "$T/server.out")" 'j["listening"]')

shimmed_reader() { # NAME MODE [VARIABLE=VALUE...]
  local name=$1 mode=$2
  shift 2
  host "$name" env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_REAP_GRACE=500ms CONNWARDEN_ABANDON_AFTER=30s "$@" \
    "$READER" "$PORT" "$mode"
  wait_for 5 grep -q '^connected' "$T/$name.out"
}
fd_of() { tr ' ' '\n' <"$T/$1.out" | sed -n 's/^fd=//p' | head -1; }
stats_of() { jq_py "$(query "$(sock_of "$(eval echo "\$PID_$1")")" stats)" "$2"; }
ab() { stats_of "$1" '(j["released"], j["abandoned"], j["abandoned_now"])'; }
conn_of() { jq_py "$(query "$(sock_of "$(eval echo "\$PID_$1")")" conns)" "[(c['state'], c['tcp_state']) for c in j]"; }

shimmed_reader idle forget CONNWARDEN_IDLE_TIMEOUT=300ms
shimmed_reader prompt read CONNWARDEN_IDLE_TIMEOUT=300ms
shimmed_reader manual forget

# 1. The idle reap of the forgotten connection, its release a grace later: abandoned.
released_one() { [ "$(ab idle)" = "(1, 1, 1)" ]; }
wait_for 4 released_one
assert_eq "$(conn_of idle)" "[('ABANDONED', 'RELEASED')]" "conns of the forgetful host"
FD=$(fd_of idle)
line() { grep -q "^connwarden\[$PID_idle\]: abandoned: fd $FD out 127.0.0.1:$PORT, age [0-9.]*s, idle [0-9.]*s, not closed 0.[5-9]s after its reap (idle) (CONNWARDEN_BACKTRACE=1 records where connections are opened)$" "$T/idle.err"; }
wait_for 2 line

# 2. The host that read to the EOF of the reap and closed: not abandoned.
wait_for 3 grep -q '^close=0' "$T/prompt.out"
assert_eq "$(ab prompt)" "(0, 0, 0)" "the host that closed after the reap"
assert_eq "$(stats_of prompt 'j["reaped"]["idle"]')" 1 "it was reaped"
assert_not_contains "$(cat "$T/prompt.err")" "abandoned" "the prompt host's stderr"

# 3. An operator's reap, never closed by the host: abandoned a grace later.
out=$("$CW" reap "$PID_manual" "$(fd_of manual)") || fail "reap failed: $out"
assert_eq "$(ab manual)" "(0, 0, 0)" "right after the manual reap"
manual_one() { [ "$(ab manual)" = "(1, 1, 1)" ]; }
wait_for 3 manual_one
wait_for 2 grep -q "abandoned: fd $(fd_of manual) out 127.0.0.1:$PORT, .*, not closed 0.[5-9]s after its reap (manual)" "$T/manual.err"

# 4. The forgetful host closes the fd at last: no longer abandoned now, still counted. One line.
tell idle close
wait_for 3 grep -q '^close=0' "$T/idle.out"
closed_now() { [ "$(ab idle)" = "(1, 1, 0)" ]; }
wait_for 3 closed_now
assert_eq "$(conn_of idle)" "[]" "conns after the host's close"
assert_eq "$(grep -c abandoned "$T/idle.err")" 1 "abandoned lines of the forgetful host"

# 5. An eviction (a cap of 1, a connect waiting, CONNWARDEN_EVICT_IDLE=100ms) releases the idle
# connection a tenth of a second after shutting it down; it is abandoned only if the program still
# holds it a whole grace period (2s here) after the eviction. A program that reads to the
# eviction's EOF and closes is not abandoned.
cat >"$T/evict.py" <<'PYEOF'
import socket, sys, threading, time
port, mode = int(sys.argv[1]), sys.argv[2]
a = socket.create_connection(("127.0.0.1", port))
def read_to_the_end():
    while a.recv(100):
        pass
    a.close()
if mode == "close":
    threading.Thread(target=read_to_the_end, daemon=True).start()
time.sleep(0.3)  # a is idle in its "pool" past EVICT_IDLE
b = socket.create_connection(("127.0.0.1", port))  # waits at the cap until a is evicted
print("fds", a.fileno(), b.fileno(), flush=True)
time.sleep(30)
PYEOF
for mode in keep close; do
  host "evict_$mode" env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1 CONNWARDEN_EVICT_IDLE=100ms \
    CONNWARDEN_REAP_GRACE=2s CONNWARDEN_ABANDON_AFTER=30s $PY "$T/evict.py" "$PORT" "$mode"
done
wait_for 5 grep -q "^fds" "$T/evict_keep.out"
wait_for 5 grep -q '^fds' "$T/evict_close.out"
EVICTED=$(date +%s%N)
assert_eq "$(stats_of evict_keep '(j["reaped"]["evicted"], j["released"])')" "(1, 1)" "the eviction and its release"
assert_eq "$(ab evict_keep)" "(1, 0, 0)" "released a tenth of a second after the eviction: not abandoned yet"
kept_one() { [ "$(ab evict_keep)" = "(1, 1, 1)" ]; }
wait_for 4 kept_one
[ $((($(date +%s%N) - EVICTED) / 1000000)) -ge 1500 ] || fail "abandoned well before the grace after the eviction"
wait_for 2 grep -q "abandoned: fd $(cut -d' ' -f2 "$T/evict_keep.out" | head -1) out 127.0.0.1:$PORT, .*, not closed 2.[0-9]s after its eviction" "$T/evict_keep.err"
assert_eq "$(stats_of evict_close '(j["reaped"]["evicted"], j["abandoned"], j["abandoned_now"])')" "(1, 0, 0)" \
  "the program that closed its evicted connection"
