"""py_conns_client.py PORT CTL - a plain CPython client for the end-to-end tests. Opens 5
connections to the echo server (which replies twice what it reads) and sends 100, 200, ... 500
bytes, counting its own bytes and calls; also moves data over a Unix socketpair, a pipe and a
file, which must never be counted. Then, in steps the test releases (hostctl.step):
  opened          all 5 open; the socketpair, pipe and file fds listed
  first_closed    connection 1 was os.dup'd, its original fd closed, one more exchange done on
                  the duplicate
  last_closed     the duplicate closed too: connection 1 is over"""
import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import Tally, exchange, step  # noqa: E402

port, ctl = int(sys.argv[1]), sys.argv[2]
TIMES = 2

conns, tallies = [], []
for k in range(1, 6):
    s = socket.create_connection(("127.0.0.1", port))
    t = Tally()
    exchange(s, 100 * k, TIMES, t)
    conns.append(s)
    tallies.append(t)

# traffic on fds that are not TCP connections
a, b = socket.socketpair()
a.sendall(b"u" * 4096)
assert b.recv(8192) == b"u" * 4096
r, w = os.pipe()
os.write(w, b"p" * 1000)
assert os.read(r, 2000) == b"p" * 1000
f = tempfile.TemporaryFile()
f.write(b"f" * 5000)
f.flush()
f.seek(0)
assert f.read() == b"f" * 5000
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # UDP is not tracked either
u4.bind(("127.0.0.1", 0))
u4.sendto(b"d" * 300, u4.getsockname())
assert u4.recv(1000) == b"d" * 300


def describe(s, t):
    return dict(t.as_dict(), fd=s.fileno(), local="%s:%d" % s.getsockname(),
                peer="%s:%d" % s.getpeername())


step(ctl, "opened", conns=[describe(s, t) for s, t in zip(conns, tallies)],
     others=[a.fileno(), b.fileno(), r, w, f.fileno(), u4.fileno()])

first = conns[0]
info = describe(first, tallies[0])
dup = os.dup(first.fileno())
first.close()  # the duplicate still names the connection
exchange(dup, 50, TIMES, tallies[0])
info.update(tallies[0].as_dict(), fd=dup)
step(ctl, "first_closed", conn=info)

os.close(dup)
step(ctl, "last_closed")
