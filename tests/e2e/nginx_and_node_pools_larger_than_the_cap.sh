# Event-loop pools larger than the cap, under CONNWARDEN_MAX_CONNS=4, against an upstream that
# answers after 0.2 s: nginx (one worker, itself under the shim) proxying with `upstream
# { keepalive 32; }` (tests/hosts/pool_nginx.conf), driven by 3 bursts of 20 parallel curl
# requests 1.5 s apart; and Node's http.Agent({keepAlive: true, maxSockets: 8}), 3 bursts of 20.
# With CONNWARDEN_EVICT_IDLE=200ms every request through nginx succeeds, idle upstream connections
# are evicted, and the upstream never sees more than 4 at once. Without it (and
# CONNWARDEN_QUEUE_TIMEOUT=2s) both keep their 4 upstream connections ahead of the queue: the
# upstream never sees a fifth, the connects that wait time out (nginx answers 502, Node's requests
# fail with ECONNREFUSED), and the pool starvation warning names the upstream (nginx writes its
# workers' stderr to its error log).
# Hosts: tests/hosts/cap_count_server.py --http, pool_nginx.conf, http_node_client.js.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/deps installs it)"
command -v node >/dev/null || fail "node is not installed"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/http_clients.bash"
chmod 755 "$T" # nginx's worker runs as nginx's user: it must reach the temp paths under $T

# proxy NAME [VAR=VALUE...]: nginx under the shim with those variables, proxying to the counting
# server NAME (started here, its port in UP_NAME); its port in PORT, its worker's pid in WORKER_NAME
proxy() {
  local name=$1 port master
  shift
  server "$name" --http 0.2
  eval "UP_$name=\$PORT"
  port=$(free_port)
  mkdir -p "$T/$name"
  sed -e "s|@DIR@|$T/$name|g" -e "s|@PORT@|$port|g" -e "s|@UPSTREAM@|$PORT|g" "$HOSTSRC/pool_nginx.conf" >"$T/$name/nginx.conf"
  bg env "${CAPPED[@]}" "$@" "$NGINX" -e "$T/$name/error.log" -p "$T/$name/" -c "$T/$name/nginx.conf"
  master=$BG_PID
  wait_for 5 has_child "$master"
  eval "WORKER_$name=$(pgrep -P "$master")"
  eval "CW_PIDS+=(\$WORKER_$name)"
  eval "wait_for 5 test -S \"\$(sock_of \$WORKER_$name)\""
  PORT=$port
}
has_child() { pgrep -P "$1" >/dev/null; }
worker_stats() { eval "query \"\$(sock_of \$WORKER_$1)\" stats"; }

proxy nginx_evict CONNWARDEN_EVICT_IDLE=200ms
bg curls nginx_evict 20 20 3 1.5
evict_curls=$BG_PID
proxy nginx_starve CONNWARDEN_QUEUE_TIMEOUT=2s
bg curls nginx_starve 20 20 3 1.5
starve_curls=$BG_PID
server node_starve --http 0.2
nodeclient node_starve keepalive:8 20 3 1500 -- "${CAPPED[@]}" CONNWARDEN_QUEUE_TIMEOUT=2s
wait "$evict_curls" "$starve_curls"

# nginx with eviction
assert_eq "$(cat "$T/nginx_evict.codes")" $' 20 200 1000;\n 20 200 1000;\n 20 200 1000;' "nginx with eviction: every request"
assert_eq "$(jq_py "$(cat "$T/nginx_evict.status")" '(j["peak"], j["answered"])')" "(4, 60)" "nginx with eviction: upstream peak, answered"
S=$(worker_stats nginx_evict)
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["refused"], j["queue_timeouts"], j["reaped"]["evicted"] >= j["released"] and j["reaped"]["evicted"] > 0)')" \
  "($(jq_py "$(cat "$T/nginx_evict.status")" 'j["total"]'), 0, 0, True)" \
  "nginx with eviction: stats opened (= the upstream's), refused, queue_timeouts, evicted > 0, released <= evicted"
note "nginx: 60 of 60 with eviction, $(jq_py "$S" 'j["reaped"]["evicted"]') evicted"

# nginx without: 502 for the requests whose upstream connect timed out
ok=$(grep -o ' [0-9]* 200 1000;' "$T/nginx_starve.codes" | awk '{s += $1} END {print s + 0}')
[ "$ok" -ge 12 ] && [ "$ok" -lt 60 ] || fail "nginx without eviction: $ok of 60 succeeded: $(cat "$T/nginx_starve.codes")"
assert_eq "$(grep -c ' 502 ' "$T/nginx_starve.codes")" 3 "nginx without eviction: 502s in every burst"
expect_served nginx_starve "4 4 4"
S=$(worker_stats nginx_starve)
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["queue_timeouts"] == j["waited"] == 60 - '"$ok"', j["reaped"]["evicted"])')" \
  "(4, True, 0)" "nginx without eviction: stats opened, a timeout for each request that failed, evicted"
eval "starved \"\$T/nginx_starve/error.log\" \$UP_nginx_starve"
note "nginx: $ok of 60 without eviction"

# Node without
R=$(result node_starve)
assert_eq "$(jq_py "$R" '(12 <= j["ok"] < 60, j["ok"] + sum(j["errors"].values()), list(j["errors"]))')" "(True, 60, ['ECONNREFUSED'])" \
  "Node without eviction: outcomes in $R"
expect_served node_starve "0 4 4"
S=$(stats node_starve)
assert_eq "$(jq_py "$S" '(j["opened"]["out"], j["queue_timeouts"] == j["waited"] > 0, j["reaped"]["evicted"])')" "(4, True, 0)" \
  "Node without eviction: stats opened, every wait timed out, evicted"
starved "$T/node_starve.err" "$(jq_py "$(head -1 "$T/node_starve.server")" 'j["listening"]')"
note "Node: $(jq_py "$R" 'j["ok"]') of 60 without eviction"
release node_starve
