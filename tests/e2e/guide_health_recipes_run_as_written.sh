# The README's health recipes (tests/hosts/guide_liveness_probe.yaml, guide_healthcheck.Dockerfile,
# guide_health_units.conf: the README's blocks word for word), run as far as this machine allows.
# No Kubernetes, Docker daemon or running systemd here, so: the probe's YAML is parsed and its exec
# command run as the kubelet would (the argv as written); the HEALTHCHECK's CMD runs through
# /bin/sh -c, as Docker runs its shell form, and never exits 2 (Docker reserves it); the two units
# pass systemd-analyze verify (when installed), and the check service's ExecStart= runs with its
# Environment= (/run/ standing for the test's directory) and a stand-in systemctl that records its
# arguments. Each runs against a live program, healthy, then with an abandoned connection.
# --all sees every shimmed process of the user: other people's (in /run/connwarden for root,
# /tmp/connwarden-UID) are hidden under a private mount when there are any, else the test says
# it cannot run.
. "$(dirname "$0")/lib.bash"
export XDG_RUNTIME_DIR=$T/xdg # keep the user's session directory out of --all
probe_yaml=$HOSTSRC/guide_liveness_probe.yaml
docker_line=$HOSTSRC/guide_healthcheck.Dockerfile
units=$HOSTSRC/guide_health_units.conf

readme_block() { # HEADING: the first fenced block under it in the README
  awk -v h="$1" '$0 == h {s = 1; next} s && /^```/ {if (c) exit; c = 1; next} c {print}' "$ROOT/README.md"
}
assert_eq "$(readme_block '### Kubernetes liveness probe')" "$(cat "$probe_yaml")" "the README's probe is the tested one"
assert_eq "$(readme_block '### Docker HEALTHCHECK')" "$(cat "$docker_line")" "the README's HEALTHCHECK is the tested one"
assert_eq "$(readme_block '### systemd timer')" "$(cat "$units")" "the README's units are the tested ones"

# Only this test's processes in sight of --all.
alone_in_sight || { note "other shimmed processes run outside this test, and cannot be hidden: recipes not run"; exit 0; }

# connwarden where the recipes expect it: on PATH (the images' /usr/local/bin), and at
# /usr/local/bin/connwarden for the unit (mapped to a stand-in path below)
mkdir -p "$T/bin" "$T/runroot"
ln -s "$CW" "$T/bin/connwarden"
cat >"$T/bin/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$T/systemctl.calls"
EOF
chmod +x "$T/bin/systemctl"
export PATH=$T/bin:$PATH

