# http_clients.bash - real HTTP clients against the counting server (count_server.bash, --http)
# for the cap and pool tests: start one with its settings, read its result line and its stats,
# check the usual outcomes. Every client prints {"pid": ...} first, its result line (with
# "requests") when done, and waits for $T/NAME.release before it exits. Source after lib.bash and
# count_server.bash.

# the host every client asks for: the server's address, or a name a test gives it (names.bash);
# HTTP_WARM, when set, a name pyclient and nodeclient resolve before their first request (NAME_WARM)
HTTP_HOST=127.0.0.1
HTTP_WARM=

# client NAME [VAR=VALUE...] -- CMD [ARGS...]: CMD with those variables in its environment, in the
# background (after the variables may come a command that execs CMD, as env's may: "${NAMED_RUN[@]}"
# with run options); output in $T/NAME.out and $T/NAME.err, its pid in PID_NAME and CPID
client() {
  local name=$1 vars=()
  shift
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  bg env "${vars[@]}" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
  wait_for 10 grep -q '"pid"' "$T/$name.out"
  CPID=$(jq_py "$(head -1 "$T/$name.out")" 'j["pid"]')
  eval "PID_$name=\$CPID"
}
# the shim, capped at 4 with a short queue timeout, for client's VAR=VALUE list (add more after it)
CAPPED=(LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=4)

# pyclient NAME MODE [ARGS...] [-- VAR=VALUE...]: tests/hosts/http_clients.py MODE against
# $HTTP_HOST:$PORT
pyclient() {
  local name=$1 args=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  client "$name" "$@" -- $PY "$HOSTSRC/http_clients.py" "${args[@]}" --host "$HTTP_HOST" --port "$PORT" \
    ${HTTP_WARM:+--warm "$HTTP_WARM"} --release "$T/$name.release"
}

# nodeclient NAME AGENT N BURSTS PAUSE_MS [-- VAR=VALUE...]: tests/hosts/http_node_client.js against
# $HTTP_HOST:$PORT
nodeclient() {
  local name=$1 agent=$2 n=$3 bursts=$4 pause=$5
  shift 5
  [ $# -gt 0 ] && shift
  client "$name" "$@" -- node "$HOSTSRC/http_node_client.js" "$HTTP_HOST:$PORT" "$n" "$agent" "$bursts" "$pause" \
    "$T/$name.release" "$HTTP_WARM"
}

# curls NAME N MAX BURSTS PAUSE [VAR=VALUE...]: BURSTS runs, PAUSE seconds apart, of
# `curl --parallel --parallel-max MAX` over N URLs of $HTTP_HOST:$PORT, with those variables; each
# run adds a line to $T/NAME.codes (its status codes and sizes, counted: " 20 200 1000;") and to
# $T/NAME.ms (its milliseconds)
curls() {
  local name=$1 n=$2 max=$3 bursts=$4 pause=$5 b i start urls
  shift 5
  for ((b = 0; b < bursts; b++)); do
    [ $b = 0 ] || sleep "$pause"
    urls=()
    for ((i = 0; i < n; i++)); do urls+=(-o /dev/null "http://$HTTP_HOST:$PORT/b${b}r$i?size=1000"); done
    start=$(date +%s%N)
    env "$@" curl -s --no-progress-meter --parallel --parallel-max "$max" -w '%{http_code} %{size_download}\n' \
      "${urls[@]}" 2>>"$T/$name.err" | sort | uniq -c | tr -s ' ' | tr '\n' ';' >>"$T/$name.codes"
    echo >>"$T/$name.codes"
    echo $((($(date +%s%N) - start) / 1000000)) >>"$T/$name.ms"
  done
}

# result NAME: the client's result line, once it is done (within 45 s)
result() {
  wait_for 45 grep -q '"requests": *[0-9]' "$T/$1.out"
  grep '"requests": *[0-9]' "$T/$1.out"
}
# stats NAME: the shim's stats of client NAME (alive until released)
stats() { eval "query \"\$(sock_of \$PID_$1)\" stats"; }
release() { touch "$T/$1.release"; }

# took_turns NAME N DELAY [CAP]: the client's requests (bursts of N) all succeeded, and each burst
# took no more than twice the time of waves of CAP (4) answers of DELAY seconds each, plus 1 s (and
# no less than those waves)
took_turns() {
  local r waves cap=${4:-4}
  r=$(result "$1")
  waves=$((($2 + cap - 1) / cap))
  assert_eq "$(jq_py "$r" "(j['ok'] == j['requests'], j['errors'], [s for s in j['secs'] if not $waves * $3 * 0.95 <= s <= 2 * $waves * $3 + 1])")" \
    "(True, {}, [])" "$1: all succeed, each burst within twice $waves waves of $3 s plus 1 s, in $r"
}

# starved FILE PORT: FILE (a client's stderr) has the pool starvation warning naming 127.0.0.1:PORT
starved() {
  grep -q "pool starvation: [0-9]* connects\? to 127.0.0.1:$2 waiting" "$1" ||
    fail "no pool starvation warning for 127.0.0.1:$2 in $1: $(cat "$1")"
}
