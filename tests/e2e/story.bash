# story.bash - the outage story's upstream (tests/hosts/story_upstream.py) and requests through a
# proxy in front of it, for the tests that tell the story. Source after lib.bash: it starts the
# upstream and sets UPORT; the proxy's port goes in PPORT.
bg "$PY" "$HOSTSRC/story_upstream.py" --max-secs 80 >"$T/upstream.out"
wait_for 5 grep -q listening "$T/upstream.out"
UPORT=$(jq_py "$(head -1 "$T/upstream.out")" 'j["listening"]')

# up KEY: one count of the upstream's own (GET /status, straight to it, not through the proxy)
up() { jq_py "$(curl -s --max-time 2 "http://127.0.0.1:$UPORT/status")" "j['$1']"; }
up_is() { [ "$(up "$1")" = "$2" ]; }
# px EXPR: a Python expression over the proxy's own status (GET /_proxy/status), bound to j
px() { jq_py "$(curl -s --max-time 2 "http://127.0.0.1:$PPORT/_proxy/status")" "$1"; }
px_is() { [ "$(px "$1")" = "$2" ]; }

# start_fastapi_proxy NAME [CMD...]: tests/hosts/story_fastapi_proxy.py (a pool of 4, 503 after 1 s
# without a free connection) as `python3 -m uvicorn ... --loop uvloop`, after CMD (e.g.
# connwarden run ... --); sets PPORT and PROXY (its PID: run and env exec in place)
start_fastapi_proxy() {
  local name=$1
  shift
  PPORT=$(free_port)
  bg env STORY_UPSTREAM="http://127.0.0.1:$UPORT" STORY_POOL_TIMEOUT=1 STORY_MAX_SECS=60 "$@" \
    "$PY" -m uvicorn --app-dir "$HOSTSRC" story_fastapi_proxy:app --host 127.0.0.1 --port "$PPORT" \
    --loop uvloop --log-level warning >"$T/$name.out" 2>"$T/$name.err"
  PROXY=$BG_PID
  wait_for 10 proxy_up
  kill -0 "$PROXY" 2>/dev/null || fail "$name: the proxy exited: $(cat "$T/$name.err")"
}
# proxy_up: it answers, or it has exited
proxy_up() { curl -sf -o /dev/null "http://127.0.0.1:$PPORT/_proxy/status" || ! kill -0 "$PROXY"; }

# get NAME [ROUTE]: GET /ROUTE (default stream) through the proxy; the status in $CODE, the body in
# $T/NAME.body
get() {
  CODE=$(curl -s --max-time 5 -o "$T/$1.body" -w '%{http_code}' "http://127.0.0.1:$PPORT/${2:-stream}") || true
}

# healthy NAME: a stream through the proxy comes back whole
healthy() {
  get "$1"
  assert_eq "$CODE" 200 "$1: status"
  assert_eq "$(grep -c '^token' "$T/$1.body")" 5 "$1: tokens in the body"
}

# clients NAME SECS ROUTE...: one client per ROUTE, all at once, each going away after SECS; each
# must have had the first chunk (the stream went through). Returns when they all have ended.
clients() {
  local name=$1 secs=$2 pids=() i=0 r
  shift 2
  for r in "$@"; do
    i=$((i + 1))
    curl -s --max-time "$secs" -o "$T/$name.$i" "http://127.0.0.1:$PPORT/$r" &
    pids+=($!)
    CW_PIDS+=($!)
  done
  for r in "${pids[@]}"; do wait "$r" || true; done
  for r in $(seq $i); do
    grep -q '^token 0' "$T/$name.$r" || fail "$name: client $r got no first chunk: $(cat "$T/$name.$r")"
  done
}
