# A CONNWARDEN_* variable the library does not know stops start-up before main with exit status 2
# and one line naming it and, when one is close, the known variable meant; so does a known one
# with a value it does not take.
# The same program runs without the shim, and under `connwarden run`. Every CONNWARDEN_* name the
# command, the library, the docs and the test programs use is known (the command exports its own,
# users export CONNWARDEN_LIB and CONNWARDEN_ADDR2LINE: a child that inherits them must start).
. "$(dirname "$0")/lib.bash"

# stops VAR=VALUE LINE [RUNNER...]: the program does not run, status 2, stderr is exactly LINE
stops() {
  local setting=$1 line=$2 out err rc=0
  shift 2
  out=$(env "$setting" "$@" $PY -c 'print("MAIN RAN")' 2>"$T/err") || rc=$?
  err=$(cat "$T/err")
  assert_eq "$rc" 2 "$setting: exit status"
  assert_eq "$err" "$line" "$setting: the message"
  assert_eq "$out" "" "$setting: main must not run"
  # without the shim the variable means nothing and the program runs
  assert_eq "$(env "$setting" $PY -c 'print("MAIN RAN")')" "MAIN RAN" "$setting without the shim"
}
runs() { # VAR=VALUE...: the program runs under the shim, nothing on stderr
  local out
  out=$(env "$@" LD_PRELOAD="$CW_PRELOAD" $PY -c 'print("MAIN RAN")' 2>"$T/err")
  assert_eq "$out" "MAIN RAN" "$*: main runs"
  assert_eq "$(cat "$T/err")" "" "$*: nothing said"
}

unknown="is not a variable connwarden knows"
stops CONNWARDEN_MAXCONNS=5 "connwarden: CONNWARDEN_MAXCONNS $unknown: did you mean CONNWARDEN_MAX_CONNS?" \
  LD_PRELOAD="$CW_PRELOAD"
stops CONNWARDEN_IDLE_TIMOUT=30s "connwarden: CONNWARDEN_IDLE_TIMOUT $unknown: did you mean CONNWARDEN_IDLE_TIMEOUT?" \
  LD_PRELOAD="$CW_PRELOAD"
stops CONNWARDEN_evict_idle=1s "connwarden: CONNWARDEN_evict_idle $unknown: did you mean CONNWARDEN_EVICT_IDLE?" \
  LD_PRELOAD="$CW_PRELOAD"
stops CONNWARDEN_COLOR=1 "connwarden: CONNWARDEN_COLOR $unknown (connwarden(7) lists them)" \
  LD_PRELOAD="$CW_PRELOAD"
# connwarden run passes the environment on: the program stops the same way
stops CONNWARDEN_MAXCONNS=5 "connwarden: CONNWARDEN_MAXCONNS $unknown: did you mean CONNWARDEN_MAX_CONNS?" \
  "${CW_ENV[@]}" "$CW" run --
# an unknown variable beside good ones is still refused
stops CONNWARDEN_REPORT_FMT=json "connwarden: CONNWARDEN_REPORT_FMT $unknown: did you mean CONNWARDEN_REPORT_FORMAT?" \
  CONNWARDEN_MAX_CONNS=4 CONNWARDEN_LOG=info LD_PRELOAD="$CW_PRELOAD"

# known variables with a value they do not take
stops CONNWARDEN_CAP_SCOPE=trees \
  "connwarden: CONNWARDEN_CAP_SCOPE=\"trees\" is not valid: expected process or tree" \
  LD_PRELOAD="$CW_PRELOAD"
stops CONNWARDEN_DEST_BY=names \
  "connwarden: CONNWARDEN_DEST_BY=\"names\" is not valid: expected name or address" \
  LD_PRELOAD="$CW_PRELOAD"
runs CONNWARDEN_CAP_SCOPE=process CONNWARDEN_DEST_BY=address
runs CONNWARDEN_DEST_BY=name
runs CONNWARDEN_CAP_SCOPE=tree
runs CONNWARDEN_NAME=api CONNWARDEN_EVICT_IDLE=2s CONNWARDEN_LIB="$CW_LIB" CONNWARDEN_ADDR2LINE=off

# every name in use is known: set to a value that does not parse, each may stop start-up for its
# value but never for its name (CONNWARDEN_MAXCONNS is the docs' example of a misspelt one)
names=$(cd "$ROOT" && grep -rhoE 'CONNWARDEN_[A-Z0-9_]+' README.md man completion scripts shim tests/hosts \
  tests/e2e/*.sh tests/e2e/lib.bash | grep -v -x -e CONNWARDEN_MAXCONNS -e CONNWARDEN_IDLE_TIMOUT \
  -e CONNWARDEN_COLOR -e CONNWARDEN_REPORT_FMT | sort -u)
[ "$(wc -w <<<"$names")" -ge 22 ] || fail "names found: $names"
for v in $names; do
  env "$v=%bad%" LD_PRELOAD="$CW_PRELOAD" /bin/true 2>"$T/err" || true
  assert_not_contains "$(cat "$T/err")" "$unknown" "$v is in use"
done
