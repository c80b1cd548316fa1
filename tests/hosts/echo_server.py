"""echo_server.py STATUS [--times K] [--max-secs S] - a TCP echo server on 127.0.0.1 for the
end-to-end tests: every chunk it reads goes back K times (default 1), one thread per connection.
It keeps its own exact counts (accepted, closed, bytes in and out) in the JSON file STATUS,
rewritten after every change, and prints {"listening": PORT, "pid": PID}. Exits after S seconds."""
import argparse
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import serve_threads  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("status")
ap.add_argument("--times", type=int, default=1)
ap.add_argument("--max-secs", type=float, default=60)
args = ap.parse_args()

lock = threading.Lock()
counts = {"accepted": 0, "closed": 0, "bytes_in": 0, "bytes_out": 0}


def publish():  # caller holds lock
    tmp = args.status + ".tmp"
    with open(tmp, "w") as f:
        json.dump(counts, f)
    os.replace(tmp, args.status)


def serve(conn):
    bin_ = bout = 0
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            bin_ += len(chunk)
            reply = chunk * args.times
            conn.sendall(reply)
            bout += len(reply)
    except OSError:
        pass
    finally:
        conn.close()
        with lock:
            counts["closed"] += 1
            counts["bytes_in"] += bin_
            counts["bytes_out"] += bout
            publish()


serve_threads(serve, counts, lock, publish, args.max_secs)
