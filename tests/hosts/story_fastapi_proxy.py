"""story_fastapi_proxy.py - the outage's proxy in its production shape: a FastAPI app, served by
`python3 -m uvicorn --app-dir tests/hosts story_fastapi_proxy:app --loop uvloop`, that streams
GET /PATH?QUERY from STORY_UPSTREAM (an http:// URL) through one shared httpx.AsyncClient with a
pool of 4: a StreamingResponse over client.send(..., stream=True), the response closed by
aclose() in the generator's finally. The code is right, and still loses its pool: when a client
goes away, Starlette cancels the generator, the aclose() in the finally is cancelled too, and
httpx keeps the connection "active" in its pool for good. A request that finds no free pool
connection within STORY_POOL_TIMEOUT seconds (default 2) gets a 503. GET /_proxy/status answers
with its own counts and what its pool holds (httpx's view). Exits after STORY_MAX_SECS (120)."""
import asyncio
import os

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

UPSTREAM = os.environ["STORY_UPSTREAM"].rstrip("/")
POOL_TIMEOUT = float(os.environ.get("STORY_POOL_TIMEOUT", "2"))
MAX_SECS = float(os.environ.get("STORY_MAX_SECS", "120"))

app = FastAPI()
client = httpx.AsyncClient(timeout=httpx.Timeout(None, pool=POOL_TIMEOUT),
                           limits=httpx.Limits(max_connections=4, max_keepalive_connections=4))
# forwarded: requests; pool_timeouts: 503s; closed: responses whose aclose() completed;
# close_cancelled: responses whose aclose() was itself cancelled (the lost pool connections)
counts = {"forwarded": 0, "pool_timeouts": 0, "upstream_errors": 0, "closed": 0,
          "close_cancelled": 0}


@app.on_event("startup")
async def startup():
    asyncio.get_running_loop().call_later(MAX_SECS, os._exit, 0)


@app.get("/_proxy/status")
async def status():
    pool = client._transport._pool  # httpcore's pool: what the program itself believes it holds
    conns = pool.connections
    return {**counts, "pool": {
        "connections": len(conns), "idle": sum(c.is_idle() for c in conns),
        "closed": sum(c.is_closed() for c in conns),
        "active": sum(not c.is_idle() and not c.is_closed() for c in conns)}}


@app.get("/{path:path}")
async def forward(path: str, request: Request):
    counts["forwarded"] += 1
    req = client.build_request("GET", f"{UPSTREAM}/{path}", params=request.query_params)
    try:
        upstream = await client.send(req, stream=True)  # opens (or reuses) a pool connection
    except httpx.PoolTimeout:
        counts["pool_timeouts"] += 1
        return PlainTextResponse(f"upstream connection pool exhausted: no free connection within "
                                 f"{POOL_TIMEOUT:g}s\n", status_code=503)
    except httpx.HTTPError as e:
        counts["upstream_errors"] += 1
        return PlainTextResponse(f"upstream error: {type(e).__name__}\n", status_code=502)

    async def body():
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            counts["upstream_errors"] += 1  # a cut stream (connwarden's reap)
            raise
        finally:
            try:
                await upstream.aclose()
                counts["closed"] += 1
            except BaseException:
                counts["close_cancelled"] += 1
                raise

    return StreamingResponse(body(), status_code=upstream.status_code,
                             media_type=upstream.headers.get("content-type", "text/plain"))
