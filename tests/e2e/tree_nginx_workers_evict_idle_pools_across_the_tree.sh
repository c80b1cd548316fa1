# nginx with 2 workers and an upstream keepalive pool (tests/hosts/pool_nginx.conf, with 2 workers
# and a reuseport listener, so the kernel spreads the clients over both), under `connwarden run
# --max-conns 2 --evict-idle 200ms`, driven by 12 requests at once (curl --parallel; the counting
# upstream answers each after 0.3 s). A pool keeps its idle upstream connections ahead of any
# queue, so a worker's connect waits behind the other worker's idle pool: with --cap-scope tree
# the eviction crosses processes (a worker evicts its idle connection for a connect waiting in the
# tree's queue, whoever's it is). The upstream never sees more than 2 at once (more than 2 per
# process), every request succeeds, and the tree, read from a worker's stats, has the master and
# its 2 workers and evicted idle connections.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/http_clients.bash"
. "$(dirname "$0")/tree_apps.bash"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/deps installs it)"
chmod 755 "$T" # nginx's workers run as nginx's user: they must reach the temp paths under $T

# nginx_tree NAME SCOPE: nginx under connwarden run in front of its own counting server NAME, until
# both workers have stats sockets and a request went through; its port in APP_NAME
nginx_tree() {
  local name=$1 scope=$2 port
  server "$name" --http 0.3
  port=$(free_port)
  mkdir -p "$T/$name"
  sed -e "s|@DIR@|$T/$name|g" -e "s|@PORT@|$port reuseport|g" -e "s|@UPSTREAM@|$PORT|g" \
    -e "s|^worker_processes 1;|worker_processes 2;|" "$HOSTSRC/pool_nginx.conf" >"$T/$name/nginx.conf"
  bg "${CW_ENV[@]}" "$CW" run --cap-scope "$scope" --max-conns 2 --queue-timeout 20s --evict-idle 200ms \
    -- "$NGINX" -e "$T/$name/error.log" -p "$T/$name/" -c "$T/$name/nginx.conf"
  eval "MASTER_$name=$BG_PID APP_$name=$port"
  two_workers() { [ "$(pgrep -P "$(master "$1")" | wc -l)" = 2 ] && some_worker "$1" >/dev/null; }
  wait_for 5 two_workers "$name"
  up "$name"
}
burst() { # NAME: 12 requests at once, each answered after 0.3 s with 1000 bytes
  PORT=$(app_port "$1")
  curls "$1" 12 12 1 0
  assert_eq "$(cat "$T/$1.codes")" " 12 200 1000;" "$1: every request"
}
peak() { jq_py "$(cat "$T/$1.status")" 'j["peak"]'; }

nginx_tree process process
nginx_tree tree tree
burst process
[ "$(peak process)" -gt 2 ] || fail "per process: the upstream's peak is $(peak process), expected more than 2"
burst tree
assert_eq "$(peak tree)" 2 "as a tree: the upstream's peak"
W=$(some_worker tree)
assert_eq "$(tree_of "$W" '(t["processes"], t["reaped"]["evicted"] > 0, t["refused"], t["queue_timeouts"])')" "(3, True, 0, 0)" \
  "the tree from worker $W (processes, evicted > 0, refused, queue timeouts)"
note "nginx: peak $(peak process) per process, 2 as a tree; the tree evicted $(tree_of "$W" 't["reaped"]["evicted"]') in $(cat "$T/tree.ms") ms"
stop TERM process tree
