"""leaks_client.py leak|close PORT - a Python program of the leak-check tests. It asks the service
on 127.0.0.1:PORT one question from main, and starts a metrics pusher thread that holds its own
connection to the same service. In mode "close" the pusher is stopped and its connection closed
before exit; in mode "leak" the pusher is a forgotten daemon thread, so its connection is still
open at exit (interpreter shutdown never closes what a running thread holds). Prints
"pid=P pusher_local=PORT"."""
import os
import socket
import sys
import threading

mode, port = sys.argv[1], int(sys.argv[2])
stop = threading.Event()
ready = threading.Event()
local = []


def push_metrics():
    conn = socket.create_connection(("127.0.0.1", port))
    local.append(conn.getsockname()[1])
    conn.sendall(b"metrics up=1\n")
    conn.recv(100)
    ready.set()
    stop.wait()
    conn.close()


def ask(question):
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.sendall(question.encode() + b"\n")
        return c.recv(100).decode().strip()


pusher = threading.Thread(target=push_metrics, daemon=True)
pusher.start()
if not ready.wait(10):
    sys.exit("pusher did not connect")
answer = ask("hello")
assert answer == "ok hello", answer
print(f"pid={os.getpid()} pusher_local={local[0]}", flush=True)
if mode == "close":
    stop.set()
    pusher.join(10)
