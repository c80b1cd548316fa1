"""leaks_unittest.py INFOFILE - a unittest suite of the kind the leak check is for. An HTTP API is
served by a thread of the same process (HTTP/1.1 keep-alive; the server closes a connection that
stays idle for 0.1 s) and the tests reach it through one shared client connection, as a
module-level session would. test_a forgets to read and close its response: the shared connection
can no longer be reused, the server closes its idle side, and the client holds it in CLOSE_WAIT
until interpreter shutdown closes it. The other tests use their own connections and close them.
Writes "leaked_local=PORT server=PORT" to INFOFILE."""
import http.client
import http.server
import sys
import threading
import time
import unittest

INFO = sys.argv[1]
SERVER = None
SESSION = None


class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 0.1  # idle keep-alive connections are closed by the server after this long

    def do_GET(self):
        if self.path == "/report":
            time.sleep(1.0)  # a slow endpoint: the suite takes about a second
        body = b'{"path": "%s"}' % self.path.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

    def log_error(self, *args):
        pass


def setUpModule():
    global SERVER
    SERVER = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    SERVER.daemon_threads = False  # server_close() waits for every handler: none outlives the suite
    threading.Thread(target=SERVER.serve_forever, daemon=True).start()


def tearDownModule():
    SERVER.shutdown()
    SERVER.server_close()


def session():
    global SESSION
    if SESSION is None:
        SESSION = http.client.HTTPConnection("127.0.0.1", SERVER.server_address[1], timeout=5)
    return SESSION


def get(path):
    conn = http.client.HTTPConnection("127.0.0.1", SERVER.server_address[1], timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class ApiTests(unittest.TestCase):
    def test_a_user_is_found(self):
        s = session()
        s.request("GET", "/users/1")
        resp = s.getresponse()
        self.assertEqual(resp.status, 200)  # the body is never read, the response never closed
        with open(INFO, "w") as f:
            f.write(f"leaked_local={s.sock.getsockname()[1]} server={SERVER.server_address[1]}\n")

    def test_b_health(self):
        self.assertEqual(get("/health"), (200, b'{"path": "/health"}'))

    def test_c_report(self):
        status, body = get("/report")
        self.assertEqual(status, 200)
        self.assertIn(b"/report", body)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]])
