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
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need_apt+=(postgresql)
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

if ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
  log "installing moto[server] (the S3-compatible server of the S3 tests)"
  python3 -m pip install --quiet 'moto[server]'
fi

# Optimised like release, without LTO: see [profile.ci] in Cargo.toml.
profile=ci

log "cargo fmt --check"
cargo fmt --all -- --check

log "clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "building (profile $profile)"
cargo build --profile $profile --workspace --all-targets

log "cargo test"
cargo test --profile $profile --workspace

log "long tests: kill -9 crash recovery, disk full, large content"
cargo test --profile $profile --workspace -- --ignored

log "editor end-to-end tests (headless Chromium)"
export SLUICE_BIN="$root/target/$profile/sluice"
(cd web-ui/tests/e2e && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; } && npm test)

log "all tests passed"
