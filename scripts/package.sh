#!/usr/bin/env bash
# Builds Ferry's Debian package: the web interface, the release binaries of the
# server (which carries the interface) and the agent, then `cargo deb`. Prints the
# package's path; install it with `sudo dpkg -i` (README, "Install for a team").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/setup.sh
install_cargo_deb
build_spa_if_changed
info "building the release binaries"
cargo build --release --quiet -p ferry-agent -p ferry-server
info "packing"
cargo deb -p ferry-server --no-build --quiet -o target/debian/
ls -t target/debian/ferry_*.deb | head -1
