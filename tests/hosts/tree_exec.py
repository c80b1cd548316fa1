"""tree_exec.py CTL PORT [stage2 FD] - a member of a process tree that execs itself, for the
process-tree exec test (hostctl's steps). Stage 1: connect to 127.0.0.1:PORT (the tree's only
slot) on an fd that survives exec, fork a worker whose connect waits for a slot ({"worker": PID};
it says {"worker_got": true} when through), then exec this script again with that fd (step
"before_exec"). Stage 2, the same process: step "after_exec", then close the fd, so the waiting
worker gets the slot, wait for it and exit 0."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say, step  # noqa: E402

ctl, port = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:
    fd = int(sys.argv[4])
    step(ctl, "after_exec", fd=fd)
    os.close(fd)
    _, st = os.waitpid(int(os.environ["TREE_EXEC_WORKER"]), 0)
    say(worker_exit=os.waitstatus_to_exitcode(st))
    sys.exit(0)
s = socket.create_connection(("127.0.0.1", port))
os.set_inheritable(s.fileno(), True)
w = os.fork()
if w == 0:
    s.close()  # the parent's connection is not the worker's: the slot goes when the parent closes
    c = socket.create_connection(("127.0.0.1", port), timeout=20)
    say(worker_got=True)
    c.close()
    os._exit(0)
say(worker=w)
step(ctl, "before_exec", fd=s.fileno())
os.environ["TREE_EXEC_WORKER"] = str(w)
os.execv(sys.executable, [sys.executable, __file__, ctl, str(port), "stage2", str(s.fileno())])
