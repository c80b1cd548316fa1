# The README's systemd drop-in (tests/hosts/guide_systemd_dropin.conf, the README's block word for
# word). systemd cannot run services here, so this checks what can be checked without it:
# systemd-analyze verify accepts the unit with the drop-in without a warning, and its parse of
# the unit (its debug dump) gives the environment and runtime directory the service would get;
# the service's command then runs with exactly that environment, the library path taken from a
# `make install DESTDIR=...` tree and /run/ standing for the test's own directory, the runtime
# directory made as systemd would (its mode from the parse). The service is tracked with the
# drop-in's settings, and the README's `connwarden ls` line finds it. Without systemd-analyze the
# drop-in's lines are parsed by this test instead (it says so).
. "$(dirname "$0")/lib.bash"
dropin=$HOSTSRC/guide_systemd_dropin.conf

readme_block() { # HEADING: the first fenced block under it in the README
  awk -v h="$1" '$0 == h {s = 1; next} s && /^```/ {if (c) exit; c = 1; next} c {print}' "$ROOT/README.md"
}
assert_eq "$(readme_block '### systemd')" "$(cat "$dropin")" "the README's drop-in is the tested one"
readme=$(sed -n '/^### systemd$/,/^### /p' "$ROOT/README.md")
assert_contains "$readme" "sudo CONNWARDEN_RUNDIR=/run/myapp-connwarden connwarden ls" "the README's ls line"

stage=$T/stage
make -s -C "$ROOT" install DESTDIR="$stage" PREFIX=/usr/local >"$T/make.log" 2>&1 ||
  fail "make install: $(cat "$T/make.log")"

cat >"$T/host.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname()); s = l.accept()[0]
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
mkdir -p "$T/units/myapp.service.d"
cat >"$T/units/myapp.service" <<EOF
[Unit]
Description=the guide's service

[Service]
ExecStart=$PY $T/host.py $T/ready
EOF
cp "$dropin" "$T/units/myapp.service.d/connwarden.conf"

# what systemd would give the service: Environment= and RuntimeDirectory[Mode]= as it parses them
if command -v systemd-analyze >/dev/null; then
  rc=0
  systemd-analyze verify "$T/units/myapp.service" >"$T/verify.out" 2>&1 || rc=$?
  assert_eq "$rc" 0 "systemd-analyze verify: $(cat "$T/verify.out")"
  assert_not_contains "$(cat "$T/verify.out")" "connwarden.conf" "no warning about the drop-in"
  SYSTEMD_LOG_LEVEL=debug systemd-analyze verify "$T/units/myapp.service" >"$T/dump" 2>&1 || true
  unit=$(sed -n '/-> Unit myapp.service:/,/-> Unit /p' "$T/dump")
  assert_contains "$unit" "DropIn Path: $T/units/myapp.service.d/connwarden.conf" "systemd read the drop-in"
  field() { sed -n "s/^[[:space:]]*$1: //p" <<<"$unit"; }
  env_lines=$(field Environment)
  rt_dir=$(field RuntimeDirectory)
  rt_mode=$(field RuntimeDirectoryMode)
else
  note "systemd-analyze is not installed: the drop-in is parsed by this test, not by systemd"
  parsed=$($PY - "$dropin" <<'PYEOF'
import shlex, sys
env, rt = [], {"RuntimeDirectoryMode": "0755"}
for line in open(sys.argv[1]):
    key, _, value = line.strip().partition("=")
    if key == "Environment":
        env += [w.replace("%t", "/run") for w in shlex.split(value)]
    elif key in ("RuntimeDirectory", "RuntimeDirectoryMode"):
        rt[key] = value
print("\n".join(env)); print("@" + rt.get("RuntimeDirectory", "")); print("@" + rt["RuntimeDirectoryMode"])
PYEOF
)
  env_lines=$(grep -v '^@' <<<"$parsed")
  rt_dir=$(grep '^@' <<<"$parsed" | sed -n '1s/^@//p')
  rt_mode=$(grep '^@' <<<"$parsed" | sed -n '2s/^@//p')
fi
assert_eq "$(cut -d= -f1 <<<"$env_lines" | tr '\n' ' ')" "LD_PRELOAD CONNWARDEN_IDLE_TIMEOUT CONNWARDEN_MAX_CONNS CONNWARDEN_RUNDIR " "the variables the service gets"
assert_eq "$rt_dir" myapp-connwarden "the runtime directory"
assert_eq "$rt_mode" 0700 "its mode: private, as the library requires"

# run the service's command with that environment: /usr/local/ from the staged install, /run/
# under the test's directory, the runtime directory made as systemd would make it
runroot=$T/runroot
mkdir -p "$runroot"
install -d -m "$rt_mode" "$runroot/$rt_dir"
mapfile -t vars < <(sed -e "s|=/usr/local/|=$stage/usr/local/|" -e "s|=/run/|=$runroot/|" <<<"$env_lines")
lib=$(sed -n 's/^LD_PRELOAD=//p' <<<"$env_lines")
[ -f "$stage$lib" ] || fail "the drop-in's library $lib is not where make install puts it"
bg env -i PATH=/usr/bin:/bin "${vars[@]}" $PY "$T/host.py" "$T/ready"
svc=$BG_PID
wait_for 5 test -s "$T/ready"
rundir=$runroot/$rt_dir
wait_for 5 test -S "$rundir/$svc.sock"
cfg=$(query "$rundir/$svc.sock" config)
assert_eq "$(jq_py "$cfg" '(j["idle_timeout_ms"], j["max_conns"], j["stats"])')" "(30000, 64, '$rundir/$svc.sock')" "the service runs with the drop-in's settings"
assert_eq "$(jq_py "$(query "$rundir/$svc.sock" stats)" '(j["active"]["in"], j["active"]["out"])')" "(1, 1)" "its connections are tracked"
# the README's ls line, /run/ mapped as above
out=$(CONNWARDEN_RUNDIR=$runroot/myapp-connwarden "$CW" ls)
grep -qE "^ *$svc +python3 +2 " <<<"$out" || fail "ls with the README's run directory: $out"

# the same command without the drop-in's environment is not tracked
bg env -i PATH=/usr/bin:/bin $PY "$T/host.py" "$T/ready.plain"
wait_for 5 test -s "$T/ready.plain"
! grep -q connwarden "/proc/$BG_PID/maps" || fail "the library is loaded without the drop-in"
