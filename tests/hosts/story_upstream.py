"""story_upstream.py [--port P] [--max-secs S] - the streaming API of the outage story, on
127.0.0.1 (HTTP/1.1, keep-alive, asyncio). GET /stream answers with a chunked body, one chunk every
20 ms (?chunks=N, default 5; ?every=MS, the pause between chunks); GET /stream?stall=1 sends the
headers and a first chunk, then sends nothing more and keeps the connection open until the client
closes it. GET /status answers with its own counts as JSON: connections open now, streams stalled
now, streams still sending now ("streaming"), streams completed, streams whose client went away
before the end ("cut"). Prints {"listening": PORT, "pid": PID}; exits after S seconds (default
120)."""
import argparse
import asyncio
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostctl import say  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--max-secs", type=float, default=120)
args = ap.parse_args()

counts = {"open": 0, "accepted": 0, "stalled": 0, "stalls_ended": 0, "streaming": 0, "cut": 0,
          "completed": 0}


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


async def write_head(writer, status, ctype, chunked, length=0):
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {length}\r\n"
    writer.write((head + "\r\n").encode())
    await writer.drain()


async def stream(reader, writer, query):
    """The streamed answer. Returns False when the connection must end (a stall was abandoned)."""
    n = int(query.get("chunks", ["5"])[0])
    every = float(query.get("every", ["20"])[0]) / 1000
    stall = query.get("stall", ["0"])[0] == "1"
    await write_head(writer, "200 OK", "text/plain", chunked=True)
    if stall:
        writer.write(chunk(b"token 0 (then the upstream stalls)\n"))
        await writer.drain()
        counts["stalled"] += 1
        try:
            while await reader.read(65536):  # silence until the client goes away
                pass
        except OSError:
            pass
        counts["stalled"] -= 1
        counts["stalls_ended"] += 1
        return False
    counts["streaming"] += 1
    try:
        for i in range(n):
            writer.write(chunk(b"token %d\n" % i))
            await writer.drain()
            await asyncio.sleep(every)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except OSError:
        counts["cut"] += 1
        raise
    finally:
        counts["streaming"] -= 1
    counts["completed"] += 1
    return True


async def serve(reader, writer):
    counts["open"] += 1
    counts["accepted"] += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(line) != 3 or line[0] != "GET":
                body = b"only GET\n"
                await write_head(writer, "405 Method Not Allowed", "text/plain", False, len(body))
                writer.write(body)
                await writer.drain()
                return
            url = urllib.parse.urlsplit(line[1])
            query = urllib.parse.parse_qs(url.query)
            if url.path == "/stream":
                if not await stream(reader, writer, query):
                    return
            elif url.path == "/status":
                body = json.dumps(counts).encode()
                await write_head(writer, "200 OK", "application/json", False, len(body))
                writer.write(body)
                await writer.drain()
            else:
                body = b"not found\n"
                await write_head(writer, "404 Not Found", "text/plain", False, len(body))
                writer.write(body)
                await writer.drain()
    except OSError:
        pass
    finally:
        counts["open"] -= 1
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", args.port, backlog=128)
    say(listening=server.sockets[0].getsockname()[1], pid=os.getpid())
    async with server:
        await asyncio.sleep(args.max_secs)


asyncio.run(main())
