# A prefork program: 4 workers, each making 5 connects one after another and holding each for
# 150 ms, 20 in all to one counting server. Per process, --max-conns 2 lets the server see all 4 at
# once; with --cap-scope tree the server never sees more than 2, every connect succeeds, and the
# waits are first come first served across the workers: a connect that began waiting (its
# worker's clock, 10 ms ahead) before another got its slot no later. The tree's stats count all
# 20. Host: tests/hosts/tree_workers.c; server: tests/hosts/cap_count_server.py.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
HOST=$HOSTS/tree_workers
[ -x "$HOST" ] || fail "build it first: make build/hosts/tree_workers"

run_workers() { # NAME SCOPE
  server "$1"
  "${CW_ENV[@]}" "$CW" run --max-conns 2 --queue-timeout 30s --cap-scope "$2" -- "$HOST" "$PORT" 4 5 150 20 \
    >"$T/$1.out" 2>"$T/$1.err" || fail "$1: tree_workers failed: $(cat "$T/$1.out" "$T/$1.err")"
  assert_contains "$(cat "$T/$1.out")" "done bad=0" "$1: every worker ended well"
  assert_eq "$(grep -c '^connect .* 0$' "$T/$1.out")" 20 "$1: connects that succeeded"
}

run_workers process process
expect_served process "0 4 20"

run_workers tree tree
expect_served tree "0 2 20"

# first come, first served: of two connects that both waited, the one that began waiting 10 ms
# before the other got through no later than it (2 ms for the clocks of two processes to read)
$PY - "$T/tree.out" <<'PY' || fail "the queue was not first come, first served across workers"
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("connect ")]
c = [(int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]
waited = [x for x in c if x[3] - x[2] > 20_000_000]
assert len(waited) >= 6, f"only {len(waited)} connects waited: the load did not queue"
bad = [(a, b) for a in waited for b in waited
       if a[2] + 10_000_000 < b[2] and a[3] > b[3] + 2_000_000]
for a, b in bad[:5]:
    print(f"worker {a[0]} connect {a[1]} began waiting {(b[2]-a[2])/1e6:.1f} ms before worker {b[0]} connect {b[1]}"
          f" but got through {(a[3]-b[3])/1e6:.1f} ms after it", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
note "tree: $(grep -c '^connect' "$T/tree.out") connects, peak 2 at the server, first come first served"
