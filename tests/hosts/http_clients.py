"""http_clients.py MODE [--host H] --port P --n N [--timeout T] [--bursts B --pause S]
[--size BYTES] [--slow K] [--warm NAME] --release FILE - real Python HTTP clients for the cap
tests, against cap_count_server.py --http on H:P (H: 127.0.0.1 unless named; a name the client
resolves). Each burst issues N concurrent GETs and waits for all of them; bursts are PAUSE seconds
apart. Every body is checked byte for byte against what the server sends for ?size=BYTES.
MODE, one connection per request (a thread each): httpclient (http.client), urllib (urllib.request),
requests (requests.get), urllib3 (a shared default urllib3.PoolManager); one event loop, a
connection per request (asyncio.open_connection): asyncio, uvloop; one shared pool of 20
connections, a thread per request: session (requests.Session with HTTPAdapter(pool_connections=1,
pool_maxsize=20)), poolmanager (urllib3.PoolManager(maxsize=20)), httpx (httpx.Client with limits of
20). --timeout T passes timeout=T to the library. --slow K: in the first burst the first K requests
ask for an answer that takes 3 s and 300000 bytes, and the others start 0.3 s later. --warm NAME:
resolve NAME once before the first request (names.bash says why). Prints {"pid": ...} first, one
JSON line per burst, then one result line, and stays alive until FILE exists (at most 20 s) so its
stats can be read. Runs the same with or without the preload."""
import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["httpclient", "urllib", "requests", "urllib3", "asyncio", "uvloop",
                                 "session", "poolmanager", "httpx"])
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--timeout", type=float, default=None)
ap.add_argument("--bursts", type=int, default=1)
ap.add_argument("--pause", type=float, default=0)
ap.add_argument("--size", type=int, default=1000)
ap.add_argument("--slow", type=int, default=0)
ap.add_argument("--warm", metavar="NAME")
ap.add_argument("--release", required=True)
args = ap.parse_args()

BASE = f"http://{args.host}:{args.port}"
PATTERN = b"abcdefghijklmnopqrstuvwxyz\n"
SLOW = "ms=3000&size=300000"
POOL = 20


def say(**fields):
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


def expected(path):
    size = int(path.rsplit("size=", 1)[1].split("&")[0])
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


kw = {} if args.timeout is None else {"timeout": args.timeout}
fetch = None  # path -> body, for the thread modes

if args.mode == "httpclient":
    import http.client

    def fetch(path):
        c = http.client.HTTPConnection(args.host, args.port, **kw)
        try:
            c.request("GET", path)
            return c.getresponse().read()
        finally:
            c.close()
elif args.mode == "urllib":
    import urllib.request

    def fetch(path):
        with urllib.request.urlopen(BASE + path, **kw) as r:
            return r.read()
elif args.mode in ("requests", "session"):
    import requests
    import requests.adapters

    if args.mode == "requests":
        get = requests.get
    else:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=POOL))
        get = session.get

    def fetch(path):
        r = get(BASE + path, **kw)
        r.raise_for_status()
        return r.content
elif args.mode in ("urllib3", "poolmanager"):
    import urllib3

    pm = urllib3.PoolManager() if args.mode == "urllib3" else urllib3.PoolManager(maxsize=POOL)

    def fetch(path):
        return pm.request("GET", BASE + path, **kw).data
elif args.mode == "httpx":
    import httpx

    client = httpx.Client(limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL), **kw)

    def fetch(path):
        r = client.get(BASE + path)
        r.raise_for_status()
        return r.content


class Burst:
    """Outcomes of one burst: successes, failures by exception name, and a few details."""

    def __init__(self):
        self.mu = threading.Lock()
        self.ok, self.errors, self.detail = 0, {}, {}

    def one(self, path, get):
        try:
            body = get(path)
            if body != expected(path):
                raise ValueError(f"body of {len(body)} bytes differs from the {len(expected(path))} sent")
        except Exception as e:  # every failure is reported, none escapes
            with self.mu:
                name = type(e).__name__
                self.errors[name] = self.errors.get(name, 0) + 1
                what = repr(e)[:200]
                self.detail[what] = self.detail.get(what, 0) + 1
            return
        with self.mu:
            self.ok += 1


def paths(b):
    """The burst's request paths, and how many of them start at once (the rest 0.3 s later)."""
    ps = [f"/b{b}r{i}?size={args.size}" for i in range(args.n)]
    lead = 0
    if b == 0 and args.slow:
        lead = args.slow
        ps[:lead] = [f"/b{b}slow{i}?{SLOW}" for i in range(lead)]
    return ps, lead


def burst_threads(b, res):
    ps, lead = paths(b)
    ts = [threading.Thread(target=res.one, args=(p, fetch)) for p in ps]
    for i, t in enumerate(ts):
        if lead and i == lead:
            time.sleep(0.3)
        t.start()
    for t in ts:
        t.join(40)


async def fetch_async(path):
    r, w = await asyncio.open_connection(args.host, args.port)
    try:
        w.write(f"GET {path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\nConnection: close\r\n\r\n".encode())
        await w.drain()
        data = await r.read()  # to EOF: the server closes after the answer
    finally:
        w.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"bad answer: {head[:40]!r}")
    return body


async def burst_loop(b, res):
    async def one(path):
        try:
            body = await fetch_async(path)
            if body != expected(path):
                raise ValueError(f"body of {len(body)} bytes differs")
        except Exception as e:
            res.errors[type(e).__name__] = res.errors.get(type(e).__name__, 0) + 1
            res.detail[repr(e)[:200]] = res.detail.get(repr(e)[:200], 0) + 1
            return
        res.ok += 1

    ps, _ = paths(b)
    await asyncio.wait_for(asyncio.gather(*(one(p) for p in ps)), 40)


say(pid=os.getpid(), mode=args.mode)
if args.warm:
    socket.getaddrinfo(args.warm, None)
if args.mode == "uvloop":
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
results = []
for b in range(args.bursts):
    if b:
        time.sleep(args.pause)
    res = Burst()
    t0 = time.monotonic()
    if fetch:
        burst_threads(b, res)
    else:
        asyncio.run(burst_loop(b, res))
    secs = round(time.monotonic() - t0, 3)
    say(burst=b, ok=res.ok, errors=res.errors, secs=secs)
    results.append((res, secs))
say(ok=sum(r.ok for r, _ in results), requests=args.n * args.bursts,
    errors={k: sum(r.errors.get(k, 0) for r, _ in results) for r, _ in results for k in r.errors},
    detail={k: v for r, _ in results for k, v in r.detail.items()}, secs=[s for _, s in results],
    mode=args.mode)

deadline = time.monotonic() + 20
while not os.path.exists(args.release) and time.monotonic() < deadline:
    time.sleep(0.02)
