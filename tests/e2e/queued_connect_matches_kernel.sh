# A queued non-blocking connect looks, call by call, like the kernel's own connect in progress to
# a slow peer. For each scenario of tests/hosts/queue_probe.c (queue_probe list), the probe runs
# twice without the library (reference: a connect in SYN_SENT to a listener whose accept queue is
# full, completed by the kernel's SYN retransmission once the probe accepts the filler; its
# "timeout" a refused connect) and once with it (queued: CONNWARDEN_MAX_CONNS=1 with the only slot
# held, freed by closing that connection; CONNWARDEN_QUEUE_TIMEOUT=300ms for the timeout
# scenarios). Their lines must be the same: any difference fails, with both observations side by
# side (diff -u). The reference must agree with itself. Wakes are timed apart from the lines
# ("time ..."): with the library each waiter wakes within 200 ms of the slot freeing, and the
# queue timeout's within 290-500 ms of the connect; the reference's need only happen (the probe
# fails when one does not). Needs net.ipv4.tcp_syncookies=1 (the probe says so).
. "$(dirname "$0")/lib.bash"
PROBE=$HOSTS/queue_probe
[ -x "$PROBE" ] || fail "build it first: make build/hosts/queue_probe"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
SLOT_MS=200
TIMEOUT_MS=300 TIMEOUT_LATE_MS=500

SCENARIOS=() TIMEOUTS=()
while read -r name kind; do
  SCENARIOS+=("$name")
  if [ "$kind" = timeout ]; then TIMEOUTS+=("$name"); fi
done < <("$PROBE" list)
[ ${#SCENARIOS[@]} -ge 10 ] || fail "too few scenarios: ${SCENARIOS[*]}"
is_timeout() { [[ " ${TIMEOUTS[*]} " == *" $1 "* ]]; }

# probe RUN MODE SCENARIO [VAR=VALUE...]: in the background; $T/RUN.out, .err and .rc
probe() {
  local run=$1 mode=$2 s=$3
  shift 3
  (
    rc=0
    env "$@" "$PROBE" "$mode" "$s" >"$T/$run.out" 2>"$T/$run.err" </dev/null || rc=$?
    echo "$rc" >"$T/$run.rc"
  ) &
}
lines() { grep -v '^time ' "$T/$1.out" || true; } # what is compared
status() { cat "$T/$1.rc"; }

# The reference twice, every scenario at once (each waits about a second for a retransmitted SYN);
# then the queued runs, on a quieter machine for their timing.
for s in "${SCENARIOS[@]}"; do
  probe "ref1_$s" reference "$s"
  probe "ref2_$s" reference "$s"
done
wait
for s in "${SCENARIOS[@]}"; do
  for r in ref1 ref2; do
    [ "$(status "${r}_$s")" = 0 ] || fail "$s: the reference run failed (exit $(status "${r}_$s")): $(cat "$T/${r}_$s.err")"
  done
  diff -u --label "reference $s" --label "reference $s, again" <(lines "ref1_$s") <(lines "ref2_$s") >&2 ||
    fail "$s: the reference is not deterministic (diff above)"
  [ "$(lines "ref1_$s" | wc -l)" -ge 5 ] || fail "$s: too few reference lines: $(cat "$T/ref1_$s.out")"
done
for s in "${SCENARIOS[@]}"; do
  vars=(LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1)
  is_timeout "$s" && vars+=("CONNWARDEN_QUEUE_TIMEOUT=${TIMEOUT_MS}ms")
  probe "queued_$s" queued "$s" "${vars[@]}"
done
wait

# late_wakes SCENARIO: the queued run's waits out of time, one per line: a wake out of bounds, or
# not the reference's waits at all
late_wakes() {
  awk -v slot="$SLOT_MS" -v lo=$((TIMEOUT_MS - 10)) -v hi="$TIMEOUT_LATE_MS" '
    $1 != "time" { next }
    $2 == "after-slot" && ($NF < 0 || $NF > slot) { print "  " $0 " ms (expected 0 to " slot ")" }
    $2 == "after-connect" && ($NF < lo || $NF > hi) { print "  " $0 " ms (expected " lo " to " hi ")" }
  ' "$T/queued_$1.out"
  local waits='$1 == "time" { $NF = ""; print }'
  diff <(awk "$waits" "$T/ref1_$1.out") <(awk "$waits" "$T/queued_$1.out") >/dev/null ||
    echo "  waits: $(grep '^time ' "$T/queued_$1.out" | tr '\n' ';')" \
      "(reference: $(grep '^time ' "$T/ref1_$1.out" | tr '\n' ';'))"
}

differ=() late=()
for s in "${SCENARIOS[@]}"; do
  rc=$(status "queued_$s")
  if [ "$rc" != 0 ]; then
    note "$s: the queued run failed (exit $rc): $(cat "$T/queued_$s.err")"
    differ+=("$s")
    continue
  fi
  if ! diff -u --label "reference $s (without the library)" --label "queued $s (with it)" \
    <(lines "ref1_$s") <(lines "queued_$s") >"$T/$s.diff"; then
    note "$s: what the program observes differs from the kernel's connect in progress:"
    cat "$T/$s.diff" >&2
    differ+=("$s")
  fi
  w=$(late_wakes "$s")
  if [ -n "$w" ]; then
    note "$s: waits out of time with the library (too late, or before the slot came):"
    echo "$w" >&2
    late+=("$s")
  fi
done
[ ${#differ[@]} -eq 0 ] && [ ${#late[@]} -eq 0 ] ||
  fail "${#differ[@]} of ${#SCENARIOS[@]} scenarios differ from the kernel (${differ[*]:-none}); waits out of time in ${#late[@]} (${late[*]:-none})"
