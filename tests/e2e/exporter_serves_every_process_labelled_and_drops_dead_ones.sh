# connwarden exporter serves, at /metrics, the metrics of every live shimmed process of this user:
# each process's own samples, unchanged but labelled pid, comm, name (the process's name, derived
# from its command line here) and tree (its own name: it shares no caps with a tree); each family
# once. The body
# passes a Prometheus text-format check (the official Python client's parser, plus the rules it
# does not enforce: one HELP and TYPE per family before its samples, a family's samples together,
# no duplicate series, cumulative histograms). A process killed with SIGKILL disappears from the
# next scrape and its stale socket is removed; one run without the preload never appears.
. "$(dirname "$0")/lib.bash"
export XDG_RUNTIME_DIR=$T/xdg # keep the user's session directory out of the scan
make -s -C "$ROOT" "build/hosts/conn_holder" >/dev/null
$PY -c 'import prometheus_client' 2>/dev/null ||
  fail "python3-prometheus-client is not installed (scripts/deps should install it)"

holder() { # N [VAR=VALUE...]: a conn_holder with N connections; its pid in $BG_PID
  local n=$1 fifo=$T/in.$RANDOM
  shift
  mkfifo "$fifo"
  exec {keep}<>"$fifo" # a writer that stays: the holder keeps its connections until the test ends
  bg sh -c 'exec "$@" <"$0" >/dev/null' "$fifo" env "$@" "$HOSTS/conn_holder" "$n"
}
holds() { [ "$(stat_of "$1" 'j["active"]["out"]')" = "$2" ]; }
holder 2 LD_PRELOAD="$CW_PRELOAD"; a=$BG_PID
holder 3 LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=7; b=$BG_PID
holder 4; plain=$BG_PID # no preload
wait_for 5 test -S "$(sock_of "$a")"
wait_for 5 test -S "$(sock_of "$b")"
wait_for 5 holds "$a" 2
wait_for 5 holds "$b" 3

port=$(free_port)
bg "$CW" exporter --listen "127.0.0.1:$port"
exporter=$BG_PID
url=http://127.0.0.1:$port/metrics
wait_for 5 curl -sf -o /dev/null "$url"

cat >"$T/check.py" <<'PYEOF'
"""check.py EXPOSITION [PID=METRICS=NAME...] - check a text exposition; for each PID=FILE=NAME,
check that every sample of FILE (that process's own metrics reply) is in it, labelled pid=PID,
comm, name=NAME and tree=NAME."""
import re, sys
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
fams = list(text_string_to_metric_families(text))  # raises on what it cannot parse
# the client names a counter's family without its _total, so connwarden_connections_abandoned_total
# (counter) and connwarden_connections_abandoned (gauge) share a name there, not a type
names = [(f.name, f.type) for f in fams]
assert len(names) == len(set(names)), "a family parsed twice: %s" % names

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{%s(?:,%s)*\})? (-?[0-9.e+-]+|[+-]Inf|NaN)$" % (NAME, LABEL, LABEL))
typ, helped, seen, done, series = {}, set(), set(), set(), set()
current = None
def family_of(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and typ.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return name
for n, line in enumerate(text.splitlines(), 1):
    where = "line %d: %r" % (n, line)
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        name = line.split(" ")[2]
        assert re.fullmatch(NAME, name), where
        assert name not in seen, "HELP/TYPE after samples of " + where
        if line[2] == "T":
            assert name not in typ, "second TYPE: " + where
            typ[name] = line.split(" ")[3]
            assert typ[name] in ("counter", "gauge", "histogram", "summary", "untyped"), where
        else:
            assert name not in helped, "second HELP: " + where
            helped.add(name)
        continue
    assert not line.startswith("#") and line, "stray line: " + where
    m = SAMPLE.match(line)
    assert m, "not a sample: " + where
    fam = family_of(m.group(1))
    if fam != current:
        assert fam not in done, "samples of %s not together: %s" % (fam, where)
        if current:
            done.add(current)
        current = fam
    seen.add(fam)
    key = (m.group(1), m.group(2))
    assert key not in series, "duplicate series: " + where
    series.add(key)

def samples(t):
    out = {}
    for f in text_string_to_metric_families(t):
        for s in f.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out
merged = samples(text)
# histograms: cumulative buckets, +Inf equal to _count, per label set
for (name, labels), v in merged.items():
    if name.endswith("_count") and typ.get(name[:-6]) == "histogram":
        base = name[:-6]
        buckets = sorted(((float(dict(l)["le"]), val) for (nm, l), val in merged.items()
                          if nm == base + "_bucket" and tuple(x for x in l if x[0] != "le") == labels))
        assert buckets and buckets[-1][0] == float("inf") and buckets[-1][1] == v, (name, labels)
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), (name, labels)
for arg in sys.argv[2:]:
    pid, path, pname = arg.split("=", 2)
    own = samples(open(path).read())
    assert own, "no samples in " + path
    for (name, labels), v in own.items():
        full = tuple(sorted(labels + (("pid", pid), ("comm", "conn_holder"), ("name", pname), ("tree", pname))))
        assert (name, full) in merged, "missing for pid %s: %s%s" % (pid, name, dict(full))
        assert merged[(name, full)] == v, "pid %s %s: %s != %s" % (pid, name, merged[(name, full)], v)
