# A host that runs out of fds under a soft RLIMIT_NOFILE of 64, set both ways (`ulimit -Sn` before
# exec, setrlimit inside the process): it connects to and accepts from its own listener until
# EMFILE, probes dup/open/pipe/socket/accept4 there, closes 3 pairs, goes on to EMFILE again and
# echoes over every pair. Under the shim every line it prints is the one it prints without (so
# it got as many fds before EMFILE: the shim's own fds cost it none), and the shim's stats are
# exact for the connections that succeeded. Stats clients that arrive while the host is out of fds
# must not make the shim spin, nor let a single dup() of the host's succeed past its limit.
# Host: tests/hosts/fd_exhaust.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/fd_exhaust
[ -x "$HOST" ] || fail "build it first: make build/hosts/fd_exhaust"
LIMIT=64

# run NAME MODE PRELOAD [busy]: start the host; it stops at "pause exhausted" (PID in $HPID)
run() {
  local pre=() busy=${4:-}
  [ -n "$3" ] && pre=(env LD_PRELOAD="$CW_PRELOAD")
  if [ "$2" = inherit ]; then
    host "$1" bash -c 'ulimit -Sn "$1" && shift && exec "$@"' _ "$LIMIT" "${pre[@]}" "$HOST" inherit "$LIMIT" $busy
  else
    host "$1" "${pre[@]}" "$HOST" setrlimit "$LIMIT" $busy
  fi
  wait_for 10 grep -q '^pause exhausted' "$T/$1.out"
}
# go_on NAME PAUSE: release the host from its pause and wait for the next one (or its exit)
go_on() {
  tell "$1" go
  if [ "$2" = end ]; then
    local rc=0
    wait "$HPID" || rc=$?
    assert_eq "$rc" 0 "$1: exit status ($(cat "$T/$1.out" "$T/$1.err" | tail -5))"
  else
    wait_for 10 grep -q "^pause $2" "$T/$1.out"
  fi
}
# own_fds PID: the fds below the limit that name an eventfd or a Unix socket (the host has none)
own_fds() {
  local fd target ino out=""
  for fd in $(ls "/proc/$1/fd" | sort -n); do
    [ "$fd" -lt "$LIMIT" ] || continue
    target=$(readlink "/proc/$1/fd/$fd" 2>/dev/null) || continue
    ino=${target#socket:[}
    ino=${ino%]}
    if [[ $target == anon_inode:*eventfd* ]] || { [[ $target == socket:* ]] && awk '{print $7}' "/proc/$1/net/unix" | grep -qx "$ino"; }; then
      out+="$fd($target) "
    fi
  done
  echo "${out:-none}"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for mode in inherit setrlimit; do
  run "plain_$mode" "$mode" ""
  go_on "plain_$mode" settled
  go_on "plain_$mode" end
  note "$mode, plain: $(grep -c '^fill pair' "$T/plain_$mode.out") pairs before EMFILE: $(grep '^fill pair' "$T/plain_$mode.out" | tail -1)"
  assert_contains "$(cat "$T/plain_$mode.out")" "exhausted probes: dup -1 EMFILE" "$mode, plain: the host reached EMFILE"
  assert_contains "$(cat "$T/plain_$mode.out")" "bad=0" "$mode, plain: every pair echoed"

  run "shim_$mode" "$mode" shim
  SPID=$HPID
  OWN=$(own_fds "$SPID")
  go_on "shim_$mode" settled
  # exact for the connections that succeeded (the pending client, connected but never accepted,
  # is an open outbound connection)
  eval "$(grep '^totals ' "$T/shim_$mode.out" | tr ' ' '\n' | grep -E '^[a-z_]+=[0-9]+$')"
  S=$(query "$(sock_of "$SPID")" stats)
  assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["opened"]["in"], j["closed"]["out"], j["closed"]["in"], j["active"]["out"], j["active"]["in"])')" \
    "($opened_out, $opened_in, $closed_out, $closed_in, $((opened_out - closed_out)), $((opened_in - closed_in)))" \
    "$mode: opened/closed/active (in and out)"
  assert_eq "$(jq_py "$S" '(j["bytes"]["out"], j["bytes"]["in"], j["missed_closes"], j["untracked"], j["inherited"])')" \
    "($bytes_out, $bytes_in, 0, 0, 0)" "$mode: bytes, missed closes, untracked, inherited"
  assert_eq "$(jq_py "$(query "$(sock_of "$SPID")" conns)" 'len(j)')" "$((opened_out - closed_out + opened_in - closed_in))" \
    "$mode: connections listed"
  go_on "shim_$mode" end
  [ ! -e "$(sock_of "$SPID")" ] || fail "$mode: the stats socket outlived the host"
  [ ! -s "$T/shim_$mode.err" ] || fail "$mode: the shim or host wrote to stderr: $(cat "$T/shim_$mode.err")"
  DIFF=$(diff "$T/plain_$mode.out" "$T/shim_$mode.out" | head -20) ||
    fail "$mode: the host's output differs under the shim (the shim's own fds below the soft limit while the host was out of fds: $OWN):"$'\n'"$DIFF"
  [ "$mode" = inherit ] || assert_eq "$(cat "$T/plain_inherit.out")" "$(cat "$T/plain_setrlimit.out")" "plain output, the limit set either way"
