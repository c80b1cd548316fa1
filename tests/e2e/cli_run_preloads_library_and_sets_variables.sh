# connwarden run: options become CONNWARDEN_* variables, the library goes first in LD_PRELOAD
# (before what was there, after only a sanitizer runtime leading it, which a program built with
# -fsanitize=address needs first), the command keeps run's PID and really runs under the shim;
# the library is found through CONNWARDEN_LIB, next to the binary, or in the installed layout.
# Under make check-asan run inherits the runtime (CW_PRELOAD_PREFIX) and every command gets it first.
. "$(dirname "$0")/lib.bash"

lib=$(realpath "$CW_LIB")
# what run inherits in LD_PRELOAD ahead of the test's own entries, and passes on ahead of the library
rt=${CW_PRELOAD_PREFIX:+$CW_PRELOAD_PREFIX:}
RUN=("${CW_ENV[@]}")
# an existing library that is harmless to preload twice: the C library sh already uses
other=$(ldd /bin/sh | awk '$1 ~ /^libc\.so/ {print $3}')
[ -f "$other" ] || fail "no C library path from ldd /bin/sh"
mkdir -p "$T/reports"

show='echo "$LD_PRELOAD|$CONNWARDEN_IDLE_TIMEOUT|$CONNWARDEN_MAX_CONNS|$CONNWARDEN_MAX_CONNS_PER_DEST|$CONNWARDEN_ON_CAP|$CONNWARDEN_QUEUE_TIMEOUT|$CONNWARDEN_CAP_ERRNO|$CONNWARDEN_MAX_LIFETIME|$CONNWARDEN_REAP_GRACE|$CONNWARDEN_EVICT_IDLE|$CONNWARDEN_ABANDON_AFTER|$CONNWARDEN_ONLY|$CONNWARDEN_EXCLUDE|$CONNWARDEN_STATS|$CONNWARDEN_RUNDIR|$CONNWARDEN_REPORT|$CONNWARDEN_BACKTRACE|$CONNWARDEN_LOG"'
out=$(LD_PRELOAD=$rt$other "$CW" run --idle-timeout 5s --max-conns=7 --max-conns-per-dest 3 \
  --on-cap refuse --queue-timeout=2s --cap-errno ETIMEDOUT --max-lifetime 1m --reap-grace=1s \
  --evict-idle 250ms --abandon-after=2m --only out --exclude=:22 --stats off --rundir "$T/rd" --report "$T/reports" --backtrace \
  --log error -- sh -c "$show")
assert_eq "$out" "$rt$lib:$other|5s|7|3|refuse|2s|ETIMEDOUT|1m|1s|250ms|2m|out|:22|off|$T/rd|$T/reports|1|error" \
  "variables seen by the command"

# no LD_PRELOAD before (but a runtime): the library alone; under --check-leaks run itself, not each process, decides the status
out=$(CONNWARDEN_LEAK_EXITCODE=5 "${RUN[@]}" "$CW" run --check-leaks --leak-exitcode 9 -- sh -c 'echo "$LD_PRELOAD|$CONNWARDEN_LEAK_CHECK|${CONNWARDEN_LEAK_EXITCODE-unset}|$CONNWARDEN_BACKTRACE|$CONNWARDEN_REPORT_FORMAT"' 2>/dev/null)
assert_eq "$out" "$rt$lib|1|unset|1|json" "--check-leaks: run, not each process, decides the status"

# the command's exit status is its own (run execs, it does not wait)
rc=0; "${RUN[@]}" "$CW" run -- sh -c 'exit 7' || rc=$?
assert_eq "$rc" 7 "exit status of the command"

# really shimmed, under run's own PID: the stats socket is named after it and answers
cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
bg "${RUN[@]}" "$CW" run --max-conns 4 -- "$PY" "$T/host.py" "$T/ready"
wait_for 5 test -s "$T/ready"
assert_eq "$(cat "$T/ready")" "$BG_PID" "the command runs under run's PID"
wait_for 5 test -S "$(sock_of "$BG_PID")"
assert_eq "$(stat_of "$BG_PID" 'j["active"]["out"]')" 1 "the shim tracks the command's connection"
assert_eq "$(stat_of "$BG_PID" 'j["config"]["max_conns"]')" 4 "--max-conns reached the library"

# without run the same program is not shimmed: no socket for it
"$PY" "$T/host.py" "$T/plain.ready" & plain=$!; CW_PIDS+=("$plain")
wait_for 5 test -s "$T/plain.ready"
[ ! -e "$(sock_of "$plain")" ] || fail "unshimmed program has a stats socket"
kill "$plain"

# where the library comes from
cp "$CW_LIB" "$T/copy.so"
out=$(CONNWARDEN_LIB=$T/copy.so "${RUN[@]}" "$CW" run -- sh -c 'echo "$LD_PRELOAD"')
assert_eq "$out" "$rt$T/copy.so" "CONNWARDEN_LIB is used"
rc=0; err=$(CONNWARDEN_LIB=$T/none.so "$CW" run -- true 2>&1) || rc=$?
assert_eq "$rc" 1 "missing CONNWARDEN_LIB exit status"
assert_contains "$err" "connwarden: CONNWARDEN_LIB=$T/none.so" "missing CONNWARDEN_LIB message"
mkdir -p "$T/inst/bin" "$T/inst/lib/connwarden" "$T/alone"
cp "$CW" "$T/inst/bin/connwarden"; cp "$CW_LIB" "$T/inst/lib/connwarden/libconnwarden.so"
out=$("${RUN[@]}" "$T/inst/bin/connwarden" run -- sh -c 'echo "$LD_PRELOAD"')
assert_eq "$out" "$rt$T/inst/lib/connwarden/libconnwarden.so" "installed layout"
cp "$CW" "$T/alone/connwarden"
rc=0; err=$("$T/alone/connwarden" run -- true 2>&1) || rc=$?
assert_eq "$rc" 1 "no library anywhere: exit status"
assert_contains "$err" "connwarden: cannot find libconnwarden.so" "no library anywhere: message"

# An AddressSanitizer runtime (as a program built with -fsanitize=address needs) preloaded ahead
# of run stays ahead of the library, and the command runs under the shim; with the library first
# the runtime refuses to start. Under make check-asan the suite's own runtime is the one used.
asan=${CW_PRELOAD_PREFIX:-$(cc -print-file-name=libasan.so)}
case ${asan##*/} in libasan.so* | libclang_rt.asan*) ;; *) asan= ;; esac
show='import os; print(os.environ["LD_PRELOAD"] + "|" + str(sum("libconnwarden.so" in l for l in open("/proc/self/maps")) > 0))'
if [ -f "$asan" ]; then
  out=$(LD_PRELOAD="$asan $other" ASAN_OPTIONS=detect_leaks=0 "$CW" run -- "$PY" -c "$show")
  assert_eq "$out" "$asan:$lib:$other|True" "a sanitizer runtime stays first, the library right after it"
  rc=0; err=$(LD_PRELOAD="$lib:$asan" ASAN_OPTIONS=detect_leaks=0 "$PY" -c "$show" 2>&1) || rc=$?
  [ "$rc" != 0 ] || fail "the runtime started behind the library: $err"
  assert_contains "$err" "ASan runtime does not come first" "why the library may not go first"
else
  note "no AddressSanitizer runtime: the runtime-first order is not checked"
fi
