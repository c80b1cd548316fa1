# contrib/prometheus/connwarden-rules.yml and contrib/grafana/connwarden-dashboard.json name only
# metrics and labels that connwarden exporter really serves (checked against its scrape of a
# shimmed process holding connections at its caps), and work in a real Prometheus scraping it:
# every dashboard query returns series, every template variable has values, every rule evaluates
# without error, and the cap alerts (process, destination and tree) are pending for that process.
. "$(dirname "$0")/lib.bash"
export XDG_RUNTIME_DIR=$T/xdg # keep the user's session directory out of the scan
make -s -C "$ROOT" "build/hosts/conn_holder" >/dev/null
command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/deps should install it)"
alone_in_sight # the exporter sees this test's process alone
RULES=$ROOT/contrib/prometheus/connwarden-rules.yml
DASH=$ROOT/contrib/grafana/connwarden-dashboard.json

# a process at both of its caps: 3 connections, to one destination; a tree of its own (so that the
# tree's gauges are served and its cap alert pends too)
fifo=$T/in
mkfifo "$fifo"
exec {keep}<>"$fifo"
bg sh -c 'exec "$@" <"$0" >/dev/null' "$fifo" env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_MAX_CONNS=3 CONNWARDEN_CAP_SCOPE=tree \
  CONNWARDEN_MAX_CONNS_PER_DEST=3 "$HOSTS/conn_holder" 3
holder=$BG_PID
wait_for 5 test -S "$(sock_of "$holder")"
holds_three() { [ "$(stat_of "$holder" 'j["active"]["out"]')" = 3 ]; }
wait_for 5 holds_three

scrape "$T/metrics"
port=$EXPORTER_PORT
grep -q "^connwarden_destination_connections_active{pid=\"$holder\",.*} 3$" "$T/metrics" ||
  fail "no destination sample for the holder: $(grep destination "$T/metrics")"
out=$($PY "$ROOT/tests/e2e/monitoring.py" refs "$T/metrics" "$RULES" "$DASH") || fail "$out"
[ -z "$out" ] || note "$out"

# a Prometheus that scrapes the exporter and evaluates the rules every second (within the 30 s the
# holder lives)
pport=$(free_port)
cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$RULES"]
scrape_configs:
  - job_name: connwarden
    static_configs:
      - targets: ["127.0.0.1:$port"]
YML
bg prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn
prom=http://127.0.0.1:$pport
wait_for 20 curl -sf -o /dev/null "$prom/-/ready"
out=$($PY "$ROOT/tests/e2e/monitoring.py" live "$prom" "$RULES" "$DASH" 15) || fail "$out"

# the cap alerts see the holder at its caps (pending: they fire after 5 minutes); no other alert
cap_alerts() {
  got=$(curl -sf "$prom/api/v1/alerts" | $PY -c 'import json,sys
print(" ".join(sorted("%s/%s/%s" % (a["labels"]["alertname"], a["labels"].get("cap"), a["state"])
                      for a in json.load(sys.stdin)["data"]["alerts"])))')
  [ "$got" = "ConnwardenCapSaturated/destination/pending ConnwardenCapSaturated/process/pending ConnwardenCapSaturated/tree/pending" ]
}
wait_for 10 cap_alerts || true
cap_alerts || fail "alerts: $got"
