#!/usr/bin/env bash
# tests/system/run.sh — the system test: the scalp-radar .deb on a booted Debian bookworm with
# systemd as PID 1 (systemd-nspawn --boot), driven like an admin would (docs/OPERATIONS.md).
#
#   sudo tests/system/run.sh                   # builds the .deb (release) + an upgrade .deb, tests
#   sudo tests/system/run.sh A.deb B.deb       # tests A, upgrades to B (B's version must be newer)
#   sudo tests/system/run.sh --selfcheck       # negative self-check: a typo'd unit key must fail
#   sudo MODE=qemu tests/system/run.sh         # same test in a TCG VM (~3-5 min, not in CI)
#
# Host steps: lintian, systemd-analyze verify (any output fails) and security --offline
# (exposure <= 2.0 per unit) on a debootstrap rootfs with the .deb unpacked. Guest steps:
# tests/system/guest-test.sh. Each step is printed with its timing; exit status non-zero on any
# failure; the guest journal is kept in $WORK/journal.txt.
# Knobs: SYSTEST_CACHE (debootstrap tarball, kept), WORK, MODE, PROFILE, SECURITY_THRESHOLD,
# BOOT_TIMEOUT, NSPAWN_EXTRA_ARGS, QEMU_MEM, QEMU_TIMEOUT.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/system"
: "${SYSTEST_CACHE:=/var/tmp/scalp-systest}"
CACHE=$SYSTEST_CACHE
: "${WORK:=$CACHE/run-$$}"
: "${MODE:=nspawn}"
: "${SUITE:=bookworm}"
: "${MIRROR:=}"
: "${ROOTFS_INCLUDE:=systemd,systemd-sysv,dbus}"
: "${BOOT_TIMEOUT:=90}"
: "${QEMU_TIMEOUT:=900}"
: "${QEMU_MEM:=2048}"
: "${NSPAWN_EXTRA_ARGS:=}"
: "${PROFILE:=release}"
: "${SECURITY_THRESHOLD:=20}"      # systemd-analyze scale 0..100: 20 = exposure 2.0
: "${KEEP_WORK:=0}"
SELFCHECK=0
[ "${1:-}" = --selfcheck ] && { SELFCHECK=1; shift; }

T_START=$(date +%s%N)
STEP_NAME=""; STEP_T=$T_START
elapsed() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
log() { local e; e=$(elapsed "$T_START"); printf '[systest %s +%4d.%ds] %s\n' "$(date +%T)" $((e / 1000)) $((e % 1000 / 100)) "$*"; }
step() {
    [ -z "$STEP_NAME" ] || log "  done: $STEP_NAME ($(elapsed "$STEP_T") ms)"
    STEP_NAME=$1; STEP_T=$(date +%s%N)
    [ -z "$1" ] || log "STEP $1"
}
die() { log "FAIL: $*"; exit 1; }
trap 'rc=$?; log "error (rc=$rc) at line $LINENO: $BASH_COMMAND"' ERR

[ "$(id -u)" = 0 ] || die "must run as root (systemd-nspawn, debootstrap)"

