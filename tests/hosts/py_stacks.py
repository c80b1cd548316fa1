"""py_stacks.py MODE - opens one connection to a local server of its own the way MODE says, keeps
it, prints "ready pid=PID" (and "child=PID" for fork and spawn) and waits for its stdin to close.
The line that asks for the connection carries a comment "# opens: MODE", so that the test can
check that the recorded Python stack names this file and that line. Modes:
  thread   socket.create_connection in a thread (the interpreter lock is released around connect)
  requests requests.get with the response kept (urllib3's pool keeps the connection)
  asyncio  asyncio.open_connection
  uvloop   asyncio.open_connection on uvloop (libuv connects with the interpreter lock held)
  httpx    httpx.AsyncClient streaming a response (anyio connects in a task of its own)
  accept   an asyncio server: the accepted connection's stack (the loop accepts: it names the
           line that runs the loop)
  joins    five connections each made in a task of a library's (tests/hosts/site-packages/
           task_shapes.py), awaited directly, by gather, wait_for, wait and a TaskGroup; on uvloop
           with a second argument "uvloop"
  tserver  socketserver in a thread: the accepted connection's stack (accepted with the lock
           released: the socket object's audit event reads it)
  fork     os.fork; the child connects (socket.create_connection) in its main thread
  spawn    subprocess.Popen of this file in thread mode while threads run here"""
import asyncio
import os
import socket
import subprocess
import sys
import threading

MODE = sys.argv[1]
held = []


def serve():
    """A server that answers one HTTP response per connection and keeps it open."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def one(c):
        try:
            c.recv(4096)
            c.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 100)
        except OSError:
            pass
        held.append(c)

    def loop():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=one, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def wait_stdin():
    sys.stdin.read()


def thread_mode(port):
    def run():
        held.append(socket.create_connection(("127.0.0.1", port)))  # opens: thread

    t = threading.Thread(target=run)
    t.start()
    t.join()


def requests_mode(port):
    import requests

    held.append(requests.get(f"http://127.0.0.1:{port}/", stream=True))  # opens: requests


async def open_and_keep(port):
    held.append(await asyncio.open_connection("127.0.0.1", port))  # opens: asyncio (uvloop too)


async def httpx_fetch(client, port):
    req = client.build_request("GET", f"http://127.0.0.1:{port}/")
    held.append(await client.send(req, stream=True))  # opens: httpx


async def httpx_main(port):
    import httpx

    async with httpx.AsyncClient() as client:
        await httpx_fetch(client, port)
        print(f"ready pid={os.getpid()}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, wait_stdin)


async def accept_main():
    done = asyncio.Event()

    async def handler(r, w):
        held.append(w)
        done.set()

    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    # a plain client thread connects: its stack is not the one looked at
    threading.Thread(target=lambda: held.append(socket.create_connection(("127.0.0.1", port))), daemon=True).start()
    await done.wait()
    print(f"ready pid={os.getpid()}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, wait_stdin)


def main():
    port = serve()
    if MODE == "thread":
        thread_mode(port)
    elif MODE == "requests":
        requests_mode(port)
    elif MODE in ("asyncio", "uvloop"):
        if MODE == "uvloop":
            import uvloop

            uvloop.install()

        async def run():
            await open_and_keep(port)
            print(f"ready pid={os.getpid()}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, wait_stdin)

        asyncio.run(run())
        return
    elif MODE == "httpx":
        asyncio.run(httpx_main(port))
        return
    elif MODE == "accept":
        asyncio.run(accept_main())  # opens: accept (asyncio accepts in the loop, run from here)
        return
    elif MODE == "joins":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "site-packages"))
        import task_shapes

        if sys.argv[2:] == ["uvloop"]:
            import uvloop

            uvloop.install()

        async def run():
            for shape in task_shapes.SHAPES:
                held.append(await getattr(task_shapes, shape)(port))  # opens: joins
            print(f"ready pid={os.getpid()}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, wait_stdin)

        asyncio.run(run())
        return
    elif MODE == "tserver":
        import socketserver

        class Keep(socketserver.BaseRequestHandler):
            def handle(self):  # kept open: the server closes a request when this returns
                got.set()
                threading.Event().wait()

        got = threading.Event()
        srv = socketserver.TCPServer(("127.0.0.1", 0), Keep)
        threading.Thread(target=lambda: srv.serve_forever(), daemon=True).start()  # opens: tserver
        held.append(socket.create_connection(srv.server_address))
        got.wait(10)
    elif MODE == "fork":
        # threads busy in the interpreter while it forks
        for _ in range(2):
            threading.Thread(target=lambda: sum(range(10**8)), daemon=True).start()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            held.append(socket.create_connection(("127.0.0.1", port)))  # opens: fork
            print(f"child=ready pid={os.getpid()}", flush=True)
            os.read(r, 1)
            os._exit(0)
        os.close(r)
        print(f"child={pid}", flush=True)
        print(f"ready pid={os.getpid()}", flush=True)
        wait_stdin()
        os.close(w)
        os.waitpid(pid, 0)
        return
    elif MODE == "spawn":
        for _ in range(2):
            threading.Thread(target=lambda: sum(range(10**8)), daemon=True).start()
        child = subprocess.Popen([sys.executable, __file__, "thread"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = child.stdout.readline()
        print(f"child={child.pid} {line.strip()}", flush=True)
        print(f"ready pid={os.getpid()}", flush=True)
        wait_stdin()
        child.stdin.close()
        child.wait()
        return
    print(f"ready pid={os.getpid()}", flush=True)
    wait_stdin()


main()
