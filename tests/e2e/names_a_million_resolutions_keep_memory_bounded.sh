# A program that resolves a million distinct names (tests/hosts/names_million.c, answered by
# tests/hosts/preload_fakedns.so in seconds) keeps a bounded map of names: its resident memory
# grows by less than 1 MiB between the 20,000th name and the millionth (the map keeps 4,096), and
# the name it resolves last still names the connection it then opens.
. "$(dirname "$0")/lib.bash"
FAKE=$HOSTS/preload_fakedns.so
[ -x "$HOSTS/names_million" ] && [ -f "$FAKE" ] || fail "build them first: make $HOSTS/names_million $FAKE"

host million env LD_PRELOAD="$CW_PRELOAD:$FAKE" "$HOSTS/names_million" 1000000
wait_for 60 grep -q connected "$T/million.out"
line=$(head -1 "$T/million.out")
grown=$(jq_py "$line" 'j["rss_kb_end"] - j["rss_kb_20k"]')
[ "$grown" -lt 1024 ] || fail "resident memory grew by $grown KiB over a million names: $line"
wait_for 5 test -S "$(sock_of "$HPID")"
assert_eq "$(jq_py "$(query "$(sock_of "$HPID")" conns)" '[c.get("host") for c in j if c["dir"] == "out"]')" \
  "['final.fake.test']" "the connection to the last name resolved"
note "a million names: $line"