ensure_host_pkgs() {   # cmd:package pairs; no `apt-get update &&`: update may fail on i386 lists
    local missing=() p
    for p in "$@"; do command -v "${p%%:*}" >/dev/null || missing+=("${p#*:}"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing host packages: ${missing[*]}"
    apt-get update -qq || log "apt-get update reported errors (continuing with the old lists)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
step "host tools"
ensure_host_pkgs systemd-nspawn:systemd-container debootstrap:debootstrap zstd:zstd \
    nsenter:util-linux dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev lintian:lintian strip:binutils
if [ "$MODE" = qemu ]; then
    # NB: on the CI image this replaces a preinstalled qemu-utils from bookworm-backports
    ensure_host_pkgs qemu-system-x86_64:qemu-system-x86 mkfs.ext4:e2fsprogs debugfs:e2fsprogs
fi

detect_mirror() {
    local m=""
    [ -r /etc/apt/sources.list.d/debian.sources ] && \
        m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    [ -z "$m" ] && [ -r /etc/apt/sources.list ] && \
        m=$(sed -nE 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+'"$SUITE"'[[:space:]].*/\2/p' /etc/apt/sources.list | head -n1)
    echo "${m:-http://deb.debian.org/debian}"
}
[ -n "$MIRROR" ] || MIRROR=$(detect_mirror)
rm -rf "$WORK"; mkdir -p "$WORK/share/debs" "$CACHE"
cleanup_work() { [ "$KEEP_WORK" = 1 ] || rm -rf "$WORK/rootfs" "$WORK/verify-root" "$WORK/vm.img" "$WORK/build" "$WORK/share/debs"; }

# ------------------------------------------------------- rootfs (cached) ---
KEY=$(printf '%s|%s|%s' "$SUITE" "$ROOTFS_INCLUDE" "$MIRROR" | sha256sum | cut -c1-12)
BASE_TAR="$CACHE/$SUITE-minbase-$KEY.tar.zst"
step "rootfs: $BASE_TAR"
if [ ! -s "$BASE_TAR" ]; then
    log "debootstrap $SUITE (minbase + $ROOTFS_INCLUDE) from $MIRROR (~60 s, cached afterwards)"
    b="$CACHE/build-$$"; rm -rf "$b"; mkdir -p "$CACHE/debs"
    debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" --cache-dir="$CACHE/debs" \
        "$SUITE" "$b" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log"; die "debootstrap failed"; }
    tar -C "$b" --numeric-owner --acls --xattrs -cpf - . | zstd -q -T0 -o "$BASE_TAR.tmp-$$"
    mv "$BASE_TAR.tmp-$$" "$BASE_TAR"; rm -rf "$b"
else
    log "cached"
fi
extract() { rm -rf "$2"; mkdir -p "$2"; zstd -dc "$1" | tar -C "$2" --numeric-owner --acls --xattrs -xpf -; }

# --------------------------------------------------------------- .debs ---
step "packages"
if [ $# -ge 2 ]; then
    DEB=$1; DEB_UPGRADE=$2
elif [ $# -eq 1 ]; then
    die "give two .debs (install + upgrade), or none to build them"
else
    log "building the .deb ($PROFILE) and an upgrade .deb with a bumped revision"
    UP=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)
    DEB=$("$ROOT/packaging/build-deb.sh" --profile "$PROFILE" --out "$WORK/build" ${SYSTEST_BINS:+--bins "$SYSTEST_BINS"})
    DEB_UPGRADE=$("$ROOT/packaging/build-deb.sh" --profile "$PROFILE" --out "$WORK/build" --no-build \
        --version "$UP-1+systest1" ${SYSTEST_BINS:+--bins "$SYSTEST_BINS"})
fi
for d in "$DEB" "$DEB_UPGRADE"; do [ -f "$d" ] || die "no such file: $d"; cp "$d" "$WORK/share/debs/"; done
chmod -R a+rX "$WORK/share"      # apt's _apt sandbox user must be able to read the .debs
UPGRADE_VERSION=$(dpkg-deb -f "$DEB_UPGRADE" Version)
dpkg --compare-versions "$UPGRADE_VERSION" gt "$(dpkg-deb -f "$DEB" Version)" \
    || die "upgrade .deb ($UPGRADE_VERSION) is not newer than $(dpkg-deb -f "$DEB" Version)"
# the daemons under test: every non-template service the package ships, except the backup oneshot
SERVICES=$(dpkg-deb -c "$DEB" | awk '{print $NF}' | sed -n 's|^\./lib/systemd/system/\(scalp-[^@]*\.service\)$|\1|p' \
           | grep -vx scalp-backup.service | sort | tr '\n' ' ')
SERVICES=${SERVICES% }
[ -n "$SERVICES" ] || die "the package ships no daemon"
MAIN_SERVICE=scalp-collector.service
case " $SERVICES " in *" $MAIN_SERVICE "*) ;; *) die "the package has no $MAIN_SERVICE";; esac
# every daemon of the workspace is under test (guest-test.sh has extra checks for scalp-simulator)
if [ -z "${SYSTEST_BINS:-}" ]; then
    for d in "$ROOT"/bins/scalp-*/; do
        u="$(basename "$d").service"
        [ -f "$ROOT/units/$u" ] || continue
        case " $SERVICES " in *" $u "*) ;; *) die "bins/$(basename "$d") is in the workspace but $u is not in the package";; esac
    done
