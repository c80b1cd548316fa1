# gunicorn with 4 uvicorn workers (-k uvicorn.workers.UvicornWorker; tests/hosts/tree_app.py's ASGI
# app: a request opens a new upstream connection with asyncio streams, a non-blocking connect that
# waits in the tree's queue, and holds it 300 ms), under `connwarden run --max-conns 2`, driven by
# 12 requests at once. Per process the counting upstream sees more than 2 at once; with
# --cap-scope tree never more than 2, every request succeeds, and the connects that waited went
# first come, first served across the workers and within each. The tree, read from a worker's
# stats, has the master and its 4 workers and opened exactly the 12 upstream connections.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/tree_apps.bash"
for p in gunicorn uvicorn; do
  [ -d /usr/lib/python3/dist-packages/$p ] || fail "python3-$p is not installed (scripts/deps installs it)"
done

shares_one_cap "gunicorn, 4 uvicorn workers" 5 6 INT -- \
  $PY -m gunicorn -w 4 -k uvicorn.workers.UvicornWorker -b 127.0.0.1:@PORT@ --chdir "$HOSTSRC" tree_app:asgi
