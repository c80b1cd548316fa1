# lib.bash - shared by the end-to-end tests: paths, a private run directory, background processes
# killed by PID at exit, polling with deadlines, stats queries and assertions.
# Every test sources it first: . "$(dirname "$0")/lib.bash"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CW_BUILD=${CW_BUILD:-build} # build-asan for make check-asan
CW_LIB=$ROOT/$CW_BUILD/libconnwarden.so
CW=$ROOT/$CW_BUILD/connwarden
HOSTS=$ROOT/$CW_BUILD/hosts
# what goes first in every LD_PRELOAD a test builds: a sanitizer runtime, when one is named
CW_FIRST=${CW_PRELOAD_PREFIX:+$CW_PRELOAD_PREFIX:}
# what bg and shimmed preload: the library, after that
CW_PRELOAD=$CW_FIRST$CW_LIB
# "${CW_ENV[@]}" "$CW" run ...: the CLI inherits the runtime in LD_PRELOAD and keeps it first
CW_ENV=(env ${CW_PRELOAD_PREFIX:+"LD_PRELOAD=$CW_PRELOAD_PREFIX"})
HOSTSRC=$ROOT/tests/hosts
PY=/usr/bin/python3 # Debian's interpreter, with Debian's python3-* packages
T=$(mktemp -d /tmp/cw-e2e.XXXXXX)
export CONNWARDEN_RUNDIR=$T/run
unset LD_PRELOAD CONNWARDEN_STATS CONNWARDEN_LEAK_CHECK CONNWARDEN_LEAK_EXITCODE CONNWARDEN_REPORT

CW_PIDS=()
cw_cleanup() {
  local p
  for p in "${CW_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cw_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# bg CMD...: start in the background; its PID goes to $BG_PID and is killed at exit.
# `bg shimmed CMD...` runs CMD itself under the shim, so $BG_PID is CMD's own PID.
bg() {
  if [ "$1" = shimmed ]; then
    shift
    LD_PRELOAD=$CW_PRELOAD "$@" &
  else
    "$@" &
  fi
  BG_PID=$!
  CW_PIDS+=("$BG_PID")
}

# Hosts driven line by line. host NAME CMD... starts CMD in the background (see bg) with its stdin
# a fifo this test holds open and writes with tell NAME LINE; its output goes to $T/NAME.out and
# $T/NAME.err, its PID to PID_NAME and HPID. fed FIFO CMD... execs CMD reading FIFO, after closing
# the other hosts' fifo ends (so each host sees EOF when the test lets go of its own).
fed() {
  local f=$1 v
  shift
  for v in ${!CTL_@}; do eval "exec {$v}>&-"; done
  exec "$@" <"$f"
}
host() {
  local name=$1
  shift
  mkfifo "$T/$name.ctl"
  bg fed "$T/$name.ctl" "$@" >"$T/$name.out" 2>"$T/$name.err"
  HPID=$BG_PID
  eval "exec {CTL_$name}>\"\$T/\$name.ctl\""
  eval "PID_$name=$HPID"
}
tell() { eval "echo \"\$2\" >&\$CTL_$1"; }

# shimmed CMD...: run with the library preloaded.
shimmed() { LD_PRELOAD=$CW_PRELOAD "$@"; }

# wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds; fail after SECONDS.
wait_for() {
  local limit=$1; shift
  local deadline=$(($(date +%s%N) + limit * 1000000000))
  until "$@" 2>/dev/null; do
    [ "$(date +%s%N)" -lt "$deadline" ] || fail "timed out after ${limit}s waiting for: $*"
    sleep 0.05
  done
}

# sock_of PID: the stats socket path of a shimmed process.
sock_of() { echo "$CONNWARDEN_RUNDIR/$1.sock"; }

# query SOCKET COMMAND: one stats command, the raw reply on stdout (no CLI involved).
query() { $PY "$ROOT/tests/e2e/cwq.py" "$1" "$2"; }

# jq_py JSON EXPR: evaluate a Python expression over the parsed JSON (bound to j).
# (the JSON goes through stdin: a reply listing many connections is longer than one argument may be)
jq_py() { $PY -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2" <<<"$1"; }

# stat_of PID EXPR: one value from the `stats` JSON of PID.
stat_of() { jq_py "$(query "$(sock_of "$1")" stats)" "$2"; }

assert_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
assert_contains() { grep -qF -- "$2" <<<"$1" || fail "$3: '$2' not in: $1"; }
assert_not_contains() { ! grep -qF -- "$2" <<<"$1" || fail "$3: '$2' unexpectedly in: $1"; }

# Commands that scan every run directory (ls, check --all) see other people's shimmed processes
# too (in /run/connwarden for root, /tmp/connwarden-UID). alone_in_sight, called before the test
# starts its own, says whether they can be kept out of sight: when there are none, or (as root)
# by hiding those directories under a private mount for each command run with in_sight CMD...
alone_in_sight() {
  IN_SIGHT=plain
  [ "$("$CW" ls 2>/dev/null)" = "no shimmed processes" ] && return 0
  IN_SIGHT=private
  [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null
}
in_sight() {
  if [ "${IN_SIGHT:-plain}" = plain ]; then
    "$@"
  else
    unshare -m sh -c 'for d in /run/connwarden "/tmp/connwarden-$(id -u)"; do
        [ -d "$d" ] && { mount -t tmpfs tmpfs "$d" || exit 99; }
      done; exec "$@"' sh "$@"
  fi
}

# scrape FILE: start connwarden exporter on a free port (seeing what in_sight lets it see; its
# port in EXPORTER_PORT) and write one scrape of it to FILE.
scrape() {
  EXPORTER_PORT=$(free_port)
  bg in_sight "$CW" exporter --listen "127.0.0.1:$EXPORTER_PORT"
  wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$EXPORTER_PORT/metrics"
  curl -sf -o "$1" "http://127.0.0.1:$EXPORTER_PORT/metrics"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
