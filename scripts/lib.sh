# Shared by Ferry's scripts (sourced, not run).
TRUNK_VERSION=0.22.1
WASM_OPT_VERSION=132
# The subordinate ids of the ferry-build user: one uid and gid per project. Written once,
# in the package's postinst (which cannot read this file when the package installs).
STEP_IDS=$(sed -n 's/.*--add-subuids \([0-9]*-[0-9]*\) .*/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../server/packaging/debian/postinst")
[ -n "$STEP_IDS" ] || { echo "scripts/lib.sh: no --add-subuids range in server/packaging/debian/postinst" >&2; exit 1; }
WASM_SPLIT_VERSION=0.2.4
CARGO_DEB_VERSION=3.8.0
export PATH="$HOME/.cargo/bin:$PATH"

info() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Phases and how long each took, for the summary that `phase_summary` prints
# (docs/benchmarks.md records them for a fresh machine).
PHASES=()
phase() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  PHASES+=("$name $((SECONDS - start))s")
}
phase_summary() {
  local joined
  joined=$(printf '%s, ' "${PHASES[@]}")
  info "took ${joined%, } (total ${SECONDS}s)"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

wasm_target_installed() {
  rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'
}

# Installs a tool from crates.io (a `+toolchain` first, if any). The tools run for seconds
# per build, so they are built without optimization and without link-time optimization
# (Trunk's own profile asks for fat LTO in one codegen unit): Trunk, wasm-bindgen-cli and
# wasm-split-cli then build in 3.5 minutes instead of 12, and the web interface's build
# takes 2 seconds longer (docs/benchmarks.md). One target directory serves every tool, so
# the crates they share are built once; scripts/setup.sh removes it when done.
TOOLS_TARGET=target/tools
install_tool() {
  local toolchain=()
  [[ $1 == +* ]] && toolchain=("$1") && shift
  CARGO_TARGET_DIR=$TOOLS_TARGET CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false cargo "${toolchain[@]}" install "$@"
}

# cargo-deb, which builds the Debian package (scripts/package.sh, scripts/test-package.sh).
install_cargo_deb() {
  if [ "$(cargo deb --version 2>/dev/null | awk '{print $2}')" != "$CARGO_DEB_VERSION" ]; then
    info "installing cargo-deb $CARGO_DEB_VERSION (about 2 minutes)"
    # Optimized, unlike the tools above: it compresses the package, with C libraries.
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --force --quiet
  fi
}

# build_spa, unless dist/ is newer than everything it is built from. The server carries
# dist/ inside its binary: a rebuilt dist/ (even an identical one) rebuilds the server
# too, which would turn a second `scripts/run.sh` from seconds into minutes.
build_spa_if_changed() {
  if [ -f dist/index.html ] &&
    [ -z "$(find frontend app style public Trunk.toml Cargo.lock scripts/post-build.mjs \
      scripts/split-wasm.mjs scripts/precompress.mjs -newer dist/index.html -print -quit 2>/dev/null)" ]; then
    info "the web interface is up to date"
  else
    build_spa
  fi
}

# Builds the SPA into dist/ with Trunk. Where rustup has no wasm32 target, Debian's
# cargo builds the standard library from source (RUSTC_BOOTSTRAP enables build-std).
build_spa() {
  info "building the web interface (Trunk)"
  local PATH="$PWD/.tools/node_modules/.bin:$PATH"
  if wasm_target_installed; then
    CARGO_TARGET_DIR=target/wasm trunk build --release
  else
    PATH="/usr/bin:$PATH" \
      RUSTC_BOOTSTRAP=1 \
      CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19 \
      CARGO_TARGET_DIR=target/wasm \
      trunk build --release
  fi
}
