# tree_apps.bash - real servers under a tree cap, for the tree tests of gunicorn, uvicorn and nginx:
# start one under `connwarden run --max-conns 2` in front of a counting server of its own, load it,
# check what the upstream saw, read its tree. The app is tests/hosts/tree_app.py, the load
# tests/hosts/tree_load.py. Source after lib.bash and count_server.bash.

# serve NAME SCOPE [RUN-OPTION...] -- CMD...: a fresh counting server NAME (--http), then, in the
# background, CMD under `connwarden run --cap-scope SCOPE --max-conns 2 RUN-OPTION...` with
# TREE_UPSTREAM the counting server's port; @PORT@ in CMD is a free port, kept in APP_NAME. CMD's
# pid (run execs it) in MASTER_NAME. Several may boot at once; up NAME waits for one.
serve() {
  local name=$1 scope=$2 opts=() port
  shift 2
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  server "$name" --http 0.3
  port=$(free_port)
  bg "${CW_ENV[@]}" TREE_UPSTREAM="$PORT" "$CW" run --cap-scope "$scope" --max-conns 2 --queue-timeout 20s "${opts[@]}" \
    -- "${@//@PORT@/$port}" >"$T/$name.app.out" 2>"$T/$name.app.err"
  eval "MASTER_$name=$BG_PID APP_$name=$port"
}
app_port() { eval "echo \$APP_$1"; }
master() { eval "echo \$MASTER_$1"; }

# up NAME: GET /ready answers (within 15 s)
up() { wait_for 15 curl -sf -o /dev/null "http://127.0.0.1:$(app_port "$1")/ready"; }

# stop SIGNAL NAME...: the servers end, workers and all (gunicorn stops at once on INT, on TERM
# only once its idle workers wake; uvicorn and nginx on TERM)
stop() {
  local sig=$1 name
  shift
  for name in "$@"; do kill -"$sig" "$(master "$name")"; done
  for name in "$@"; do wait "$(master "$name")" || true; done
}

# load NAME N MS: N requests at once through the app, each holding an upstream connection MS ms;
# the per-request lines in $T/NAME.load, the summary line in LOAD
load() {
  $PY "$HOSTSRC/tree_load.py" "$(app_port "$1")" "$2" "$3" >"$T/$1.load" || fail "$1: the load failed"
  LOAD=$(tail -1 "$T/$1.load")
}

# expect_peak NAME N COMPARISON: all N requests of the last load succeeded, and the upstream's
# peak passes the test(1) comparison given without its dash ("eq 2", "gt 2")
expect_peak() {
  assert_eq "$(jq_py "$LOAD" 'j["ok"]')" "$2" "$1: requests that succeeded ($(grep error "$T/$1.load" | head -3))"
  local peak
  peak=$(jq_py "$(cat "$T/$1.status")" 'j["peak"]')
  [ "$peak" "-${3%% *}" "${3#* }" ] || fail "$1: the upstream's peak is $peak, expected $3"
}

# expect_fair NAME MIN: at least MIN upstream connects of the last load waited, and they went
# first come, first served across the workers (no "unfair" pair); else the timeline, then FAIL
expect_fair() {
  [ "$(jq_py "$LOAD" 'j["waited"]')" -ge "$2" ] || fail "$1: only $(jq_py "$LOAD" 'j["waited"]') connects waited: the load did not queue"
  [ "$(jq_py "$LOAD" 'j["unfair"]')" = "[]" ] && return 0
  $PY -c 'import json, sys
rows = sorted((json.loads(l) for l in open(sys.argv[1]) if "\"start\"" in l), key=lambda r: r["start"])
for r in rows:
    print("#  pid %d began %.1f ms in, connected %.1f ms later" % (r["pid"], (r["start"] - rows[0]["start"]) / 1e6, (r["got"] - r["start"]) / 1e6), file=sys.stderr)' "$T/$1.load"
  fail "$1: the tree's queue was not first come, first served: $(jq_py "$LOAD" 'j["unfair"]')"
}

# tree_of PID EXPR: EXPR over the `tree` object of PID's stats (bound to t)
tree_of() { stat_of "$1" "(lambda t: $2)(j['tree'])"; }

# some_worker NAME: a member of NAME's tree other than the master (a child with a stats socket)
some_worker() {
  local w
  for w in $(pgrep -P "$(master "$1")"); do
    [ -S "$(sock_of "$w")" ] && echo "$w" && return 0
  done
  return 1
}

# shares_one_cap LABEL PROCESSES WAITED SIGNAL -- CMD...: CMD (as serve runs it) per process and as
# a tree, both under --max-conns 2, each driven by 12 requests at once that hold a new upstream
# connection 300 ms. Per process the upstream sees more than 2 at once within 3 loads (so this can
# fail); as a tree never more than 2, every request succeeds, at least WAITED connects waited and
# they went first come, first served across the workers, and a worker's stats show the tree with
# PROCESSES members and the 12 upstream connections it opened. SIGNAL stops CMD.
shares_one_cap() {
  local label=$1 processes=$2 waited=$3 sig=$4 scope w
  shift 5
  for scope in process tree; do serve $scope $scope -- "$@"; done
  up process
  # one async worker may accept all 12 at once and then, alone, keeps its own cap: the peak is
  # the counting server's over its life, so a further load may spread over the workers
  local tries=0
  while load process 12 300 && tries=$((tries + 1)) &&
    [ "$tries" -lt 3 ] && [ "$(jq_py "$(cat "$T/process.status")" 'j["peak"]')" -le 2 ]; do :; done
  expect_peak process 12 "gt 2"
  local process_peak
  process_peak=$(jq_py "$(cat "$T/process.status")" 'j["peak"]')
  up tree
  load tree 12 300
  expect_peak tree 12 "eq 2"
  expect_fair tree "$waited"
  w=$(some_worker tree)
  assert_eq "$(tree_of "$w" '(t["processes"], t["opened"]["out"])')" "($processes, 12)" \
    "the tree from worker $w (processes, upstream connections opened)"
  expect_served tree "0 2 12"
  note "$label: peak $process_peak per process, 2 as a tree; $(jq_py "$LOAD" 'j["waited"]') of 12 waited, answered by $(jq_py "$LOAD" 'len(j["pids"])') workers"
  stop "$sig" process tree
}
