#!/usr/bin/env bash
# Builds and runs Ferry in its embedded mode: SQLite in ./ferry-data, the built-in
# local executor and the demo project. Extra arguments go to `ferry` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/setup.sh
build_spa
info "building the server"
cargo build --release -p ferry-server --quiet
exec target/release/ferry "$@"
