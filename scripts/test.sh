#!/usr/bin/env bash
# Builds Switchyard and runs every test, including the real-peer tests (SIPp,
# sipsak, baresip) against the release binary. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> setup: system packages and toolchain (scripts/setup.sh)"
bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

echo "==> build: cargo build --release --bins"
cargo build --release --bins

# The peer tests run this binary (realistic timing); see tests/common/mod.rs.
target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
export SWITCHYARD_BIN="${target_dir:-target}/release/switchyard"
if [[ ! -x $SWITCHYARD_BIN ]]; then
    echo "test.sh: $SWITCHYARD_BIN was not built" >&2
    exit 1
fi

# --no-fail-fast: run every test binary, so one failure does not hide the others.
echo "==> test: cargo test --release --workspace --no-fail-fast (switch: $SWITCHYARD_BIN)"
exec cargo test --release --workspace --no-fail-fast
