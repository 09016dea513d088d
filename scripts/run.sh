#!/usr/bin/env bash
# Sets up what the build needs (scripts/setup.sh), builds the release binary,
# and runs the switch. Without arguments it runs on the embedded default
# configuration (UDP and TCP on 127.0.0.1:5060, demo users 1001-1004, a demo
# trunk); any arguments go to `switchyard run` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
cargo build --release --bin switchyard
exec ./target/release/switchyard run "$@"
