# Every wrapper returns the real result with the real errno: a table of failing calls and of
# successful ones made with errno set to a sentinel (which they must keep, even the listen that
# starts the stats server) prints the same "name=ret/errno" lines with and without the shim, under
# several configurations. Every interposed function (hooks.def) has a case, the fortified
# __*_chk entry points and the exec family included. Host: tests/hosts/errno_table.c.
. "$(dirname "$0")/lib.bash"
HOST=$HOSTS/errno_table
[ -x "$HOST" ] || fail "build it first: make build/hosts/errno_table"

"$HOST" >"$T/plain" 2>"$T/plain.err" || fail "host failed without the shim: $(cat "$T/plain.err")"
plain=$(cat "$T/plain")

# The host does what it says without the shim: the expected errnos, and the sentinel kept by
# every successful call (else a difference would be the C library's, not the shim's).
for want in close_minus1=-1/EBADF close_9999=-1/EBADF read_badfd=-1/EBADF write_badfd=-1/EBADF \
  recv_badfd=-1/EBADF send_badfd=-1/EBADF connect_refused=-1/ECONNREFUSED \
  connect_notsock=-1/ENOTSOCK accept_notlistening=-1/EINVAL dup2_to_minus1=-1/EBADF \
  fcntl_dupfd_badfd=-1/EBADF close_range_inverted=-1/EINVAL shutdown_notconn=-1/ENOTCONN \
  sendfile_badfds=-1/EBADF splice_badfds=-1/EBADF syscall_close_minus1=-1/EBADF \
  connect_ok=0/sentinel send_ok=5/sentinel recv_ok=5/sentinel close_ok=0/sentinel \
  syscall_close_ok=0/sentinel __read_chk_badfd=-1/EBADF __recv_chk_ok=5/sentinel \
  recv_tracked_wouldblock=-1/EAGAIN sendmmsg_ok=1/sentinel \
  execvp_missing=-1/ENOENT pthread_create_ok=0/sentinel; do
  grep -qxF "$want" <<<"$plain" || fail "without the shim, expected the line $want in: $plain"
done
bad_ok=$(grep -E '^[a-z0-9_]+_ok=' <<<"$plain" | grep -v '/sentinel$' || true)
[ -z "$bad_ok" ] || fail "a successful call changed errno even without the shim: $bad_ok"
[ "$(grep -c '_ok=' <<<"$plain")" -ge 25 ] || fail "too few successful cases ran: $plain"
[ "$(wc -l <<<"$plain")" -ge 70 ] || fail "too few cases ran: $plain"
# Every interposed function (hooks.def) has at least one case: a line named after it.
for hook in $(sed -n 's/^CW_HOOK([^,]*, *\([a-z_0-9]*\),.*/\1/p' "$ROOT/shim/hooks.def"); do
  grep -q "^${hook}_" <<<"$plain" || fail "no case in the errno table calls $hook"
done
C=$(sed -n 's|^socket_ok=\([0-9]*\)/sentinel$|\1|p' <<<"$plain")

# under_shim NAME VAR=VALUE...: the same table under the shim must print the same lines.
under_shim() {
  local name=$1 rc=0; shift
  env "$@" LD_PRELOAD="$CW_PRELOAD" "$HOST" >"$T/$name" 2>"$T/$name.err" || rc=$?
  assert_eq "$rc" 0 "$name: exit status"
  diff "$T/plain" "$T/$name" >&2 || fail "$name: the shim changed a result or an errno (diff above)"
}

# The default configuration, with the leak check showing that the shim tracked the connection the
# host leaves open (so the identical output is not that of an idle or absent shim).
under_shim default CONNWARDEN_LEAK_CHECK=1
assert_contains "$(cat "$T/default.err")" "Leaked connection fd $C out 127.0.0.1:" "the shim tracked fd $C"
# Backtraces and logging on; then caps and timeouts set (the policy paths run, never bind).
under_shim traced CONNWARDEN_BACKTRACE=1 CONNWARDEN_LOG=debug
under_shim policy CONNWARDEN_MAX_CONNS=100 CONNWARDEN_MAX_CONNS_PER_DEST=50 \
  CONNWARDEN_IDLE_TIMEOUT=30s CONNWARDEN_MAX_LIFETIME=1m
