"""names_tls_server.py CERT KEY [--max-secs S] - a server on 127.0.0.1 that speaks TLS (CERT, KEY)
to a client whose first byte opens a TLS record, and echoes lines to any other. Over TLS it
answers HTTP/1.1 keep-alive: GET PATH?ms=M after M milliseconds (0 when absent) with 100 bytes
of body (a-z and a newline repeated), closing after the answer when asked (Connection: close).
One thread per connection. Prints {"listening": PORT, "pid": PID}, then one JSON line per
connection as it starts: {"tls": true, "sni": NAME or null} with the server name the handshake
brought (what the client really sent), or {"tls": false}. Exits after S seconds (30)."""
import argparse
import os
import socket
import ssl
import sys
import time
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say, serve_threads  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("cert")
ap.add_argument("key")
ap.add_argument("--max-secs", type=float, default=30)
args = ap.parse_args()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)
BODY = (b"abcdefghijklmnopqrstuvwxyz\n" * 4)[:100]


def seen_name(tls, name, _ctx):
    """The handshake's server name, as the server got it (None: the hello had none)."""
    tls.sni = name


ctx.sni_callback = seen_name


def serve_http(tls):
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            chunk = tls.recv(65536)
            if not chunk:
                return
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        target = (lines[0].split(" ") + [""])[1]
        ms = float(parse_qs(urlsplit(target).query).get("ms", ["0"])[0])
        close = any(l.lower().replace(" ", "") == "connection:close" for l in lines[1:])
        time.sleep(ms / 1000)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n"
                    % (len(BODY), b"close" if close else b"keep-alive") + BODY)
        if close:
            return


def serve(conn):
    with conn:
        try:
            first = conn.recv(1, socket.MSG_PEEK)
            if first == b"\x16":  # a TLS handshake record
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    say(tls=True, sni=getattr(tls, "sni", None))
                    serve_http(tls)
            elif first:
                say(tls=False)
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data)
        except (OSError, ssl.SSLError) as e:
            sys.stderr.write(f"names_tls_server: {e!r}\n")


serve_threads(serve, max_secs=args.max_secs)
