#!/usr/bin/env bash
# Builds and runs Ferry in its embedded mode: SQLite in ./ferry-data (as root under a
# private home, /var/lib/ferry), the built-in local executor and the demo project.
# Extra arguments go to `ferry` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
# The quick-start profile (Cargo.toml): minutes less to build than --release, at a run-time
# cost docs/benchmarks.md measures. The Debian package is built with --release.
build_server() {
  info "building the server"
  cargo build --profile quick -p ferry-server --quiet
}
phase "tools" scripts/setup.sh
phase "web interface" build_spa_if_changed
phase "server" build_server
phase_summary
# As root, build and deploy steps run as unprivileged users (README: "Who repository
# code runs as"), who must be able to pass through to the data directory: a checkout
# under a private home (/root) keeps its data in /var/lib/ferry instead.
if [ "$(id -u)" = 0 ] && [ -z "${FERRY_DATA_DIR:-}" ] && ! runuser -u ferry-build -- test -x "$PWD"; then
  export FERRY_DATA_DIR=/var/lib/ferry
  info "the data directory is $FERRY_DATA_DIR (others cannot pass through $PWD)"
fi
exec target/quick/ferry "$@"
