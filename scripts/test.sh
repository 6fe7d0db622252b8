#!/usr/bin/env bash
# Runs every test: formatting, unit and integration tests (the store's on SQLite and
# on a real PostgreSQL), then the end-to-end tests in Chromium against a real server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/setup.sh --test
# A one-shot CI build gains nothing from incremental caches, which double target/'s size.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

info "checking formatting"
cargo fmt --all -- --check

if [ -z "${FERRY_TEST_POSTGRES_URL:-}" ]; then
  source scripts/postgres.sh
  start_postgres
fi

info "unit and integration tests"
# The multi-host and crash tests run the real agent binary as separate processes.
cargo build --quiet -p ferry-agent
cargo test --quiet

build_spa
info "building the server for the end-to-end tests"
cargo build --quiet -p ferry-server -p ferry-agent

info "end-to-end tests (Chromium)"
(cd end2end && npx playwright test)

if [ "$(id -u)" = 0 ]; then
  info "the Debian package, installed and run"
  scripts/test-package.sh
else
  info "skipping the Debian package's test: installing it needs root (CI runs as root)"
fi
info "all tests passed"