fi
log "$(basename "$DEB"): $(du -k "$DEB" | cut -f1) KiB, installed $(dpkg-deb -f "$DEB" Installed-Size) KiB; services: $SERVICES"
log "Depends: $(dpkg-deb -f "$DEB" Depends)"
# the dashboard is in the package [web]
dpkg-deb -c "$DEB" | awk '{print $NF}' | grep -qx './usr/share/scalp-radar/web/index.html' \
    || die "the package has no dashboard (/usr/share/scalp-radar/web/index.html)"

# ------------------------------------------------- static checks (host) ---
step "lintian (fail on error and warning)"
lrc=0
lout=$(lintian --fail-on error,warning --display-info "$DEB" 2>&1) || lrc=$?
printf '%s\n' "$lout" | grep -v '^running with root privileges' | sed 's/^/    /' || true
[ "$lrc" = 0 ] || die "lintian (rc=$lrc)"

# template units (scalp-executor@.service) are verified and scored as an instance
INSTANCES=$(dpkg-deb -c "$DEB" | awk '{print $NF}' | sed -n 's|^\./lib/systemd/system/\(scalp-[^@]*\)@\.service$|\1@sma_cross.service|p' | sort | tr '\n' ' ')
INSTANCES=${INSTANCES% }
UNITS_ALL="scalp.target $SERVICES $INSTANCES scalp-backup.service scalp-backup.timer"
verify_units() {  # root: any output of verify is a failure (unknown keys are only warnings)
    local out
    out=$(systemd-analyze verify --root="$1" $UNITS_ALL 2>&1) || { echo "$out"; return 1; }
    [ -z "$out" ] || { echo "$out"; return 1; }
}
step "systemd-analyze verify + security --offline (rootfs + dpkg -x)"
VR="$WORK/verify-root"
extract "$BASE_TAR" "$VR"
dpkg -x "$DEB" "$VR"
vout=$(verify_units "$VR") || die "systemd-analyze verify: $vout"
log "  verify: no output for $UNITS_ALL"
for s in $SERVICES $INSTANCES scalp-backup.service; do
    systemd-analyze security --offline=yes --root="$VR" --threshold="$SECURITY_THRESHOLD" "$s" \
        > "$WORK/security-$s.txt" 2>&1 \
        || { cat "$WORK/security-$s.txt"; die "exposure of $s over $SECURITY_THRESHOLD/100"; }
    log "  $(tail -n1 "$WORK/security-$s.txt")"
done
if [ "$SELFCHECK" = 1 ]; then
    step "self-check: a typo'd key (WatchDogSec=) must fail verify"
    u="$VR/lib/systemd/system/$MAIN_SERVICE"
    sed -i 's/^WatchdogSec=/WatchDogSec=/' "$u"
    if vout=$(verify_units "$VR"); then die "verify accepted a typo'd unit"; fi
    log "  verify refused it: $(echo "$vout" | head -n1)"
    rm -rf "$VR"; step ""
    log "SELF-CHECK PASSED in $(( $(elapsed "$T_START") / 1000 )) s"
    exit 0
fi
rm -rf "$VR"

# ------------------------------------------------------ guest test files ---
cp "$HERE/guest-test.sh" "$ROOT/install.sh" "$WORK/share/"; chmod 0755 "$WORK/share/guest-test.sh" "$WORK/share/install.sh"
# the Bitget stand-in the guest's executor step trades against (built with the workspace's bins)
BIN_DIR="$ROOT/target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
[ -x "$BIN_DIR/scalp-standin" ] || die "$BIN_DIR/scalp-standin missing (cargo build --workspace --bins): the guest's executor step runs it"
install -m 0755 "$BIN_DIR/scalp-standin" "$WORK/share/scalp-standin"
if [ ! -d /run/systemd/system ]; then   # this host has no systemd: install.sh must refuse
    step "install.sh refuses a host without systemd"
    irc=0; iout=$("$ROOT/install.sh" 2>&1) || irc=$?
    [ "$irc" = 1 ] && printf '%s' "$iout" | grep -F 'config/demo/scalp.toml' >/dev/null \
        || die "install.sh on a non-systemd host: rc=$irc: $iout"
    log "  $(printf '%s\n' "$iout" | head -n1)"
