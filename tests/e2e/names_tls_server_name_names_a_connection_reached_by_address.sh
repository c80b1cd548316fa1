# A TLS connection made to an address, with no name resolved, is named by the server name its
# ClientHello carries: a Python client on 127.0.0.1:PORT with server_hostname secure.cw.test (and
# one with Secure.CW.Test: the name is lowercased) shows "host": "secure.cw.test" in conns (no
# host_port, no via), and the stats destinations and metrics count it at "secure.cw.test:PORT".
# Its TLS connection with no server name and a plain text one to the same port stay by address
# ("127.0.0.1:PORT"). curl reaching https://secure.cw.test:PORT/ by --connect-to 127.0.0.1 is
# named the same while its request waits. The server (tests/hosts/names_tls_server.py, never
# shimmed) reports which server name each handshake brought, so the test knows what was sent.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/names.bash"
command -v openssl >/dev/null || fail "openssl is not installed (scripts/deps installs it)"

SNI=secure.cw.test
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
  -keyout "$T/key.pem" -out "$T/cert.pem" 2>"$T/openssl.err" || fail "openssl: $(cat "$T/openssl.err")"
bg $PY "$HOSTSRC/names_tls_server.py" "$T/cert.pem" "$T/key.pem" >"$T/server.out" 2>"$T/server.err"
wait_for 5 grep -q listening "$T/server.out"
PORT=$(jq_py "$(head -1 "$T/server.out")" 'j["listening"]')
handshakes() { grep -c '"tls": true' "$T/server.out" || true; }
more_handshakes_than() { [ "$(handshakes)" -gt "$1" ]; }

# 1. Python: two connections with a server name, one TLS without, one plain; all held open.
mkdir "$T/ctl"
bg shimmed $PY "$HOSTSRC/names_tls_client.py" "$T/ctl" "$PORT" "$T/cert.pem" \
  "sni=$SNI" "sni=Secure.CW.Test" tls plain >"$T/client.out" 2>"$T/client.err"
client=$BG_PID
wait_for 10 grep -q '"step": "hold"' "$T/client.out"
assert_eq "$(grep -F '"tls": ' "$T/server.out" | sort | tr '\n' ' ')" \
  '{"sni": "Secure.CW.Test", "tls": true} {"sni": "secure.cw.test", "tls": true} {"sni": null, "tls": true} {"tls": false} ' \
  "what the server got: two server names (as sent), a hello without one, plain text"
locals=$(jq_py "$(grep '"step": "hold"' "$T/client.out")" '" ".join(map(str, j["local"]))')
# each connection, in the client's order: (peer, host, host_port, via)
by_local=$(jq_py "$(query "$(sock_of "$client")" conns)" \
  "[next(($NAMING for c in j if c['local'] == '127.0.0.1:%s' % p), 'missing') for p in '$locals'.split()]")
peer=127.0.0.1:$PORT
assert_eq "$by_local" "[('$peer', '$SNI', None, None), ('$peer', '$SNI', None, None), ('$peer', None, None, None), ('$peer', None, None, None)]" \
  "conns: the server-named connections carry host $SNI (lowercased), the other two none"
assert_eq "$(dests_of "$client")" "[('$peer', '$peer', 2, 4), ('$SNI:$PORT', '$peer', 2, 2)]" \
  "stats destinations (dest, peer, active, opened): the named two moved to $SNI:$PORT (opened by address all four)"
assert_contains "$(query "$(sock_of "$client")" metrics)" \
  "connwarden_destination_connections_active{dest=\"$SNI:$PORT\"} 2" "metrics"
touch "$T/ctl/hold.go"
wait "$client" || fail "the Python client failed: $(cat "$T/client.err")"
assert_contains "$(cat "$T/client.out")" '{"done": 4}' "the Python client's connections all worked"

# 2. curl, to the name but by address: named while the server holds its answer (2 s).
before=$(handshakes)
bg shimmed curl -sS --cacert "$T/cert.pem" --connect-to "$SNI:$PORT:127.0.0.1:$PORT" \
  -o "$T/curl.body" "https://$SNI:$PORT/?ms=2000"
curl_pid=$BG_PID
wait_for 10 more_handshakes_than "$before"
assert_eq "$(written_naming "$curl_pid")" "('$peer', '$SNI', None, None)" "curl's connection while its request waits"
assert_eq "$(dests_of "$curl_pid")" "[('$peer', '$peer', 0, 1), ('$SNI:$PORT', '$peer', 1, 1)]" \
  "curl's destinations (its address keeps the opened count)"
assert_contains "$("$CW" conns "$curl_pid")" "$peer ($SNI)" "connwarden conns names curl's peer"
wait "$curl_pid" || fail "curl failed"
assert_eq "$(wc -c <"$T/curl.body")" 100 "curl's body"
note "named by the server name: Python (2 of 4 connections) and curl, port $PORT"
