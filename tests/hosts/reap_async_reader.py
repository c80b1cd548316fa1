"""reap_async_reader.py PORT [--loop asyncio|uvloop] - an event-loop client for the reap tests:
connects to 127.0.0.1:PORT and reads the stream until EOF, then prints one JSON line with the
seconds since it connected, since the last data, and the bytes read, and closes. Prints
{"pid": ...} first. Stays alive until stdin ends (at most 30 s) so its stats can be read. Runs
the same with or without the preload."""
import argparse
import asyncio
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
args = ap.parse_args()


def say(**fields):
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


async def main():
    r, w = await asyncio.open_connection("127.0.0.1", args.port)
    t0 = last = time.monotonic()
    loop = asyncio.get_running_loop()
    say(connected=True, loop=type(loop).__module__)
    n = 0
    end = "eof"
    try:
        while True:
            data = await asyncio.wait_for(r.read(4096), 20)
            if not data:
                break
            n += len(data)
            last = time.monotonic()
    except (OSError, asyncio.TimeoutError) as e:
        end = type(e).__name__
    t = time.monotonic()
    say(end=end, secs=round(t - t0, 3), idle=round(t - last, 3), bytes=n)
    w.close()
    try:
        await w.wait_closed()
    except OSError:
        pass


say(pid=os.getpid())
if args.loop == "uvloop":
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
asyncio.run(main())
deadline = time.monotonic() + 30
while time.monotonic() < deadline and sys.stdin.read(256):
    pass
