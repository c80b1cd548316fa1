# The README's PostgreSQL guide, for real: PostgreSQL (Debian's postgresql) under the shim with an idle timeout on inbound connections:
# `connwarden run --only in --idle-timeout 2s -- postgres`, on 127.0.0.1. The postmaster accepts
# each client, forks a backend and closes its own copy: the backend, the connection's only
# holder, polices it. Three psql sessions at once:
# - idle: a query, then silent 5 s: its backend reaps it 2 s after the query, and psql's next
#   query finds "server closed the connection unexpectedly";
# - busy: a query every 200 ms for 6 s: never reaped, every answer comes;
# - a query that runs 4 s (SELECT pg_sleep(4)): the session waits on the server, and the wire is
#   idle all that time, so it is reaped at 2 s like the idle one, and the backend finds out when
#   it sends the result (what the README tells users: an idle timeout above the longest query).
# The postmaster reaps nothing and holds nothing. The same idle session on a second server
# without the shim lives on. Runs as root (postgres refuses it) through runuser as the postgres
# user, or as the user running the test.
. "$(dirname "$0")/lib.bash"
[ -f "$CW_LIB" ] || fail "build the library first (make all)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/postgres" ] && command -v psql >/dev/null || fail "install postgresql (scripts/deps)"

readme=$(sed -n '/^### PostgreSQL/,/^### /p' "$ROOT/README.md")
assert_contains "$readme" "connwarden run --only in --idle-timeout" "the README's run line"
assert_contains "$readme" "/bin/postgres -D" "the README's postgres line"
lost="server closed the connection unexpectedly"
broken="could not send data to client: Broken pipe"
assert_contains "$readme" "$lost" "what the README says psql reports"
assert_contains "$readme" "$broken" "what the README says the server logs"

# The servers' files, their user's own: the data directories, the stats sockets' directory, and
# a copy of the CLI and the library (the build may lie where that user cannot read).
PG=$T/pg
AS=()
mkdir -p "$PG/bin" "$PG/run"
chmod 700 "$PG/run"
cp "$CW" "$CW_LIB" "$PG/bin/"
if [ "$(id -u)" = 0 ]; then
  AS=(runuser -u postgres --)
  chmod 711 "$T"
  chown -R postgres: "$PG"
fi
"${AS[@]}" "$PGBIN/initdb" -D "$PG/shim" -A trust -U postgres --no-sync -E UTF8 --locale=C >"$T/initdb.log" 2>&1 ||
  fail "initdb: $(cat "$T/initdb.log")"
"${AS[@]}" cp -a "$PG/shim" "$PG/plain"

PMS=() # the postmasters: stopped (fast shutdown) at exit, then killed if need be
pg_stop() {
  local p
  for p in "${PMS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${PMS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  done
  cw_cleanup
}
trap pg_stop EXIT

# server NAME PREFIX...: a postmaster on a free port for data directory NAME, started by
# PREFIX (the CLI, or nothing); its port in PORT_NAME, its PID in PM_NAME.
server() {
  local name=$1 port pm
  shift
  port=$(free_port)
  bg "${AS[@]}" env CONNWARDEN_RUNDIR="$PG/run" CONNWARDEN_LOG=info "$@" "$PGBIN/postgres" -D "$PG/$name" \
    -c listen_addresses=127.0.0.1 -p "$port" -c unix_socket_directories="$PG" -c fsync=off \
    -c autovacuum=off -c shared_buffers=16MB >>"$T/$name.log" 2>&1
  wait_for 20 grep -q "ready to accept connections" "$T/$name.log"
  pm=$(head -1 "$PG/$name/postmaster.pid")
  PMS+=("$pm")
  CW_PIDS+=("$pm")
  eval "PORT_$name=$port PM_$name=$pm"
}
server shim "${CW_ENV[@]}" "$PG/bin/connwarden" run --only in --idle-timeout 2s --
server plain

