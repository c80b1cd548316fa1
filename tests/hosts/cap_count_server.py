"""cap_count_server.py STATUS [--max-secs S] [--fastopen] [--listeners N] - an exact concurrency
counter for the cap tests. One thread, one epoll loop on a 127.0.0.1 listener: every chunk a client sends is echoed
back. Before counting a newly accepted connection it sweeps the open ones for EOF (recv with
MSG_PEEK|MSG_DONTWAIT), so a client's close that reached the kernel before the next client's SYN
is never counted as still open. Keeps current, peak and total in the JSON file STATUS (replaced
atomically after every change), prints {"listening": PORT, "pid": PID}, exits after S seconds.
--fastopen: the listener takes TCP Fast Open data in the SYN, where the machine's server side of
Fast Open is on (bit 2 of net.ipv4.tcp_fastopen); elsewhere it changes nothing.
--listeners N: N listeners on 127.0.0.1 (so N destinations to a client), counted together and
each on its own: STATUS then also has "ports": {PORT: {"current", "peak", "total"}}, and the
first line "ports": [PORT, ...] ("listening" is the first). Connections are then accepted out of
the order they were made in (one listener's queue after another's), so a new one that has
already ended is not counted as open (it was not, alongside those accepted before it); it still
counts in the totals."""
import argparse
import json
import os
import resource
import selectors
import socket
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("status")
ap.add_argument("--max-secs", type=float, default=60)
ap.add_argument("--fastopen", action="store_true")
ap.add_argument("--listeners", type=int, default=1)
args = ap.parse_args()

# as many connections at once as the hard fd limit allows (a test may hold a thousand)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
if soft != resource.RLIM_INFINITY and soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

counts = {"current": 0, "peak": 0, "total": 0, "closed": 0}
written = None
listeners = {}  # listening socket -> its port


def publish():
    """Replace STATUS when a count changed: readers never see a half-written file."""
    global written
    text = json.dumps(counts)
    if text == written:
        return
    tmp = args.status + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.status)
    written = text


sel = selectors.EpollSelector()
conns = {}  # accepted socket -> the port it came in on


def drop(c):
    sel.unregister(c)
    port = conns.pop(c)
    c.close()
    counts["current"] = len(conns)
    counts["closed"] += 1
    if args.listeners > 1:
        counts["ports"][port]["current"] -= 1


def settle(c):
    """Echo what c sent; drop it at EOF or reset. Returns True if it was dropped."""
    for _ in range(64):  # bounded: a client that floods is looked at again next round
        try:
            peek = c.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            drop(c)
            return True
        if not peek:
            drop(c)
            return True
        data = c.recv(len(peek))
        try:
            c.send(data, socket.MSG_DONTWAIT)
        except OSError:
            pass  # the client went away; its EOF or reset is seen next
    return False


def accept_all(lsock, port):
    while True:
        try:
            c, _ = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        c.setblocking(False)
        # the closes that came before this SYN are in their sockets already: count them first
        for old in list(conns):
            settle(old)
        conns[c] = port
        sel.register(c, selectors.EVENT_READ)
        counts["total"] += 1
        if args.listeners > 1:
            mine = counts["ports"][port]
            mine["current"] += 1
            mine["total"] += 1
            if settle(c):
                continue
            mine["peak"] = max(mine["peak"], mine["current"])
        counts["current"] = len(conns)
        counts["peak"] = max(counts["peak"], counts["current"])


for _ in range(args.listeners):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    if args.fastopen:
        lsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
    lsock.listen(256)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ)
    listeners[lsock] = str(lsock.getsockname()[1])
ports = list(listeners.values())
if args.listeners > 1:
    counts["ports"] = {p: {"current": 0, "peak": 0, "total": 0} for p in ports}
publish()
first = {"listening": int(ports[0]), "pid": os.getpid()}
if args.listeners > 1:
    first["ports"] = [int(p) for p in ports]
sys.stdout.write(json.dumps(first) + "\n")
sys.stdout.flush()

deadline = time.monotonic() + args.max_secs
while time.monotonic() < deadline:
    for key, _ in sel.select(timeout=0.05):
        if key.fileobj in listeners:
            accept_all(key.fileobj, listeners[key.fileobj])
        elif key.fileobj in conns:
            settle(key.fileobj)
    publish()
