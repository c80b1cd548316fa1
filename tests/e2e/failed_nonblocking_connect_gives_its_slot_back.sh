# A non-blocking connect that fails in the kernel (refused) gives its cap slot back as soon as the
# program reads the failure from SO_ERROR, as the contract says a failed connect does, not when
# the program gets round to closing the fd: under CONNWARDEN_MAX_CONNS=1 the next connect, made
# while the failed socket is still open, is admitted at once (it used to wait out the queue
# timeout), and stats count one connection, none refused or timed out.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

cat >"$T/host.py" <<'PY'
import errno, json, os, select, socket, sys, time
closed = socket.socket(); closed.bind(("127.0.0.1", 0))  # bound, never listening: refuses
s = socket.socket(); s.setblocking(False)
s.connect_ex(closed.getsockname())
select.select([], [s], [], 2)
err = errno.errorcode.get(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), "0")
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
t0 = time.monotonic()
try:
    c = socket.create_connection(l.getsockname(), timeout=5); second = "ok"
except OSError as e:
    second = type(e).__name__
print(json.dumps({"so_error": err, "second": second, "secs": time.monotonic() - t0, "pid": os.getpid()}), flush=True)
sys.stdin.read()  # held open, the failed socket too, until the test lets go
PY
host h env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1 CONNWARDEN_QUEUE_TIMEOUT=3s $PY "$T/host.py"
wait_for 10 grep -q '"second"' "$T/h.out"
R=$(head -1 "$T/h.out")
assert_eq "$(jq_py "$R" '(j["so_error"], j["second"], j["secs"] < 1)')" "('ECONNREFUSED', 'ok', True)" \
  "the failure, then the next connect admitted at once"
S=$(query "$(sock_of "$(jq_py "$R" 'j["pid"]')")" stats)
assert_eq "$(jq_py "$S" '(j["active"]["out"], j["waited"], j["refused"], j["queue_timeouts"])')" "(1, 0, 0, 0)" \
  "stats: one connection open, nothing waited, refused or timed out"
