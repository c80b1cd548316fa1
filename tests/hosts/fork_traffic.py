"""fork_traffic.py PORT MODE CTL - a connection that a CPython process shares with a fork child
that never touches it, for the test that a child's idle timeout never cuts its parent's traffic.
The process connects to 127.0.0.1:PORT (reap_stall_server.py), reads the server's first bytes,
then os.fork()s: the child announces step "child" and sleeps 3 s without a look at the socket,
then leaves by os._exit(0). Meanwhile the parent, for 3.5 s from the fork, MODE:
  write  sends 10 bytes every 200 ms (the server reads them);
  read   reads what the server sends (a line every 200 ms, in its stream mode);
  idle   does nothing with it but wait to be told of its end (select, then recv).
It then waits for the child and says step "result": the errors its calls met (errno names), when
it saw the connection end (eof_at: seconds since the fork, or null), the bytes it sent and read,
and the child's exit status. It goes on as before (so that its own idle timeout does not end the
connection while the test looks) until released (CTL/result.go, 20 s at most), says "after" with
the errors met meanwhile and the bytes in all, and once released again (CTL/after.go) closes the
connection and exits."""
import errno
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say  # noqa: E402

port, mode, ctl = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
greeting = s.recv(64)

child = os.fork()
if child == 0:
    say(step="child", pid=os.getpid())
    time.sleep(3)
    os._exit(0)

say(step="forked", pid=os.getpid(), child=child, greeting=len(greeting))
t0 = time.monotonic()
errors, eof_at, sent, received = [], None, 0, 0


def use(until):
    """MODE's use of the connection until until() is true, an error, or its end."""
    global eof_at, sent, received
    while not until() and not errors and eof_at is None:
        try:
            if mode == "write":
                sent += s.send(b"x" * 10)
                time.sleep(0.2)
                continue
            ready, _, _ = select.select([s], [], [], 0.1)
            if ready:
                data = s.recv(4096)
                if not data:
                    eof_at = round(time.monotonic() - t0, 2)
                received += len(data)
        except OSError as e:
            errors.append(errno.errorcode.get(e.errno, str(e.errno)))


use(lambda: time.monotonic() - t0 >= 3.5)
_, status = os.waitpid(child, 0)
say(step="result", pid=os.getpid(), errors=errors, eof_at=eof_at, sent=sent, received=received,
    child_status=status, mode=mode)
go = os.path.join(ctl, "result.go")
if mode != "idle":
    use(lambda: os.path.exists(go) or time.monotonic() - t0 >= 25)
while not os.path.exists(go) and time.monotonic() - t0 < 25:
    time.sleep(0.01)
say(step="after", errors=errors, eof_at=eof_at, sent=sent, received=received)
go = os.path.join(ctl, "after.go")
while not os.path.exists(go) and time.monotonic() - t0 < 25:
    time.sleep(0.01)
s.close()