print("ok %d families %d series" % (len(fams), len(series)))
PYEOF

scrape() { curl -sf -D "$T/headers" -o "$T/metrics" "$url"; }
scrape
query "$(sock_of "$a")" metrics >"$T/a.prom"
query "$(sock_of "$b")" metrics >"$T/b.prom"
$PY "$T/check.py" "$T/metrics" "$a=$T/a.prom=conn_holder 2" "$b=$T/b.prom=conn_holder 3" >/dev/null || fail "exposition check: $(head -c 3000 "$T/metrics")"
m=$(cat "$T/metrics")
labels() { echo "pid=\"$1\",comm=\"conn_holder\",name=\"conn_holder $2\",tree=\"conn_holder $2\""; }
assert_contains "$m" "connwarden_connections_active{$(labels "$a" 2),direction=\"out\"} 2" "a's active, labelled"
assert_contains "$m" "connwarden_connections_active{$(labels "$b" 3),direction=\"out\"} 3" "b's active, labelled"
assert_contains "$m" "connwarden_max_connections{$(labels "$b" 3)} 7" "b's cap"
assert_eq "$(grep -c '^# TYPE connwarden_connections_active ' <<<"$m")" 1 "one TYPE line per family"
assert_not_contains "$m" "pid=\"$plain\"" "the process without the preload"
procs=$(sed -n 's/^connwarden_exporter_processes \([0-9]*\)$/\1/p' <<<"$m")
[ "$procs" -ge 2 ] || fail "exporter_processes: $procs"
assert_eq "$(sed -n 's/^connwarden_exporter_scrape_errors //p' <<<"$m")" 0 "no scrape errors"
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$T/headers" || fail "content type: $(cat "$T/headers")"

# a dead process: gone from the next scrape, its stale socket removed
kill -9 "$a"
wait_for 5 sh -c "! kill -0 $a 2>/dev/null"
[ -S "$(sock_of "$a")" ] || fail "SIGKILL should leave the socket behind"
scrape
$PY "$T/check.py" "$T/metrics" "$b=$T/b.prom=conn_holder 3" >/dev/null || fail "exposition check after the kill"
m=$(cat "$T/metrics")
assert_not_contains "$m" "pid=\"$a\"" "the dead process"
assert_contains "$m" "connwarden_connections_active{$(labels "$b" 3),direction=\"out\"} 3" "the live one stays"
assert_eq "$(sed -n 's/^connwarden_exporter_processes //p' <<<"$m")" $((procs - 1)) "one process fewer"
[ ! -e "$(sock_of "$a")" ] || fail "the stale socket was not removed"

# HTTP: HEAD, other paths and methods
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -I "$url")" 200 "HEAD /metrics"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" 404 "another path"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")" 405 "POST"
assert_contains "$(curl -s "http://127.0.0.1:$port/")" 'href="/metrics"' "the index links to /metrics"

# SIGTERM ends it with status 0; a bad --listen is a usage error
kill -TERM "$exporter"
rc=0; wait "$exporter" || rc=$?
assert_eq "$rc" 0 "exit status after SIGTERM"
rc=0; err=$("$CW" exporter --listen nowhere 2>&1) || rc=$?
assert_eq "$rc" 2 "--listen without a port"
assert_contains "$err" "HOST:PORT" "the message names the form"
rc=0; "$CW" exporter 2>/dev/null || rc=$?
assert_eq "$rc" 2 "--listen is required"
