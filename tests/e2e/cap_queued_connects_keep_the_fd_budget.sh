# Connects waiting at the cap cost the program no fd beyond their own sockets. Under
# CONNWARDEN_MAX_CONNS=1, with one connection held, a host starts 1,000 non-blocking connects
# (all wait in the queue: the server sees one connection), then opens files and sockets until
# EMFILE: it gets exactly as many as the same host without the library, whose 1,000 connects all
# went through. Then the held connection is closed and the host serves the 1,000 as each becomes
# writable, closing each at once: all complete, in the order they were started, none fails, and
# the server never sees more than one at once. Run with the soft RLIMIT_NOFILE at 1100, twice:
#  - below a higher hard limit: the library's own fds sit above the soft limit, out of the
#    program's range, so the counts are the same to the fd;
#  - at the hard limit too (soft == hard, `ulimit -n 1100`): there is no room above it, and the
#    library keeps its own fds at the top of the program's range, where the program meets them
#    only when nearly out of fds. It then opens exactly 6 fewer: the library's own fds, which the
#    host finds below its limit and names by kind: the stats socket's listener (unix-listener)
#    and wake-up (eventfd), the reaper's dead placeholder (unix), and the queue's black hole (a
#    TCP listener, the connection that fills its accept queue, and the bound socket that refuses
#    timed-out connects: tcp-listener, tcp, tcp). The stats socket's clients come and go.
# Fds the host inherited from the test's environment are foreign in every run alike.
# Hosts: tests/hosts/fd_budget.c, tests/hosts/cap_count_server.py.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/fd_budget
[ -x "$HOST" ] || fail "build it first: make build/hosts/fd_budget"
. "$(dirname "$0")/count_server.bash"
LIMIT=1100 N=1000
LIBRARY_OWN="[eventfd] tcp tcp tcp-listener unix unix-listener"

HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] || [ "$HARD" -ge "$LIMIT" ] || fail "needs a hard RLIMIT_NOFILE of $LIMIT at least (it is $HARD)"
CASES=(equal)
[ "$HARD" = unlimited ] || [ "$HARD" -ge $((LIMIT + 128)) ] || {
  note "hard RLIMIT_NOFILE $HARD leaves no room above a soft limit of $LIMIT: only the soft == hard case runs"
  CASES=()
}
CASES+=(at_hard)

# run NAME CASE [VAR=VALUE...]: the host under that limit against a fresh server; it stops at
# "pause queued" (PID in HPID)
run() {
  local name=$1 how=-Sn
  [ "$2" = at_hard ] && how=-n
  shift 2
  server "$name"
  host "$name" env "$@" bash -c 'ulimit '"$how"' "$1" && shift && exec "$@"' _ "$LIMIT" "$HOST" "$PORT" "$N"
  wait_for 10 grep -q '^pause queued' "$T/$name.out"
}
# go_on NAME PAUSE: release the host, wait for its next pause
go_on() {
  tell "$1" go
  wait_for 30 grep -q "^pause $2" "$T/$1.out"
}
line() { grep "^$2" "$T/$1.out"; }
opened_more() { line "$1" opened | sed 's/^opened \([0-9]*\) more, then -1 EMFILE$/\1/'; }
foreign() { line "$1" foreign | sed 's/^foreign below the limit [0-9]*: *//'; }
stat_line() {
  jq_py "$(query "$(sock_of "$1")" stats)" '"active %d queued %d waited %d opened %d closed %d peak %d timeouts %d refused %d" % (
    j["active"]["out"], j["queued"], j["waited"], j["opened"]["out"], j["closed"]["out"], j["peak"]["out"],
    j["queue_timeouts"], j["refused"])'
}

for c in "${CASES[@]}"; do
  # without the library: every connect goes through
  run "plain_$c" "$c" LD_PRELOAD=
  assert_eq "$(line "plain_$c" started)" "started $N: EINPROGRESS $N, other 0" "$c, without the library: connects"
  go_on "plain_$c" exhausted
  go_on "plain_$c" served
  # (in whatever order: with a thousand at once, some SYNs meet the server's full accept queue)
  assert_eq "$(line "plain_$c" completed | sed 's/, [^;]*;/;/')" "completed $N of $N; not done 0; errors none" \
    "$c, without the library: the connects"
  tell "plain_$c" go

  # under the cap
  run "$c" "$c" LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1 CONNWARDEN_QUEUE_TIMEOUT=60s
  SPID=$HPID
  assert_eq "$(line "$c" started)" "started $N: EINPROGRESS $N, other 0" "$c: connects"
  assert_eq "$(stat_line "$SPID")" "active 1 queued $N waited $N opened 1 closed 0 peak 1 timeouts 0 refused 0" \
    "$c: stats with the connects queued"
  expect_served "$c" "1 1 1"
  go_on "$c" exhausted
  note "$c: without the library $(line "plain_$c" opened), foreign: $(foreign "plain_$c");" \
    "with it $(line "$c" opened), foreign: $(foreign "$c")"
  if [ "$c" = equal ]; then
    assert_eq "$(opened_more "$c")" "$(opened_more "plain_$c")" \
      "$c: fds opened until EMFILE with the connects queued, against the run without the library"
    assert_eq "$(foreign "$c")" "$(foreign "plain_$c")" "$c: fds below the limit the host did not open"
  else
    assert_eq "$(opened_more "$c")" "$(($(opened_more "plain_$c") - 6))" \
      "$c: fds opened until EMFILE, 6 fewer than without the library (its own at the top of the range)"
    assert_eq "$(foreign "$c")" "$(tr ' ' '\n' <<<"$(foreign "plain_$c") $LIBRARY_OWN" | sed '/^$/d' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" \
      "$c: fds below the limit the host did not open: those without the library, and the library's own"
  fi
  go_on "$c" served
  assert_eq "$(line "$c" completed)" "completed $N of $N, in the order started; not done 0; errors none" \
    "$c: the queued connects once the slot was free ($(cat "$T/$c.err"))"
  assert_eq "$(stat_line "$SPID")" \
    "active 0 queued 0 waited $N opened $((N + 1)) closed $((N + 1)) peak 1 timeouts 0 refused 0" "$c: stats at the end"
  expect_served "$c" "0 1 $((N + 1))"
  tell "$c" go
done
