# A bad variable stops start-up with status 2 and a message naming it; main never runs.
. "$(dirname "$0")/lib.bash"

check() { # VAR VALUE
  local out rc=0
  out=$(env "$1=$2" LD_PRELOAD="$CW_PRELOAD" $PY -c 'print("MAIN RAN")' 2>&1) || rc=$?
  assert_eq "$rc" 2 "$1=$2 exit status"
  assert_contains "$out" "$1" "message names the variable"
  assert_contains "$out" "$2" "message shows the value"
  assert_not_contains "$out" "MAIN RAN" "main must not run"
}
check CONNWARDEN_IDLE_TIMEOUT 5x
check CONNWARDEN_MAX_LIFETIME -1s
check CONNWARDEN_MAX_CONNS ten
check CONNWARDEN_MAX_CONNS_PER_DEST 1.5
check CONNWARDEN_ON_CAP drop
check CONNWARDEN_CAP_ERRNO EAGAIN
check CONNWARDEN_CAP_ERRNO ENOTANERRNO
check CONNWARDEN_ONLY 'out,10.0.0.0/99'
check CONNWARDEN_EXCLUDE 'example.com'
check CONNWARDEN_LEAK_CHECK yes
check CONNWARDEN_LEAK_EXITCODE 300
check CONNWARDEN_LOG loud
check CONNWARDEN_STATS "/tmp/$(printf 'x%.0s' $(seq 1 120)).sock"

# good values start normally, and the same program runs without the shim
out=$(env CONNWARDEN_IDLE_TIMEOUT=250ms CONNWARDEN_MAX_CONNS=8 CONNWARDEN_ONLY='out,[::1]:80,10.0.0.0/8,:443' \
  LD_PRELOAD="$CW_PRELOAD" $PY -c 'print("MAIN RAN")')
assert_eq "$out" "MAIN RAN" "valid configuration"
