# With CONNWARDEN_LEAK_CHECK=1 a connection open at exit is reported in LeakSanitizer's shape (peer,
# "1 leaked connection", "out 1000 B", SUMMARY); LEAK_EXITCODE sets the status unless the host's
# own is non-zero; a closed connection reports nothing; REPORT=DIR writes connwarden.PID.txt;
# BACKTRACE=1 adds "opened at:" frames. Host: tests/hosts/leaker.c (leak|close [STATUS]).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/leaker
[ -x "$HOST" ] || fail "build it first: make build/hosts/leaker"

# run_leaker [VAR=VALUE...] -- ARGS...: run the host; its stdout, stderr and status in OUT, ERR, RC;
# PID and PORT from its first line.
run_leaker() {
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  RC=0
  env "${envs[@]}" "$@" >"$T/out" 2>"$T/err" || RC=$?
  OUT=$(cat "$T/out") ERR=$(cat "$T/err")
  PID=$(sed -n 's/^pid=\([0-9]*\).*/\1/p' "$T/out")
  PORT=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' "$T/out")
  FD=$(sed -n 's/.* fd=\([0-9]*\).*/\1/p' "$T/out")
  [ -n "$PID" ] && [ -n "$PORT" ] || fail "host printed no pid/port (status $RC): $OUT $ERR"
}
SHIM=(LD_PRELOAD="$CW_PRELOAD")
CHECK=(LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_LEAK_CHECK=1)

# assert_report TEXT: TEXT is the whole report for the leaked connection of the last run
assert_report() {
  local r=$1
  assert_contains "$r" "=================================================================" "banner"
  assert_contains "$r" "==$PID==ERROR: connwarden: 1 leaked connection (1 open at exit, 0 close-wait)" "header"
  echo "$r" | grep -qE "^Leaked connection fd $FD out 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$PORT ESTABLISHED, age [^,]+, idle [^,]+, in 0 B, out 1000 B" ||
    fail "no 'Leaked connection' line for fd $FD to port $PORT with in 0 B, out 1000 B: $r"
  assert_contains "$r" "SUMMARY: connwarden: 1 leaked connection in leaker leak (pid $PID)" "summary: the program and its first argument"
}

# Without the shim, and under the shim without the check: nothing is reported.
run_leaker -- "$HOST" leak
assert_eq "$RC" 0 "status without the shim"
assert_eq "$ERR" "" "stderr without the shim"
run_leaker "${SHIM[@]}" -- "$HOST" leak
assert_eq "$RC" 0 "status under the shim without the leak check"
assert_not_contains "$ERR" "leaked" "no report unless asked"

# 1. The report on stderr; the status stays 0 without CONNWARDEN_LEAK_EXITCODE.
run_leaker "${CHECK[@]}" -- "$HOST" leak
assert_eq "$RC" 0 "status with the leak check alone"
assert_report "$ERR"
assert_not_contains "$ERR" "opened at:" "no backtrace unless asked"

# 2. CONNWARDEN_LEAK_EXITCODE=7 makes the status 7.
run_leaker "${CHECK[@]}" CONNWARDEN_LEAK_EXITCODE=7 -- "$HOST" leak
assert_eq "$RC" 7 "status with CONNWARDEN_LEAK_EXITCODE=7"
assert_report "$ERR"

# 3. A host that closes its connection reports nothing, and keeps status 0.
run_leaker "${CHECK[@]}" CONNWARDEN_LEAK_EXITCODE=7 -- "$HOST" close
assert_eq "$RC" 0 "status of a host that closed its connection"
assert_eq "$ERR" "" "stderr of a host that closed its connection"

# 4. The host's own non-zero status wins over the leak exit code; the report is still written.
run_leaker "${CHECK[@]}" CONNWARDEN_LEAK_EXITCODE=7 -- "$HOST" leak 3
assert_eq "$RC" 3 "the host's own status"
assert_report "$ERR"

# 5. CONNWARDEN_REPORT=DIR: the report goes to DIR/connwarden.PID.txt, not to stderr.
mkdir "$T/reports"
run_leaker "${CHECK[@]}" CONNWARDEN_REPORT="$T/reports" -- "$HOST" leak
assert_eq "$RC" 0 "status with a report directory"
assert_not_contains "$ERR" "leaked connection" "stderr with a report directory"
[ -f "$T/reports/connwarden.$PID.txt" ] || fail "no $T/reports/connwarden.$PID.txt: $(ls -A "$T/reports")"
assert_report "$(cat "$T/reports/connwarden.$PID.txt")"
assert_eq "$(ls -A "$T/reports")" "connwarden.$PID.txt" "one file, for this pid"

# 6. CONNWARDEN_BACKTRACE=1: "opened at:" and numbered frames in the host's module. The build has
# no exported symbols, so frames name the module; a copy built with -rdynamic names the function.
run_leaker "${CHECK[@]}" CONNWARDEN_BACKTRACE=1 -- "$HOST" leak
assert_report "$ERR"
assert_contains "$ERR" "out 1000 B, opened at:" "backtrace announced"
echo "$ERR" | grep -qE '^    #0 0x[0-9a-f]+ in .*leaker' || fail "frame #0 is not in the host: $ERR"
echo "$ERR" | grep -qE '^    #1 0x[0-9a-f]+ in ' || fail "a single frame only: $ERR"
assert_not_contains "$ERR" "libconnwarden" "the shim's own frames are left out"

cc -O2 -g -std=gnu11 -rdynamic -o "$T/leaker" "$HOSTSRC/leaker.c"
run_leaker "${CHECK[@]}" CONNWARDEN_BACKTRACE=1 -- "$T/leaker" leak
assert_report "$ERR"
echo "$ERR" | grep -qE '^    #0 0x[0-9a-f]+ in open_upstream_and_forget ' ||
  fail "frame #0 does not name the function that opened the connection: $ERR"
echo "$ERR" | grep -qE '^    #1 0x[0-9a-f]+ in main ' || fail "frame #1 is not main: $ERR"

# 7. An interposer loaded ahead of the shim (a sanitizer runtime preloaded first, as a program built
# with it needs; under make check-asan every run above has one) calls into the shim on its way to
# connect() and may serve its backtrace(): its frames are left out too, frame #0 is still the
# host's. A runtime that cannot start here even without the shim is skipped.
if [ -z "${CW_PRELOAD_PREFIX:-}" ]; then
  for rt in libasan.so libtsan.so; do
    path=$(cc -print-file-name=$rt)
    if [ ! -f "$path" ] || ! LD_PRELOAD=$path ASAN_OPTIONS=detect_leaks=0 /bin/true 2>/dev/null; then
      note "no usable $rt: frames of an interposer ahead of the shim not checked with it"
      continue
    fi
    run_leaker LD_PRELOAD="$path:$CW_LIB" ASAN_OPTIONS=detect_leaks=0 TSAN_OPTIONS=report_bugs=0 \
      CONNWARDEN_LEAK_CHECK=1 CONNWARDEN_BACKTRACE=1 -- "$T/leaker" leak
    assert_report "$ERR"
    echo "$ERR" | grep -qE '^    #0 0x[0-9a-f]+ in open_upstream_and_forget ' ||
      fail "with $rt ahead of the shim, frame #0 is not the host's: $ERR"
    echo "$ERR" | grep -qE '^    #1 0x[0-9a-f]+ in main ' || fail "with $rt ahead, frame #1 is not main: $ERR"
    assert_not_contains "$ERR" "${rt%.so}" "with $rt ahead, its frames are left out"
  done
fi
