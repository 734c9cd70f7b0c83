#!/usr/bin/env bash
# packaging/build-deb.sh — builds the scalp-radar .deb with plain dpkg-deb (docs/PACKAGING.md).
#
#   packaging/build-deb.sh [--profile release] [--bins "scalp-collector scalpctl ..."]
#                          [--version 0.1.0-2] [--out dist] [--no-build]
#
# Ships every binary of bins/* (or the --bins list), the unit of each shipped daemon
# (units/<bin>.service or units/<bin>@.service), scalp.target, the backup timer, the default
# config (config/*.toml, not config/demo) as conffiles, the bundled data, man pages and shell
# completions generated from clap, copyright/changelog/NOTICE. Prints the path of the .deb.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=release
BINS=""
VERSION=""
OUT="$ROOT/dist"
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) PROFILE=$2; shift 2 ;;
        --bins) BINS=$2; shift 2 ;;
        --version) VERSION=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { echo "[build-deb] $*" >&2; }
die() { echo "[build-deb] ERROR: $*" >&2; exit 1; }

for t in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$t" >/dev/null || die "$t missing: apt-get install -y --no-install-recommends dpkg-dev binutils"
done

cd "$ROOT"
# upstream version from the workspace; Debian revision 1 unless --version is given
UPSTREAM=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
[ -n "$UPSTREAM" ] || die "no [workspace.package] version in Cargo.toml"
: "${VERSION:=$UPSTREAM-1}"
ARCH=$(dpkg --print-architecture)

