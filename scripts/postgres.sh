# Starts a throwaway PostgreSQL from the Debian packages for the tests (sourced by
# test.sh). Exports FERRY_TEST_POSTGRES_URL; the server stops when the script exits.
start_postgres() {
  local bin dir port run
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  dir=$(mktemp -d /tmp/ferry-pg.XXXXXX)
  PG_DIR=$dir
  # Between the test harness's port range (21000–32000) and the kernel's ephemeral ports.
  port=$(shuf -i 32100-32700 -n 1)
  run=()
  # PostgreSQL refuses to run as root.
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; run=(runuser -u postgres --); fi
  info "starting PostgreSQL on port $port"
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  export FERRY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  PG_STOP=("${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop)
  trap '"${PG_STOP[@]}" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"' EXIT
}
