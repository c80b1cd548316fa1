"""uvloop_client.py PORT COUNT RELEASE [--loop uvloop|asyncio] [--times K] - an asyncio client for
the end-to-end tests: COUNT short connections to the echo server on 127.0.0.1:PORT, at most 8 at
once; each writes a few hundred bytes, reads the K-fold reply, then close() and wait_closed().
Under uvloop (Debian's python3-uvloop) libuv does the socket work and closes with
syscall(SYS_close). Prints one JSON line with its own counts and "done", then waits (at most
20 s) for the file RELEASE."""
import argparse
import asyncio
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("count", type=int)
ap.add_argument("release")
ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
ap.add_argument("--times", type=int, default=1)
args = ap.parse_args()

if args.loop == "uvloop":
    import uvloop
    uvloop.install()

tally = {"conns": 0, "bytes_out": 0, "bytes_in": 0}


async def one(i, gate):
    async with gate:
        payload = bytes((i + j) & 0xFF for j in range(10 * (i % 50 + 1)))
        reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        writer.write(payload)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readexactly(len(payload) * args.times), 10)
        if reply != payload * args.times:
            raise SystemExit(f"connection {i}: wrong reply")
        writer.close()
        await writer.wait_closed()
        tally["conns"] += 1
        tally["bytes_out"] += len(payload)
        tally["bytes_in"] += len(reply)


async def main():
    gate = asyncio.Semaphore(8)
    await asyncio.wait_for(asyncio.gather(*(one(i, gate) for i in range(args.count))), 20)
    loop = type(asyncio.get_running_loop())
    return f"{loop.__module__}.{loop.__name__}"


loop_name = asyncio.run(main())
print(json.dumps(dict(tally, pid=os.getpid(), loop=loop_name)), flush=True)
print("done", flush=True)
deadline = time.monotonic() + 20
while not os.path.exists(args.release) and time.monotonic() < deadline:
    time.sleep(0.01)
sys.exit(0)
