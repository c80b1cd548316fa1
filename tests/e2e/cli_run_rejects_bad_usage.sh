# connwarden run refuses what it cannot run: unknown options, missing values and commands give one
# "connwarden: " line and status 2; a command that does not exist gives one line and 127; a bad
# value is the library's to refuse (status 2 naming the variable, the command never starts); a
# statically linked command gets a warning.
. "$(dirname "$0")/lib.bash"

check() { # EXPECTED_STATUS TEXT ARGS...
  local want=$1 text=$2 rc=0 err; shift 2
  err=$("$CW" "$@" 2>&1 >/dev/null) || rc=$?
  assert_eq "$rc" "$want" "status of: connwarden $*"
  assert_eq "$(wc -l <<<"$err")" 1 "one line for: connwarden $*"
  assert_contains "$err" "connwarden: " "prefix for: connwarden $*"
  assert_contains "$err" "$text" "message for: connwarden $*"
}
check 2 "unknown option '--max-con'" run --max-con 3 -- true
check 2 "unknown option '-x'" run -x -- true
check 2 "--max-conns needs a value" run --max-conns
check 2 "--idle-timeout needs a value" run --idle-timeout -- true
check 2 "--backtrace takes no value" run --backtrace=1 -- true
check 2 "no command given" run --max-conns 3
check 2 "no command given" run
check 127 "cw-no-such-command: command not found" run -- cw-no-such-command --flag
check 127 "$T/missing" run -- "$T/missing"
printf '#!/bin/sh\necho hi\n' >"$T/noexec.sh"
check 126 "noexec.sh" run -- "$T/noexec.sh"

# a bad value reaches the library, which stops start-up before main
rc=0; out=$("$CW" run --max-conns ten -- "$PY" -c 'print("MAIN RAN")' 2>&1) || rc=$?
assert_eq "$rc" 2 "bad value exit status"
assert_contains "$out" "CONNWARDEN_MAX_CONNS" "bad value names the variable"
assert_not_contains "$out" "MAIN RAN" "main must not run"

# a statically linked command is run, with a warning; a dynamic one without
if printf 'int main(void) { return 3; }\n' | cc -static -x c - -o "$T/static" 2>/dev/null; then
  rc=0; err=$("$CW" run -- "$T/static" 2>&1) || rc=$?
  assert_eq "$rc" 3 "static command still runs"
  assert_contains "$err" "connwarden: warning: $T/static is statically linked" "static warning"
else
  note "no static C library: static-command warning not checked"
fi
err=$("$CW" run -- true 2>&1)
assert_eq "$err" "" "a dynamic command gets no warning"
