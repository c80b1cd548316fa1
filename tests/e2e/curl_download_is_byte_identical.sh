# A 20 MB download through Python's http.server is byte-identical with the shim in curl, and with
# the shim in both curl and the server; the server's stats count the connection (in) and at least
# the 20 MB it sent, and curl leaks nothing. The first download runs with no shim at all.
. "$(dirname "$0")/lib.bash"
command -v curl >/dev/null || fail "curl is not installed"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"

SIZE=$((20 * 1024 * 1024))
mkdir "$T/www"
head -c $SIZE /dev/urandom >"$T/www/blob"
want=$(sha256sum <"$T/www/blob")

# serve NAME PRELOAD: python -m http.server on a free port, serving $T/www; sets PORT, SERVER_PID
serve() {
  PORT=$(free_port)
  bg env LD_PRELOAD="$2" $PY -m http.server --bind 127.0.0.1 --directory "$T/www" "$PORT" \
    >"$T/$1.server" 2>&1
  SERVER_PID=$BG_PID # env execs the interpreter: the same pid
  wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$PORT/"
}

# fetch NAME PRELOAD: curl the blob to $T/NAME.blob, with the leak check on
fetch() {
  local rc=0
  env LD_PRELOAD="$2" CONNWARDEN_LEAK_CHECK=1 CONNWARDEN_LEAK_EXITCODE=23 \
    curl -sS --max-time 20 -o "$T/$1.blob" "http://127.0.0.1:$PORT/blob" 2>"$T/$1.err" || rc=$?
  assert_eq "$rc" 0 "$1: curl exit status ($(cat "$T/$1.err"))"
  assert_eq "$(stat -c %s "$T/$1.blob")" $SIZE "$1: size"
  assert_eq "$(sha256sum <"$T/$1.blob")" "$want" "$1: sha256"
  assert_not_contains "$(cat "$T/$1.err")" "leaked" "$1: curl leaks nothing"
}

serve plain ""
fetch none ""
fetch curl-shimmed "$CW_PRELOAD"

serve shimmed "$CW_PRELOAD"
[ -S "$(sock_of "$SERVER_PID")" ] || fail "the shimmed server has no stats socket"
# the readiness probe above was the server's first connection
base_in=$(stat_of "$SERVER_PID" 'j["opened"]["in"]')
fetch both-shimmed "$CW_PRELOAD"
# http.server answers HTTP/1.0: it closes the connection itself after the response
wait_for 5 test "$(stat_of "$SERVER_PID" 'j["closed"]["in"]')" = $((base_in + 1))
S=$(query "$(sock_of "$SERVER_PID")" stats)
assert_eq "$(jq_py "$S" '(j["opened"]["in"], j["active"]["total"], j["opened"]["out"], j["missed_closes"])')" \
  "($((base_in + 1)), 0, 0, 0)" "server: connections"
out=$(jq_py "$S" 'j["bytes"]["out"]')
[ "$out" -ge $SIZE ] || fail "server bytes.out $out is below the $SIZE bytes it served"
# headers of a few short replies on top of the body, nothing more
[ "$out" -le $((SIZE + (base_in + 1) * 4096)) ] || fail "server bytes.out $out is far above the $SIZE it served"
