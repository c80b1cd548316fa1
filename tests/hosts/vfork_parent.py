"""vfork_parent.py PORT CTL [SPAWNS] - a CPython parent for the end-to-end tests that starts
children while it holds connections. It opens 3 connections to the echo server; a thread keeps
exchanging data on the first while the main thread runs SPAWNS (default 50) times
subprocess.run(["/bin/true"], close_fds=True) (CPython: vfork, then close_range in the child,
then execv, or execve when an env is given: half the runs give one) and 10 times os.posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK)). Then one more
exchange on each connection, and step "done" lists every connection with its own counts."""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import Tally, exchange, step  # noqa: E402

port, ctl = int(sys.argv[1]), sys.argv[2]
spawns = int(sys.argv[3]) if len(sys.argv) > 3 else 50

conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
tallies = [Tally() for _ in conns]
stop = threading.Event()
rounds = [0]


def busy():
    deadline = time.monotonic() + 15
    while not stop.is_set() and time.monotonic() < deadline:
        exchange(conns[0], 512, 1, tallies[0])
        rounds[0] += 1


mover = threading.Thread(target=busy)
mover.start()
env = dict(os.environ)
for i in range(spawns):
    done = subprocess.run(["/bin/true"], close_fds=True, env=env if i % 2 else None)
    if done.returncode != 0:
        raise SystemExit(f"/bin/true exited {done.returncode}")
for _ in range(10):
    pid = os.posix_spawn("/bin/true", ["/bin/true"], os.environ)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit(f"posix_spawn'd /bin/true: wait status {status}")
stop.set()
mover.join()

for s, t in zip(conns, tallies):
    exchange(s, 64, 1, t)

step(ctl, "done", rounds=rounds[0],
     conns=[dict(t.as_dict(), fd=s.fileno(), local="%s:%d" % s.getsockname()) for s, t in zip(conns, tallies)])
