# exec keeps a process's membership in its tree; what the exec closes goes back. A member at
# --max-conns 1 queues a non-blocking connect behind another member's connection and execs (the
# socket is close-on-exec). The new image connects while the other member still holds the slot:
# its connect queues (the exec closed the old image's black hole, a new one is made), and when
# the other member closes 0.5 s later the slot goes to it, not to the closed socket's wait. It then execs with its connection open
# (close-on-exec too): the next image connects at once as well. Afterwards the tree file is gone.
# Host: tests/hosts/tree_exec_closes.py; server: tests/hosts/cap_count_server.py.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"

server up
"${CW_ENV[@]}" "$CW" run --cap-scope tree --max-conns 1 --queue-timeout 3s -- $PY "$HOSTSRC/tree_exec_closes.py" "$PORT" start \
  >"$T/out" 2>"$T/err" || fail "tree_exec failed: $(cat "$T/out" "$T/err")"
assert_contains "$(cat "$T/out")" '{"stage": "start", "queued": true}' "the connect queued behind the holder"
assert_contains "$(cat "$T/out")" '{"stage": "queued", "connected": true' "after exec, with a queued connect closed by it"
assert_contains "$(cat "$T/out")" '{"stage": "held", "connected": true' "after exec, with a connection closed by it"
$PY - "$T/out" <<'PY' || fail "a connect after exec waited for a slot nobody held, or did not wait for one: $(cat "$T/out")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"connected"' in l]
sys.exit(0 if all((0.4 < r["secs"] < 1.5) if r["stage"] == "queued" else r["secs"] < 1 for r in rows) else 1)
PY
assert_eq "$(ls "$CONNWARDEN_RUNDIR" | grep -c '^tree-' || true)" 0 "tree files left"
expect_served up "0 1 3"
