"""guide_upstream.py READY [--max-secs S] - the upstream behind the guides' proxies: an HTTP/1.1
server on 127.0.0.1 (one thread per connection, keep-alive). GET /hold/NAME answers only once the
file NAME.go exists beside READY (bounded by 10 s), anything else answers "hello from upstream" at
once. Writes its port to READY when it listens; exits after S seconds (default 60)."""
import argparse
import http.server
import os
import socketserver
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("ready")
ap.add_argument("--max-secs", type=float, default=60)
args = ap.parse_args()
ctl = os.path.dirname(os.path.abspath(args.ready))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/hold/"):
            go = os.path.join(ctl, os.path.basename(self.path) + ".go")
            deadline = time.monotonic() + 10
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.02)
        body = b"hello from upstream\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
tmp = args.ready + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(tmp, args.ready)
threading.Timer(args.max_secs, lambda: os._exit(0)).start()
srv.serve_forever()