fi
{
    printf 'DEB=%q\n' "/systest/debs/$(basename "$DEB")"
    printf 'DEB_UPGRADE=%q\n' "/systest/debs/$(basename "$DEB_UPGRADE")"
    printf 'UPGRADE_VERSION=%q\nSERVICES=%q\nMAIN_SERVICE=%q\n' "$UPGRADE_VERSION" "$SERVICES" "$MAIN_SERVICE"
} > "$WORK/share/config.env"

journal_units() {  # the product's units only, from the guest's persistent journal
    local args=() u
    for u in $UNITS_ALL; do args+=(-u "$u"); done
    journalctl -D "$1" "${args[@]}" --no-pager -o short-precise > "$WORK/journal-units.txt" 2>&1 || true
}

# ------------------------------------------------------- nspawn backend ---
NSPAWN_PID=""; LEADER=""
cexec() {   # run a command inside the container (all namespaces), clean environment
    nsenter -t "$LEADER" -m -u -i -n -p -C -- env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        TERM=dumb LANG=C.UTF-8 HOME=/root "$@"
}
nspawn_stop() {
    [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null || return 0
    [ -n "$LEADER" ] && cexec systemctl poweroff --no-block >/dev/null 2>&1 || true
    for _ in $(seq 1 150); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
        log "container did not power off in 30 s: SIGTERM x2 to nspawn $NSPAWN_PID"
        kill -TERM "$NSPAWN_PID" 2>/dev/null || true; sleep 5
        kill -TERM "$NSPAWN_PID" 2>/dev/null || true; sleep 2
        kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    fi
    wait "$NSPAWN_PID" 2>/dev/null || true
    NSPAWN_PID=""
}
run_nspawn() {
    local machine="scalp-systest-$$" state="" t0 rc=0
    step "extract a fresh rootfs"
    extract "$BASE_TAR" "$WORK/rootfs"
    step "boot: systemd-nspawn --boot"
    t0=$(date +%s%N)
    # --register=no --keep-unit: the CI host has no systemd/machined/D-Bus (PID 1 is not systemd)
    ( echo "$BASHPID" > "$WORK/nspawn.pid"
      exec systemd-nspawn --quiet -D "$WORK/rootfs" --boot --register=no --keep-unit \
           --console=read-only --machine="$machine" --bind-ro="$WORK/share:/systest" \
           $NSPAWN_EXTRA_ARGS ) < /dev/null > "$WORK/console.log" 2>&1 &
    trap 'nspawn_stop' EXIT
    for _ in $(seq 1 50); do [ -s "$WORK/nspawn.pid" ] && break; sleep 0.1; done
    NSPAWN_PID=$(cat "$WORK/nspawn.pid")
    local end=$(( $(date +%s) + BOOT_TIMEOUT ))
    while :; do
        kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$WORK/console.log"; die "nspawn exited during boot"; }
        LEADER=$(awk '{print $1}' "/proc/$NSPAWN_PID/task/$NSPAWN_PID/children" 2>/dev/null || true)
        if [ -n "$LEADER" ]; then
            state=$(cexec systemctl is-system-running 2>/dev/null || true)
            case "$state" in running|degraded) break ;; esac
        fi
        [ "$(date +%s)" -lt "$end" ] || { cat "$WORK/console.log"; die "boot timeout (state=$state)"; }
        sleep 0.2
    done
    log "  booted: state=$state in $(elapsed "$t0") ms (container PID 1 = host pid $LEADER)"
    [ "$state" = running ] || { cexec systemctl --failed --no-pager || true; die "system degraded after boot"; }
    step "guest test (tests/system/guest-test.sh)"
    cexec timeout 1200 /bin/bash /systest/guest-test.sh || rc=$?
    step "power off"
    nspawn_stop
    if [ $rc -ne 0 ]; then  # the guest journal is for post-mortems only (reading it takes ~10 s)
        journalctl -D "$WORK/rootfs/var/log/journal" --no-pager -o short-precise > "$WORK/journal.txt" 2>&1 || true
        journal_units "$WORK/rootfs/var/log/journal"
    fi
    return $rc
}

