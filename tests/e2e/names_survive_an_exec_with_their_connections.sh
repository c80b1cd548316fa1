# A program that execs keeping its connections (tests/hosts/names_exec.py) keeps their names: one
# opened to other.cw.test (resolved) and one named by its proxy CONNECT line are shown so in the
# new image's conns and destination table: it carried them with their cap slots (--max-conns).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/names.bash"

host execd "${NAMED_RUN[@]}" --max-conns 5 -- $PY "$HOSTSRC/names_exec.py" other.cw.test
wait_for 10 grep -q "exec'd" "$T/execd.out"
wait_for 5 test -S "$(sock_of "$HPID")"
assert_eq "$(jq_py "$(query "$(sock_of "$HPID")" conns)" \
  'sorted((c.get("host"), c.get("host_port"), "via" in c) for c in j if c["dir"] == "out")')" \
  "[('api.cw.test', 443, True), ('other.cw.test', None, False)]" "the new image's connections"
assert_eq "$(stat_of "$HPID" 'sorted((d["dest"].split(":")[0], d["active"]) for d in j["destinations"])')" \
  "[('api.cw.test', 1), ('other.cw.test', 1)]" "the new image's destinations, by name"
