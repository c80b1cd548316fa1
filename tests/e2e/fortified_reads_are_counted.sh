# A host built with -D_FORTIFY_SOURCE=2 reads through __read_chk, __recv_chk and __recvfrom_chk,
# not read/recv/recvfrom: under the shim its connection's bytes_in is exactly what the peer sent
# and calls_in exactly the host's own count of successful reads, for each of those entry points.
# Host: tests/hosts/fortify_reader.c (PORT CHUNK read|recv|recvfrom|mix).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/fortify_reader
[ -x "$HOST" ] || fail "build it first: make build/hosts/fortify_reader"

# The build really is fortified: the reads are the checking variants (and the plain ones are not
# called at all).
syms=$(nm -D "$HOST")
for s in __read_chk __recv_chk __recvfrom_chk; do
  grep -qE " U $s(@|\$)" <<<"$syms" || fail "$HOST does not call $s: fortification is off"
done
! grep -qE ' U (read|recv|recvfrom)(@|$)' <<<"$syms" || fail "$HOST still calls an unfortified read"

# The peer: sends TOTAL bytes on every connection it accepts, then closes it.
TOTAL=300007
bg $PY -c '
import socket, sys
total = int(sys.argv[1])
data = bytes((i * 7 + 3) & 0xFF for i in range(total))
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
s.settimeout(30)
while True:
    c, _ = s.accept()
    c.sendall(data)
    c.close()
' "$TOTAL" >"$T/peer.port"
wait_for 5 test -s "$T/peer.port"
PORT=$(cat "$T/peer.port")


# read_all NAME ENV... -- ARGS...: run the host (stdin from a fifo held on $CTL) until it has read
# everything; sets HPID, HFD, HBYTES, HCALLS from its line.
read_all() {
  local name=$1 envs=() fd; shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  mkfifo "$T/$name.in"
  bg fed "$T/$name.in" env "${envs[@]}" "$HOST" "$PORT" "$@" >"$T/$name.out"
  exec {fd}>"$T/$name.in"
  CTL=$fd
  wait_for 10 grep -q '^pid=' "$T/$name.out"
  read -r HPID HFD HBYTES HCALLS < <(sed -n 's/^pid=\([0-9]*\) fd=\([0-9]*\) bytes=\([0-9]*\) calls=\([0-9]*\)$/\1 \2 \3 \4/p' "$T/$name.out") ||
    fail "$name: unexpected host output: $(cat "$T/$name.out")"
  assert_eq "$HBYTES" "$TOTAL" "$name: bytes the host itself read"
}
# done_with: end the host's stdin and check its exit status.
done_with() {
  local fd=$CTL rc=0
  exec {fd}>&-
  wait "$HPID" || rc=$?
  assert_eq "$rc" 0 "host exit status"
}

# Without the shim: the same reads, and no stats socket.
read_all plain -- 4096 mix
done_with
[ ! -e "$(sock_of "$HPID")" ] || fail "a stats socket without the shim"

# Under the shim, each fortified entry point alone, then all three in turn.
for mode in read recv recvfrom mix; do
  chunk=4096
  [ "$mode" = mix ] && chunk=1000
  read_all "$mode" LD_PRELOAD="$CW_PRELOAD" -- "$chunk" "$mode"
  [ "$HCALLS" -gt 1 ] || fail "$mode: expected several reads, got $HCALLS"
  conns=$(query "$(sock_of "$HPID")" conns)
  got=$(jq_py "$conns" "[(c['bytes_in'], c['calls_in'], c['bytes_out'], c['calls_out'], c['peer'], c['peer_closed']) for c in j if c['fd'] == $HFD]")
  assert_eq "$got" "[($TOTAL, $HCALLS, 0, 0, '127.0.0.1:$PORT', True)]" \
    "$mode: the connection's (bytes_in, calls_in, bytes_out, calls_out, peer, peer_closed)"
  assert_eq "$(stat_of "$HPID" 'j["bytes"]["in"]')" "$TOTAL" "$mode: stats bytes.in"
  done_with
done
