# The README's uvicorn guide, for real: a FastAPI app (tests/hosts/guide_fastapi_app.py) served by
# `connwarden run ... -- python3 -m uvicorn ... --workers 2`, each request fetching from an upstream
# through the app's httpx pool. Each worker has its own stats socket with the guide's settings,
# the client connections it accepted add up to the requests made, and each worker that served one
# shows the upstream among its destinations. The supervisor, which makes no connection, has no
# socket. On SIGTERM uvicorn stops its workers and every socket goes with them.
. "$(dirname "$0")/lib.bash"
$PY -c 'import fastapi, uvicorn, httpx' 2>/dev/null ||
  fail "python3-fastapi, python3-uvicorn or python3-httpx is missing (scripts/deps should install them)"

readme=$(sed -n '/^### uvicorn/,/^### /p' "$ROOT/README.md")
assert_contains "$readme" "connwarden run --idle-timeout 30s --max-lifetime 10m --max-conns 64 -- \\" "the README's run line"
assert_contains "$readme" "python3 -m uvicorn app:app --host 127.0.0.1 --port 8000 --workers 4" "the README's uvicorn line"

mkdir "$T/up"
bg "$PY" "$HOSTSRC/guide_upstream.py" "$T/up/ready" --max-secs 40
wait_for 5 test -s "$T/up/ready"
up=$(cat "$T/up/ready")
port=$(free_port)
bg env GUIDE_UPSTREAM="http://127.0.0.1:$up/" \
  "${CW_ENV[@]}" "$CW" run --idle-timeout 30s --max-lifetime 10m --max-conns 64 -- \
  "$PY" -m uvicorn --app-dir "$HOSTSRC" guide_fastapi_app:app --host 127.0.0.1 --port "$port" --workers 2 \
  --log-level warning
super=$BG_PID
wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$port/"

# the workers: the supervisor's children with a stats socket
workers() {
  local s pid
  for s in "$CONNWARDEN_RUNDIR"/*.sock; do
    [ -S "$s" ] || continue
    pid=${s##*/}
    pid=${pid%.sock}
    [ "$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$super" ] && echo "$pid"
  done | sort -n
}
two() { [ "$(workers | wc -l)" = 2 ]; }
wait_for 10 two
mapfile -t ws < <(workers)
CW_PIDS+=("${ws[@]}")
[ ! -e "$(sock_of "$super")" ] || fail "the supervisor has a stats socket"
for w in "${ws[@]}"; do
  assert_eq "$(jq_py "$(query "$(sock_of "$w")" config)" '(j["idle_timeout_ms"], j["max_lifetime_ms"], j["max_conns"])')" \
    "(30000, 600000, 64)" "worker $w: the guide's settings"
done

# 6 requests through the app to the upstream, each on a new client connection
served=""
for i in 1 2 3 4 5 6; do
  r=$(curl -sf "http://127.0.0.1:$port/upstream")
  assert_eq "$(jq_py "$r" '(j["status"], j["body"])')" "(200, 'hello from upstream\n')" "request $i"
  served="$served $(jq_py "$r" 'j["pid"]')"
done
sum() {
  local total=0 w
  for w in "${ws[@]}"; do total=$((total + $(stat_of "$w" "$1"))); done
  echo "$total"
}
assert_eq "$(sum 'j["opened"]["in"]')" 7 "client connections the workers accepted (the readiness probe and 6)"
for w in $(tr ' ' '\n' <<<"$served" | sort -un); do
  case " ${ws[*]} " in *" $w "*) ;; *) fail "a request served by $w, not a worker: ${ws[*]}" ;; esac
  assert_eq "$(stat_of "$w" '[d["peer"] for d in j["destinations"] if d["opened"] >= 1 and d["peer"] == "127.0.0.1:'"$up"'"]')" \
    "['127.0.0.1:$up']" "worker $w: the upstream is a destination"
done
out=$(sum 'j["opened"]["out"]')
[ "$out" -ge 1 ] && [ "$out" -le 6 ] || fail "upstream connections: $out for 6 requests (the pool reuses them)"
ls_out=$("$CW" ls)
for w in "${ws[@]}"; do grep -qE "^ *$w +python3 " <<<"$ls_out" || fail "ls lacks worker $w: $ls_out"; done

# SIGTERM: uvicorn stops its workers; their sockets go with them
kill -TERM "$super"
gone() { ! kill -0 "$super" 2>/dev/null && for w in "${ws[@]}"; do ! kill -0 "$w" 2>/dev/null || return 1; done; }
wait_for 10 gone
left=$(ls "$CONNWARDEN_RUNDIR")
[ -z "$left" ] || fail "sockets left: $left"
