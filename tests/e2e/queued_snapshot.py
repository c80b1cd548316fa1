"""queued_snapshot.py STATUS SOCKET OPEN QUEUED SECS - a cap test's look at a client while its
connects wait: poll (every 5 ms, for at most SECS) until the counting server's STATUS shows OPEN
connections open and the shimmed client at SOCKET at least QUEUED connects queued, then ask the
client at once for conns, stats and metrics and print {"conns": [...], "stats": {...}, "metrics":
"..."}. Exits 1 on timeout, with the last counts seen. One process asks within milliseconds of that
moment, where the shell's queries (a Python process each) can miss a wave of answers on a busy
machine."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cwq import ask  # noqa: E402

status, sock = sys.argv[1], sys.argv[2]
want_open, want_queued, secs = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
deadline = time.monotonic() + secs
seen = (None, None)
while time.monotonic() < deadline:
    try:
        with open(status) as f:
            open_now = json.load(f)["current"]
        queued = json.loads(ask(sock, "stats"))["queued"] if open_now == want_open else None
    except (OSError, ValueError):  # the client's socket is not there yet
        open_now = queued = None
    seen = (open_now, queued)
    if queued is not None and queued >= want_queued:
        snap = {"conns": json.loads(ask(sock, "conns")), "stats": json.loads(ask(sock, "stats")),
                "metrics": ask(sock, "metrics")}
        print(json.dumps(snap))
        sys.exit(0)
    time.sleep(0.005)
sys.exit(f"after {secs} s: {seen[0]} open (waiting for {want_open}), {seen[1]} queued (for {want_queued})")
