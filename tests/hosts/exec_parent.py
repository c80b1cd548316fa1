"""exec_parent.py PORT CTL [--preload LIB] - a CPython process that hands a live connection to a
new image: it opens a connection to the echo server, exchanges 100 bytes, clears FD_CLOEXEC
(os.set_inheritable) and os.execv's inherit_child.py in the same process, passing the fd number.
With --preload it puts LIB in LD_PRELOAD first, so an unshimmed parent gets a shimmed child."""
import argparse
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import Tally, exchange, say  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("ctl")
ap.add_argument("--preload")
args = ap.parse_args()

s = socket.create_connection(("127.0.0.1", args.port))
exchange(s, 100, 1, Tally())
fd = s.detach()  # the fd outlives the socket object
os.set_inheritable(fd, True)
if args.preload:
    os.environ["LD_PRELOAD"] = args.preload
say(exec=True, pid=os.getpid(), fd=fd)
child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inherit_child.py")
os.execv(sys.executable, [sys.executable, child, str(fd), str(args.port), args.ctl])
