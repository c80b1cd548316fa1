"""reap_stall_server.py MODE [--keep] [--every S] [--max-secs S] - a server whose connections
misbehave, for the reap tests. One thread per connection on a 127.0.0.1 listener. MODE stall: send
part of a response, then nothing; stream: a line every 50 ms (--every) until the client goes;
close: send a line and close at once. What a client sends is read and dropped. Prints
{"listening": PORT, "pid": PID}, then one JSON line per event on a connection (accepted, eof
when recv returns 0, reset, send_failed, closed) with its number, the client's port and the
seconds since it was accepted. A connection is closed at its EOF, or with --keep
only at exit (its socket stays in CLOSE_WAIT). Exits after S seconds (default 30)."""
import argparse
import json
import os
import select
import socket
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["stall", "stream", "close"])
ap.add_argument("--keep", action="store_true")
ap.add_argument("--every", type=float, default=0.05)
ap.add_argument("--max-secs", type=float, default=30)
args = ap.parse_args()
out_mu = threading.Lock()


def say(**fields):
    with out_mu:
        sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
        sys.stdout.flush()


def serve(c, k):
    t0 = time.monotonic()
    peer_port = c.getpeername()[1]

    def event(name, **extra):
        say(conn=k, event=name, peer_port=peer_port, secs=round(time.monotonic() - t0, 3), **extra)

    event("accepted")
    deadline = t0 + args.max_secs
    try:
        if args.mode == "close":
            c.sendall(b"bye\n")
            event("closed")
            return
        c.sendall(b"partial respo" if args.mode == "stall" else b"line 0\n")
        n = 0
        next_line = time.monotonic() + args.every
        while time.monotonic() < deadline:
            wait = 0.05
            if args.mode == "stream":
                wait = max(0.0, min(wait, next_line - time.monotonic()))
            r, _, _ = select.select([c], [], [], wait)
            if r:
                data = c.recv(65536)
                if not data:
                    event("eof")
                    while args.keep and time.monotonic() < deadline:
                        time.sleep(0.1)
                    return
                continue
            if args.mode == "stream" and time.monotonic() >= next_line:
                next_line += args.every
                n += 1
                try:
                    c.sendall(b"line %d\n" % n)
                except OSError as e:
                    event("send_failed", errno=e.errno)
                    return
    except ConnectionResetError:
        event("reset")
    finally:
        c.close()


lsock = socket.socket()
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", 0))
lsock.listen(64)
lsock.settimeout(0.2)
say(listening=lsock.getsockname()[1], pid=os.getpid())
k = 0
end = time.monotonic() + args.max_secs
while time.monotonic() < end:
    try:
        c, _ = lsock.accept()
    except socket.timeout:
        continue
    k += 1
    threading.Thread(target=serve, args=(c, k), daemon=True).start()
