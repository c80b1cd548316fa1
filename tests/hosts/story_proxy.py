"""story_proxy.py --upstream PORT [--port P] [--pool-timeout S] [--max-secs S] - the proxy of the
outage story, built the way real ones are: an ASGI app served by uvicorn that forwards GET requests
to a streaming upstream on 127.0.0.1 through one shared httpx.AsyncClient with a small pool (4
connections), streaming the body through. Its bug is on purpose: no read timeout, and a stream whose
client went away is never closed, so a stalled upstream keeps its pool connection for ever. A
request that finds the pool full for S seconds (default 2) gets a 503. GET /_proxy/status answers
with its own counts. Prints {"listening": PORT, "pid": PID}; exits after --max-secs (120)."""
import argparse
import asyncio
import json
import os
import socket
import sys

import httpx
import uvicorn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", type=int, required=True)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--pool-timeout", type=float, default=2.0)
ap.add_argument("--max-secs", type=float, default=120)
args = ap.parse_args()

UPSTREAM = f"http://127.0.0.1:{args.upstream}"
client = None  # the one shared client, made at start-up
counts = {"forwarded": 0, "upstream_open": 0, "completed": 0, "pool_timeouts": 0,
          "upstream_errors": 0}


def log(msg):
    sys.stderr.write(f"story_proxy: {msg}\n")
    sys.stderr.flush()


async def reply(send, status, body, ctype=b"text/plain"):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def forward(scope, send):
    qs = scope["query_string"].decode("latin-1")
    url = UPSTREAM + scope["path"] + ("?" + qs if qs else "")
    counts["forwarded"] += 1
    started = False
    try:
        async with client.stream("GET", url) as upstream:
            counts["upstream_open"] += 1
            try:
                await send({"type": "http.response.start", "status": upstream.status_code,
                            "headers": [(b"content-type", upstream.headers.get(
                                "content-type", "text/plain").encode())]})
                started = True
                # The bug, as it was in production: nothing listens for the client's
                # http.disconnect, and uvicorn's send() after a disconnect quietly does nothing.
                # A stream whose client left is read to its end; a stalled one is waited on for
                # ever (no read timeout), and its pool connection is never given back.
                async for data in upstream.aiter_raw():
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                counts["completed"] += 1
            finally:
                counts["upstream_open"] -= 1  # leaving the block closes the upstream response
    except httpx.PoolTimeout:
        counts["pool_timeouts"] += 1
        log(f"503 {scope['path']}: no pool connection free within {args.pool_timeout:g}s")
        await reply(send, 503, b"upstream connection pool exhausted: no free connection within "
                    b"%gs\n" % args.pool_timeout)
    except httpx.HTTPError as e:
        counts["upstream_errors"] += 1
        if started:  # the client gets a cut-off stream; uvicorn ends its connection
            log(f"upstream stream cut: {type(e).__name__}: {e}")
        else:
            log(f"502 {scope['path']}: {type(e).__name__}: {e}")
            await reply(send, 502, f"upstream error: {type(e).__name__}\n".encode())


async def lifespan(receive, send):
    global client
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(None, pool=args.pool_timeout),
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=4))
            asyncio.get_running_loop().call_later(args.max_secs, os._exit, 0)
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] != "http":
        return
    elif scope["path"] == "/_proxy/status":
        await reply(send, 200, json.dumps(counts).encode(), b"application/json")
    elif scope["method"] != "GET":
        await reply(send, 405, b"only GET\n")
    else:
        await forward(scope, send)


sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", args.port))
sock.listen(128)  # connections made before uvicorn starts wait in the backlog
say(listening=sock.getsockname()[1], pid=os.getpid())
config = uvicorn.Config(app, loop="asyncio", http="h11", lifespan="on", log_level="warning",
                        access_log=False)
uvicorn.Server(config).run(sockets=[sock])
