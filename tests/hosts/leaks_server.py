"""leaks_server.py PORTFILE NAME... [--max-secs S] - the services the leak-check tests' programs talk
to: one listener on 127.0.0.1 per NAME (port chosen by the kernel), "NAME=PORT" lines written to
PORTFILE once all listen. Each connection gets "ok LINE" for every line it sends, and is closed
when the client closes its side. Runs outside the checked tree; exits after S seconds."""
import argparse
import os
import socket
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("portfile")
ap.add_argument("names", nargs="+")
ap.add_argument("--max-secs", type=float, default=60)
args = ap.parse_args()


def serve(conn):
    with conn:
        buf = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                conn.sendall(b"ok " + line + b"\n")


def accept_loop(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


lines = []
for name in args.names:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    lines.append(f"{name}={s.getsockname()[1]}\n")
    threading.Thread(target=accept_loop, args=(s,), daemon=True).start()
with open(args.portfile + ".tmp", "w") as f:
    f.writelines(lines)
os.replace(args.portfile + ".tmp", args.portfile)
time.sleep(args.max_secs)
