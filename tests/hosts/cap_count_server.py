"""cap_count_server.py STATUS [--max-secs S] [--http DELAY] [--fastopen] [--listeners N]
[--addresses A,B,...] - an
exact concurrency counter for the cap tests. One thread, one epoll loop on a 127.0.0.1 listener. By default every chunk a client
sends is echoed back. With --http it is an HTTP/1.1 keep-alive server instead: GET PATH?size=N&ms=M
answers after M milliseconds (DELAY seconds when ms is absent) with N bytes of body (100 when size
is absent), a-z and a newline repeated, so a client can check it byte for byte; it closes after
the answer when the request asked for Connection: close (or was HTTP/1.0 without keep-alive).
Answers on one connection go out in order. Before counting a newly accepted connection it sweeps
the open ones for EOF (recv with MSG_PEEK|MSG_DONTWAIT), so a client's close that reached the
kernel before the next client's SYN is never counted as still open. Keeps current, peak, total,
closed (and with --http requests and answered) in the JSON file STATUS (replaced atomically after
every change), prints {"listening": PORT, "pid": PID}, exits after S seconds.
--fastopen: the listener takes TCP Fast Open data in the SYN, where the machine's server side of
Fast Open is on (bit 2 of net.ipv4.tcp_fastopen); elsewhere it changes nothing.
--listeners N: N listeners on 127.0.0.1 (so N destinations to a client), counted together and
each on its own: STATUS then also has "ports": {PORT: {"current", "peak", "total"}}, and the
first line "ports": [PORT, ...] ("listening" is the first). Connections are then accepted out of
the order they were made in (one listener's queue after another's), so a new one that has
already ended is not counted as open (it was not, alongside those accepted before it); it still
counts in the totals.
--addresses A,B,...: one listener on each of these addresses, all on one port (one name's several
addresses, to a client), counted together and each on its own as --listeners does, "ports" then
keyed by address."""
import argparse
import json
import os
import resource
import selectors
import socket
import sys
import time
from urllib.parse import parse_qs, urlsplit

ap = argparse.ArgumentParser()
ap.add_argument("status")
ap.add_argument("--max-secs", type=float, default=60)
ap.add_argument("--http", type=float, metavar="DELAY", default=None)
ap.add_argument("--fastopen", action="store_true")
ap.add_argument("--listeners", type=int, default=1)
ap.add_argument("--addresses", default="127.0.0.1")
args = ap.parse_args()
addresses = args.addresses.split(",")
multi = args.listeners > 1 or len(addresses) > 1  # counts per listener too

# as many connections at once as the hard fd limit allows (a test may hold a thousand)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
if soft != resource.RLIM_INFINITY and soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

counts = {"current": 0, "peak": 0, "total": 0, "closed": 0}
if args.http is not None:
    counts.update(requests=0, answered=0)
written = None
listeners = {}  # listening socket -> its port
PATTERN = b"abcdefghijklmnopqrstuvwxyz\n"


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


class Conn:
    def __init__(self, sock, port):
        self.sock = sock
        self.port = port  # the listener it came in on
        self.inbuf = b""
        self.out = b""  # bytes due now, not yet sent
        self.pending = []  # HTTP answers not due yet: [due, bytes, close_after], in order
        self.closing = False  # close once out is sent


sel = selectors.EpollSelector()
conns = {}


def drop(c):
    sel.unregister(c.sock)
    del conns[c.sock]
    c.sock.close()
    counts["current"] = len(conns)
    counts["closed"] += 1
    if multi:
        counts["ports"][c.port]["current"] -= 1


def flush(c):
    """Send what is due; watch for writability while some is left. Returns True if c was dropped."""
    while c.out:
        try:
            n = c.sock.send(c.out, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            c.out = b""  # the client went away; its EOF or reset is seen next
            break
        c.out = c.out[n:]
    if not c.out and c.closing:
        drop(c)
        return True
    sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0))
    return False


