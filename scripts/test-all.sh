#!/usr/bin/env bash
# Runs every test of Sluice: Rust unit and integration tests (including the long crash and
# durability tests), the editor's end-to-end tests in headless Chromium, and the checks of
# fmt and clippy. Installs what it needs (Debian packages, npm packages) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "building (release)"
cargo build --release --workspace --all-targets

log "cargo test (release)"
cargo test --release --workspace

log "long tests: crash recovery, disk full, large content (release)"
cargo test --release --workspace -- --ignored

log "editor end-to-end tests (headless Chromium)"
export SLUICE_BIN="$root/target/release/sluice"
(cd web-ui/tests/e2e && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; } && npm test)

log "clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "all tests passed"