# --------------------------------------------------------- qemu backend ---
run_qemu() {  # optional (not in CI): real kernel, cgroup2 -> IPAddressDeny/MemoryMax enforced
    local vmc="$CACHE/vm-$KEY" rc=0 R="$WORK/vmroot"
    if [ ! -s "$vmc/rootfs.tar.zst" ]; then
        step "build the VM rootfs (linux-image-amd64 + initramfs-tools, ~60 s, cached)"
        rm -rf "$vmc"; mkdir -p "$vmc"
        extract "$BASE_TAR" "$vmc/build"
        chroot "$vmc/build" sh -c 'apt-get update -q; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-image-amd64 initramfs-tools' \
            > "$vmc/build.log" 2>&1 || { tail -20 "$vmc/build.log"; die "VM rootfs build failed"; }
        chroot "$vmc/build" apt-get clean
        cp "$vmc"/build/boot/vmlinuz-* "$vmc/vmlinuz"; cp "$vmc"/build/boot/initrd.img-* "$vmc/initrd.img"
        tar -C "$vmc/build" --numeric-owner --acls --xattrs -cpf - . | zstd -q -T0 -o "$vmc/rootfs.tar.zst"
        rm -rf "$vmc/build"
    fi
    step "assemble the VM image"
    extract "$vmc/rootfs.tar.zst" "$R"
    cp -a "$WORK/share" "$R/systest"
    echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > "$R/etc/fstab"
    echo scalp-systest-vm > "$R/etc/hostname"
    ln -sf /dev/null "$R/etc/systemd/system/serial-getty@ttyS0.service"
    cat > "$R/etc/systemd/system/systest.service" <<'EOF'
[Unit]
Description=systest runner
After=multi-user.target
FailureAction=poweroff

[Service]
Type=simple
ExecStart=/bin/bash -c 'exec >/dev/ttyS0 2>&1; systemctl is-system-running --wait; /bin/bash /systest/guest-test.sh; echo "SYSTEST-EXIT=$?"; systemctl poweroff --no-block'

[Install]
WantedBy=multi-user.target
EOF
    ln -sf /etc/systemd/system/systest.service "$R/etc/systemd/system/multi-user.target.wants/systest.service"
    truncate -s 4G "$WORK/vm.img"
    mkfs.ext4 -q -F -L root -d "$R" "$WORK/vm.img"
    rm -rf "$R"
    # /dev/kvm on the CI machine is PVM (kvm_pvm): a stock kernel hangs with -accel kvm -> TCG
    step "boot + guest test: qemu-system-x86_64 TCG ($(nproc) vCPU, ${QEMU_MEM} MiB)"
    timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$(nproc)" \
        -m "$QEMU_MEM" -nographic -no-reboot -nic none \
        -kernel "$vmc/vmlinuz" -initrd "$vmc/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 quiet panic=-1" \
        -drive file="$WORK/vm.img",format=raw,if=virtio < /dev/null > "$WORK/console.log" 2>&1 || rc=$?
    [ $rc -eq 0 ] || log "qemu exited with $rc (124 = timeout)"
    tr -d '\r' < "$WORK/console.log" | grep -aE '^\[guest|SYSTEST|^    ' || true
    mkdir -p "$WORK/vmjournal"
    debugfs -R "rdump /var/log/journal $WORK/vmjournal" "$WORK/vm.img" >/dev/null 2>&1 || true
    journalctl -D "$WORK/vmjournal/journal" --no-pager -o short-precise > "$WORK/journal.txt" 2>&1 || true
    journal_units "$WORK/vmjournal/journal"
    local ex; ex=$(tr -d '\r' < "$WORK/console.log" | sed -n 's/.*SYSTEST-EXIT=\([0-9]*\).*/\1/p' | tail -n1)
    [ -n "$ex" ] || die "no SYSTEST-EXIT marker on the serial console (see $WORK/console.log)"
    return "$ex"
}

rc=0
case "$MODE" in
    nspawn) run_nspawn || rc=$? ;;
    qemu)   run_qemu   || rc=$? ;;
    *) die "unknown MODE=$MODE" ;;
esac
step ""
cleanup_work
if [ $rc -ne 0 ]; then
    log "FAILED (rc=$rc). Guest journal: $WORK/journal.txt; console: $WORK/console.log"
    tail -n 80 "$WORK/journal-units.txt" 2>/dev/null || true
    exit "$rc"
fi
log "PASSED in $(( $(elapsed "$T_START") / 1000 )) s (mode=$MODE; work dir $WORK)"
