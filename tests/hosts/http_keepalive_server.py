"""http_keepalive_server.py STATUS [--close-every N] - a minimal HTTP/1.1 keep-alive server on
127.0.0.1 for the end-to-end tests. GET /K answers with a body of 100 + K % 400 bytes; every Nth
response on a connection (default 7) says "Connection: close" and the server closes it, so a
client pool must open new connections. Exact counts (accepted, closed, requests, bytes in and
out) go to the JSON file STATUS after every change; prints {"listening": PORT, "pid": PID}."""
import argparse
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import serve_threads  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("status")
ap.add_argument("--close-every", type=int, default=7)
ap.add_argument("--max-secs", type=float, default=60)
args = ap.parse_args()

lock = threading.Lock()
counts = {"accepted": 0, "closed": 0, "requests": 0, "bytes_in": 0, "bytes_out": 0}


def publish():  # caller holds lock
    tmp = args.status + ".tmp"
    with open(tmp, "w") as f:
        json.dump(counts, f)
    os.replace(tmp, args.status)


def body_for(path):
    try:
        k = int(path.lstrip("/"))
    except ValueError:
        k = 0
    return bytes(ord("a") + (i % 26) for i in range(100 + k % 400))


def serve(conn):
    bin_ = bout = nreq = 0
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                bin_ += len(chunk)
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            nreq += 1
            closing = nreq % args.close_every == 0
            body = body_for(path)
            reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\nConnection: %s\r\n\r\n"
                     % (len(body), b"close" if closing else b"keep-alive")) + body
            conn.sendall(reply)
            bout += len(reply)
            if closing:
                return
    except OSError:
        pass
    finally:
        conn.close()
        with lock:
            counts["closed"] += 1
            counts["requests"] += nreq
            counts["bytes_in"] += bin_
            counts["bytes_out"] += bout
            publish()


serve_threads(serve, counts, lock, publish, args.max_secs)
