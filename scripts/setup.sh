#!/usr/bin/env bash
# Installs what building Ferry needs and is missing: git and a C compiler, the wasm32
# target (rustup, or Debian's rustc-web with build-std where rustup cannot fetch it),
# wasm-bindgen-cli matching Cargo.lock, Trunk, wasm-split-cli and binaryen. With --test
# it also installs what the tests need: PostgreSQL, Chromium, the end-to-end test's npm
# packages, aiosmtpd and cargo-deb.
# Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

with_test_deps=false
[ "${1:-}" = "--test" ] && with_test_deps=true

apt_packages=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_packages+=("$2"); }
need_cmd git git
need_cmd cc gcc
need_cmd node nodejs
if $with_test_deps; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_packages+=(postgresql)
  need_cmd chromium chromium
  need_cmd python3 python3
  python3 -m pip --version >/dev/null 2>&1 || apt_packages+=(python3-pip)
  # SSH hosts' tests run real OpenSSH servers, in network namespaces made with ip.
  [ -x /usr/sbin/sshd ] || apt_packages+=(openssh-server)
  need_cmd ip iproute2
fi

# The wasm32 standard library: rustup's on a normal machine; Debian's source build here.
if ! wasm_target_installed && ! rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
  info "rustup cannot install wasm32-unknown-unknown; using Debian's rustc-web with build-std"
  [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ] || apt_packages+=(rustc-web cargo-web rust-web-src)
  command -v wasm-ld-19 >/dev/null 2>&1 || apt_packages+=(lld-19)
fi

if [ ${#apt_packages[@]} -gt 0 ]; then
  info "installing Debian packages: ${apt_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# Ferry run as root runs build and deploy steps as this unprivileged user, each project
# as a uid of its own from the user's subordinate ids (server/src/services/step_users.rs).
if [ "$(id -u)" = 0 ]; then
  if ! id ferry-build >/dev/null 2>&1; then
    info "creating the ferry-build user that build and deploy steps run as"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ferry-build
  fi
  grep -q '^ferry-build:' /etc/subuid 2>/dev/null || usermod --add-subuids "$STEP_IDS" ferry-build
  grep -q '^ferry-build:' /etc/subgid 2>/dev/null || usermod --add-subgids "$STEP_IDS" ferry-build
fi

bindgen_version=$(wasm_bindgen_version)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  info "installing wasm-bindgen-cli $bindgen_version (about a minute)"
  # Not --locked: one of its pinned dependency versions is missing from some mirrors.
  # --force: the binary is missing or of another version, whatever cargo remembers.
  install_tool wasm-bindgen-cli --version "$bindgen_version" --force --quiet
fi

if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$TRUNK_VERSION" ]; then
  info "installing trunk $TRUNK_VERSION (about 3 minutes)"
  # Trunk $TRUNK_VERSION asks for rustc >= 1.96.1 but builds with 1.95 (checked), so
  # the stable toolchain builds it without downloading another; nightly is the fallback.
  if ! install_tool trunk --version "$TRUNK_VERSION" --locked --ignore-rust-version --force --quiet; then
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    install_tool +nightly trunk --version "$TRUNK_VERSION" --force --quiet
  fi
fi

# Cuts the lazily loaded pages out of the SPA's wasm (scripts/split-wasm.mjs).
if ! cargo install --list | grep -q "^wasm_split_cli_support v$WASM_SPLIT_VERSION:"; then
  info "installing wasm-split-cli $WASM_SPLIT_VERSION (under a minute)"
  # --locked first (the versions it was released with); without, should a mirror lack one.
  install_tool wasm_split_cli_support --version "$WASM_SPLIT_VERSION" --features build-binary --locked --force --quiet ||
    install_tool wasm_split_cli_support --version "$WASM_SPLIT_VERSION" --features build-binary --force --quiet
fi

if [ "$(.tools/node_modules/.bin/wasm-opt --version 2>/dev/null | awk '{print $3}')" != "$WASM_OPT_VERSION" ]; then
  info "installing wasm-opt $WASM_OPT_VERSION (npm binaryen)"
  npm install --no-save --no-audit --no-fund --silent --prefix .tools "binaryen@$WASM_OPT_VERSION"
fi

if $with_test_deps; then
  (cd end2end && { [ -d node_modules/@axe-core/playwright ] && [ -d node_modules/@playwright/test ] || npm ci --no-audit --no-fund --silent; })
  # The email tests talk to a real SMTP server: aiosmtpd from PyPI, kept in .tools.
  if ! PYTHONPATH=.tools/python python3 -c 'import aiosmtpd' 2>/dev/null; then
    info "installing aiosmtpd (PyPI) for the email tests"
    python3 -m pip install --quiet --disable-pip-version-check --target .tools/python aiosmtpd
  fi
  # The package test builds the Debian package.
  install_cargo_deb
fi
rm -rf "$TOOLS_TARGET"
info "toolchain ready"
