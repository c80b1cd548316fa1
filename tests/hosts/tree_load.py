"""tree_load.py PORT N MS [--slack MS] - N requests at once (a thread each, started together, a new
connection each) for GET /up?ms=MS of tests/hosts/tree_app.py on 127.0.0.1:PORT. Prints one JSON
line per request (the app's reply with "i", or {"i", "error"}), then a summary: "requests", "ok"
(HTTP 200 with the upstream's 200 and its 100 bytes), "pids" (the workers that answered),
"waited" (the connects that took over 20 ms) and "unfair": pairs of waited connects where one
began over SLACK ms (default 20) before the other (the apps' clocks are one clock) yet was
connected over SLACK ms after it. First come, first served means no such pair; the slack is the
scheduling noise of Python processes on a busy machine, while a connect served out of turn here
comes a whole upstream hold (MS) late."""
import argparse
import http.client
import json
import threading

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("n", type=int)
ap.add_argument("ms", type=int)
ap.add_argument("--slack", type=float, default=20)
args = ap.parse_args()

results = [None] * args.n
go = threading.Barrier(args.n)


def one(i):
    go.wait()
    try:
        c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=45)
        c.request("GET", "/up?ms=%d" % args.ms)
        r = c.getresponse()
        body = r.read()
        c.close()
        results[i] = dict(json.loads(body), i=i) if r.status == 200 else {"i": i, "error": "HTTP %d" % r.status}
    except Exception as e:  # a worker killed under its request: reset, or no answer
        results[i] = {"i": i, "error": repr(e)}


threads = [threading.Thread(target=one, args=(i,)) for i in range(args.n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for r in results:
    print(json.dumps(r))

ok = [r for r in results if "error" not in r and r["status"] == 200 and r["size"] == 100]
waited = [r for r in ok if r["got"] - r["start"] > 20_000_000]
slack = int(args.slack * 1_000_000)
unfair = [
    "pid %d began %.1f ms before pid %d but was connected %.1f ms after it"
    % (a["pid"], (b["start"] - a["start"]) / 1e6, b["pid"], (a["got"] - b["got"]) / 1e6)
    for a in waited for b in waited
    if a["start"] + slack < b["start"] and a["got"] > b["got"] + slack
]
print(json.dumps({"requests": args.n, "ok": len(ok), "pids": sorted({r["pid"] for r in ok}),
                  "waited": len(waited), "unfair": unfair}))