def answer(req, now):
    """Parse one request head: its answer, when it is due, and whether to close after it."""
    lines = req.decode("latin-1").split("\r\n")
    method, target, version = (lines[0].split(" ") + ["", "", ""])[:3]
    headers = {k.strip().lower(): v.strip().lower() for k, _, v in (l.partition(":") for l in lines[1:])}
    q = parse_qs(urlsplit(target).query)
    size = int(q.get("size", ["100"])[0])
    ms = float(q["ms"][0]) if "ms" in q else args.http * 1000
    conn_hdr = headers.get("connection", "")
    close = conn_hdr == "close" or (version == "HTTP/1.0" and conn_hdr != "keep-alive")
    body = (PATTERN * (size // len(PATTERN) + 1))[:size]
    head = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n"
            % (size, "close" if close else "keep-alive")).encode()
    return now + ms / 1000, head + (body if method != "HEAD" else b""), close


def take_requests(c):
    """Queue an answer for every complete request head in c's buffer (GET: no body to skip)."""
    now = time.monotonic()
    while b"\r\n\r\n" in c.inbuf:
        req, c.inbuf = c.inbuf.split(b"\r\n\r\n", 1)
        counts["requests"] += 1
        due, data, close = answer(req, now)
        if c.pending:
            due = max(due, c.pending[-1][0])
        c.pending.append([due, data, close])


def settle(c):
    """Take what c sent (echo it, or queue its answers); drop it at EOF or reset. Returns True if
    it was dropped."""
    for _ in range(64):  # bounded: a client that floods is looked at again next round
        try:
            peek = c.sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            drop(c)
            return True
        if not peek:
            drop(c)
            return True
        data = c.sock.recv(len(peek))
        if args.http is None:
            c.out += data
        else:
            c.inbuf += data
            take_requests(c)
    return flush(c) if c.out else False


def send_due(now):
    """Move the answers that are due into their connections' output. Returns the next due time."""
    nxt = None
    for c in list(conns.values()):
        while c.pending and c.pending[0][0] <= now and not c.closing:
            _, data, close = c.pending.pop(0)
            c.out += data
            c.closing = close
            counts["answered"] += 1
        if c.out:
            flush(c)
        if c.sock in conns and c.pending and not c.closing:
            nxt = c.pending[0][0] if nxt is None else min(nxt, c.pending[0][0])
    return nxt


def accept_all(lsock, port):
    while True:
        try:
            s, _ = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        s.setblocking(False)
        # the closes that came before this SYN are in their sockets already: count them first
        for old in list(conns.values()):
            settle(old)
        c = conns[s] = Conn(s, port)
        sel.register(s, selectors.EVENT_READ)
        counts["total"] += 1
        if multi:
            mine = counts["ports"][port]
            mine["current"] += 1
            mine["total"] += 1
            if settle(c):
                continue
            mine["peak"] = max(mine["peak"], mine["current"])
        counts["current"] = len(conns)
        counts["peak"] = max(counts["peak"], counts["current"])


shared_port = 0
for i in range(args.listeners * len(addresses)):
    addr = addresses[i % len(addresses)]
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind((addr, shared_port))
    if len(addresses) > 1:
        shared_port = lsock.getsockname()[1]
    if args.fastopen:
        lsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
    lsock.listen(256)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ)
    listeners[lsock] = addr if len(addresses) > 1 else str(lsock.getsockname()[1])
ports = list(listeners.values())
if multi:
    counts["ports"] = {p: {"current": 0, "peak": 0, "total": 0} for p in ports}
publish()
first = {"listening": shared_port or int(ports[0]), "pid": os.getpid()}
if args.listeners > 1:
    first["ports"] = [int(p) for p in ports]
sys.stdout.write(json.dumps(first) + "\n")
sys.stdout.flush()

deadline = time.monotonic() + args.max_secs
nxt = None
while time.monotonic() < deadline:
    wait = 0.05 if nxt is None else min(0.05, max(0.0, nxt - time.monotonic()))
    for key, ev in sel.select(timeout=wait):
        if key.fileobj in listeners:
            accept_all(key.fileobj, listeners[key.fileobj])
        elif key.fileobj in conns:
            c = conns[key.fileobj]
            if ev & selectors.EVENT_READ and settle(c):
                continue
            if ev & selectors.EVENT_WRITE:
                flush(c)
    nxt = send_due(time.monotonic()) if args.http is not None else None
    publish()
