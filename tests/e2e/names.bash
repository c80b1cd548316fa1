# names.bash - host names of the tests' own for the destination-by-name tests, from Debian's
# libnss-wrapper: a hosts file in $T read through NSS_WRAPPER_HOSTS, so that nothing on the
# machine changes. One name, api.cw.test, has three addresses (NAME_ADDRS); other.cw.test has one;
# proxy.cw.test is 127.0.0.1 (a proxy's own name); secure.cw.test is for TLS (never in the file:
# reached by address, named by SNI). Source after lib.bash (and count_server.bash when used).

NSS_WRAPPER_LIB=$(ls /usr/lib/*/libnss_wrapper.so 2>/dev/null | head -1)
[ -n "$NSS_WRAPPER_LIB" ] || fail "libnss-wrapper is not installed (scripts/deps installs it)"
NAME=api.cw.test
NAME_ADDRS=127.0.0.2,127.0.0.3,127.0.0.4
cat >"$T/hosts" <<EOF
127.0.0.2 api.cw.test
127.0.0.3 api.cw.test
127.0.0.4 api.cw.test
127.0.0.5 other.cw.test
127.0.0.1 proxy.cw.test
EOF
# NAME_WARM: what a program that resolves in several threads at once should resolve first.
# nss_wrapper 1.1.12 (Debian 12's) loads its hosts file at the first lookup without a lock: threads
# whose lookups are the first may fail (EAI_NONAME) or crash, with or without the shim. Not
# api.cw.test, so that what the shim knows of that name comes from the program's own lookups.
NAME_WARM=other.cw.test

# the wrapper's variables: its hosts file, and beside a sanitizer runtime no RTLD_DEEPBIND for the
# libc the wrapper opens (ThreadSanitizer's runtime refuses it and ends the program)
NSS_VARS=(NSS_WRAPPER_HOSTS="$T/hosts" ${CW_PRELOAD_PREFIX:+NSS_WRAPPER_DISABLE_DEEPBIND=1})
# named CMD...: CMD with the test's names and without the shim (a server, a proxy); `bg
# "${NAMED[@]}" CMD...` is the same in the background, with CMD's own PID in BG_PID
NAMED=(env LD_PRELOAD="$CW_FIRST$NSS_WRAPPER_LIB" "${NSS_VARS[@]}")
named() { "${NAMED[@]}" "$@"; }
# named_shimmed CMD...: CMD with the test's names, under the shim (the library first)
named_shimmed() { env LD_PRELOAD="$CW_PRELOAD:$NSS_WRAPPER_LIB" "${NSS_VARS[@]}" "$@"; }
# named_run [RUN-OPTION...] -- CMD...: `connwarden run` with the test's names (run puts the library
# ahead of the wrapper); `bg "${NAMED_RUN[@]}" ...` is the same in the background, with CMD's own PID
# in BG_PID (run execs it)
NAMED_RUN=("${NAMED[@]}" "$CW" run)
named_run() { "${NAMED_RUN[@]}" "$@"; }

# name_server NAME [OPTION...]: a counting server (count_server.bash) listening on every address
# of api.cw.test at one port, PORT
name_server() {
  local n=$1
  shift
  server "$n" --addresses "$NAME_ADDRS" "$@"
}
# addr_served NAME ADDR: that address's "current peak total" at the counting server NAME
addr_served() { served_port "$1" "$2"; }

# NAMING: a Python expression over a `conns` object c, what names it: (peer, host, host_port, via),
# None for a field left out
NAMING='(c["peer"], c.get("host"), c.get("host_port"), c.get("via"))'
# naming_of PID: the NAMING of PID's outbound connections, in a list
naming_of() { jq_py "$(query "$(sock_of "$1")" conns)" "[$NAMING for c in j if c['dir'] == 'out']"; }
# written_naming PID: the NAMING of PID's one outbound connection that has written (its first
# write, which may name it, is behind it); waits up to 5 s for there to be one
written_naming() {
  local deadline=$(($(date +%s%N) + 5000000000)) conns one
  while :; do
    conns=$(query "$(sock_of "$1")" conns 2>/dev/null) || conns=[]
    one=$(jq_py "$conns" "(lambda w: repr(w[0]) if len(w) == 1 else '')([$NAMING for c in j if c['dir'] == 'out' and c['bytes_out']])")
    [ -n "$one" ] && break
    [ "$(date +%s%N)" -lt "$deadline" ] || fail "pid $1: not one outbound connection that has written: $conns"
    sleep 0.05
  done
  echo "$one"
}
# dests_of PID: PID's stats destinations as sorted (dest, peer, active, opened)
dests_of() { stat_of "$1" 'sorted((d["dest"], d["peer"], d["active"], d["opened"]) for d in j["destinations"])'; }
