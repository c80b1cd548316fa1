# A name with three addresses (api.cw.test: 127.0.0.2, .3, .4) is one destination: a Python client
# that resolves it and spreads 6 connections over its addresses under --max-conns-per-dest 2 sees
# every connection work while the servers, counted together, never see more than 2 at once (and
# each address gets some). While connects wait, `conns` names each connection (host) and the
# stats destination table and the metrics show "api.cw.test:PORT". With --dest-by address each
# address is a destination of its own: more than 2 at once; so it is with the name left out of
# the policy by a filter by domain (--exclude '*.cw.test'), while a filter by another name
# (--only other.cw.test:1) leaves it out too and one by its own name keeps it capped.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/names.bash"

name_server byname
bg "${NAMED_RUN[@]}" --max-conns-per-dest 2 -- $PY "$HOSTSRC/names_round_robin.py" "$NAME" "$PORT" 6 2 \
  >"$T/byname.out" 2>"$T/byname.err"
client=$BG_PID
open_now() { [ "$(served byname | cut -d' ' -f1)" = "$1" ]; }
wait_for 10 open_now 2
wait_for 5 test -S "$(sock_of "$client")"
conns=$(query "$(sock_of "$client")" conns)
assert_eq "$(jq_py "$conns" 'sorted(set((c.get("host"), c["state"]) for c in j if c["dir"] == "out"))')" \
  "[('$NAME', 'ESTABLISHED'), ('$NAME', 'QUEUED')]" "conns: every outbound connection named, 2 open and the rest queued"
assert_eq "$(stat_of "$client" '[(d["dest"], d["active"]) for d in j["destinations"]]')" "[('$NAME:$PORT', 2)]" \
  "stats: one destination, by name"
metrics=$(query "$(sock_of "$client")" metrics)
assert_contains "$metrics" "connwarden_destination_connections_active{dest=\"$NAME:$PORT\"} 2" "metrics"
wait "$client" || fail "the client failed: $(cat "$T/byname.err")"
assert_eq "$(jq_py "$(cat "$T/byname.out")" 'j["ok"]')" 6 "connections that worked"
expect_served byname "0 2 6"
for a in ${NAME_ADDRS//,/ }; do
  [ "$(addr_served byname "$a" | cut -d' ' -f3)" -ge 1 ] || fail "address $a got no connection: $(cat "$T/byname.status")"
done

# by address: three destinations of 2 each
name_server byaddr
named_run --max-conns-per-dest 2 --dest-by address -- \
  $PY "$HOSTSRC/names_round_robin.py" "$NAME" "$PORT" 6 1 >"$T/byaddr.out" 2>"$T/byaddr.err" ||
  fail "the client failed: $(cat "$T/byaddr.err")"
peak=$(served byaddr | cut -d' ' -f2)
[ "$peak" -gt 2 ] || fail "by address, the servers' peak is $peak: expected more than 2"
# filters by name, decided at connect: out of the policy (no cap), or in it (capped).
# peak_with SERVER RUN-OPTION...: the servers' peak for the same client, in PEAK (@PORT@ in an
# option is the new server's port)
peak_with() {
  local srv=$1
  shift
  name_server "$srv"
  named_run --max-conns-per-dest 2 "${@//@PORT@/$PORT}" -- $PY "$HOSTSRC/names_round_robin.py" "$NAME" "$PORT" 6 1 \
    >"$T/$srv.out" 2>"$T/$srv.err" || fail "the client failed ($*): $(cat "$T/$srv.err")"
  PEAK=$(served "$srv" | cut -d' ' -f2)
}
peak_with excl --exclude '*.cw.test'
[ "$PEAK" -gt 2 ] || fail "--exclude '*.cw.test' still capped it (peak $PEAK)"
peak_with other --only "other.cw.test:1"
[ "$PEAK" -gt 2 ] || fail "--only other.cw.test:1 capped $NAME (peak $PEAK)"
peak_with own --only "$NAME:@PORT@"
assert_eq "$PEAK" 2 "--only $NAME:PORT: the servers' peak"
note "peak 2 by name across ${NAME_ADDRS//,/, }; $peak by address; filters by name at connect"
