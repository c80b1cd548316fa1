# The resolver where the shim must change nothing (tests/hosts/names_unsafe_places.c, answered by
# tests/hosts/preload_fakedns.so): a vfork child's resolution teaches its parent no name (the
# child shares the parent's memory), so the parent's later connection to that address has none;
# a SIGALRM handler resolving every 200 us, interrupting the main thread's own resolutions
# (inside the shim's wrapper, its lock held, most of the time), never hangs and every answer is
# right, as without the shim.
. "$(dirname "$0")/lib.bash"
FAKE=$HOSTS/preload_fakedns.so
[ -x "$HOSTS/names_unsafe_places" ] && [ -f "$FAKE" ] || fail "build them first: make $HOSTS/names_unsafe_places $FAKE"

host child env LD_PRELOAD="$CW_PRELOAD:$FAKE" "$HOSTS/names_unsafe_places" vfork
wait_for 10 grep -q "vfork connected" "$T/child.out"
wait_for 5 test -S "$(sock_of "$HPID")"
assert_eq "$(jq_py "$(query "$(sock_of "$HPID")" conns)" '[(c["dir"], c.get("host")) for c in j if c["dir"] == "out"]')" \
  "[('out', None)]" "the parent's connection, after its vfork child resolved a name for that address"

for how in plain shim; do
  pre=$FAKE
  [ $how = shim ] && pre=$CW_PRELOAD:$FAKE
  host "sig$how" env LD_PRELOAD="$pre" "$HOSTS/names_unsafe_places" signal 2
  wait_for 30 grep -q handler_calls "$T/sig$how.out"
  line=$(head -1 "$T/sig$how.out")
  assert_eq "$(jq_py "$line" 'j["wrong"]')" 0 "$how: wrong answers"
  [ "$(jq_py "$line" 'j["handler_calls"]')" -ge 100 ] || fail "$how: the handler hardly ran: $line"
  note "$how: $line"
done
