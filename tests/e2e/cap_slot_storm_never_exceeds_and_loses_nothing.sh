# A storm against the cap: 16 threads for 8 s each loop over a random mix of blocking connects,
# non-blocking connects waited for with poll, select or epoll (level, edge, one-shot, registered
# before or after the connect), non-blocking connects closed while still queued (a probe, the
# loser of happy eyeballs), dup/dup2/dup3/F_DUPFD of a connected or queued socket with either
# number closed first, batches closed by one close_range, closes by close, syscall(SYS_close),
# shutdown then close and close_range of one fd; meanwhile threads blocked in a connect at the cap
# are cancelled and close their fd in a cleanup handler. Run twice at once: CONNWARDEN_MAX_CONNS=4
# against one destination, and CONNWARDEN_MAX_CONNS=3 with CONNWARDEN_MAX_CONNS_PER_DEST=2
# against two. The counting server never sees more than the caps allow at once (3 in all, 2 at
# each destination), and does see them reached; `stats` sampled during the storm never shows
# more active either. After it, stats shows nothing active, nothing queued, every opened
# connection closed, the caps as the peak, no refusal, no queue timeout, no missed close; the
# server saw every connection the host completed and none the shim did not open; and as many
# fresh connects as the caps allow are made at once and held together (no slot was lost). No
# connect fails and none waits 5 s. Without the shim the same storm holds many more at once.
# make check-tsan runs it too (the host instrumented, 16 threads, the same bounds).
# Hosts: tests/hosts/slot_storm.c, tests/hosts/cap_count_server.py (--listeners).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/slot_storm
[ -x "$HOST" ] || fail "build it first: make build/hosts/slot_storm"
. "$(dirname "$0")/count_server.bash"
SEED=${CW_STORM_SEED:-$RANDOM}
THREADS=16 SECS=8
note "seed $SEED (CW_STORM_SEED=$SEED repeats the host's choices; the threads' timing differs)"

# storm NAME LISTENERS SECS FRESH [VAR=VALUE...]: a counting server with that many listeners and
# the host against it (FRESH: its fresh connects after the storm); the ports in PORTS_NAME
# (comma-separated), the host's PID in PID_NAME
storm() {
  local name=$1 listeners=$2 secs=$3 fresh=$4
  shift 4
  server "$name" --listeners "$listeners"
  local ports
  ports=$(jq_py "$(head -1 "$T/$name.server")" '",".join(str(p) for p in j.get("ports", [j["listening"]]))')
  eval "PORTS_$name=\$ports"
  host "$name" env "$@" "$HOST" "$ports" "$THREADS" "$secs" "$SEED" "$fresh"
  wait_for 10 grep -q '^storm started' "$T/$name.out"
}
line() { grep "^$2" "$T/$1.out"; }
field() { line "$1" "$2" | tr ' ' '\n' | sed -n "s/^$3=//p"; }
stat_line() {
  jq_py "$1" '"active %d queued %d opened %d closed %d peak %d refused %d queue_timeouts %d missed %d untracked %d" % (
    j["active"]["out"], j["queued"], j["opened"]["out"], j["closed"]["out"], j["peak"]["out"], j["refused"],
    j["queue_timeouts"], j["missed_closes"], j["untracked"])'
}

# Without the shim: the storm, short, and no cap.
storm plain 1 2 0 LD_PRELOAD=
wait_for 20 grep -q '^pause storm_done' "$T/plain.out"
assert_eq "$(line plain errors)" "errors none" "without the shim: failed connects"
tell plain go
wait_for 10 grep -q '^pause fresh' "$T/plain.out"
tell plain go
wait "$HPID" || fail "without the shim the host failed: $(cat "$T/plain.out" "$T/plain.err")"
note "without the shim: $(line plain "storm threads"); $(line plain connects); server $(served plain)"
[ "$(jq_py "$(cat "$T/plain.status")" 'int(j["peak"] > 8)')" = 1 ] ||
  fail "without the shim the storm never held more than 8 at once (server: $(cat "$T/plain.status"))"

# Under the caps, both at once; afterwards as many fresh connects as the caps allow, held together
# (for two destinations in two rounds: 2 + 1, then 1 + 2), must be made at once.
storm global 1 "$SECS" 0,0,0,0 LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=4 CONNWARDEN_QUEUE_TIMEOUT=20s
storm perdest 2 "$SECS" 0,0,1/0,1,1 LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=3 \
  CONNWARDEN_MAX_CONNS_PER_DEST=2 CONNWARDEN_QUEUE_TIMEOUT=20s

