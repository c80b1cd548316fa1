"""py_work.py startup N | connect N - Python work for make bench, timed here, printed as key=value.
startup: N interpreters started one after another, each importing asyncio, email, json and
http.client (the shim is whatever LD_PRELOAD names: the children inherit it); ms_per_run.
connect: N socket.create_connection + close to a listener of this process whose backlog a thread
drains; us_per_conn."""
import socket
import subprocess
import sys
import threading
import time

mode, n = sys.argv[1], int(sys.argv[2])
if mode == "startup":
    cmd = [sys.executable, "-c", "import asyncio, email, json, http.client"]
    subprocess.run(cmd, check=True)  # warm the page cache
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(cmd, check=True)
    print("ms_per_run=%.4f" % ((time.perf_counter() - t0) * 1000 / n))
elif mode == "connect":
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    addr = srv.getsockname()

    def drain():
        for _ in range(n + 100):
            c, _ = srv.accept()
            c.close()

    threading.Thread(target=drain, daemon=True).start()
    for _ in range(100):  # warm up
        socket.create_connection(addr).close()
    t0 = time.perf_counter()
    for _ in range(n):
        socket.create_connection(addr).close()
    print("us_per_conn=%.4f" % ((time.perf_counter() - t0) * 1e6 / n))
else:
    sys.exit("usage: py_work.py startup N | connect N")
