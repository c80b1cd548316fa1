# `python3 -m uvicorn --workers 3` (multiprocessing's spawn: each worker is a new python3 exec'd
# by the main process, which joins the tree through the environment; tests/hosts/tree_app.py's
# ASGI app: a request opens a new upstream connection with asyncio streams and holds it 300 ms),
# under `connwarden run --max-conns 2`, driven by 12 requests at once. Per process the counting
# upstream sees more than 2 at once; with --cap-scope tree never more than 2, every request
# succeeds, and the connects that waited went first come, first served across the workers. The
# tree, read from a worker's stats, has uvicorn's main process, multiprocessing's resource tracker
# and the 3 workers, and opened exactly the 12 upstream connections.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/tree_apps.bash"
[ -d /usr/lib/python3/dist-packages/uvicorn ] || fail "python3-uvicorn is not installed (scripts/deps installs it)"

shares_one_cap "uvicorn --workers 3" 5 6 TERM -- \
  $PY -m uvicorn --workers 3 --host 127.0.0.1 --port @PORT@ --app-dir "$HOSTSRC" --lifespan off tree_app:asgi
