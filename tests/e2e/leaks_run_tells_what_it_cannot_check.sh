# connwarden run tells, in one line each, what the leak check cannot reach, and still runs it: a
# statically linked command, a setuid one (when this test runs as root on a suid file system), a
# program started with an environment that drops the preload (env -i, env -u LD_PRELOAD: the
# process that exec'd it is named), and processes of the tree still running after the command
# ended. A program that keeps the environment gets no such line.
# Hosts: leaks_server.py, leaks_worker.c.
. "$(dirname "$0")/lib.bash"
WORKER=$HOSTS/leaks_worker
[ -x "$WORKER" ] || fail "build it first: make build/hosts/leaks_worker"
bg "$PY" "$HOSTSRC/leaks_server.py" "$T/ports" cache --max-secs 60
wait_for 10 test -s "$T/ports"
cache=$(sed -n 's/^cache=//p' "$T/ports")

# check ARGS...: connwarden run --check-leaks ARGS; RC, ERR. A sanitizer runtime (make check-asan)
# goes in the LD_PRELOAD run inherits, so it stays first.
check() {
  RC=0
  "${CW_ENV[@]}" "$CW" run --check-leaks "$@" >"$T/out" 2>"$T/err" || RC=$?
  ERR=$(cat "$T/err")
}

# 1. Statically linked: a warning, then it runs (its status is its own).
if printf 'int main(void) { return 3; }\n' | cc -static -x c - -o "$T/static" 2>/dev/null; then
  check -- "$T/static"
  assert_eq "$RC" 3 "a static command still runs"
  assert_eq "$(grep -c "^connwarden: warning: $T/static is statically linked" <<<"$ERR")" 1 "one static warning"
  assert_eq "$(tail -n1 <<<"$ERR")" "SUMMARY: connwarden: 0 leaked connections in 0 processes" "nothing was checked"
else
  note "no static C library: static-command warning not checked"
fi

# 2. Setuid to another user: the loader would ignore LD_PRELOAD.
nosuid=$($PY -c 'import os, sys; print(int(bool(os.statvfs(sys.argv[1]).f_flag & os.ST_NOSUID)))' "$T")
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && [ "$nosuid" = 0 ]; then
  cp "$(type -P true)" "$T/suid-true"
  chown nobody "$T/suid-true"
  chmod 4755 "$T/suid-true"
  check -- "$T/suid-true"
  assert_eq "$RC" 0 "a setuid command still runs"
  assert_eq "$(grep -c "^connwarden: warning: $T/suid-true is setuid or setgid" <<<"$ERR")" 1 "one setuid warning"
  cp "$(type -P true)" "$T/plain-true"
  check -- "$T/plain-true"
  assert_not_contains "$ERR" "setuid" "a plain copy gets no setuid warning"
else
  note "not root, no user nobody, or $T is nosuid: setuid warning not checked"
fi

# 3. A child whose environment drops the preload: the exec'ing process is named.
check -- sh -c "env -i $WORKER leak $cache"
assert_eq "$RC" 0 "the unchecked worker's leak is not seen"
grep -qE "^connwarden: warning: pid [0-9]+ \(env -i $WORKER leak $cache\) started a program whose environment drops LD_PRELOAD, CONNWARDEN_LEAK_CHECK, CONNWARDEN_REPORT: that program and its children were not checked$" <<<"$ERR" ||
  fail "no warning for env -i: $ERR"
check -- sh -c "env -u LD_PRELOAD $WORKER close $cache"
grep -qE "^connwarden: warning: pid [0-9]+ \(env -u LD_PRELOAD .*\) started a program whose environment drops LD_PRELOAD:" <<<"$ERR" ||
  fail "no warning for env -u LD_PRELOAD: $ERR"
check -- sh -c "env CACHE=1 $WORKER leak $cache"
assert_eq "$RC" 23 "a worker that keeps the environment is checked"
assert_not_contains "$ERR" "drops" "no warning when the environment is kept"
assert_contains "$ERR" "in open_cache_connection" "and its leak is reported"

# 4. A process of the tree still running when the command ended: waited for a while, then named.
start=$(date +%s%N)
check -- sh -c 'sleep 5 & echo $! >'"$T/bgpid"
took=$((($(date +%s%N) - start) / 1000000))
bgpid=$(cat "$T/bgpid")
CW_PIDS+=("$bgpid")
assert_eq "$RC" 0 "status with a process left running"
assert_contains "$ERR" "connwarden: warning: 1 process of the command still running, not checked: $bgpid (sleep)" "left running"
[ "$took" -ge 1500 ] && [ "$took" -lt 4500 ] || fail "waited ${took}ms for the leftover process, expected about 2s"
