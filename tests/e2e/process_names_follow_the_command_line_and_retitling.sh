# Every process goes by a name, the same in `stats`, `config`, `connwarden ls`, `top` and the
# exporter's name and tree labels: derived from the command line when asked (python3 -m
# http.server, python3 worker.py), a server's own title once it retitles itself (nginx's master
# and its 2 workers, gunicorn's master and workers with setproctitle, a script that calls
# setproctitle while it runs), or CONNWARDEN_NAME (also `connwarden run --name`), which the leak
# report's SUMMARY line uses too. A bad CONNWARDEN_NAME stops start-up with one line naming it.
. "$(dirname "$0")/lib.bash"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/deps installs it)"
$PY -c 'import gunicorn, setproctitle' 2>/dev/null ||
  fail "python3-gunicorn and python3-setproctitle are not installed (scripts/deps installs them)"

name_of() { stat_of "$1" 'j["name"]'; }
named() { [ "$(name_of "$1")" = "$2" ]; } # PID NAME
ready() { wait_for 5 test -S "$(sock_of "$1")"; }

# Python: a module, a script (retitling itself on demand), the variable, and run --name
cat >"$T/worker.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname()); s = l.accept()[0]
for _ in range(600):
    if os.path.exists(sys.argv[1]):
        import setproctitle
        setproctitle.setproctitle("worker: busy [queue]")
        break
    time.sleep(0.05)
time.sleep(60)
PYEOF
bg shimmed "$PY" -m http.server 0 --bind 127.0.0.1 --directory "$T"; server=$BG_PID
bg shimmed "$PY" -u "$T/worker.py" "$T/retitle"; script=$BG_PID
bg env CONNWARDEN_NAME=myproxy LD_PRELOAD="$CW_PRELOAD" "$PY" "$T/worker.py" "$T/never"; proxy=$BG_PID
bg "${CW_ENV[@]}" "$CW" run --name 'api [eu-1]' -- "$PY" "$T/worker.py" "$T/never"; api=$BG_PID
for p in $server $script $proxy $api; do ready "$p"; done
assert_eq "$(name_of "$server")" "python3 -m http.server" "a module run by python3"
assert_eq "$(name_of "$script")" "python3 worker.py" "a script: the interpreter and its file name"
assert_eq "$(name_of "$proxy")" "myproxy" "CONNWARDEN_NAME"
assert_eq "$(name_of "$api")" "api [eu-1]" "connwarden run --name"
assert_eq "$(jq_py "$(query "$(sock_of "$proxy")" config)" 'j["name"]')" "myproxy" "config shows the name"
# the name is asked for each time: a title set while the program runs is its name from then on
touch "$T/retitle"
wait_for 5 named "$script" "worker: busy [queue]"

# nginx, a master and 2 workers (see guide_nginx_workers_are_tracked.sh): nginx's own titles
mkdir -p "$T/nginx"
port=$(free_port)
sed -e "s|@DIR@|$T/nginx|g" -e "s|@PORT@|$port|g" -e "s|@UPSTREAM@|$(free_port)|g" \
  "$HOSTSRC/guide_nginx.conf" >"$T/nginx/nginx.conf"
chmod 755 "$T" # workers run as nginx's user
bg "${CW_ENV[@]}" "$CW" run -- "$NGINX" -e "$T/nginx/error.log" -p "$T/nginx/" -c "$T/nginx/nginx.conf"
master=$BG_PID
children() { ps -o pid= --ppid "$1" | tr -d ' ' | sort -n; }
two_children() { [ "$(children "$1" | wc -l)" = 2 ]; }
wait_for 5 two_children "$master"
mapfile -t nws < <(children "$master")
CW_PIDS+=("${nws[@]}")
for p in "$master" "${nws[@]}"; do ready "$p"; done
master_name=$(name_of "$master")
want="nginx: master process $NGINX -e $T/nginx/error.log -p $T/nginx/ -c $T/nginx/nginx.conf"
assert_eq "$master_name" "${want:0:64}" "nginx's master: its title, cut at 64 bytes"
for w in "${nws[@]}"; do wait_for 5 named "$w" "nginx: worker process"; done

