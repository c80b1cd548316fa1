"""guide_fastapi_app.py - the FastAPI app of the README's uvicorn guide: GET / answers at once,
GET /upstream fetches GUIDE_UPSTREAM (an http:// URL) with one shared httpx.AsyncClient (a
connection pool, like a real proxy's) and returns what it got. Runs the same with or without the
preload: `python3 -m uvicorn --app-dir tests/hosts guide_fastapi_app:app`."""
import os

import httpx
from fastapi import FastAPI

app = FastAPI()
client = httpx.AsyncClient(timeout=5.0)


@app.get("/")
async def root():
    return {"ok": True, "pid": os.getpid()}


@app.get("/upstream")
async def upstream():
    r = await client.get(os.environ["GUIDE_UPSTREAM"])
    return {"status": r.status_code, "body": r.text, "pid": os.getpid()}
