# The README's Dockerfile lines (tests/hosts/guide_Dockerfile, the README's block word for word).
# Docker cannot run here, so this runs their equivalent in the shell and checks what they claim:
# the build stage's packages provide every header the build includes and are real Debian
# packages; its `make install PREFIX=/usr/local` (into a directory standing for the image) makes
# the file the final stage copies; that library needs nothing but the C library; the ENV line,
# parsed, preloads it into a program with the settings it names; and the extra packages the README
# gives for the command are the ones it links against.
. "$(dirname "$0")/lib.bash"
dockerfile=$HOSTSRC/guide_Dockerfile

readme_block() { # HEADING: the first fenced block under it in the README
  awk -v h="$1" '$0 == h {s = 1; next} s && /^```/ {if (c) exit; c = 1; next} c {print}' "$ROOT/README.md"
}
assert_eq "$(readme_block '### Docker')" "$(cat "$dockerfile")" "the README's Dockerfile is the tested one"
readme=$(sed -n '/^### Docker$/,/^## /p' "$ROOT/README.md")

# the build stage: its packages, against what the build includes
pkgs=$(sed -n 's/^RUN apt-get update && apt-get install -y --no-install-recommends //p' "$dockerfile")
[ -n "$pkgs" ] || fail "no apt-get install line in the build stage"
for p in $pkgs; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    apt-cache show "$p" >/dev/null 2>&1 || fail "$p is not a Debian package"
done
headers=$(cat "$ROOT"/shim/*.[ch] "$ROOT"/scripts/cli/*.[ch] | sed -n 's/^#include <\(.*\)>.*/\1/p' | sort -u)
paths=()
for h in $headers; do
  for d in /usr/include /usr/include/x86_64-linux-gnu /usr/include/aarch64-linux-gnu; do
    [ -e "$d/$h" ] && paths+=("$d/$h") && break
  done # not found: a header of gcc's own
done
[ "${#paths[@]}" -ge 10 ] || fail "headers found: ${paths[*]}"
for needed in jansson.h microhttpd.h uthash.h; do
  assert_contains "${paths[*]}" "/$needed" "the build includes <$needed>"
done
# one dpkg call: "package[, package]: path" per header
while IFS= read -r owner_line; do
  owner=${owner_line%%: *}
  case " $pkgs linux-libc-dev " in
  *" ${owner%%:*} "*) ;;
  *) fail "${owner_line#*: } comes from $owner, which the build stage does not install" ;;
  esac
done < <(dpkg -S "${paths[@]}" 2>/dev/null)
[ "$(dpkg -S "${paths[@]}" 2>/dev/null | wc -l)" = "${#paths[@]}" ] || fail "headers no package owns: ${paths[*]}"
for p in gcc make; do case " $pkgs " in *" $p "*) ;; *) fail "the build stage lacks $p" ;; esac; done

# RUN make -C /src/connwarden install PREFIX=/usr/local, with $T/build-stage as the stage's root
make_line=$(grep '^RUN make ' "$dockerfile")
assert_eq "$make_line" "RUN make -C /src/connwarden install PREFIX=/usr/local" "the build stage's make line"
make -s -C "$ROOT" install DESTDIR="$T/build-stage" PREFIX=/usr/local >"$T/make.log" 2>&1 ||
  fail "make install: $(cat "$T/make.log")"

# the final stage: COPY --from=connwarden SRC DST, into $T/image
copies=0
while read -r _ from src dst; do
  assert_eq "$from" "--from=connwarden" "COPY from the build stage"
  [ -f "$T/build-stage$src" ] || fail "the build stage has no $src"
  install -D -m 0644 "$T/build-stage$src" "$T/image$dst"
  copies=$((copies + 1))
done < <(grep '^COPY --from=' "$dockerfile")
assert_eq "$copies" 1 "one file copied"
lib=$T/image/usr/local/lib/connwarden/libconnwarden.so
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for n in $needed; do
  path=$(ldconfig -p | awk -v n="$n" '$1 == n && !p {print $NF; p = 1}')
  owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null)
  assert_eq "${owner%%:*}" libc6 "the library needs $n: only the C library"
done

# ENV: the pairs, as Docker splits them; /usr/local/ is the image's, the run directory the test's
env_line=$(sed -n 's/^ENV //p' "$dockerfile")
mapfile -t vars < <($PY -c 'import shlex, sys; print("\n".join(shlex.split(sys.argv[1])))' "$env_line")
assert_eq "$(printf '%s\n' "${vars[@]}" | cut -d= -f1 | tr '\n' ' ')" "LD_PRELOAD CONNWARDEN_IDLE_TIMEOUT CONNWARDEN_MAX_CONNS " "ENV's variables"
mapfile -t vars < <(printf '%s\n' "${vars[@]}" | sed "s|=/usr/local/|=$T/image/usr/local/|")
cat >"$T/app.py" <<'PYEOF'
import os, socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
c = socket.create_connection(l.getsockname())
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)
PYEOF
bg env -i PATH=/usr/bin:/bin CONNWARDEN_RUNDIR="$CONNWARDEN_RUNDIR" "${vars[@]}" $PY "$T/app.py" "$T/ready"
wait_for 5 test -s "$T/ready"
wait_for 5 test -S "$(sock_of "$BG_PID")"
assert_eq "$(jq_py "$(query "$(sock_of "$BG_PID")" config)" '(j["idle_timeout_ms"], j["max_conns"])')" "(30000, 64)" "the ENV settings"
assert_eq "$(stat_of "$BG_PID" 'j["active"]["out"]')" 1 "the program's connection is tracked"
grep -q "$T/image/usr/local/lib/connwarden/libconnwarden.so" "/proc/$BG_PID/maps" || fail "not the copied library"

# the command in the image: the README's packages are what it links against
assert_contains "$readme" "COPY --from=connwarden /usr/local/bin/connwarden /usr/local/bin/connwarden" "the README's COPY of the command"
extra=$(grep -E '^RUN .*apt-get install ' <<<"$readme" | tail -1 | sed 's/.*apt-get install //' | tr ' ' '\n' | grep -v '^-' | tr '\n' ' ' | sed 's/ $//')
assert_eq "$extra" "libjansson4 libmicrohttpd12" "the README's packages for the command"
[ -x "$T/build-stage/usr/local/bin/connwarden" ] || fail "the build stage has no /usr/local/bin/connwarden"
for n in $(readelf -d "$T/build-stage/usr/local/bin/connwarden" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  path=$(ldconfig -p | awk -v n="$n" '$1 == n && !p {print $NF; p = 1}')
  owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null)
  case " libc6 $extra " in
  *" ${owner%%:*} "*) ;;
  *) fail "the command needs $n from ${owner%%:*}, not among: libc6 $extra" ;;
  esac
done
