"""cap_clients.py MODE --port P [--port P2] --n N --hold H --release FILE - many concurrent
clients for the cap tests. Each connects to 127.0.0.1:P (N per port), sends "ping\\n", reads the
echo, holds the connection H seconds and closes it. MODE: threads (one blocking connect per
thread), asyncio or uvloop (all on one event loop), refuse (--n blocking connections, kept open,
then one non-blocking and one blocking connect more, each timed). Prints {"pid": ...} first,
{"issued": ...} once every connect has been started, then one JSON result line, and stays alive
until FILE exists (at most 20 s) so its stats can be read. Runs the same with or without the
preload."""
import argparse
import asyncio
import errno
import json
import os
import socket
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["threads", "asyncio", "uvloop", "refuse"])
ap.add_argument("--port", type=int, action="append", required=True)
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--hold", type=float, default=0.3)
ap.add_argument("--release", required=True)
args = ap.parse_args()


def say(**fields):
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else type(e).__name__


class Results:
    """Outcomes of every client: successes with their connect times, failures by errno name."""

    def __init__(self):
        self.mu = threading.Lock()
        self.ok, self.errors, self.ok_secs, self.fail_secs, self.exc = 0, {}, [], [], set()
        self.detail = {}  # "stage: repr" -> count, to tell failures apart

    def success(self, secs):
        with self.mu:
            self.ok += 1
            self.ok_secs.append(secs)

    def failure(self, e, secs, stage="connect"):
        with self.mu:
            what = f"{stage}: {e!r}"[:160]
            self.detail[what] = self.detail.get(what, 0) + 1
            name = errname(e)
            self.errors[name] = self.errors.get(name, 0) + 1
            self.fail_secs.append(secs)
            self.exc.add(type(e).__name__)

    def report(self, **extra):
        w = self.ok_secs + self.fail_secs
        say(ok=self.ok, errors=self.errors, exceptions=sorted(self.exc),
            connect_secs_sum=round(sum(w), 4), ok_secs_max=round(max(self.ok_secs, default=0), 4),
            fail_secs_min=round(min(self.fail_secs, default=0), 4),
            fail_secs_max=round(max(self.fail_secs, default=0), 4), detail=self.detail, **extra)


res = Results()
targets = [("127.0.0.1", p) for p in args.port for _ in range(args.n)]


def ping_blocking(s):
    s.sendall(b"ping\n")
    got = b""
    while len(got) < 5:
        chunk = s.recv(5 - len(got))
        if not chunk:
            raise ConnectionResetError(errno.ECONNRESET, "closed before the echo")
        got += chunk


def blocking_client(addr):
    s = socket.socket()
    t0 = time.monotonic()
    try:
        s.connect(addr)
    except OSError as e:
        res.failure(e, time.monotonic() - t0)
        s.close()
        return
    secs = time.monotonic() - t0
    try:
        ping_blocking(s)
        res.success(secs)
        time.sleep(args.hold)
    except OSError as e:
        res.failure(e, secs, "exchange")
    s.close()


def run_threads():
    ts = [threading.Thread(target=blocking_client, args=(a,)) for a in targets]
    for t in ts:
        t.start()
    say(issued=len(ts))
    for t in ts:
        t.join(30)
    res.report(loop="threads")


async def async_client(addr):
    t0 = time.monotonic()
    try:
        r, w = await asyncio.open_connection(*addr)
    except Exception as e:  # every failure is reported, none escapes
        res.failure(e, time.monotonic() - t0)
        return
    secs = time.monotonic() - t0
    try:
        w.write(b"ping\n")
        await w.drain()
        if await r.readexactly(5) != b"ping\n":
            raise ConnectionResetError(errno.ECONNRESET, "bad echo")
        res.success(secs)
        await asyncio.sleep(args.hold)
    except Exception as e:
        res.failure(e, secs, "exchange")
    w.close()
    try:
        await w.wait_closed()
    except OSError:
        pass


async def run_loop():
    tasks = [asyncio.ensure_future(async_client(a)) for a in targets]
    await asyncio.sleep(0.1)  # every task has run to its first await: its connect is started
    say(issued=len(tasks))
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    loop = asyncio.get_running_loop()
    res.report(loop=type(loop).__module__ + "." + type(loop).__name__)


def timed_connect(s, addr):
    t0 = time.monotonic()
    try:
        rc = s.connect_ex(addr)
    except OSError as e:
        rc = e.errno
    return errno.errorcode.get(rc, str(rc)) if rc else "OK", round(time.monotonic() - t0, 4)


def run_refuse():
    held = []
    for a in targets:
        s = socket.socket()
        s.connect(a)
        ping_blocking(s)
        held.append(s)
    nb = socket.socket()
    nb.setblocking(False)
    nb_err, nb_secs = timed_connect(nb, targets[0])
    bl = socket.socket()
    bl_err, bl_secs = timed_connect(bl, targets[0])
    say(issued=len(held) + 2)
    res.ok = len(held)
    res.report(loop="refuse", nonblocking=nb_err, nonblocking_secs=nb_secs, blocking=bl_err,
               blocking_secs=bl_secs)
    return held  # still open while the stats are read


say(pid=os.getpid(), mode=args.mode)
if args.mode == "threads":
    run_threads()
elif args.mode == "refuse":
    kept = run_refuse()  # open until exit
else:
    if args.mode == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(run_loop())

deadline = time.monotonic() + 20
while not os.path.exists(args.release) and time.monotonic() < deadline:
    time.sleep(0.02)
