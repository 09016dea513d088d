#!/usr/bin/env bash
# Installs what building and testing Switchyard needs on Debian 12, as root:
# the C toolchain (bundled SQLite, ring), the real SIP peers the integration
# tests drive (SIPp, sipsak, baresip), tshark, audio tools, and kamailio (the
# benches). Idempotent: when everything is present it does nothing and prints
# nothing. A Rust toolchain is not installed here: use rustup.
set -euo pipefail

# kamailio lives in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# Package -> a command it provides ("-" : check the package with dpkg only).
PACKAGES=(
    "build-essential:gcc"
    "pkg-config:pkg-config"
    "cmake:cmake"
    "sip-tester:sipp"
    "baresip-core:baresip"
    "sipsak:sipsak"
    "sipvicious:svwar"
    "tshark:tshark"
    "espeak-ng:espeak-ng"
    "sox:sox"
    "libsox-fmt-mp3:-"
    "openssl:openssl"
    "kamailio:kamailio"
    "ca-certificates:-"
)

installed() {
    local pkg=$1 cmd=$2
    if [[ $cmd != "-" ]] && ! command -v "$cmd" >/dev/null 2>&1; then
        return 1
    fi
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for entry in "${PACKAGES[@]}"; do
    pkg=${entry%%:*}
    cmd=${entry#*:}
    installed "$pkg" "$cmd" || missing+=("$pkg")
done
# baresip's modules used by tests/baresip-call.rs come with baresip-core.
if [[ ! -f /usr/lib/baresip/modules/ctrl_tcp.so ]] && [[ ! " ${missing[*]} " == *" baresip-core "* ]]; then
    missing+=("baresip-core")
fi

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup.sh: missing packages: ${missing[*]}" >&2
        echo "setup.sh: run this script as root (sudo scripts/setup.sh) to install them" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup.sh: apt-get not found: this script targets Debian 12; install by hand: ${missing[*]}" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no, non-interactively.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for entry in "${PACKAGES[@]}"; do
        pkg=${entry%%:*}
        cmd=${entry#*:}
        if ! installed "$pkg" "$cmd"; then
            echo "setup.sh: $pkg still missing after apt-get install" >&2
            exit 1
        fi
    done
    echo "setup.sh: done"
fi

if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
    cat >&2 <<'MSG'
setup.sh: `cargo` not found. Switchyard needs a Rust toolchain (1.85 or newer, edition 2024):
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    . "$HOME/.cargo/env"
MSG
    exit 1
fi
