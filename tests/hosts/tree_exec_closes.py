"""tree_exec_closes.py PORT STAGE [FD] - a tree member that execs with connections and a queued connect
that exec closes (Python's sockets are close-on-exec). With --max-conns 1:
stage "start": forks a holder that connects to 127.0.0.1:PORT and keeps the slot until a byte
comes on a pipe; then makes a non-blocking connect (it queues behind the holder) and execs itself
as stage "queued" with the pipe's write end.
stage "queued": connects (5 s at most) while the holder still holds the slot, so that this connect
queues, and lets the holder go 0.5 s later; then execs itself as stage "held" with that
connection open (exec closes it).
stage "held": connects (5 s at most).
Every stage prints one JSON line: {"stage": ..., "connected": true|false, "secs": ...}."""
import json
import os
import socket
import sys
import threading
import time

port, stage = int(sys.argv[1]), sys.argv[2]


def say(**kw):
    print(json.dumps(kw), flush=True)


def connect():
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        ok = True
    except OSError:
        s, ok = None, False
    say(stage=stage, connected=ok, secs=round(time.monotonic() - t, 2))
    return s


def again(next_stage, *extra):
    os.execv(sys.executable, [sys.executable, sys.argv[0], str(port), next_stage, *extra])


if stage == "start":
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    if os.fork() == 0:
        os.close(w)
        s = socket.create_connection(("127.0.0.1", port))
        os.write(ready_w, b"x")
        os.read(r, 1)
        s.close()
        os._exit(0)
    os.close(r)
    os.read(ready_r, 1)
    q = socket.socket()
    q.setblocking(False)
    err = q.connect_ex(("127.0.0.1", port))
    say(stage=stage, queued=err == 115)  # EINPROGRESS: it waits behind the holder
    os.set_inheritable(w, True)
    again("queued", str(w))
elif stage == "queued":
    def release():
        time.sleep(0.5)
        os.write(int(sys.argv[3]), b"x")  # the holder closes: its slot goes to the queue

    threading.Thread(target=release).start()
    s = connect()
    os.wait()
    if s:
        again("held")
else:
    connect()
