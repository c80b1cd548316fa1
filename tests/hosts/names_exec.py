"""names_exec.py NAME - connects to NAME (resolved: a listener of its own on the name's first
address) and to that listener by address with a proxy's CONNECT line for api.cw.test:443 as its
first write, then execs itself keeping both connections (and the listener) open; the new image
prints "exec'd" and waits for its stdin to close (a test reads its connections meanwhile)."""
import os
import socket
import sys

if len(sys.argv) > 2:
    print("exec'd", flush=True)
    sys.stdin.read()
    sys.exit(0)
name = sys.argv[1]
addr = socket.getaddrinfo(name, 0, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
srv = socket.socket()
srv.bind((addr, 0))
srv.listen(8)
port = srv.getsockname()[1]
by_name = socket.create_connection((name, port))
by_addr = socket.create_connection((addr, port))
by_addr.sendall(b"CONNECT api.cw.test:443 HTTP/1.1\r\nHost: api.cw.test:443\r\n\r\n")
for s in (srv, by_name, by_addr):
    s.set_inheritable(True)
os.execv(sys.executable, [sys.executable, __file__, name, "again"])
