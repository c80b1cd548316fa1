# make install DESTDIR=... PREFIX=/usr/local lays out the program, the library under
# lib/connwarden/, both manual pages and the bash completion; the installed connwarden runs a
# command under the installed library, found from its own location (also through a symbolic
# link), or where CONNWARDEN_LIB says; a copy that cannot find it says so. man finds the installed
# pages, bash completes from the installed script, and make uninstall removes every file.
# The build installed is the one the suite runs (CW_BUILD: build-asan/ under make check-asan, which
# keeps its settings in build-asan/config.mk; its runtime then goes in the LD_PRELOAD the
# installed connwarden inherits, so it stays first).
. "$(dirname "$0")/lib.bash"
stage=$T/stage
p=$stage/usr/local
make -s -C "$ROOT" install BUILD="$CW_BUILD" DESTDIR="$stage" PREFIX=/usr/local >"$T/make.log" 2>&1 ||
  fail "make install: $(cat "$T/make.log")"

mode() { stat -c %a "$p/$1" 2>/dev/null || echo missing; }
assert_eq "$(mode bin/connwarden)" 755 "the program"
assert_eq "$(mode lib/connwarden/libconnwarden.so)" 644 "the library"
assert_eq "$(mode share/man/man1/connwarden.1)" 644 "connwarden(1)"
assert_eq "$(mode share/man/man7/connwarden.7)" 644 "connwarden(7)"
assert_eq "$(mode share/bash-completion/completions/connwarden)" 644 "the bash completion"
cmp -s "$p/lib/connwarden/libconnwarden.so" "$CW_LIB" || fail "the installed library is not the built one"
cmp -s "$p/bin/connwarden" "$CW" || fail "the installed program is not the built one"
[ ! -e "$p/bin/libconnwarden.so" ] || fail "a library next to the program would hide the lookup"
lib=$(realpath "$p/lib/connwarden/libconnwarden.so")

# what a command run by CLI sees loaded: the connwarden libraries in its own memory map
loaded() {
  "${CW_ENV[@]}" "$@" "$PY" -c 'print("\n".join(sorted({l.split()[-1] for l in open("/proc/self/maps") if "connwarden" in l})))'
}
unset CONNWARDEN_LIB
assert_eq "$(loaded "$p/bin/connwarden" run --)" "$lib" "the installed program preloads the installed library"
assert_eq "$(loaded "$PY" -c 'print()')" "" "without it nothing is loaded"
mkdir "$T/bin" "$T/elsewhere"
ln -s "$p/bin/connwarden" "$T/bin/connwarden"
assert_eq "$(loaded "$T/bin/connwarden" run --)" "$lib" "through a symbolic link"
assert_eq "$(loaded env CONNWARDEN_LIB="$CW_LIB" "$p/bin/connwarden" run --)" "$(realpath "$CW_LIB")" "CONNWARDEN_LIB wins"
cp "$p/bin/connwarden" "$T/elsewhere/connwarden"
rc=0; err=$("${CW_ENV[@]}" "$T/elsewhere/connwarden" run -- true 2>&1) || rc=$?
assert_eq "$rc" 1 "a copy with no library near it: status"
assert_contains "$err" "set CONNWARDEN_LIB" "a copy with no library near it: the way out"
assert_eq "$(loaded env CONNWARDEN_LIB="$p/lib/connwarden/libconnwarden.so" "$T/elsewhere/connwarden" run --)" "$lib" "the copy, told where"

# a host under the installed pair, asked by the installed program
cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname())
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
bg "${CW_ENV[@]}" "$p/bin/connwarden" run --max-conns 3 -- "$PY" "$T/host.py" "$T/ready"
host=$BG_PID
wait_for 5 test -s "$T/ready"
assert_eq "$(cat "$T/ready")" "$host" "run keeps the PID"
wait_for 5 test -S "$(sock_of "$host")"
json=$("$p/bin/connwarden" stats --json "$host")
assert_eq "$(jq_py "$json" '(j["config"]["max_conns"], j["active"]["out"])')" "(3, 1)" "the host's cap and connection"

# man finds the installed pages by name
export MANPATH=$p/share/man MANWIDTH=80
assert_eq "$(man -w connwarden)" "$p/share/man/man1/connwarden.1" "man finds connwarden(1)"
assert_eq "$(man -w 7 connwarden)" "$p/share/man/man7/connwarden.7" "man finds connwarden(7)"
assert_contains "$(man 7 connwarden 2>&1)" "STATS PROTOCOL" "connwarden(7) renders"

# bash completion from the installed script
complete_words() { # WORDS...: what completing the last word offers
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _connwarden; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$p/share/bash-completion/completions/connwarden" "$@" | sort | tr '\n' ' ' | sed 's/ $//'
}
assert_eq "$(bash -c '. "$1"; complete -p connwarden' _ "$p/share/bash-completion/completions/connwarden")" \
  "complete -F _connwarden connwarden" "registered for connwarden"
assert_eq "$(complete_words "$p/bin/connwarden" st)" "stats" "verbs"
assert_eq "$(complete_words "$p/bin/connwarden" t)" "top" "top is a verb"
assert_eq "$(complete_words "$p/bin/connwarden" e)" "exporter" "exporter is a verb"
assert_eq "$(complete_words "$p/bin/connwarden" stats --)" "--help --json --prom" "stats options"
assert_contains " $(complete_words "$p/bin/connwarden" top "")" " $host" "PIDs of shimmed processes"
assert_eq "$(complete_words "$p/bin/connwarden" set "$host" max_conns_)" "max_conns_per_dest" "setting names"
assert_eq "$(complete_words "$p/bin/connwarden" ch)" "check" "check is a verb"
assert_eq "$(complete_words "$p/bin/connwarden" check --max)" "--max-abandoned --max-close-wait --max-queue-wait" "check's limits"
assert_contains " $(complete_words "$p/bin/connwarden" check --max-abandoned 1 "")" " $host" "check's PIDs after a limit"
assert_eq "$(complete_words "$p/bin/connwarden" run --check)" "--check-leaks" "run options, from --help"
assert_eq "$(complete_words "$p/bin/connwarden" run --on-cap "")" "queue refuse" "an option's values"
assert_eq "$(complete_words "$p/bin/connwarden" run --max-conns 4 --idle)" "--idle-timeout" "after an option's value: options again"
assert_contains " $(complete_words "$p/bin/connwarden" run --max-conns 4 -- pytho) " " python3 " "the command"

# uninstall leaves nothing
make -s -C "$ROOT" uninstall DESTDIR="$stage" PREFIX=/usr/local >"$T/make.log" 2>&1 ||
  fail "make uninstall: $(cat "$T/make.log")"
left=$(find "$stage" -type f -o -type l)
[ -z "$left" ] || fail "left after uninstall: $left"
[ ! -d "$p/lib/connwarden" ] || fail "lib/connwarden/ left after uninstall"
