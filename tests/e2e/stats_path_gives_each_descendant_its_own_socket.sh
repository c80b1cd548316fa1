# CONNWARDEN_STATS names the socket of every process it reaches: %p in it is the PID, so a forking
# server and its children each answer on their own path; without %p the process that read the path
# first keeps it exactly (also after it execs itself) and every descendant, forked or exec'd,
# answers on PATH.PID. Hosts: tests/hosts/fork_server.c (N), and a Python parent that starts a
# Python child with subprocess (fork, then exec).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/fork_server
[ -x "$HOST" ] || fail "build it first: make build/hosts/fork_server"
D=$T/sockets
mkdir -m 0700 "$D"

answers_as() { # SOCKET PID
  assert_eq "$(jq_py "$(query "$1" stats)" 'j["pid"]')" "$2" "the process answering on $1"
}
# serve ENV...: the forking server for two clients (each child greets and echoes until EOF), both
# connected; sets SPID, C1, C2 and the client fds F1, F2.
serve() {
  bg env "$@" "$HOST" 2 >"$T/srv.out" 2>"$T/srv.err"
  SPID=$BG_PID
  wait_for 5 grep -q '^pid=' "$T/srv.out"
  local port line i
  port=$(sed -n 's/^pid=[0-9]* port=\([0-9]*\)$/\1/p' "$T/srv.out")
  for i in 1 2; do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"
    read -r -t 5 -u "$fd" line || fail "no greeting from child $i"
    [[ $line =~ ^child\ ([0-9]+)\  ]] || fail "unexpected greeting: $line"
    printf -v "C$i" %s "${BASH_REMATCH[1]}"
    printf -v "F$i" %s "$fd"
  done
}
finish() { # the clients hang up, the server reaps its children and exits 0
  exec {F1}>&- {F2}>&-
  local rc=0
  wait "$SPID" || rc=$?
  assert_eq "$rc" 0 "server exit status"
  assert_eq "$(ls -A "$D")" "" "every socket removed at exit"
}

# Without the shim: no socket.
serve CONNWARDEN_STATS="$D/srv-%p.sock"
finish

# 1. %p: the parent and each child at their own PID.
serve LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_STATS="$D/srv-%p.sock"
for p in "$SPID" "$C1" "$C2"; do
  wait_for 5 test -S "$D/srv-$p.sock"
  answers_as "$D/srv-$p.sock" "$p"
done
assert_eq "$(ls "$D" | sort | tr '\n' ' ')" "$(printf 'srv-%s.sock\n' "$SPID" "$C1" "$C2" | sort | tr '\n' ' ')" \
  "sockets with %p"
finish

# 2. No %p: the parent has the path, each forked child PATH.PID.
serve LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_STATS="$D/srv.sock"
wait_for 5 test -S "$D/srv.sock"
answers_as "$D/srv.sock" "$SPID"
for p in "$C1" "$C2"; do
  wait_for 5 test -S "$D/srv.sock.$p"
  answers_as "$D/srv.sock.$p" "$p"
done
assert_eq "$(jq_py "$(query "$D/srv.sock.$C1" config)" 'j["stats"]')" "$D/srv.sock.$C1" "a child's config names its path"
assert_eq "$(jq_py "$(query "$D/srv.sock" config)" 'j["stats"]')" "$D/srv.sock" "the parent's config names its path"
exec {F1}>&-
wait_for 5 test ! -e "$D/srv.sock.$C1"
answers_as "$D/srv.sock" "$SPID"
answers_as "$D/srv.sock.$C2" "$C2"
finish

# 3. Exec: a shell execs the parent in its place (same PID, so the path stays its own); the parent
# starts a child with subprocess, which execs a new Python (a descendant: PATH.PID).
cat >"$T/parent.py" <<'PY'
import os, socket, subprocess, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
c = socket.create_connection(l.getsockname())
child = subprocess.Popen([sys.executable, sys.argv[1], str(l.getsockname()[1])], stdin=subprocess.PIPE)
print(os.getpid(), child.pid, flush=True)
sys.stdin.read()          # until the test lets go
child.stdin.close()
sys.exit(child.wait())
PY
cat >"$T/child.py" <<'PY'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
sys.stdin.read()
PY
mkfifo "$T/exec.in"
bg env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_STATS="$D/tree.sock" \
  sh -c 'exec "$0" "$1" "$2" <"$3"' "$PY" "$T/parent.py" "$T/child.py" "$T/exec.in" >"$T/exec.out"
exec {ctl}>"$T/exec.in"
wait_for 5 grep -q . "$T/exec.out"
read -r PARENT CHILD <"$T/exec.out"
assert_eq "$PARENT" "$BG_PID" "the shell exec'd the parent in its place"
wait_for 5 test -S "$D/tree.sock"
answers_as "$D/tree.sock" "$PARENT"
wait_for 5 test -S "$D/tree.sock.$CHILD"
answers_as "$D/tree.sock.$CHILD" "$CHILD"
assert_eq "$(ls "$D" | sort | tr '\n' ' ')" "tree.sock tree.sock.$CHILD " "sockets of the exec'd tree"
exec {ctl}>&-
rc=0
wait "$PARENT" || rc=$?
assert_eq "$rc" 0 "the exec'd tree's exit status"
assert_eq "$(ls -A "$D")" "" "every socket of the tree removed at exit"
