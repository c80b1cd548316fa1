# A connection to a forward proxy is named by the request its first write makes: the CONNECT
# target, or the host of an absolute-form request, replacing the proxy's own name when that was
# resolved. While each client's request waits at the origin (api.cw.test, holding its answer 2 s)
# the client's conns show peer 127.0.0.1:PROXYPORT, "host": "api.cw.test", "host_port": PORT and
# "via": "127.0.0.1:PROXYPORT", and its stats destinations count it at "api.cw.test:PORT": curl
# -p -x http://127.0.0.1:PROXYPORT (CONNECT), curl -p -x http://proxy.cw.test:PROXYPORT (a name
# the client resolves; curl resolves "localhost" itself, so that name would not test this), and
# Python requests with an http proxy (absolute form). A Python client that stops between
# connecting to proxy.cw.test and writing shows the proxy's name first, then the target's; one
# that exits with its tunnel open is reported by --check-leaks as "(api.cw.test:PORT via proxy)",
# with "dest" and "via" in the JSON report. The proxy (tests/hosts/names_proxy.py) and the origin
# run with the test's names, never shimmed.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/names.bash"
CLIENT=$HOSTSRC/names_proxy_client.py

name_server origin --http 2
bg "${NAMED[@]}" $PY "$HOSTSRC/names_proxy.py" >"$T/proxy.out" 2>"$T/proxy.err"
wait_for 5 grep -q listening "$T/proxy.out"
PP=$(jq_py "$(head -1 "$T/proxy.out")" 'j["listening"]')
PROXY=127.0.0.1:$PP
URL="http://$NAME:$PORT/?ms=2000"

# 1. Three clients at once, each checked while its request waits.
bg shimmed curl -sS -p -x "http://$PROXY" -o "$T/a.body" "$URL"
a=$BG_PID
bg "${NAMED_RUN[@]}" -- curl -sS -p -x "http://proxy.cw.test:$PP" -o "$T/b.body" "$URL"
b=$BG_PID
bg shimmed $PY "$CLIENT" get "$PROXY" "$URL" >"$T/c.out"
c=$BG_PID
for who in "$a:$PROXY:curl -x $PROXY" "$b:proxy.cw.test:$PP:curl -x proxy.cw.test:$PP" "$c:$PROXY:requests"; do
  pid=${who%%:*} rest=${who#*:}
  opened_at=${rest%%:*}:$PP what=${rest#*:*:}
  assert_eq "$(written_naming "$pid")" "('$PROXY', '$NAME', $PORT, '$PROXY')" "$what: its connection while the request waits"
  # the proxy's row (by address, or by the proxy's own name) keeps the connection in its opened
  # (a counter); the target's has it open
  assert_eq "$(dests_of "$pid")" \
    "$($PY -c 'import sys; a = sys.argv; print(sorted([(a[1], a[2], 0, 1), (a[3], a[2], 1, 1)]))' "$opened_at" "$PROXY" "$NAME:$PORT")" \
    "$what: stats destinations"
  assert_contains "$(query "$(sock_of "$pid")" metrics)" \
    "connwarden_destination_connections_active{dest=\"$NAME:$PORT\"} 1" "$what: metrics"
  assert_contains "$("$CW" conns "$pid")" "$PROXY ($NAME:$PORT via proxy)" "$what: connwarden conns"
done
for pid in "$a" "$b" "$c"; do wait "$pid" || fail "client $pid failed"; done
assert_eq "$(wc -c <"$T/a.body") $(wc -c <"$T/b.body")" "100 100" "the curl bodies"
assert_eq "$(cat "$T/c.out")" '{"bytes": 100, "status": 200}' "the requests answer"
assert_eq "$(jq_py "$(tail -n +2 "$T/proxy.out" | paste -sd, | sed 's/^/[/; s/$/]/')" \
  'sorted((r["method"], r["target"], r["upstream"] in "'"$NAME_ADDRS"'".split(",")) for r in j)')" \
  "[('CONNECT', '$NAME:$PORT', True), ('CONNECT', '$NAME:$PORT', True), ('GET', '$URL', True)]" \
  "the proxy's requests, each to an address of $NAME"

# 2. The proxy's own name first, the target's once the CONNECT is written.
mkdir "$T/ctl"
bg "${NAMED_RUN[@]}" -- $PY "$CLIENT" tunnel "$T/ctl" "proxy.cw.test:$PP" "$NAME:$PORT" >"$T/tunnel.out" 2>"$T/tunnel.err"
tunnel=$BG_PID
wait_for 10 grep -q '"step": "connected"' "$T/tunnel.out"
assert_eq "$(naming_of "$tunnel")" "[('$PROXY', 'proxy.cw.test', None, None)]" "before its first write: the proxy's name"
assert_eq "$(dests_of "$tunnel")" "[('proxy.cw.test:$PP', '$PROXY', 1, 1)]" "before its first write: destinations"
touch "$T/ctl/connected.go"
wait_for 10 grep -q '"step": "tunnelled"' "$T/tunnel.out"
assert_eq "$(naming_of "$tunnel")" "[('$PROXY', '$NAME', $PORT, '$PROXY')]" "after the CONNECT: the target's name, via the proxy"
assert_eq "$(dests_of "$tunnel")" "[('$NAME:$PORT', '$PROXY', 1, 1), ('proxy.cw.test:$PP', '$PROXY', 0, 1)]" \
  "after the CONNECT: destinations (the proxy's name keeps its opened)"
touch "$T/ctl/tunnelled.go"
wait "$tunnel" || fail "the tunnel client failed: $(cat "$T/tunnel.err")"

# 3. A tunnel left open at exit, in the leak report.
mkdir "$T/reports"
rc=0
"${CW_ENV[@]}" "$CW" run --check-leaks --report-dir "$T/reports" -- $PY "$CLIENT" leak "$PROXY" "$NAME:$PORT" \
  >"$T/leak.out" 2>"$T/leak.err" || rc=$?
assert_eq "$rc" 23 "status of a run that leaks: $(cat "$T/leak.err")"
pid=$(jq_py "$(cat "$T/leak.out")" 'j["pid"]') local=$(jq_py "$(cat "$T/leak.out")" 'j["local"]')
grep -qE "^Leaked connection fd [0-9]+ out 127\.0\.0\.1:$local -> 127\.0\.0\.1:$PP \($NAME:$PORT via proxy\) ESTABLISHED, " "$T/leak.err" ||
  fail "no leak line naming $NAME:$PORT via the proxy: $(cat "$T/leak.err")"
assert_eq "$(jq_py "$(cat "$T/reports/connwarden.$pid.json")" '[(l["peer"], l.get("dest"), l.get("via")) for l in j["leaks"]]')" \
  "[('$PROXY', '$NAME:$PORT', '$PROXY')]" "the JSON report's leak (via: the proxy's address)"
note "named via the proxy $PROXY: curl twice, requests, a stepped tunnel and a leak report"
