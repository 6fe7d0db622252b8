#!/usr/bin/env bash
# Ferry's benchmarks. Results go into docs/benchmarks.md by hand, with this command.
#  1. SPA weight: the wasm, JS and CSS Trunk built, raw and gzip-compressed.
#  2. Live latency: log lines from production to 100 websocket clients (see
#     server/benches/live_latency.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
[ -f dist/index.html ] || { scripts/setup.sh; build_spa; }

info "SPA weight (dist/)"
total_raw=0; total_gz=0
for f in dist/*.wasm dist/*.js dist/*.css; do
  raw=$(wc -c < "$f"); gz=$(gzip -9 -c "$f" | wc -c)
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz))
  printf '  %-48s %9d bytes, gzip %9d\n' "$(basename "$f")" "$raw" "$gz"
done
printf '  %-48s %9d bytes, gzip %9d\n' total "$total_raw" "$total_gz"

info "live latency (release build)"
cargo bench -p ferry-server --bench live_latency --quiet