done

# Stats clients while the host is out of fds. One, while the host sleeps: it may be answered (from
# a number above the soft limit) or wait, but the shim must not spin on it. Then a stream of them
# while the host keeps calling dup(): not one of those calls may succeed, as without the shim
# (whatever the shim does to serve a client must not lift the host's limit, even for a moment).
# Then the host goes on, its pairs all echo, and it ends well.
run shim_probe setrlimit shim busy
PROBE_PID=$HPID
before=$(cpu_ticks "$PROBE_PID")
$PY - "$(sock_of "$PROBE_PID")" >"$T/probe.out" <<'EOF' || true
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(1.0)
s.connect(sys.argv[1])
s.sendall(b"stats\n")
try:
    print("reply", repr(s.recv(100)[:40]))
except OSError as e:
    print("no reply:", e)
EOF
spent=$(($(cpu_ticks "$PROBE_PID") - before))
note "one stats client while the host is out of fds: $(cat "$T/probe.out"); the host used $spent CPU ticks meanwhile"
grep -q '^reply' "$T/probe.out" || [ "$spent" -lt 20 ] ||
  fail "the shim spun on a stats client it could not accept: $spent ticks of CPU in 1 s while the host slept"
tell shim_probe go
wait_for 10 grep -q '^pause busy' "$T/shim_probe.out"
$PY - "$(sock_of "$PROBE_PID")" >"$T/stream.out" <<'EOF'
import socket, sys, time
answered = tried = 0
end = time.monotonic() + 0.5
while time.monotonic() < end:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(0.5)
    tried += 1
    try:
        s.connect(sys.argv[1])
        s.sendall(b"help\n")
        answered += bool(s.recv(64))
    except OSError:
        pass
    s.close()
print("tried=%d answered=%d" % (tried, answered))
EOF
go_on shim_probe settled
note "a stream of stats clients while the host called dup() at its limit: $(cat "$T/stream.out")"
assert_eq "$(grep '^busy:' "$T/shim_probe.out")" "busy: dup at the limit succeeded 0 times" \
  "the host's dup() calls at its limit while stats clients came and went"
assert_contains "$(query "$(sock_of "$PROBE_PID")" stats)" "\"pid\": $PROBE_PID" "probe run: the stats socket answers once fds are free"
go_on shim_probe end
# up to the probes, as without the shim; after them the stale clients the shim accepts once fds
# are free may take a number for a moment, so only the host's own checks are looked at
assert_eq "$(sed '/^pause exhausted/q' "$T/shim_probe.out")" "$(sed '/^pause exhausted/q' "$T/plain_setrlimit.out")" \
  "probe run: what the host printed up to the probes, against the run without the shim"
assert_contains "$(cat "$T/shim_probe.out")" "bad=0" "probe run: every pair echoed"