# The application: a client whose stream is read until the test stops it, under the library, its
# stats socket in the run directory the unit names (/run/ mapped to $T/runroot/).
service_env=$(sed -n '/^# .*myapp-health.service$/,/^# .*timer$/p' "$units" | sed -n 's/^Environment=//p')
assert_eq "$service_env" "CONNWARDEN_RUNDIR=/run/myapp-connwarden" "the check service's environment"
export CONNWARDEN_RUNDIR=$T/runroot/${service_env#CONNWARDEN_RUNDIR=/run/}
host peer $PY "$HOSTSRC/abandon_peer.py" --max-secs 60
wait_for 5 grep -q listening "$T/peer.out"
host app env LD_PRELOAD="$CW_PRELOAD" CONNWARDEN_ABANDON_AFTER=1s $PY "$HOSTSRC/abandon_client.py" \
  "$(jq_py "$(head -1 "$T/peer.out")" 'j["listening"]')"
wait_for 5 grep -q ready "$T/app.out"
tell app "open stream stream"
wait_for 5 grep -q '"opened": "stream"' "$T/app.out"
wait_for 5 test -S "$CONNWARDEN_RUNDIR/$PID_app.sock"

# Kubernetes: the exec probe's argv, as the kubelet runs it
mapfile -t probe < <($PY -c 'import sys, yaml
p = yaml.safe_load(open(sys.argv[1]))["livenessProbe"]
assert all(isinstance(p[k], int) for k in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")), p
print("\n".join(p["exec"]["command"]))' "$probe_yaml")
assert_eq "${probe[*]}" "connwarden check --all" "the probe's command"
kubelet() { RC=0; OUT=$(in_sight "${probe[@]}" 2>&1) || RC=$?; }

# Docker: HEALTHCHECK [OPTIONS] CMD command, the shell form
line=$(cat "$docker_line")
[[ $line =~ ^HEALTHCHECK\ (--[a-z-]+=[0-9]+s?\ )+CMD\ (.+)$ ]] || fail "HEALTHCHECK line: $line"
docker_cmd=${BASH_REMATCH[2]}
docker() { RC=0; OUT=$(in_sight /bin/sh -c "$docker_cmd" 2>&1) || RC=$?; }

# systemd: the units, verified, and the check service's ExecStart=
mkdir -p "$T/units"
awk -v d="$T/units" '/^# \/etc\/systemd\/system\// {n = split($2, p, "/"); f = d "/" p[n]; next} f {print > f}' "$units"
[ -s "$T/units/myapp-health.service" ] && [ -s "$T/units/myapp-health.timer" ] || fail "the units: $(ls "$T/units")"
cat >"$T/units/myapp.service" <<EOF
[Service]
ExecStart=$PY -c 'import time; time.sleep(60)'
EOF
if command -v systemd-analyze >/dev/null; then
  rc=0
  (cd "$T/units" && systemd-analyze verify myapp-health.service myapp-health.timer myapp.service) >"$T/verify.out" 2>&1 || rc=$?
  assert_eq "$rc:$(grep -i 'myapp-health' "$T/verify.out" || true)" "0:" "systemd-analyze verify: $(cat "$T/verify.out")"
else
  note "systemd-analyze is not installed: the units are not verified"
fi
exec_start=$(sed -n 's/^ExecStart=//p' "$T/units/myapp-health.service")
[[ $exec_start =~ ^/bin/sh\ -c\ \'(.*)\'$ ]] || fail "ExecStart=: $exec_start"
unit_cmd=${BASH_REMATCH[1]//\/usr\/local\/bin\/connwarden/connwarden}
assert_eq "$unit_cmd" "connwarden check --all || systemctl restart myapp.service" "the check service's command"
timer() { RC=0; OUT=$(in_sight /bin/sh -c "$unit_cmd" 2>&1) || RC=$?; }

# 1. Healthy: every recipe passes, nothing restarted.
kubelet
assert_eq "$RC:$OUT" "0:pid $PID_app (python3): healthy" "the probe, healthy"
docker
assert_eq "$RC:$OUT" "0:pid $PID_app (python3): healthy" "the HEALTHCHECK, healthy"
timer
assert_eq "$RC:$OUT" "0:pid $PID_app (python3): healthy" "the timer's check, healthy"
[ ! -e "$T/systemctl.calls" ] || fail "a healthy service was restarted: $(cat "$T/systemctl.calls")"

# 2. The program stops reading its stream: every recipe fails it, the timer restarts the service.
tell app "stop stream"
abandoned() { [ "$(jq_py "$(query "$CONNWARDEN_RUNDIR/$PID_app.sock" stats)" 'j["abandoned_now"]')" = 1 ]; }
wait_for 4 abandoned
kubelet
assert_eq "$RC" 1 "the probe, abandoned"
assert_contains "$OUT" "pid $PID_app (python3): 1 connection abandoned: fd " "the probe's line"
docker
assert_eq "$RC" 1 "the HEALTHCHECK, abandoned"
timer
assert_eq "$RC" 0 "the timer's command, once it restarted the service"
assert_eq "$(cat "$T/systemctl.calls")" "restart myapp.service" "what the timer's command asked of systemctl"

# 3. Nothing to ask (the program is gone): the probe says 2, the HEALTHCHECK 1, never Docker's 2.
kill -9 "$PID_app"
wait_for 5 sh -c "! kill -0 $PID_app 2>/dev/null"
kubelet
assert_eq "$RC" 2 "the probe with no shimmed process"
docker
assert_eq "$RC" 1 "the HEALTHCHECK with no shimmed process"
