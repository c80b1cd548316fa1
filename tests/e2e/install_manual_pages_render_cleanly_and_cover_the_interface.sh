# The manual pages render with `man -l` without a warning, fit 80 columns, and have a NAME line man
# can index. connwarden(1) describes every verb and run option that `connwarden --help` lists;
# connwarden(7) every variable of the README's configuration table, and every command, stats key
# and metric family a running library actually serves.
. "$(dirname "$0")/lib.bash"
export LC_ALL=C.UTF-8 MANWIDTH=80

render() { # PAGE: the page as man shows it; warnings on stderr
  man --warnings -l "$ROOT/man/$1" 2>"$T/$1.err" | col -b
}
for page in connwarden.1 connwarden.7; do
  text=$(render "$page")
  [ ! -s "$T/$page.err" ] || fail "$page: man warns: $(cat "$T/$page.err")"
  troff=$(groff -man -ww -z "$ROOT/man/$page" 2>&1)
  [ -z "$troff" ] || fail "$page: groff warns: $troff"
  wide=$(awk 'length > 80' <<<"$text")
  [ -z "$wide" ] || fail "$page: lines wider than 80 columns: $wide"
  assert_contains "$(lexgrog "$ROOT/man/$page")" ": \"connwarden - " "$page: NAME line"
  printf '%s\n' "$text" >"$T/$page.txt"
done
one=$(cat "$T/connwarden.1.txt")
seven=$(cat "$T/connwarden.7.txt")
section() { sed -n "/^$2\$/,/^[A-Z][A-Z ]*\$/p" <<<"$1"; } # TEXT HEADING: that section

# connwarden(1): the verbs and the run options of --help
help=$("$CW" --help)
verbs=$(sed -n '/^commands:/,/^$/p' <<<"$help" | awk '/^  [a-z]/ {print $1}' | tr -d ,)
[ "$(wc -w <<<"$verbs")" -ge 8 ] || fail "verbs read from --help: $verbs"
for v in $verbs; do
  [ "$v" = help ] || grep -qE "^       connwarden $v( |\$)" <<<"$(section "$one" SYNOPSIS)" ||
    fail "connwarden(1) SYNOPSIS lacks $v"
  grep -qE "^       $v( |,|\$)" <<<"$(section "$one" COMMANDS)" || fail "connwarden(1) COMMANDS lacks $v"
done
opts=$(sed -n '/^run options/,/^$/p' <<<"$help" | awk '/^  --/ {print $1}')
[ "$(wc -w <<<"$opts")" -ge 15 ] || fail "run options read from --help: $opts"
for o in $opts; do
  grep -qE "^       $o( |\$)" <<<"$(section "$one" "RUN OPTIONS")" || fail "connwarden(1) RUN OPTIONS lacks $o"
done
for env in CONNWARDEN_LIB CONNWARDEN_RUNDIR XDG_RUNTIME_DIR; do
  grep -qE "^       $env\$" <<<"$(section "$one" ENVIRONMENT)" || fail "connwarden(1) ENVIRONMENT lacks $env"
done
assert_contains "$(section "$one" "SEE ALSO")" "connwarden(7)" "connwarden(1) points to connwarden(7)"

# connwarden(7): the README's variables
vars=$(sed -n '/^## Configuration/,/^## /p' "$ROOT/README.md" | grep -oE '^\| `CONNWARDEN_[A-Z_]+`( / `CONNWARDEN_[A-Z_]+`)?' | grep -oE 'CONNWARDEN_[A-Z_]+')
[ "$(wc -w <<<"$vars")" -ge 15 ] || fail "variables read from the README: $vars"
for v in $vars; do
  grep -qE "(^       |, )$v=" <<<"$(section "$seven" ENVIRONMENT)" || fail "connwarden(7) ENVIRONMENT lacks $v"
done

# ... and what a running library serves: its commands, its stats keys, its metric families
cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname()); s = l.accept()[0]
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
bg shimmed "$PY" "$T/host.py" "$T/ready"
wait_for 5 test -s "$T/ready"
wait_for 5 test -S "$(sock_of "$BG_PID")"
sock=$(sock_of "$BG_PID")
protocol=$(section "$seven" "STATS PROTOCOL")
for cmd in $(query "$sock" help | awk '{print $1}'); do
  grep -qE "^       $cmd( |\$)" <<<"$protocol" || fail "connwarden(7) STATS PROTOCOL lacks the command $cmd"
done
for key in $(jq_py "$(query "$sock" stats)" '" ".join(j)'); do
  assert_contains "$protocol" "\"$key\":" "connwarden(7) shows the stats key $key"
done
for key in $(jq_py "$(query "$sock" conns)" '" ".join(j[0])'); do
  assert_contains "$protocol" "\"$key\":" "connwarden(7) shows the conns key $key"
done
families=$(query "$sock" metrics | awk '/^# TYPE / {print $3}')
[ "$(wc -w <<<"$families")" -ge 14 ] || fail "metric families: $families"
for f in $families; do
  grep -qE "(^       |, )$f(\{|,|\$| )" <<<"$protocol" || fail "connwarden(7) lacks the metric $f"
done
assert_contains "$(section "$seven" "SEE ALSO")" "connwarden(1)" "connwarden(7) points to connwarden(1)"
