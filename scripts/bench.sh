#!/usr/bin/env bash
# Ferry's benchmarks. Results go into docs/benchmarks.md by hand, with this command.
#  1. SPA weight: the wasm, JS, CSS and HTML of the first load, and the lazily loaded
#     pages' pieces, raw and precompressed.
#  2. Live latency: log lines from production to 100 websocket clients (see
#     server/benches/live_latency.rs).
#  3. Deployment overhead against a shell script, and rollback time of a warm app
#     (server/benches/deploy_overhead.rs).
#  4. Memory: server idle and with 1,000 agents connected, agent idle
#     (server/benches/footprint.rs, on the release binaries).
#  5. Webhook received to the first deploy step running, p50/p99
#     (server/benches/webhook_latency.rs).
#  6. Fan-out: a rolling deployment to 100 agents on loopback against Ansible doing the
#     same work, and server CPU per extra host (server/benches/fan_out.rs; installs
#     ansible-core from PyPI into .tools/ansible).
#  7. Over SSH: a rolling deployment to 20 real sshd hosts (network namespaces as
#     root), Ferry over SSH against Ansible over SSH and Ferry agents on the same hosts
#     (server/benches/ssh_fan_out.rs).
#  8. The interface at scale in Chromium: 50 services × 6 environments (load, live
#     updates, promotion) and a 100,000-line log (streaming, opening, search, scrolling)
#     (end2end/bench/ui-scale.spec.ts; FERRY_BENCH_DATABASE_URL runs it on PostgreSQL).
#  9. Several replicas on PostgreSQL: live latency across replicas (live_latency.rs
#     with FERRY_BENCH_REPLICAS=2), throughput through 1 and 3 replicas, and failover
#     after a SIGKILL, p50/p99 over 20 kills, with steps on the built-in agent (the
#     deployment fails, the queue moves on) and on an agent (it goes on elsewhere)
#     (server/benches/replicas.rs).
# 10. The quick start's build profile: deployment overhead and live latency again,
#     built as scripts/run.sh builds the server (--profile quick).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
[ -f dist/index.html ] || { scripts/setup.sh; build_spa; }

info "SPA weight (dist/, as served: precompressed after the split and wasm-opt)"
# The first load is everything but the lazily loaded pieces (split-<hash>/*.wasm); the
# browser benchmark below also measures what a fresh browser actually downloads.
weigh() {
  local label=$1; shift
  local raw=0 br=0 gz=0 f
  for f in "$@"; do
    printf '  %-44s %9d bytes, brotli %8d, gzip %8d\n' "${f#dist/}" "$(wc -c < "$f")" "$(wc -c < "$f.br")" "$(wc -c < "$f.gz")"
    raw=$((raw + $(wc -c < "$f"))); br=$((br + $(wc -c < "$f.br"))); gz=$((gz + $(wc -c < "$f.gz")))
  done
  printf '  %-44s %9d bytes, brotli %8d, gzip %8d\n' "$label" "$raw" "$br" "$gz"
}
weigh "first load" dist/*.wasm dist/*.js dist/*.css dist/index.html dist/split-*/*.js
weigh "lazily loaded pieces" dist/split-*/*.wasm

info "live latency (release build)"
cargo bench -p ferry-server --bench live_latency --quiet

info "deployment overhead and rollback time (release build)"
cargo bench -p ferry-server --bench deploy_overhead --quiet

info "webhook to first deploy step (release build)"
cargo bench -p ferry-server --bench webhook_latency --quiet

info "memory footprint (release binaries)"
cargo build --release --quiet -p ferry-server -p ferry-agent
cargo bench -p ferry-server --bench footprint --quiet

info "several replicas on PostgreSQL: live latency across replicas, throughput, failover"
source scripts/postgres.sh
start_postgres
# A database of its own for each run (the benchmarks create the same projects).
pg_database() {
  psql -q "$FERRY_TEST_POSTGRES_URL" -c "CREATE DATABASE $1" >/dev/null && echo "${FERRY_TEST_POSTGRES_URL%/*}/$1"
}
echo "live latency, one replica on PostgreSQL:"
FERRY_BENCH_DATABASE_URL=$(pg_database live_one) cargo bench -p ferry-server --bench live_latency --quiet
echo "live latency, two replicas: lines recorded by one, clients on the other:"
FERRY_BENCH_DATABASE_URL=$(pg_database live_two) FERRY_BENCH_REPLICAS=2 \
  cargo bench -p ferry-server --bench live_latency --quiet
FERRY_BENCH_DATABASE_URL=$FERRY_TEST_POSTGRES_URL cargo bench -p ferry-server --bench replicas --quiet

info "fan-out to 100 agents, against Ansible (release binaries)"
if [ ! -x .tools/ansible/bin/ansible-playbook ]; then
  python3 -m venv .tools/ansible
  .tools/ansible/bin/pip install --quiet ansible-core
fi
cargo bench -p ferry-server --bench fan_out --quiet

info "rolling out over SSH to 20 hosts: Ferry, Ansible, Ferry agents (release binaries)"
scripts/setup.sh --test  # openssh-server
cargo bench -p ferry-server --bench ssh_fan_out --quiet

info "the interface at scale, in Chromium (release binary)"
scripts/setup.sh --test
(cd end2end && FERRY_E2E_BINARY="$PWD/../target/release/ferry" npx playwright test --config bench.config.ts)

info "the quick start's build (scripts/run.sh: --profile quick) against --release, above"
echo "deployment overhead and rollback time, quick profile:"
cargo bench -p ferry-server --bench deploy_overhead --profile quick --quiet
echo "live latency, quick profile:"
cargo bench -p ferry-server --bench live_latency --profile quick --quiet
