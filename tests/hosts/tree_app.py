"""tree_app.py - a web app for the tree-cap tests of real servers: `app` is WSGI (gunicorn's sync
workers), `asgi` is ASGI (uvicorn, gunicorn's UvicornWorker). GET /up?ms=M opens a new connection
to the counting server (cap_count_server.py --http) on 127.0.0.1:$TREE_UPSTREAM, asks it for an
answer M ms later, reads it and closes it; the reply is one JSON line: the worker's pid, when
its connect began and when it was connected (time.monotonic_ns(), one clock for every process;
read next to the connect, the socket made already), and the upstream's status and body size. A
blocking connect (then http.client) in WSGI; asyncio streams (a non-blocking connect) in ASGI.
Any other path answers "ready" without the upstream. Runs without the preload as well: then
nothing waits."""
import asyncio
import http.client
import json
import os
import socket
import time
from urllib.parse import parse_qs

UPSTREAM = int(os.environ.get("TREE_UPSTREAM", "0"))


def ms_of(query):
    return int(parse_qs(query).get("ms", ["300"])[0])


def reply(start, got, status, size):
    return (json.dumps({"pid": os.getpid(), "start": start, "got": got, "status": status, "size": size}) + "\n").encode()


def app(environ, start_response):
    if environ["PATH_INFO"] != "/up":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ready\n"]
    ms = ms_of(environ.get("QUERY_STRING", ""))
    s = socket.socket()
    start = time.monotonic_ns()
    s.connect(("127.0.0.1", UPSTREAM))
    got = time.monotonic_ns()
    c = http.client.HTTPConnection("127.0.0.1", UPSTREAM)
    c.sock = s
    c.request("GET", "/?size=100&ms=%d" % ms)
    r = c.getresponse()
    body = r.read()
    c.close()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [reply(start, got, r.status, len(body))]


async def upstream(ms):
    start = time.monotonic_ns()
    reader, writer = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    got = time.monotonic_ns()
    writer.write(b"GET /?size=100&ms=%d HTTP/1.1\r\nHost: up\r\nConnection: close\r\n\r\n" % ms)
    data = await reader.read()  # to EOF: the server closes after a Connection: close answer
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return reply(start, got, int(head.split(b" ")[1]), len(body))


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/up":
        body = await upstream(ms_of(scope["query_string"].decode()))
    else:
        body = b"ready\n"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
