#!/usr/bin/env bash
# install.sh — install Scalp Radar on a Debian/Ubuntu server (systemd). Idempotent.
#
#   sudo ./install.sh                      # builds the .deb from this checkout, installs it
#   sudo ./install.sh scalp-radar_*.deb    # installs the given .deb
#
# Then: creates /etc/scalp-radar/secrets.env (root:scalp 0640) from the template if absent,
# validates the configuration and prints the next steps. Nothing is started: trading begins
# only when you run `systemctl start scalp.target` (docs/OPERATIONS.md, "First run").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")" && pwd)
say() { echo "[install] $*"; }
die() { echo "[install] ERROR: $*" >&2; exit 1; }

if [ ! -d /run/systemd/system ]; then
    cat >&2 <<'EOF'
[install] ERROR: this host does not run systemd as init (no /run/systemd/system).
[install] The server install needs systemd: the daemons run as systemd services.
[install] To try Scalp Radar without systemd, run the demo from a source checkout instead
[install] (README.md, "Set-up"):  cargo run --release -p scalp-collector -- --config config/demo/scalp.toml
EOF
    exit 1
fi
[ "$(id -u)" = 0 ] || die "run as root (sudo ./install.sh)"
command -v apt-get >/dev/null || die "apt-get not found: Debian or Ubuntu required"

if [ $# -ge 1 ]; then
    DEB=$(readlink -f "$1")
    [ -f "$DEB" ] || die "no such file: $1"
else
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) or pass a built .deb"
    if ! command -v dpkg-shlibdeps >/dev/null; then
        say "installing build tools (dpkg-dev, binutils)"
        apt-get update -qq || say "apt-get update reported errors (continuing)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev binutils >/dev/null
    fi
    say "building the package (cargo build --release; a few minutes the first time)"
    DEB=$("$ROOT/packaging/build-deb.sh" --profile release)
fi
VERSION=$(dpkg-deb -f "$DEB" Version)

say "apt install $DEB ($VERSION)"
# a local path needs ./ or an absolute path for apt to treat it as a file
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$DEB"

SECRETS=/etc/scalp-radar/secrets.env
if [ ! -e "$SECRETS" ]; then
    install -m 0640 -o root -g scalp /usr/share/doc/scalp-radar/secrets.env.example "$SECRETS"
    say "created $SECRETS (root:scalp 0640) from the template"
else
    chown root:scalp "$SECRETS"; chmod 0640 "$SECRETS"
    say "kept the existing $SECRETS (ownership root:scalp 0640 enforced)"
fi

say "checking the configuration"
scalpctl check-config || die "fix the configuration above, then run: scalpctl check-config"

running=$(systemctl is-active scalp.target 2>/dev/null || true)
cat <<EOF

Scalp Radar $VERSION is installed. scalp.target is enabled but was not started by this script
(state now: $running).

Next steps (docs: /usr/share/doc/scalp-radar/OPERATIONS.md):
  1. Edit the configuration:   sudoedit /etc/scalp-radar/scalp.toml   (assets.toml, strategies.toml)
     The default source is the bundled replay; set [collector] sources = ["binance"] for live data.
  2. Put the secrets in:        sudoedit $SECRETS
     (SCALP_SYNC_API_KEY for scalp-syncd, SCALP_API_KEY for scalp-api: openssl rand -hex 32)
  3. Validate:                  sudo scalpctl check-config
  4. Start everything:          sudo systemctl start scalp.target
  5. Watch:                     scalpctl status ; journalctl -u scalp-collector -f
EOF
