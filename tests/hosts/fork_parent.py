"""fork_parent.py PORT CTL - a CPython process that forks while it holds a connection, for the
end-to-end tests. The parent opens one connection to the echo server and exchanges 100 bytes,
then os.fork()s. The child exchanges 50 bytes on the inherited connection, opens 2 of its own
(200 bytes each), announces step "child_running" and, released, ends with sys.exit (exit handlers
run). The parent announces "parent_running", waits for that child, forks a second child that
opens a connection and leaves by os._exit (no exit handler runs), waits for it, exchanges 100
more bytes and announces "parent_after" with both children's pids and exit statuses."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import Tally, exchange, step  # noqa: E402

port, ctl = int(sys.argv[1]), sys.argv[2]


def describe(s, t):
    return dict(t.as_dict(), fd=s.fileno(), local="%s:%d" % s.getsockname())


first = socket.create_connection(("127.0.0.1", port))
mine = Tally()
exchange(first, 100, 1, mine)

child = os.fork()
if child == 0:
    exchange(first, 50, 1, Tally())
    own = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    tallies = [Tally() for _ in own]
    for s, t in zip(own, tallies):
        exchange(s, 200, 1, t)
    step(ctl, "child_running", inherited_fd=first.fileno(),
         own=[describe(s, t) for s, t in zip(own, tallies)])
    sys.exit(0)

step(ctl, "parent_running", child=child, conn=describe(first, mine))
_, status1 = os.waitpid(child, 0)

child2 = os.fork()
if child2 == 0:
    s = socket.create_connection(("127.0.0.1", port))
    exchange(s, 10, 1, Tally())
    os._exit(0)
_, status2 = os.waitpid(child2, 0)

exchange(first, 100, 1, mine)
step(ctl, "parent_after", child=child, child_status=status1, child2=child2, child2_status=status2,
     conn=describe(first, mine))
