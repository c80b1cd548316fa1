# Twenty connects refused at once at a cap of 1 are logged as one line and, once that second is
# over, one summary line "refused: 19 more in the last 1.0s" (the reaper's tick writes it: no
# further line of the kind is needed). A host that exits within the second has its summary written
# at exit. Every refusal is counted in stats all the same. Host: tests/hosts/stderr_sock.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/stderr_sock
[ -x "$HOST" ] || fail "build it first: make build/hosts/stderr_sock"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

LINE='refused: connect fd [0-9]+ to 127\.0\.0\.1:[0-9]+ at the cap \(cap 1, per destination 0\)$'
CAP=(CONNWARDEN_MAX_CONNS=1 CONNWARDEN_ON_CAP=refuse)
answered() { [ "$(wc -l <"$T/$1.out")" -ge "$2" ]; }

# 1. A host that lives on: the summary comes from the reaper, a second after the line.
host storm env LD_PRELOAD="$CW_PRELOAD" "${CAP[@]}" "$HOST" 9
tell storm hold
tell storm "connect 20"
wait_for 5 answered storm 2
assert_eq "$(sed -n 2p "$T/storm.out")" "connect ok=0 refused=20 other=0" "twenty connects past the cap"
summary() { grep -q "refused: 19 more" "$T/storm.err"; }
wait_for 5 summary
sleep 0.3 # nothing else is coming
grep -qE "^connwarden\[$PID_storm\]: $LINE" <(sed -n 1p "$T/storm.err") ||
  fail "the first line is not the refusal: $(cat "$T/storm.err")"
grep -qE "^connwarden\[$PID_storm\]: refused: 19 more in the last 1\.[0-9]s$" <(sed -n 2p "$T/storm.err") ||
  fail "the second line is not the summary: $(cat "$T/storm.err")"
assert_eq "$(wc -l <"$T/storm.err")" 2 "lines on stderr"
assert_eq "$(stat_of "$PID_storm" '(j["refused"], j["log_dropped"])')" "(20, 0)" "refused and log_dropped"

# 2. A host that exits at once: the summary is written at exit.
printf 'hold\nconnect 20\n' | env LD_PRELOAD=$CW_PRELOAD "${CAP[@]}" "$HOST" 9 >"$T/quick.out" 2>"$T/quick.err" ||
  fail "the quick host failed: $(cat "$T/quick.err")"
assert_eq "$(sed -n 2p "$T/quick.out")" "connect ok=0 refused=20 other=0" "the quick host's connects"
grep -qE "^connwarden\[[0-9]+\]: $LINE" <(sed -n 1p "$T/quick.err") ||
  fail "the quick host's first line is not the refusal: $(cat "$T/quick.err")"
grep -qE "^connwarden\[[0-9]+\]: refused: 19 more in the last [0-9]+\.[0-9]s$" <(sed -n 2p "$T/quick.err") ||
  fail "the quick host's second line is not the summary: $(cat "$T/quick.err")"
assert_eq "$(wc -l <"$T/quick.err")" 2 "lines on the quick host's stderr"
