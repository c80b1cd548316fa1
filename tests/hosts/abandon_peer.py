"""abandon_peer.py [--max-secs S] - the other end of the abandonment tests, run without the shim.
A 127.0.0.1 listener; each connection says what it wants in its first line: "stream" gets a line
every 50 ms until it goes, "quiet" gets one line and then nothing (a keep-alive at rest), "burst
SECS" gets nothing for SECS seconds, then 4096 bytes at once, then nothing. Prints
{"listening": PORT, "pid": PID}, then {"sent": "burst", "peer_port": P} when a burst went out.
Stdin lines "connect PORT" open a connection to PORT that sends 1000 bytes and then holds it
(an inbound connection for the host under test that it never reads). Exits after S seconds
(default 30) or when stdin ends."""
import argparse
import json
import os
import socket
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--max-secs", type=float, default=30)
args = ap.parse_args()
out_mu = threading.Lock()
held = []


def say(**fields):
    with out_mu:
        sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
        sys.stdout.flush()


def serve(c):
    f = c.makefile("rb")
    want = f.readline().decode().split()
    try:
        if want[:1] == ["stream"]:
            n = 0
            while True:
                c.sendall(b"line %d\n" % n)
                n += 1
                time.sleep(0.05)
        elif want[:1] == ["quiet"]:
            c.sendall(b"hello\n")
        elif want[:1] == ["burst"]:
            time.sleep(float(want[1]))
            c.sendall(b"b" * 4096)
            say(sent="burst", peer_port=c.getpeername()[1])
        while c.recv(65536):
            pass
    except OSError:
        pass
    finally:
        c.close()


def accept_loop(lsock):
    while True:
        c, _ = lsock.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def commands():
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["connect"]:
            s = socket.create_connection(("127.0.0.1", int(words[1])))
            s.sendall(b"x" * 1000)
            held.append(s)
            say(connected=int(words[1]), local_port=s.getsockname()[1])
    os._exit(0)


lsock = socket.socket()
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", 0))
lsock.listen(64)
say(listening=lsock.getsockname()[1], pid=os.getpid())
threading.Thread(target=accept_loop, args=(lsock,), daemon=True).start()
threading.Thread(target=commands, daemon=True).start()
time.sleep(args.max_secs)
