# TCP Fast Open connections are outbound connections like any other: counted, and held to the cap.
# Three connections are opened each way Fast Open offers: sendto(..., MSG_FASTOPEN, addr) and
# sendmsg with MSG_FASTOPEN (connect and send in one call), and setsockopt TCP_FASTOPEN_CONNECT
# then connect() and write(); by blocking threads, and by one thread with non-blocking sockets.
# Without the shim the server sees all three at once. Under CONNWARDEN_MAX_CONNS=1 it never sees
# more than one, every connection still carries its data and echo, and `stats` counts three
# outbound connections (peak 1, two waits) with their bytes. A non-blocking Fast Open send held at
# the cap returns -1 EINPROGRESS having sent nothing (what it returns without a cookie: the data
# then goes after the handshake), so the host's lines are the same as without the shim. With
# CONNWARDEN_ON_CAP=refuse the sends past the cap fail with the cap errno.
# Needs the client side of Fast Open: bit 1 of net.ipv4.tcp_fastopen (the kernel's default, 1).
# Without it every MSG_FASTOPEN send fails with EOPNOTSUPP, with or without the shim, and the test
# says so and stops; it changes no setting of the machine. Where the server side is on too (bit 2)
# the server takes data in the SYN and a client holding a cookie sends in it: the host's lines may
# then differ between runs, and only the counts are compared.
# Hosts: tests/hosts/fastopen_client.c, tests/hosts/cap_count_server.py (--fastopen, --listeners).
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/fastopen_client
[ -x "$HOST" ] || fail "build it first: make build/hosts/fastopen_client"
. "$(dirname "$0")/count_server.bash"

TFO=$(cat /proc/sys/net/ipv4/tcp_fastopen)
if [ $((TFO & 1)) -eq 0 ]; then
  note "net.ipv4.tcp_fastopen is $TFO: the client side of TCP Fast Open is off on this machine, so" \
    "MSG_FASTOPEN sends fail with EOPNOTSUPP with or without the shim; nothing to test (set bit 1 to run it)"
  exit 0
fi
SERVER_TFO=$((TFO & 2))

# One counting server, a listener for each run (its port taken from PORTS).
server tfo --fastopen --listeners 14
read -ra PORTS <<<"$(jq_py "$(head -1 "$T/tfo.server")" '" ".join(str(p) for p in j["ports"])')"
next=0

# run NAME MODE HOW [VAR=VALUE...]: the host against the next listener (its port in PORT), 3
# connections held 100 ms each; it waits at its end until told to go (PID in HPID)
run() {
  local name=$1 mode=$2 how=$3
  shift 3
  PORT=${PORTS[$next]}
  next=$((next + 1))
  host "$name" env "$@" "$HOST" "$PORT" "$mode" "$how" 3 100
  wait_for 30 grep -q '^done' "$T/$name.out"
}
# finish NAME STATUS: let the host exit; it must exit with STATUS
finish() {
  local rc=0
  tell "$1" go
  wait "$HPID" || rc=$?
  assert_eq "$rc" "$2" "$1: exit status ($(cat "$T/$1.out" "$T/$1.err"))"
}
lines() { sort "$T/$1.out"; }

for mode in sendto sendmsg connect; do
  for how in block nonblock; do
    run "plain_${mode}_$how" "$mode" "$how" LD_PRELOAD=
    assert_eq "$(grep -c 'echo=ok' "$T/plain_${mode}_$how.out")" 3 "$mode $how without the shim: connections that echoed"
    finish "plain_${mode}_$how" 0
    expect_served_port tfo "$PORT" "0 3 3"

    name=${mode}_$how
    run "$name" "$mode" "$how" LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1 CONNWARDEN_QUEUE_TIMEOUT=5s
    expect_served_port tfo "$PORT" "0 1 3"
    [ -S "$(sock_of "$HPID")" ] || fail "$mode $how: no stats socket: the shim saw no connection"
    S=$(query "$(sock_of "$HPID")" stats)
    assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["closed"]["out"], j["active"]["out"], j["peak"]["out"], j["opened"]["in"],
                             j["waited"], j["queued"], j["refused"], j["queue_timeouts"], j["bytes"]["out"], j["bytes"]["in"],
                             [(d["peer"], d["opened"], d["active"]) for d in j["destinations"]])')" \
      "(3, 3, 0, 1, 0, 2, 0, 0, 0, 18, 18, [('127.0.0.1:$PORT', 3, 0)])" \
      "$mode $how: stats opened, closed, active, peak (out), opened in, waited, queued, refused, queue timeouts, bytes out and in, destinations"
    finish "$name" 0
    assert_eq "$(grep -c 'echo=ok' "$T/$name.out")" 3 "$mode $how: connections that echoed"
    [ "$SERVER_TFO" -ne 0 ] || assert_eq "$(lines "$name")" "$(lines "plain_${mode}_$how")" \
      "$mode $how: the host's lines with and without the shim"
    [ ! -s "$T/$name.err" ] || fail "$mode $how: stderr: $(cat "$T/$name.err")"
  done
done

# refused at the cap: one connection, and two Fast Open sends that fail at once with the cap errno
for r in "sendto nonblock" "sendmsg block"; do
  set -- $r
  name=refuse_$1_$2
  run "$name" "$1" "$2" LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=1 CONNWARDEN_ON_CAP=refuse
  assert_eq "$(grep -c 'echo=ok' "$T/$name.out") $(grep -c 'first=-1 ECONNREFUSED echo=start failed' "$T/$name.out")" \
    "1 2" "$1 $2 refused at the cap: connections that echoed, and sends refused ($(cat "$T/$name.out"))"
  S=$(query "$(sock_of "$HPID")" stats)
  assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["closed"]["out"], j["peak"]["out"], j["refused"], j["waited"], j["bytes"]["out"])')" \
    "(1, 1, 1, 2, 0, 6)" "$1 $2 refused at the cap: stats opened, closed, peak, refused, waited, bytes out"
  finish "$name" 1
  expect_served_port tfo "$PORT" "0 1 1"
done
