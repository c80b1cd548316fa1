# A process tree whose shared file cannot be used runs with per-process caps, after one line that
# says why: a corrupt file, one from another version of connwarden, one of another user, a full
# disk and a read-only run directory. The program is never stopped: its 2 workers each connect
# once under --max-conns 1, and the server sees both at once (per process), where a working tree
# lets 1 through at a time. The disk cases run in a mount namespace of their own (unshare -m).
# Host: tests/hosts/tree_workers.c; server: tests/hosts/cap_count_server.py.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
HOST=$HOSTS/tree_workers
[ -x "$HOST" ] || fail "build it first: make build/hosts/tree_workers"

# workers NAME PEAK [WRAPPER...]: 2 workers, 1 connect each held 400 ms, under a tree cap of 1
workers() {
  local name=$1 peak=$2
  shift 2
  server "$name"
  "$@" "${CW_ENV[@]}" "$CW" run --cap-scope tree --max-conns 1 --queue-timeout 10s -- "$HOST" "$PORT" 2 1 400 \
    >"$T/$name.out" 2>"$T/$name.err" || fail "$name: the program failed: $(cat "$T/$name.out" "$T/$name.err")"
  assert_contains "$(cat "$T/$name.out")" "done bad=0" "$name: both workers ended well"
  expect_served "$name" "0 $peak 2"
}
# problem NAME "WHAT THE LINE SAYS": exactly one line about the tree, saying that
problem() {
  local lines
  lines=$(grep 'process tree' "$T/$1.err" || true)
  assert_eq "$(grep -c . <<<"$lines")" 1 "$1: lines about the tree ($(cat "$T/$1.err"))"
  assert_contains "$lines" "$2" "$1: the line"
  assert_contains "$lines" "caps are per process" "$1: the line says what happens"
  note "$1: $lines"
}

workers working 1
assert_eq "$(grep -c 'process tree' "$T/working.err" || true)" 0 "working tree: lines about the tree"

head -c 5000 /dev/urandom >"$T/corrupt.shm"
chmod 600 "$T/corrupt.shm"
workers corrupt 2 env CONNWARDEN_TREE="$T/corrupt.shm"
problem corrupt "is not a connwarden tree"

# a file of another version: the right magic, format 99
$PY -c 'import struct,sys; open(sys.argv[1], "wb").write(struct.pack("<QI", 0x636f6e6e74726565, 99) + bytes(4084))' "$T/other.shm"
chmod 600 "$T/other.shm"
workers version 2 env CONNWARDEN_TREE="$T/other.shm"
problem version "another version of connwarden (format 99"

cp "$T/other.shm" "$T/theirs.shm"
chown nobody "$T/theirs.shm"
workers owner 2 env CONNWARDEN_TREE="$T/theirs.shm"
problem owner "belongs to uid $(id -u nobody)"

mkdir -p "$T/full" "$T/ro"
workers full 2 unshare -m sh -c 'mount -t tmpfs -o size=64k,mode=0700 tmpfs "$0" && CONNWARDEN_RUNDIR="$0" exec "$@"' "$T/full"
problem full "No space left on device"
workers readonly 2 unshare -m sh -c 'mount -t tmpfs -o size=4m,mode=0700 tmpfs "$0" && mount -o remount,ro "$0" && CONNWARDEN_RUNDIR="$0" exec "$@"' "$T/ro"
problem readonly "Read-only file system"