# During the storm: what stats shows active never passes the caps.
# over NAME STATS: 1 if the stats show more active than NAME's caps allow
over() {
  case $1 in
  global) jq_py "$2" 'int(j["active"]["out"] > 4)' ;;
  perdest) jq_py "$2" 'int(j["active"]["out"] > 3 or any(d["active"] > 2 for d in j["destinations"]))' ;;
  esac
}
samples=0
while ! { grep -q '^pause storm_done' "$T/global.out" && grep -q '^pause storm_done' "$T/perdest.out"; }; do
  for name in global perdest; do
    grep -q '^pause storm_done' "$T/$name.out" && continue
    eval "pid=\$PID_$name"
    S=$(query "$(sock_of "$pid")" stats 2>/dev/null) || continue
    [ "$(over "$name" "$S")" = 0 ] || fail "$name: stats during the storm show more active than the caps: $S"
    samples=$((samples + 1))
  done
  [ $samples -lt 400 ] || fail "the storm did not end (samples: $samples)"
  sleep 0.3
done
note "stats sampled $samples times during the storm"

# settled NAME: the counting server's counts, once they no longer change (10 s at most)
settled() {
  local last="" now deadline=$(($(date +%s%N) + 10000000000))
  while :; do
    now=$(cat "$T/$1.status")
    [ "$now" = "$last" ] && [ "$(jq_py "$now" 'j["current"]')" = 0 ] && break
    [ "$(date +%s%N)" -lt "$deadline" ] || fail "server $1 did not settle: $now"
    last=$now
    sleep 0.3
  done
  echo "$now"
}

# check NAME DESTINATIONS CAP PER_DEST_CAP FRESH_ALL FRESH_LAST: after the storm (FRESH_ALL: the
# fresh connects in all, FRESH_LAST: in the last round, held when stats are read)
check() {
  local name=$1 ndest=$2 cap=$3 per=$4 all=$5 last=$6 pid S V opened total completed
  eval "pid=\$PID_$name"
  S=$(query "$(sock_of "$pid")" stats)
  V=$(settled "$name")
  note "$name: $(line "$name" "storm threads"); $(line "$name" connects); $(stat_line "$S"); server $V"
  assert_eq "$(line "$name" errors)" "errors none" "$name: failed connects"
  assert_eq "$(field "$name" connects slow)" 0 "$name: non-blocking connects not writable within 5 s"
  opened=$(jq_py "$S" 'j["opened"]["out"]')
  assert_eq "$(stat_line "$S")" \
    "active 0 queued 0 opened $opened closed $opened peak $cap refused 0 queue_timeouts 0 missed 0 untracked 0" \
    "$name: stats after the storm"
  [ "$(jq_py "$S" 'j["waited"]')" -gt 100 ] || fail "$name: hardly any connect waited for a slot: $S"
  # the server saw the cap reached and never passed, and every connection the host completed (and
  # no more than the shim opened: one whose SYN met a full accept queue may have been given up)
  assert_eq "$(jq_py "$V" 'j["peak"]')" "$cap" "$name: the most connections the server saw at once"
  total=$(jq_py "$V" 'j["total"]')
  completed=$(field "$name" connects completed)
  [ "$total" -le "$opened" ] && [ "$total" -ge "$completed" ] ||
    fail "$name: the server saw $total connections; the shim opened $opened, the host completed $completed"
  if [ "$ndest" -gt 1 ]; then
    assert_eq "$(jq_py "$V" 'sorted(p["peak"] for p in j["ports"].values())')" "[$per, $per]" \
      "$name: the most connections each destination saw at once"
    assert_eq "$(jq_py "$S" 'sorted((d["active"], d["opened"] > 0) for d in j["destinations"])')" \
      "[(0, True), (0, True)]" "$name: destinations after the storm"
  fi
  # no slot lost: as many fresh connects as the caps allow, made at once
  tell "$name" go
  wait_for 25 grep -q '^pause fresh' "$T/$name.out" # a lost slot: a connect waits out the queue timeout
  assert_eq "$(grep -c '^fresh .* ok in .*: at once$' "$T/$name.out")" "$all" \
    "$name: fresh connects after the storm made at once ($(grep '^fresh' "$T/$name.out"))"
  S=$(query "$(sock_of "$pid")" stats)
  assert_eq "$(stat_line "$S")" \
    "active $last queued 0 opened $((opened + all)) closed $((opened + all - last)) peak $cap refused 0 queue_timeouts 0 missed 0 untracked 0" \
    "$name: stats with the fresh connections"
  assert_eq "$(jq_py "$(cat "$T/$name.status")" 'j["current"]')" "$last" "$name: the server's current count with them"
  tell "$name" go
  [ ! -s "$T/$name.err" ] || fail "$name: stderr: $(cat "$T/$name.err")"
}

check global 1 4 - 4 4
check perdest 2 3 2 6 3
