"""names_tls_client.py CTL PORT CAFILE KIND... - connections to 127.0.0.1:PORT by address (no name
resolved), one per KIND: "sni=NAME" is TLS with the server name NAME (checked against the
certificate from CAFILE), "tls" is TLS with no server name in its hello, "plain" sends a line of
text and reads its echo. Each TLS connection asks GET / and reads the answer. With every
connection open it announces step "hold" (hostctl.py) with "local": the local port of each, in
KIND order, and holds them until CTL/hold.go appears; then closes them and prints {"done": N}."""
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say, step  # noqa: E402

ctl, port, cafile, kinds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]


def http_get(tls, host):
    tls.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
    got = b""
    while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < 100:  # 100 bytes of body
        chunk = tls.recv(65536)
        if not chunk:
            raise SystemExit("the server closed before its answer")
        got += chunk
    if not got.startswith(b"HTTP/1.1 200 "):
        raise SystemExit(f"answer: {got[:80]!r}")


def one(kind):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if kind == "plain":
        sock.sendall(b"hello\n")
        if sock.recv(100) != b"hello\n":
            raise SystemExit("no echo")
        return sock
    ctx = ssl.create_default_context(cafile=cafile)
    name = kind.partition("=")[2] if kind.startswith("sni=") else None
    if name is None:
        ctx.check_hostname = False  # the certificate is still verified, against no name
    tls = ctx.wrap_socket(sock, server_hostname=name)
    http_get(tls, name or "127.0.0.1")
    return tls


conns = [one(k) for k in kinds]
step(ctl, "hold", local=[c.getsockname()[1] for c in conns])
for c in conns:
    c.close()
say(done=len(conns))
