"""names_proxy_client.py get PROXY URL | tunnel CTL PROXY HOST:PORT | leak PROXY HOST:PORT - Python
clients of a forward proxy (PROXY: NAME:PORT or ADDRESS:PORT, resolved as a program does).
get: one request with requests through the proxy (proxies={"http": ...}, so the proxy gets it
in absolute form); prints {"status", "bytes"}.
tunnel: connects to the proxy and announces step "connected" (hostctl.py) before writing a byte;
then asks CONNECT HOST:PORT, one GET through the tunnel (the answer read), and announces step
"tunnelled"; then closes and prints {"done": 1}.
leak: the same tunnel and GET with no steps; then the socket is forgotten (detached from its
object, never closed) and the program exits with it open; prints {"pid", "local"}."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say, step  # noqa: E402


def read_until(s, end, what):
    got = b""
    while not got.endswith(end):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(f"closed before {what}: {got[:80]!r}")
        got += chunk
    return got


def tunnel(s, target):
    """CONNECT target through the proxy on s, then one GET through the tunnel, its answer read."""
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    if not read_until(s, b"\r\n\r\n", "the CONNECT answer").startswith(b"HTTP/1.1 200"):
        sys.exit("CONNECT refused")
    s.sendall(f"GET /?ms=0&size=27 HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    read_until(s, b"\r\n\r\nabcdefghijklmnopqrstuvwxyz\n", "the answer")  # its 27 bytes of body


def connect(proxy):
    host, _, port = proxy.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=10)


mode = sys.argv[1]
if mode == "get":
    import requests

    proxy, url = sys.argv[2:4]
    r = requests.get(url, proxies={"http": "http://" + proxy}, timeout=10)
    say(status=r.status_code, bytes=len(r.content))
    sys.exit(0 if r.ok else 1)
elif mode == "tunnel":
    ctl, proxy, target = sys.argv[2:5]
    s = connect(proxy)
    step(ctl, "connected")
    tunnel(s, target)
    step(ctl, "tunnelled")
    s.close()
    say(done=1)
elif mode == "leak":
    proxy, target = sys.argv[2:4]
    s = connect(proxy)
    tunnel(s, target)
    say(pid=os.getpid(), local=s.getsockname()[1])
    s.detach()  # forgotten: nothing closes the fd before the process exits
else:
    sys.exit(__doc__)
