# A fork child of a shimmed process that never started a stats server keeps every fd it was
# given: `timeout` forks and execs its command, which must still read its stdin.
. "$(dirname "$0")/lib.bash"

plain=$(printf 'line one\nline two\n' | timeout 5 cat)
shim=$(printf 'line one\nline two\n' | LD_PRELOAD=$CW_PRELOAD timeout 5 cat)
assert_eq "$shim" "$plain" "stdin through a shimmed fork child"

# and its open fds are the same ones (names of 0, 1, 2 and an extra fd 5)
fds() { ls -l /proc/self/fd/ | awk '$9 ~ /^[0125]$/ {print $9, $11}' | sed 's|pipe:\[[0-9]*\]|pipe|'; }
export -f fds
plain=$(timeout 5 bash -c fds 5</dev/null </dev/null)
shim=$(LD_PRELOAD=$CW_PRELOAD timeout 5 bash -c fds 5</dev/null </dev/null)
assert_eq "$shim" "$plain" "fds of a shimmed fork child"
