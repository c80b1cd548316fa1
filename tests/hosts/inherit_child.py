"""inherit_child.py FD PORT CTL - the image exec_parent.py becomes. FD is a connection it was
given; it exchanges 200 bytes on it, opens a connection of its own and exchanges 300 bytes, then
announces step "running" with both fds and its own counts. Released, it exits with both fds still
open (detached from their socket objects, so interpreter shutdown closes neither): the inherited
one is not its leak, its own one is."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import Tally, exchange, step  # noqa: E402

fd, port, ctl = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
given = socket.socket(fileno=fd)
t_given = Tally()
exchange(given, 200, 1, t_given)
own = socket.create_connection(("127.0.0.1", port))
t_own = Tally()
exchange(own, 300, 1, t_own)
step(ctl, "running",
     inherited=dict(t_given.as_dict(), fd=fd, local="%s:%d" % given.getsockname()),
     own=dict(t_own.as_dict(), fd=own.fileno(), local="%s:%d" % own.getsockname()))
given.detach()
own.detach()
sys.exit(0)
