# gunicorn with 4 sync workers (tests/hosts/tree_app.py: a request opens a new upstream connection
# with a blocking connect and holds it 300 ms), under `connwarden run --max-conns 2`, driven by 12
# requests at once. Per process (--cap-scope process) the counting upstream sees more than 2 at
# once; with --cap-scope tree never more than 2, every request succeeds, and the connects that
# waited went first come, first served across the workers. The tree, read from a worker's stats,
# has the master and its 4 workers and opened exactly the 12 upstream connections.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/count_server.bash"
. "$(dirname "$0")/tree_apps.bash"
[ -d /usr/lib/python3/dist-packages/gunicorn ] || fail "python3-gunicorn is not installed (scripts/deps installs it)"

shares_one_cap "gunicorn, 4 sync workers" 5 4 INT -- $PY -m gunicorn -w 4 -b 127.0.0.1:@PORT@ --chdir "$HOSTSRC" tree_app:app
