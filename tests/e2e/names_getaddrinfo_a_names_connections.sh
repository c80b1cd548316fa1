# getaddrinfo_a (tests/hosts/names_gai_async.c): a name resolved in the C library's own resolver
# thread names the connection made by its answer, whether the program waited for it (GAI_WAIT:
# learned as getaddrinfo_a returns) or polled gai_error for it (GAI_NOWAIT: learned when
# gai_error reports it done). One process each, so that neither learns from the other.
. "$(dirname "$0")/lib.bash"
[ -x "$HOSTS/names_gai_async" ] || fail "build it first: make $HOSTS/names_gai_async"
for how in wait poll; do
  host "$how" env LD_PRELOAD="$CW_PRELOAD" "$HOSTS/names_gai_async" "$how"
  wait_for 10 grep -q connected "$T/$how.out"
  wait_for 5 test -S "$(sock_of "$HPID")"
  assert_eq "$(jq_py "$(query "$(sock_of "$HPID")" conns)" '[c.get("host") for c in j if c["dir"] == "out"]')" \
    "['localhost']" "$how: the connection made by getaddrinfo_a's answer"
done
