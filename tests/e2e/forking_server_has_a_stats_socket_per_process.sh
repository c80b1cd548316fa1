# A forking server under the shim: the parent and each child answer on their own PID.sock; a child
# shows exactly the connection it inherited from the parent's accept (the peer its client has,
# its own bytes), the parent counts what it accepted and closed; a child's socket is removed when
# it exits, while the others go on answering. Host: tests/hosts/fork_server.c (N).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/fork_server
[ -x "$HOST" ] || fail "build it first: make build/hosts/fork_server"

# start ENV...: the server for two connections; sets SPID and PORT.
start() {
  bg env "$@" "$HOST" 2 >"$T/srv.out" 2>"$T/srv.err"
  SPID=$BG_PID
  wait_for 5 grep -q '^pid=' "$T/srv.out"
  assert_eq "$(sed -n 's/^pid=\([0-9]*\) .*/\1/p' "$T/srv.out")" "$SPID" "server pid"
  PORT=$(sed -n 's/^pid=[0-9]* port=\([0-9]*\)$/\1/p' "$T/srv.out")
}
# client VAR: connect (bash's /dev/tcp: no shim in the client), read the child's greeting and have
# one line echoed. Sets VAR to the fd, CPID/CPEER from the greeting, GREET its length with newline.
client() {
  local fd line
  exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
  printf -v "$1" %s "$fd"
  read -r -t 5 -u "$fd" line || fail "no greeting from a child"
  [[ $line =~ ^child\ ([0-9]+)\ peer\ (127\.0\.0\.1:[0-9]+)$ ]] || fail "unexpected greeting: $line"
  CPID=${BASH_REMATCH[1]} CPEER=${BASH_REMATCH[2]} GREET=$((${#line} + 1))
  echo ping >&"$fd"
  read -r -t 5 -u "$fd" line || fail "no echo from child $CPID"
  assert_eq "$line" ping "echo from child $CPID"
}
hangup() { local fd=$1; exec {fd}>&-; }
server_exits_cleanly() {
  local rc=0
  wait "$SPID" || rc=$?
  assert_eq "$rc" 0 "server exit status (its children all exited 0)"
}

# Without the shim: the same dialogue, and no stats socket anywhere.
start
client c
hangup "$c"
client c
hangup "$c"
server_exits_cleanly
[ ! -e "$CONNWARDEN_RUNDIR" ] || fail "stats sockets without the shim: $(ls -A "$CONNWARDEN_RUNDIR")"

# Under the shim.
start LD_PRELOAD="$CW_PRELOAD"
client c1
C1=$CPID P1=$CPEER G1=$GREET
client c2
C2=$CPID P2=$CPEER G2=$GREET
[ "$C1" != "$C2" ] && [ "$C1" != "$SPID" ] || fail "children $C1 $C2 of server $SPID are not distinct"
wait_for 5 grep -q "^child=$C2 " "$T/srv.out"
F1=$(sed -n "s/^child=$C1 fd=\([0-9]*\)$/\1/p" "$T/srv.out")
F2=$(sed -n "s/^child=$C2 fd=\([0-9]*\)$/\1/p" "$T/srv.out")

# three processes, three sockets
for p in "$SPID" "$C1" "$C2"; do wait_for 5 test -S "$(sock_of "$p")"; done
assert_eq "$(cd "$CONNWARDEN_RUNDIR" && ls -- *.sock | sort | tr '\n' ' ')" \
  "$(printf '%s.sock\n' "$SPID" "$C1" "$C2" | sort | tr '\n' ' ')" "sockets in the run directory"

# each child: its own pid, and exactly the connection it holds, with its own bytes
child_shows() { # PID FD PEER GREETING_LEN
  assert_eq "$(stat_of "$1" '(j["pid"], j["active"]["in"], j["active"]["out"], j["inherited"])')" \
    "($1, 1, 0, 1)" "child $1 stats (pid, active in, active out, inherited)"
  local conns
  conns=$(query "$(sock_of "$1")" conns)
  assert_eq "$(jq_py "$conns" '[(c["fd"], c["dir"], c["peer"], c["bytes_in"], c["bytes_out"], c["state"], c["inherited"]) for c in j]')" \
    "[($2, 'in', '$3', 5, $(($4 + 5)), 'ESTABLISHED', True)]" "child $1 conns (fd, dir, peer, bytes in, out, state, inherited)"
}
child_shows "$C1" "$F1" "$P1" "$G1"
child_shows "$C2" "$F2" "$P2" "$G2"

# the parent: accepted two, handed each to a child and closed its own copy
assert_eq "$(stat_of "$SPID" '(j["pid"], j["opened"]["in"], j["closed"]["in"], j["active"]["total"])')" \
  "($SPID, 2, 2, 0)" "parent stats (pid, opened in, closed in, active)"
assert_eq "$(query "$(sock_of "$SPID")" conns | tr -d ' \n')" "[]" "parent conns"

# a child's socket goes with it; the others keep answering
hangup "$c1"
wait_for 5 test ! -e "$(sock_of "$C1")"
assert_eq "$(stat_of "$C2" 'j["pid"]')" "$C2" "second child still answers"
assert_eq "$(stat_of "$SPID" 'j["pid"]')" "$SPID" "parent still answers"
hangup "$c2"
wait_for 5 test ! -e "$(sock_of "$C2")"
server_exits_cleanly
[ ! -e "$(sock_of "$SPID")" ] || fail "the parent's socket is left after its exit"
