# count_server.bash - the exact counting server (tests/hosts/cap_count_server.py) for the cap tests:
# start one, read its counts, wait for them to settle. Source after lib.bash.

# server NAME [OPTION...]: a fresh counting server (options: --http DELAY, --listeners N,
# --fastopen); its port in PORT
server() {
  local name=$1
  shift
  bg $PY "$HOSTSRC/cap_count_server.py" "$T/$name.status" --max-secs 30 "$@" >"$T/$name.server"
  wait_for 5 grep -q listening "$T/$name.server"
  PORT=$(jq_py "$(head -1 "$T/$name.server")" 'j["listening"]')
}
# served NAME: the counting server's "current peak total"
served() { jq_py "$(cat "$T/$1.status")" '"%d %d %d" % (j["current"], j["peak"], j["total"])'; }
# expect_served NAME "CURRENT PEAK TOTAL": the server's counts settle there within 5 s
expect_served() {
  local deadline=$(($(date +%s%N) + 5000000000))
  until [ "$(served "$1")" = "$2" ]; do
    [ "$(date +%s%N)" -lt "$deadline" ] || fail "server $1: current, peak, total are $(served "$1"), expected $2"
    sleep 0.05
  done
}
# served_port NAME PORT, expect_served_port NAME PORT "CURRENT PEAK TOTAL": the same for one
# listener of a server started with --listeners N
served_port() { jq_py "$(cat "$T/$1.status")" '"%d %d %d" % tuple(j["ports"]["'"$2"'"][k] for k in ("current", "peak", "total"))'; }
expect_served_port() {
  local deadline=$(($(date +%s%N) + 5000000000))
  until [ "$(served_port "$1" "$2")" = "$3" ]; do
    [ "$(date +%s%N)" -lt "$deadline" ] ||
      fail "server $1, port $2: current, peak, total are $(served_port "$1" "$2"), expected $3"
    sleep 0.05
  done
}
# answered NAME: how many requests the server (--http) has answered
answered() { jq_py "$(cat "$T/$1.status")" 'j["answered"]'; }
