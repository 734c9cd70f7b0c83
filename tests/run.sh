#!/usr/bin/env bash
# Runs every test of Scalp Radar — the README's test command and what CI (.ci/run) runs.
# Installs what it needs (apt packages, the Windows Rust target), then:
#   1. cargo fmt --check, cargo clippy -D warnings
#   2. builds every binary, runs all unit/integration/end-to-end tests (nextest)
#   3. cross-builds optimize.exe and runs it end to end under wine
#   4. builds the .deb and runs the system test in a booted Debian (systemd-nspawn)
#   2b. the dashboard's build and real-browser tests (web/run-tests.sh, Debian's chromium)
# Usage: bash tests/run.sh [--quick] [--no-web]   (--quick skips steps 3 and 4; --no-web skips 2b)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
QUICK=0; WEB=1
for a in "$@"; do case "$a" in --quick) QUICK=1 ;; --no-web) WEB=0 ;; esac; done
T0=$(date +%s)
step() { printf '\n=== [%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

step "prerequisites"
need=()
for p in x86_64-w64-mingw32-gcc:mingw-w64 wine64:wine64 systemd-nspawn:systemd-container \
         debootstrap:debootstrap lintian:lintian zstd:zstd sqlite3:sqlite3 nsenter:util-linux \
         npm:npm; do
    command -v "${p%%:*}" >/dev/null 2>&1 || need+=("${p#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    $SUDO apt-get update -qq || echo "apt-get update reported errors (continuing with the lists we have)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "build all binaries"
cargo build --workspace --bins --quiet

step "unit, integration and end-to-end tests"
cargo nextest run --workspace --no-fail-fast --failure-output final

if [ "$WEB" = 1 ]; then
    step "dashboard: npm ci, build, real-browser tests (web/run-tests.sh)"
    command -v chromium >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
    SCALP_BIN_DIR="$PWD/target/debug" SCALP_API_BIN="$PWD/target/debug/scalp-api" bash web/run-tests.sh
fi

if [ "$QUICK" = 1 ]; then step "done (--quick)"; exit 0; fi

step "Windows: optimize.exe cross-build and end-to-end run under wine"
bash tests/windows/run.sh

step "package (.deb) and system test in a booted Debian (systemd-nspawn)"
# Packages the binaries built above (dev profile: no second compile); the release .deb is built
# the same way by packaging/build-deb.sh (docs/PACKAGING.md).
$SUDO env PROFILE=dev bash tests/system/run.sh

step "all tests passed in $(( $(date +%s) - T0 )) s"
