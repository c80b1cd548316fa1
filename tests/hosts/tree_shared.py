"""tree_shared.py CTL PORT - shared sockets in a process tree, step by step (hostctl's steps):
the parent opens 2 connections to 127.0.0.1:PORT and forks a child that inherits them
(step "forked", with the child's pid and the fds). The parent closes its copy of the first
(step "parent_closed"), then waits in recv on the second: a reap through the child ends it for
both, and the parent says what recv returned ({"parent_read": N}). The child then closes its
copies ({"child_closed": true}) and exits 0; the parent says the child's exit status and waits
(step "all_closed")."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say, step  # noqa: E402
import socket  # noqa: E402

ctl, port = sys.argv[1], int(sys.argv[2])
a = socket.create_connection(("127.0.0.1", port))
b = socket.create_connection(("127.0.0.1", port))
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(w)
    os.read(r, 1)  # the parent has read its end of b
    a.close()
    b.close()
    say(child_closed=True)
    os._exit(0)
os.close(r)
step(ctl, "forked", child=child, fd_a=a.fileno(), fd_b=b.fileno())
a.close()
step(ctl, "parent_closed")
b.settimeout(20)
say(parent_read=len(b.recv(100)))
b.close()
os.write(w, b"x")
_, st = os.waitpid(child, 0)
say(child_exit=os.waitstatus_to_exitcode(st))
step(ctl, "all_closed")
