"""hostctl.py - what the Python host programs of the end-to-end tests share: one JSON line per
event on stdout, steps the test releases by creating CTL/NAME.go (every wait bounded), and exact
request/reply exchanges that count their own bytes and successful calls, to compare with the
shim's numbers."""
import json
import os
import socket
import sys
import time


def say(**fields):
    """One JSON object per line on stdout, flushed at once (the test greps it)."""
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


def step(ctl, name, limit=20.0, **info):
    """Announce step NAME (with the pid and INFO) and wait until CTL/NAME.go exists."""
    say(step=name, pid=os.getpid(), **info)
    go = os.path.join(ctl, name + ".go")
    deadline = time.monotonic() + limit
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit(f"step {name}: not released within {limit}s")
        time.sleep(0.01)


def _send(fd, data):
    if isinstance(fd, socket.socket):
        return fd.send(data)
    return os.write(fd, data)


def _recv(fd, n):
    if isinstance(fd, socket.socket):
        return fd.recv(n)
    return os.read(fd, n)


class Tally:
    """Bytes and successful calls in each direction, as the host itself saw them."""

    def __init__(self):
        self.bytes_out = self.bytes_in = self.calls_out = self.calls_in = 0

    def as_dict(self):
        return {"bytes_out": self.bytes_out, "bytes_in": self.bytes_in,
                "calls_out": self.calls_out, "calls_in": self.calls_in}


def exchange(fd, nbytes, times, tally, limit=10.0):
    """Send NBYTES on FD (a socket or a raw fd) and read back NBYTES * TIMES (the echo server's
    reply), one system call at a time so every successful call is counted in TALLY."""
    data = bytes((i * 7 + 1) & 0xFF for i in range(nbytes))
    sent = 0
    while sent < nbytes:
        n = _send(fd, data[sent:])
        sent += n
        tally.bytes_out += n
        tally.calls_out += 1
    want, got = nbytes * times, b""
    deadline = time.monotonic() + limit
    while len(got) < want:
        if time.monotonic() > deadline:
            raise SystemExit(f"reply short: {len(got)} of {want} bytes")
        chunk = _recv(fd, want - len(got))
        if not chunk:
            raise SystemExit(f"peer closed after {len(got)} of {want} bytes")
        got += chunk
        tally.bytes_in += len(chunk)
        tally.calls_in += 1
    if got != data * times:
        raise SystemExit("reply differs from what the echo server must send")


def serve_threads(serve, counts=None, lock=None, publish=None, max_secs=60):
    """Listen on 127.0.0.1 (a free port), say the port and pid, then serve each connection on a
    thread of its own for max_secs seconds; with counts, counting accepts in counts["accepted"]
    (under lock, publishing after each change)."""
    import threading

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(256)
    if counts is not None:
        with lock:
            publish()
    say(listening=lsock.getsockname()[1], pid=os.getpid())

    def accept_loop():
        while True:
            conn, _ = lsock.accept()
            if counts is not None:
                with lock:
                    counts["accepted"] += 1
                    publish()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    time.sleep(max_secs)
