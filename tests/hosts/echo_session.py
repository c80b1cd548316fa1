"""echo_session.py PORT MODE SECS [GO] - one client session with an echo server on 127.0.0.1:PORT
(accept_fork_server.c) that greets with "child C\\n", for the tests that a server's idle timeout
cuts an idle session and never a busy one. It connects, reads the greeting and says step
"greeted" (the child's PID, its own port), then for SECS seconds, MODE:
  idle  sends nothing and waits for the end of the connection;
  busy  sends "ping N\\n" every 200 ms and reads its echo, and goes on past SECS until the
        file GO exists (20 s at most), when GO is given.
It then says step "result": the errors its calls met (errno names), when it saw the connection
end (eof_at: seconds since the greeting, or null), the pings sent and echoed intact, and closes
the connection."""
import errno
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say  # noqa: E402

port, mode, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
go = sys.argv[4] if len(sys.argv) > 4 else None
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
greeting = f.readline().decode()
say(step="greeted", child=int(greeting.split()[1]), port=s.getsockname()[1])
t0 = time.monotonic()
errors, eof_at, pings, echoed = [], None, 0, 0


def more():
    t = time.monotonic() - t0
    return t < secs or (mode == "busy" and go and not os.path.exists(go) and t < 20)


try:
    while more() and eof_at is None:
        if mode == "idle":
            ready, _, _ = select.select([s], [], [], 0.05)
            if ready and not s.recv(4096):
                eof_at = round(time.monotonic() - t0, 2)
            continue
        line = b"ping %d\n" % pings
        s.sendall(line)
        pings += 1
        back = f.readline()
        if not back:
            eof_at = round(time.monotonic() - t0, 2)
        elif back == line:
            echoed += 1
        time.sleep(0.2)
except OSError as e:
    errors.append(errno.errorcode.get(e.errno, str(e.errno)))
say(step="result", mode=mode, errors=errors, eof_at=eof_at, pings=pings, echoed=echoed)
f.close()
s.close()
