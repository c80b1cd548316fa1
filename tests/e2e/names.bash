# names.bash - host names of the tests' own for the destination-by-name tests, from Debian's
# libnss-wrapper: a hosts file in $T read through NSS_WRAPPER_HOSTS, so that nothing on the
# machine changes. One name, api.cw.test, has three addresses (NAME_ADDRS); other.cw.test has one;
# secure.cw.test is for TLS (never in the file: reached by address, named by SNI). Source after
# lib.bash (and count_server.bash when used).

NSS_WRAPPER_LIB=$(ls /usr/lib/*/libnss_wrapper.so 2>/dev/null | head -1)
[ -n "$NSS_WRAPPER_LIB" ] || fail "libnss-wrapper is not installed (scripts/deps installs it)"
NAME=api.cw.test
NAME_ADDRS=127.0.0.2,127.0.0.3,127.0.0.4
cat >"$T/hosts" <<EOF
127.0.0.2 api.cw.test
127.0.0.3 api.cw.test
127.0.0.4 api.cw.test
127.0.0.5 other.cw.test
EOF
# NAME_WARM: what a program that resolves in several threads at once should resolve first.
# nss_wrapper 1.1.12 (Debian 12's) loads its hosts file at the first lookup without a lock: threads
# whose lookups are the first may fail (EAI_NONAME) or crash, with or without the shim. Not
# api.cw.test, so that what the shim knows of that name comes from the program's own lookups.
NAME_WARM=other.cw.test

# named CMD...: CMD with the test's names and without the shim (a server, a proxy)
named() { LD_PRELOAD=$CW_FIRST$NSS_WRAPPER_LIB NSS_WRAPPER_HOSTS="$T/hosts" "$@"; }
# named_shimmed CMD...: CMD with the test's names, under the shim (the library first)
named_shimmed() { LD_PRELOAD=$CW_PRELOAD:$NSS_WRAPPER_LIB NSS_WRAPPER_HOSTS="$T/hosts" "$@"; }
# named_run [RUN-OPTION...] -- CMD...: `connwarden run` with the test's names (run puts the library
# ahead of the wrapper); `bg "${NAMED_RUN[@]}" ...` is the same in the background, with CMD's own PID
# in BG_PID (run execs it)
NAMED_RUN=(env LD_PRELOAD="$CW_FIRST$NSS_WRAPPER_LIB" NSS_WRAPPER_HOSTS="$T/hosts" "$CW" run)
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
