#!/usr/bin/env bash
# The dashboard's build and real-browser tests (docs/DASHBOARD.md):
#   npm ci (committed lockfile) → npm run build (tsc + vite → web/dist) → node --test web/tests/
# Needs Debian's chromium (/usr/bin/chromium) and the built binaries: SCALP_BIN_DIR
# (scalp-collector, scalp-simulator, optimize; default target/debug) and SCALP_API_BIN
# (default target/debug/scalp-api). Screenshots and measured figures: web/test-artifacts/.
set -Eeuo pipefail
cd "$(dirname "$0")"
[ -x /usr/bin/chromium ] || { echo "web/run-tests.sh: /usr/bin/chromium missing: apt-get install -y chromium" >&2; exit 1; }
command -v npm >/dev/null || { echo "web/run-tests.sh: npm missing: apt-get install -y npm" >&2; exit 1; }
export SCALP_BIN_DIR="${SCALP_BIN_DIR:-$PWD/../target/debug}"
export SCALP_API_BIN="${SCALP_API_BIN:-$PWD/../target/debug/scalp-api}"
npm ci --no-audit --no-fund
npm run build
rm -rf test-artifacts && mkdir -p test-artifacts
node --test --test-reporter=spec tests/