# gunicorn with setproctitle: its master and workers retitle themselves after start-up
cat >"$T/app.py" <<'PYEOF'
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
PYEOF
gport=$(free_port)
bg shimmed "$PY" -m gunicorn -w 2 -b "127.0.0.1:$gport" --chdir "$T" app:app; gmaster=$BG_PID
wait_for 10 two_children "$gmaster"
mapfile -t gws < <(children "$gmaster")
CW_PIDS+=("${gws[@]}")
for p in "$gmaster" "${gws[@]}"; do ready "$p"; done
wait_for 5 named "$gmaster" "gunicorn: master [app:app]"
for w in "${gws[@]}"; do wait_for 5 named "$w" "gunicorn: worker [app:app]"; done
assert_eq "$(curl -sf "http://127.0.0.1:$gport/")" "ok" "gunicorn answers under the shim"

# ls: the NAME column, last, the same as stats
ls_out=$("$CW" ls)
for p in $server $script $proxy $api "$master" "${nws[@]}" "$gmaster" "${gws[@]}"; do
  row=$(awk -v p="$p" '$1 == p' <<<"$ls_out") n=$(name_of "$p")
  [ "${row: -$((${#n} + 2))}" = "  $n" ] || fail "ls: pid $p's line does not end with '$n': $ls_out"
done
# top: the title line
assert_contains "$("$CW" top "${nws[0]}" | head -1)" "connwarden top - pid ${nws[0]} (nginx: worker process)" "top's title"

# the exporter: name and tree (a process in no tree: its own name) on every sample
eport=$(free_port)
bg "$CW" exporter --listen "127.0.0.1:$eport"
wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$eport/metrics"
m=$(curl -sf "http://127.0.0.1:$eport/metrics")
for p in $server $script $proxy $api "$master" "${nws[@]}" "$gmaster" "${gws[@]}"; do
  n=$(name_of "$p")
  mine=$(grep -F "{pid=\"$p\"," <<<"$m") || fail "the exporter has no sample of pid $p"
  assert_eq "$(grep -cvF "name=\"$n\",tree=\"$n\"" <<<"$mine" || true)" 0 "pid $p: every sample labelled name and tree '$n'"
done
assert_contains "$m" "connwarden_connections_active{pid=\"$proxy\",comm=\"python3\",name=\"myproxy\",tree=\"myproxy\",direction=\"out\"} 1" "the named proxy's sample"

# the leak report's SUMMARY line names the process
rc=0
err=$(env CONNWARDEN_NAME=myproxy CONNWARDEN_LEAK_CHECK=1 LD_PRELOAD="$CW_PRELOAD" "$PY" -c '
import os, socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); s = l.accept()[0]
print(os.getpid(), flush=True)' 2>&1 >"$T/leaker.pid") || rc=$?
assert_contains "$err" " leaked connections in myproxy (pid $(cat "$T/leaker.pid"))" "the leak report's SUMMARY"

# a bad CONNWARDEN_NAME stops start-up with one line naming it; without the shim it means nothing
stops() { # VALUE SHOWN
  local out rc=0
  out=$(env CONNWARDEN_NAME="$1" LD_PRELOAD="$CW_PRELOAD" "$PY" -c 'print("MAIN RAN")' 2>"$T/err") || rc=$?
  assert_eq "$rc" 2 "CONNWARDEN_NAME=$2: exit status"
  assert_eq "$out" "" "CONNWARDEN_NAME=$2: main must not run"
  assert_eq "$(cat "$T/err")" "connwarden: CONNWARDEN_NAME=\"$2\" is not valid: expected a name of 1 to 64 bytes without control characters" "CONNWARDEN_NAME=$2: the line"
}
stops $'api\nSUMMARY: 0' 'api\nSUMMARY: 0'
stops "$(printf 'x%.0s' $(seq 65))" "$(printf 'x%.0s' $(seq 65))"
stops "" ""
assert_eq "$(env CONNWARDEN_NAME=$'a\nb' "$PY" -c 'print("MAIN RAN")')" "MAIN RAN" "without the shim"