# session NAME PORT FEED: psql reading what the shell code FEED prints, in the background; its
# output in $T/NAME.out (the first line: its backend's PID), its errors in .err, status in .rc
session() {
  bg bash -c "($3) | PGCONNECT_TIMEOUT=5 psql -X -At -h 127.0.0.1 -p $2 -U postgres postgres \
    >'$T/$1.out' 2>'$T/$1.err'; echo \$? >'$T/$1.rc'"
}
first='echo "SELECT pg_backend_pid();"'
session idle "$PORT_shim" "$first; sleep 5; echo \"SELECT 'after the pause';\""
session busy "$PORT_shim" "$first; for n in \$(seq 30); do echo \"SELECT \$n;\"; sleep 0.2; done"
session sleep "$PORT_shim" "$first; echo 'SELECT pg_sleep(4);'; echo \"SELECT 'after the sleep';\""
session plain "$PORT_plain" "$first; sleep 5; echo \"SELECT 'after the pause';\""
for s in idle busy sleep plain; do wait_for 10 test -s "$T/$s.out"; done
read -r IDLE <"$T/idle.out"
read -r BUSY <"$T/busy.out"
read -r SLEEP <"$T/sleep.out"

# reap_lines PID: the connwarden events of a backend saying it reaped its client's connection
reap_lines() { grep "^connwarden\[$1\]: reaped: fd [0-9]* in 127.0.0.1:" "$T/shim.log" || true; }

# The long query's session: reaped at 2 s, while its backend slept.
wait_for 15 test -s "$T/sleep.rc"
assert_eq "$(cat "$T/sleep.rc")" 2 "the long query's psql exit status (the connection lost)"
assert_contains "$(cat "$T/sleep.err")" "$lost" "what psql said of the long query"
assert_contains "$(reap_lines "$SLEEP")" "(idle)" "the long query's backend reaps its connection"
wait_for 10 grep -q "\[$SLEEP\] LOG:  $broken" "$T/shim.log" # at the end of its query

# The busy session, still at work: its backend holds its one connection, reaped nothing.
S=$(query "$PG/run/$BUSY.sock" stats)
assert_eq "$(jq_py "$S" '(j["active"]["in"], j["reaped"], j["released"])')" \
  "(1, {'idle': 0, 'lifetime': 0, 'manual': 0, 'evicted': 0}, 0)" "the busy backend's (active in, reaped, released)"

# The idle session: reaped by its backend; psql's query after the pause finds it gone.
wait_for 15 test -s "$T/idle.rc"
assert_eq "$(cat "$T/idle.rc")" 2 "the idle session's psql exit status (the connection lost)"
assert_contains "$(cat "$T/idle.err")" "$lost" "what psql said after the pause"
assert_eq "$(cat "$T/idle.out")" "$IDLE" "what the idle session got (its backend's PID only)"
assert_contains "$(reap_lines "$IDLE")" "(idle)" "the idle session's backend reaps its connection"

# The busy session: every answer, no reap.
wait_for 15 test -s "$T/busy.rc"
assert_eq "$(cat "$T/busy.rc")" 0 "the busy session's psql exit status ($(cat "$T/busy.err"))"
assert_eq "$(tail -n +2 "$T/busy.out" | tr '\n' ' ')" "$(seq 30 | tr '\n' ' ')" "the busy session's answers"
assert_eq "$(reap_lines "$BUSY")" "" "the busy backend's reaps"

# The postmaster accepted the three and closed its copies at once: nothing of its own to reap.
S=$(query "$PG/run/$PM_shim.sock" stats)
assert_eq "$(jq_py "$S" '(j["opened"]["in"], j["active"]["in"], j["reaped"], j["released"])')" \
  "(3, 0, {'idle': 0, 'lifetime': 0, 'manual': 0, 'evicted': 0}, 0)" "the postmaster's (opened in, active in, reaped, released)"
assert_eq "$(grep -c "^connwarden\[$PM_shim\]" "$T/shim.log")" 0 "the postmaster's events"

# Without the shim the idle session lives on.
wait_for 15 test -s "$T/plain.rc"
assert_eq "$(cat "$T/plain.rc")" 0 "without the shim: the idle session's psql exit status ($(cat "$T/plain.err"))"
assert_eq "$(tail -n +2 "$T/plain.out")" "after the pause" "without the shim: the answer after the pause"
