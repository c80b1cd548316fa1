"""names_proxy.py [--max-secs S] - a small forward HTTP proxy on 127.0.0.1, as a client meets one:
CONNECT host:port opens a tunnel (200, then bytes both ways until each side has ended); an
absolute-form request (GET http://host[:port]/path) goes to the origin in origin form with
Connection: close, and the origin's answer comes back until it closes. Names are resolved here
(run it with the test's hosts file). One thread per client connection. Prints {"listening": PORT,
"pid": PID}, then one JSON line per request: {"method", "target", "upstream": the address it
reached}. Exits after S seconds (30)."""
import argparse
import os
import selectors
import socket
import sys
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say, serve_threads  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--max-secs", type=float, default=30)
args = ap.parse_args()


def pump(a, b):
    """Copy bytes both ways between a and b; an end on one side is passed on as a write shutdown
    to the other; returns when both sides have ended."""
    sel = selectors.DefaultSelector()
    peer = {a: b, b: a}
    for s in peer:
        sel.register(s, selectors.EVENT_READ)
    while sel.get_map():
        for key, _ in sel.select():
            src = key.fileobj
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if data:
                peer[src].sendall(data)
                continue
            sel.unregister(src)
            try:
                peer[src].shutdown(socket.SHUT_WR)
            except OSError:
                pass


def serve(client):
    with client:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk or len(head) > 65536:
                return
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = (lines[0].split(" ") + ["", ""])[:3]
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=10)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            u = urlsplit(target)
            upstream = socket.create_connection((u.hostname, u.port or 80), timeout=10)
            path = (u.path or "/") + ("?" + u.query if u.query else "")
            keep = [l for l in lines[1:] if l.split(":")[0].lower() not in ("connection", "proxy-connection")]
            rest = ("\r\n".join([f"{method} {path} {version}"] + keep + ["Connection: close"]) + "\r\n\r\n").encode() + rest
        say(method=method, target=target, upstream=upstream.getpeername()[0])
        with upstream:
            upstream.settimeout(None)
            if rest:
                upstream.sendall(rest)
            pump(client, upstream)


serve_threads(serve, max_secs=args.max_secs)