# binaries: every package under bins/ (each bins/<name> builds the binary <name>)
if [ -z "$BINS" ]; then
    for d in bins/*/Cargo.toml; do BINS="$BINS $(basename "$(dirname "$d")")"; done
fi
BINS=$(echo $BINS)
[ -n "$BINS" ] || die "no binaries to package"
case " $BINS " in *" scalpctl "*) ;; *) die "scalpctl must be shipped (the backup timer runs it)";; esac

if [ "$PROFILE" = dev ] || [ "$PROFILE" = debug ]; then TDIR=debug; PFLAG=(); else TDIR=$PROFILE; PFLAG=(--profile "$PROFILE"); fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$BUILD" = 1 ]; then
    # The whole workspace's binaries, as `tests/run.sh` builds them: cargo unifies features over
    # the packages of one build, so a `-p` subset would compile (and ship) other artifacts than
    # the ones the tests ran. FORTIFY for the bundled C code comes from .cargo/config.toml [env].
    log "cargo build ${PFLAG[*]} --workspace --bins (packaging: $BINS)"
    cargo build "${PFLAG[@]}" --workspace --bins >&2
fi
for b in $BINS; do [ -x "$TARGET_DIR/$TDIR/$b" ] || die "binary $TARGET_DIR/$TDIR/$b not built"; done

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/scalp-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
R="$STAGE/root"
DOC="$R/usr/share/doc/scalp-radar"
install -d "$R/DEBIAN" "$R/usr/bin" "$R/lib/systemd/system" "$R/usr/lib/sysusers.d" \
    "$R/etc/scalp-radar" "$R/usr/share/scalp-radar/data" "$DOC" "$R/usr/share/man/man1" \
    "$R/usr/share/bash-completion/completions" "$R/usr/share/zsh/vendor-completions" \
    "$R/usr/share/fish/vendor_completions.d" "$R/usr/share/lintian/overrides"

# --- binaries (stripped: debug info stays in target/) + docs generated from clap
DAEMONS=()
for b in $BINS; do
    install -m 0755 "$TARGET_DIR/$TDIR/$b" "$R/usr/bin/$b"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$R/usr/bin/$b"
    g="$STAGE/gen-$b"
    "$TARGET_DIR/$TDIR/$b" --generate-docs "$g" >/dev/null || die "$b: --generate-docs failed"
    [ -n "$(ls "$g/man" 2>/dev/null)" ] || die "$b: no man page generated"
    for m in "$g"/man/*.1; do gzip -9n -c "$m" > "$R/usr/share/man/man1/$(basename "$m").gz"; done
    install -m 0644 "$g"/completions/bash/* "$R/usr/share/bash-completion/completions/"
    install -m 0644 "$g"/completions/zsh/* "$R/usr/share/zsh/vendor-completions/"
    install -m 0644 "$g"/completions/fish/* "$R/usr/share/fish/vendor_completions.d/"
    case "$b" in scalp-*) DAEMONS+=("$b") ;; esac
done
chmod 0644 "$R"/usr/share/man/man1/*

# --- units: one per shipped daemon + target + backup
UNITS_SVC=()
for d in "${DAEMONS[@]}"; do
    if [ -f "units/$d.service" ]; then
        install -m 0644 "units/$d.service" "$R/lib/systemd/system/"; UNITS_SVC+=("$d.service")
    elif [ -f "units/$d@.service" ]; then
        install -m 0644 "units/$d@.service" "$R/lib/systemd/system/"   # template: enabled per instance
    else
        die "daemon $d has no unit in units/"
    fi
done
for u in scalp.target scalp-backup.service scalp-backup.timer; do
    install -m 0644 "units/$u" "$R/lib/systemd/system/"
done
install -m 0644 packaging/sysusers.d/scalp-radar.conf "$R/usr/lib/sysusers.d/scalp-radar.conf"

# --- default configuration (conffiles) and bundled data
for f in scalp.toml assets.toml strategies.toml param_grids.toml; do
    install -m 0644 "config/$f" "$R/etc/scalp-radar/$f"
    echo "/etc/scalp-radar/$f" >> "$R/DEBIAN/conffiles"
done
install -m 0644 data/*.csv data/NOTICE.md "$R/usr/share/scalp-radar/data/"

# --- the dashboard (web/dist, built by npm; served by scalp-api from [api].web_dir) [web]
if [ ! -f web/dist/index.html ]; then
    command -v npm >/dev/null || die "web/dist missing and npm not found: apt-get install -y nodejs npm, or build web/ elsewhere"
    log "building the dashboard (npm ci && npm run build in web/)"
    (cd web && npm ci --no-audit --no-fund >&2 && npm run build >&2) || die "dashboard build failed"
fi
install -d "$R/usr/share/scalp-radar/web"
cp -r web/dist/. "$R/usr/share/scalp-radar/web/"
find "$R/usr/share/scalp-radar/web" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +

# --- documentation
install -m 0644 debian/copyright "$DOC/copyright"
install -m 0644 data/NOTICE.md "$DOC/NOTICE"
# the dashboard's bundled libraries' licences live with the other licence texts
if [ -f "$R/usr/share/scalp-radar/web/THIRD-PARTY-LICENSES.txt" ]; then
    mv "$R/usr/share/scalp-radar/web/THIRD-PARTY-LICENSES.txt" "$DOC/web-third-party-licenses"
fi
install -m 0644 packaging/secrets.env.example "$DOC/secrets.env.example"
for f in docs/OPERATIONS.md docs/PACKAGING.md docs/WATCHDOG.md docs/EXECUTOR.md; do [ -f "$f" ] && install -m 0644 "$f" "$DOC/"; done
CHANGELOG="$STAGE/changelog"
if ! head -n1 debian/changelog | grep -qF "($VERSION)"; then
    # a version bump without a changelog entry (CI upgrade test): generate the entry
    { echo "scalp-radar ($VERSION) unstable; urgency=medium"; echo
      echo "  * Package build $VERSION from $(git rev-parse --short HEAD 2>/dev/null || echo source)."; echo
      echo " -- Scalp Radar maintainers <maintainers@example.invalid>  $(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(date +%s)}")"; echo
      cat debian/changelog; } > "$CHANGELOG"
else
    cp debian/changelog "$CHANGELOG"
fi
gzip -9n -c "$CHANGELOG" > "$DOC/changelog.Debian.gz"
install -m 0644 debian/lintian-overrides "$R/usr/share/lintian/overrides/scalp-radar"

# --- control + maintainer scripts
mkdir -p "$STAGE/src/debian"
printf 'Source: scalp-radar\n\nPackage: scalp-radar\nArchitecture: any\n' > "$STAGE/src/debian/control"
exes=(); for b in $BINS; do exes+=(-e"$R/usr/bin/$b"); done
SHLIBS=$(cd "$STAGE/src" && dpkg-shlibdeps -O "${exes[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIBS" ] || die "dpkg-shlibdeps found no dependency"
DEPENDS="$SHLIBS, systemd"
SIZE=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
DAEMON_LIST=$(printf '%s, ' "${DAEMONS[@]}"); DAEMON_LIST="${DAEMON_LIST%, }."
# the extended description's lines stay within 80 columns (lintian), however many daemons
DAEMON_LINES=$(printf '%s\n' "$DAEMON_LIST" | fold -s -w 76 | sed 's/ *$//; s/^/ /')
UNITS_ENABLE="scalp.target ${UNITS_SVC[*]} scalp-backup.timer"
UNITS_STOP="scalp.target ${UNITS_SVC[*]} scalp-backup.timer scalp-backup.service"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$SIZE/" \
    -e "s/@DEPENDS@/$DEPENDS/" debian/control \
    | awk -v d="$DAEMON_LINES" '$0 == " @DAEMONS@" { print d; next } { print }' > "$R/DEBIAN/control"
grep -q '@DAEMONS@' "$R/DEBIAN/control" && die "debian/control: the @DAEMONS@ line was not replaced"
for s in postinst prerm postrm; do
    sed -e "s/@UNITS_ENABLE@/$UNITS_ENABLE/" -e "s/@UNITS_RESTART@/${UNITS_SVC[*]}/" \
        -e "s/@UNITS_STOP@/$UNITS_STOP/" "debian/$s" > "$R/DEBIAN/$s"
    chmod 0755 "$R/DEBIAN/$s"
done
# md5sums of every shipped file except the conffiles (dpkg keeps theirs separately)
(cd "$R" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum) > "$R/DEBIAN/md5sums"
chmod 0644 "$R/DEBIAN/control" "$R/DEBIAN/conffiles" "$R/DEBIAN/md5sums"

# reproducible mtimes
find "$R" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" {} +
mkdir -p "$OUT"
DEB="$OUT/scalp-radar_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >/dev/null
log "built $DEB ($(du -k "$DEB" | cut -f1) KiB; daemons: $DAEMON_LIST; Depends: $DEPENDS)"
echo "$DEB"
