#!/bin/bash
# Runs INSIDE the booted Debian guest (systemd is PID 1), as root, from tests/system/run.sh.
# Does what the admin does (docs/OPERATIONS.md) and checks each promise. Exit 0 = pass.
# /systest/config.env gives: DEB, DEB_UPGRADE, SERVICES, MAIN_SERVICE, UPGRADE_VERSION.
set -Eeuo pipefail
. /systest/config.env
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0
T0=$(date +%s%N)
STEP_T=$T0
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
log() { echo "[guest +$(ms "$T0")ms] $*"; }
step() {  # closes the previous step with its duration, opens a new one
    local now; now=$(date +%s%N)
    [ -z "${STEP_NAME:-}" ] || echo "[guest +$(ms "$T0")ms]   done: $STEP_NAME ($(( (now - STEP_T) / 1000000 )) ms)"
    STEP_NAME=$1; STEP_T=$now
    echo "[guest +$(ms "$T0")ms] STEP $1"
}
TARGET=scalp.target
ALL_UNITS="$TARGET $SERVICES scalp-backup.service scalp-backup.timer"
CONF=/etc/scalp-radar/scalp.toml
STATE=/var/lib/scalp-radar
fail() {
    echo "SYSTEST FAIL: $*"
    systemctl --no-pager status $TARGET $SERVICES 2>&1 | tail -60 || true
    for s in $SERVICES; do journalctl -u "$s" --no-pager -n 25 -o short-precise 2>&1 || true; done
    exit 1
}
trap 'fail "command failed (rc=$?) at line $LINENO: $BASH_COMMAND"' ERR
wait_for() {  # timeout_s description cmd...
    local t=$1 d=$2; shift 2; local end=$(( $(date +%s) + t ))
    until "$@"; do [ "$(date +%s)" -lt "$end" ] || fail "timeout (${t}s) waiting for: $d"; sleep 0.2; done
}
state_of() { systemctl is-active "$1" 2>/dev/null || true; }
is_active() { [ "$(state_of "$1")" = active ]; }
not_active() { ! is_active "$1"; }
mainpid() { systemctl show -P MainPID "$1"; }
restarted() { local p; p=$(mainpid "$1"); is_active "$1" && [ "$p" != 0 ] && [ "$p" != "$2" ]; }
active_or_die() {  # fail fast once a unit is 'failed' (e.g. start limit hit)
    local st; st=$(state_of "$1")
    [ "$st" != failed ] || fail "$1 entered state 'failed'"
    [ "$st" = active ]
}
# no grep -q on journalctl output: with pipefail, the SIGPIPE would give a false negative
journal_has() { journalctl -u "$1" --no-pager -o cat | grep -F -- "$2" >/dev/null; }
apt_quiet() {  # apt ... ; prints apt's interesting lines, fails on error
    local rc=0
    "$@" > /var/tmp/systest-apt.log 2>&1 || rc=$?
    grep -Ev 'does not have a stable CLI|Reading database|^ *$|^(Reading|Building|Preparing)' \
        /var/tmp/systest-apt.log | sed 's/^/    apt: /' || true
    [ "$rc" = 0 ] || fail "$* exited with $rc"
}
# scalp-simulator (when the package ships it): its state file through `scalpctl arena --json`
SIM=scalp-simulator.service
case " $SERVICES " in *" $SIM "*) HAVE_SIM=1 ;; *) HAVE_SIM=0 ;; esac
SIM_STATE=$STATE/state/simulator.json
arena_field() {  # top-level number of `scalpctl arena --json` (two-space indent), empty if none
    { scalpctl arena --json 2>/dev/null || true; } | sed -n "s/^  \"$1\": \([0-9][0-9]*\),*\$/\1/p"
}
sim_seq() { local v; v=$(arena_field seq); echo "${v:-0}"; }
sim_runners() { local v; v=$(arena_field runners); echo "${v:-0}"; }
sim_seq_above() { [ "$(sim_seq)" -gt "$1" ]; }
sim_has_runners() { [ "$(sim_runners)" -gt 0 ]; }
json_array() {  # $1 = text: a JSON array (of objects with exit_time/source), or []
    local t; t=$(printf '%s' "$1" | tr -d '\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
    case "$t" in \[*\]) ;; *) return 1 ;; esac
    [ "$(printf '%s\n' "$1" | grep -c '"exit_time": "[0-9-]*T[0-9:.]*Z"' || true)" \
      = "$(printf '%s\n' "$1" | grep -c '"source": "\(paper\|live\)"' || true)" ]
}
candle_rows() {  # total rows of every series in `scalpctl status --json`
    scalpctl status --json | sed -n 's/^ *"rows": \([0-9]*\),*$/\1/p' | awk '{s+=$1} END {print s+0}'
}

log "guest: $(systemctl --version | head -n1), state=$(systemctl is-system-running || true)"
log "services under test: $SERVICES"

# ---------------------------------------------------------------- install ---
step "apt install ./$(basename "$DEB")"
apt_quiet apt-get install -y --no-install-recommends "/systest/debs/$(basename "$DEB")"
dpkg-query -W -f='${Status} ${Version}\n' scalp-radar | grep -E '^install ok installed ' >/dev/null \
    || fail "scalp-radar not installed"
getent passwd scalp >/dev/null || fail "system user scalp missing"
[ "$(stat -c '%U:%G %a' $STATE)" = "scalp:scalp 750" ] || fail "$STATE is $(stat -c '%U:%G %a' $STATE)"
for u in $ALL_UNITS; do systemctl cat "$u" >/dev/null || fail "unit $u not installed"; done
for f in scalp.toml assets.toml strategies.toml param_grids.toml; do
    grep -qx "/etc/scalp-radar/$f" /var/lib/dpkg/info/scalp-radar.conffiles || fail "$f is not a conffile"
done
[ -f /usr/share/scalp-radar/data/coinbase_btcusd_1h.csv ] || fail "bundled data missing"
[ -f /usr/share/man/man1/scalpctl.1.gz ] || fail "man page missing"
[ -f /usr/share/bash-completion/completions/scalpctl ] || fail "bash completion missing"
out=$(systemd-analyze verify $ALL_UNITS 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify (in guest): $out"
[ "$(systemctl is-enabled $TARGET)" = enabled ] || fail "$TARGET not enabled by postinst"
[ "$(systemctl is-enabled scalp-backup.timer)" = enabled ] || fail "backup timer not enabled"
for s in $SERVICES; do
    [ "$(systemctl is-enabled "$s")" = enabled ] || fail "$s not enabled"
    # nothing may trade before the admin configured it
    [ "$(state_of "$s")" = inactive ] || fail "$s was started by the install ($(state_of "$s"))"
done
log "  installed $(dpkg-query -W -f='${Version}' scalp-radar); enabled, nothing started"

# ------------------------------------------------------------- first run ---
step "first-run configuration (secrets.env, scalpctl check-config)"
install -m 0640 -o root -g scalp /usr/share/doc/scalp-radar/secrets.env.example /etc/scalp-radar/secrets.env
sed -i 's/^SCALP_SYNC_API_KEY=.*/SCALP_SYNC_API_KEY=systest-0123456789abcdef0123456789abcdef/' /etc/scalp-radar/secrets.env
API_KEY=systest-api-0123456789abcdef0123456789abcdef
sed -i "s/^SCALP_API_KEY=.*/SCALP_API_KEY=$API_KEY/" /etc/scalp-radar/secrets.env
scalpctl check-config | sed 's/^/    /'

step "systemctl start $TARGET"
timeout 200 systemctl start "$TARGET" || fail "systemctl start $TARGET"
for s in $TARGET $SERVICES; do wait_for 120 "$s active" active_or_die "$s"; done
for s in $SERVICES; do
    pid=$(mainpid "$s"); wd=$(systemctl show -P WatchdogUSec "$s")
    [ "$pid" != 0 ] || fail "$s has no MainPID"
    [ "$(stat -c %U /proc/$pid)" = scalp ] || fail "$s runs as $(stat -c %U /proc/$pid), not scalp"
    [ "$wd" != 0 ] && [ -n "$wd" ] || fail "$s: watchdog not armed (WatchdogUSec=$wd)"
    [ "$(systemctl show -P Type "$s")" = notify ] || fail "$s is not Type=notify"
    grep -q '^Seccomp:[[:space:]]*2' /proc/$pid/status || fail "$s: no seccomp filter"
    grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$pid/status || fail "$s: NoNewPrivs not set"
    grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$pid/status || fail "$s has capabilities"
    log "  $s: pid=$pid watchdog=$wd status='$(systemctl show -P StatusText "$s")'"
done

is_active scalp-backup.timer || fail "scalp.target did not start scalp-backup.timer"
log "  scalp-backup.timer: next run $(systemctl show -P NextElapseUSecRealtime scalp-backup.timer)"

step "journalctl -u $MAIN_SERVICE shows the daemon's own log lines"
own_lines() { journalctl --no-pager -o cat _SYSTEMD_UNIT="$MAIN_SERVICE" _PID="$(mainpid "$MAIN_SERVICE")" | grep -c . || true; }
has_own_lines() { [ "$(own_lines)" -gt 0 ]; }
wait_for 60 "log lines from $MAIN_SERVICE itself" has_own_lines
journalctl -u "$MAIN_SERVICE" --no-pager -n 8 -o short-precise | sed 's/^/    /'

step "collector fills the database from the replay source (scalpctl status --json)"
has_rows() { r=$(candle_rows); [ "$r" -gt 0 ]; }
wait_for 120 "candles in the database" has_rows
r1=$(candle_rows); sleep 2; r2=$(candle_rows)
[ "$r2" -gt "$r1" ] || fail "candle count not growing ($r1 -> $r2)"
log "  candle rows: $r1 -> $r2 two seconds later"
scalpctl status | sed 's/^/    /'
scalpctl status --json | grep -F '"heartbeat_age_ms"' >/dev/null || fail "no state file heartbeat in status"

API=scalp-api.service
case " $SERVICES " in *" $API "*) HAVE_API=1 ;; *) HAVE_API=0 ;; esac
if [ "$HAVE_API" = 1 ]; then
    step "scalp-api: /health public, the key required, the dashboard path answered"
    # HTTP/1.1 over bash's /dev/tcp (no curl in the image): prints the status line and body
    api_get() {  # path [key]
        local hdr=""
        [ -n "${2:-}" ] && hdr="X-API-Key: $2"$'\r\n'
        exec 3<>/dev/tcp/127.0.0.1/8000 || return 1
        printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n' "$1" "$hdr" >&3
        timeout 10 cat <&3
        exec 3<&-
    }
    api_up() { api_get /health 2>/dev/null | head -n1 | grep -q ' 200 '; }
    wait_for 60 "scalp-api /health" api_up
    api_get /health | tail -n1 | grep -F '"ok":true' >/dev/null || fail "scalp-api /health not ok: $(api_get /health)"
    api_get /api/simulator/ranking | head -n1 | grep -q ' 401 ' || fail "scalp-api answered without the key"
    api_get /api/backtest/runs "$API_KEY" | head -n1 | grep -q ' 200 ' || fail "scalp-api refused the key: $(api_get /api/backtest/runs "$API_KEY")"
    root=$(api_get / | head -n1)
    case "$root" in
        *" 200 "*) log "  / serves the dashboard" ;;
        *" 404 "*) api_get / | grep -F 'dashboard not installed' >/dev/null || fail "/ 404 without the reason"
                   log "  / answers 404: dashboard not installed in this package" ;;
        *) fail "scalp-api / answered: $root" ;;
    esac
    [ -f "$STATE/state/api.json" ] || fail "no state/api.json"
fi

if [ "$HAVE_SIM" = 1 ]; then
step "scalp-simulator: state/simulator.json, scalpctl arena / trades / reset kill-switch"
wait_for 120 "$SIM_STATE written" test -s "$SIM_STATE"
[ "$(stat -c %U "$SIM_STATE")" = scalp ] || fail "$SIM_STATE owned by $(stat -c %U "$SIM_STATE")"
wait_for 120 "runners in $SIM_STATE" sim_has_runners
s1=$(sim_seq)
wait_for 60 "simulator.json seq growing past $s1" sim_seq_above "$s1"
log "  simulator.json: seq $s1 -> $(sim_seq), $(sim_runners) runners"
scalpctl arena | sed 's/^/    /'
scalpctl status | grep -F 'Simulator (' >/dev/null || fail "scalpctl status does not show the simulator"
out=$(scalpctl trades --json) || fail "scalpctl trades --json failed"
json_array "$out" || fail "scalpctl trades --json is not a JSON array of trades: $(printf '%s' "$out" | head -c 400)"
scalpctl trades --limit 5 | sed 's/^/    /'
out=$(scalpctl trades --source live) || fail "scalpctl trades --source live failed"
printf '%s\n' "$out" | grep -F 'the executor has not run' >/dev/null || fail "trades --source live: $out"
out=$(scalpctl trades --source live --json) || fail "scalpctl trades --source live --json failed"
[ "$(printf '%s' "$out" | tr -d '[:space:]')" = '[]' ] || fail "trades --source live --json: $out"
# the running simulator reads scalpctl's control file (written as root, handed to scalp) and acks
out=$(scalpctl reset kill-switch --wait 30) || fail "scalpctl reset kill-switch: $out"
printf '%s\n' "$out" | sed 's/^/    /'
printf '%s\n' "$out" | grep -F 'scalp-simulator answered request' >/dev/null \
    || fail "reset kill-switch not acknowledged by the running simulator: $out"
[ "$(stat -c %U $STATE/control/simulator-scalpctl.json)" = scalp ] || fail "control file not owned by scalp"
fi

EXE=scalp-executor@sma_cross.service
if [ -x /usr/bin/scalp-executor ]; then
step "scalp-executor@sma_cross against the Bitget stand-in (UTA keys, v2 URL configured)"
# the stand-in exchange (tests/src/bin/scalp-standin.rs) on 127.0.0.1, BTCUSDT at 30000
/systest/scalp-standin bitget-private uta 30000 > /run/standin.env 2> /run/standin.log &
STANDIN_PID=$!
wait_for 30 "the Bitget stand-in's address" grep -q '^SCALP_STANDIN_PASSPHRASE=' /run/standin.env
. /run/standin.env
# the strategy refuses to trade live until the admin says so (exit 2, not restarted)
systemctl start scalp-executor@momentum.service >/dev/null 2>&1 || true
refused() { [ "$(state_of scalp-executor@momentum.service)" = failed ]; }
wait_for 60 "scalp-executor@momentum refused" refused
[ "$(systemctl show -P ExecMainStatus scalp-executor@momentum.service)" = 2 ] \
    || fail "a strategy not enabled for live trading: exit $(systemctl show -P ExecMainStatus scalp-executor@momentum.service), not 2"
sleep 6   # RestartSec=5: a restart would have happened by now
[ "$(systemctl show -P NRestarts scalp-executor@momentum.service)" = 0 ] || fail "the refused executor was restarted"
journalctl -u scalp-executor@momentum.service --no-pager -o cat | grep -E 'not (enabled|live.eligible)|live_eligible|enabled = ' >/dev/null \
    || fail "the refusal does not name why: $(journalctl -u scalp-executor@momentum.service --no-pager -o cat | tail -5)"
systemctl reset-failed scalp-executor@momentum.service
log "  scalp-executor@momentum refused (exit 2, not restarted): $(journalctl -u scalp-executor@momentum.service --no-pager -o cat | grep -F 'enabled = false' | tail -n1 || true)"
# the admin's steps (docs/OPERATIONS.md, live trading): keys of the strategy's sub-account,
# the strategy enabled and live-eligible on BTC, the exchange's URLs
cp -p /etc/scalp-radar/secrets.env /run/secrets.env.orig
cp -p $CONF /run/scalp.toml.orig
cp -p /etc/scalp-radar/strategies.toml /run/strategies.toml.orig
{
    echo "SCALP_BITGET_API_KEY_SMA_CROSS=$SCALP_STANDIN_KEY"
    echo "SCALP_BITGET_API_SECRET_SMA_CROSS=$SCALP_STANDIN_SECRET"
    echo "SCALP_BITGET_API_PASSPHRASE_SMA_CROSS=$SCALP_STANDIN_PASSPHRASE"
} >> /etc/scalp-radar/secrets.env
sed -i "s|^rest_url = \"https://api.bitget.com\"|rest_url = \"$SCALP_STANDIN_REST\"|; s|^ws_private_url = .*|ws_private_url = \"$SCALP_STANDIN_WS\"|" $CONF
grep -F "rest_url = \"$SCALP_STANDIN_REST\"" $CONF >/dev/null || fail "could not point [exchanges.bitget] at the stand-in"
sed -i '/^\[sma_cross\]$/,/^\[/ { s/^enabled = false$/enabled = true\nassets = ["BTC"]/; s/^live_eligible = false$/live_eligible = true/ }' /etc/scalp-radar/strategies.toml
scalpctl check-config | sed 's/^/    /'
# no candle arrives until the reconciliation is checked (the stand-in's price is not the replay's)
systemctl stop scalp-collector.service
timeout 150 systemctl start $EXE || fail "systemctl start $EXE"
wait_for 60 "$EXE active" active_or_die $EXE
pid=$(mainpid $EXE)
[ "$(stat -c %U /proc/$pid)" = scalp ] || fail "$EXE runs as $(stat -c %U /proc/$pid)"
[ "$(systemctl show -P Type $EXE)" = notify ] || fail "$EXE is not Type=notify"
[ "$(systemctl show -P WatchdogUSec $EXE)" != 0 ] || fail "$EXE: watchdog not armed"
grep -q '^Seccomp:[[:space:]]*2' /proc/$pid/status || fail "$EXE: no seccomp filter"
grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$pid/status || fail "$EXE has capabilities"
journal_has $EXE "RECONCILE sma_cross" || fail "$EXE: no RECONCILE report"
journal_has $EXE "scalp-executor READY" || fail "$EXE: no READY"
journal_has $EXE "SCALP_BITGET_API_KEY_SMA_CROSS" || fail "$EXE does not name the key set it uses"
EXE_STATE=$STATE/state/executor-sma_cross.json
wait_for 30 "$EXE_STATE written" test -s $EXE_STATE
[ "$(stat -c %U $EXE_STATE)" = scalp ] || fail "$EXE_STATE owned by $(stat -c %U $EXE_STATE)"
journalctl -u $EXE --no-pager -o cat | grep -E 'RECONCILE|READY|LIVE RUNNER|WebSocket connected|keys from' | head -n 6 | sed 's/^/    /'
out=$(scalpctl reconcile --strategy sma_cross --json) || fail "scalpctl reconcile: $out"
printf '%s\n' "$out" | grep -F '"consistent": true' >/dev/null || fail "reconcile while running: $out"
scalpctl reconcile --strategy sma_cross | sed 's/^/    /'
exe_candles() { sed -n 's/^ *"candles": \([0-9]*\),*$/\1/p' $EXE_STATE | head -n1; }
stepping() { local n; n=$(exe_candles); [ "${n:-0}" -gt "$1" ]; }
c1=$(exe_candles); c1=${c1:-0}
# the collector's replay stores candles again; the executor steps what it stores
systemctl start scalp-collector.service
wait_for 90 "$EXE stepping the collector's candles (past $c1)" stepping "$c1"
log "  $EXE: pid=$pid status='$(systemctl show -P StatusText $EXE)' candles $c1 -> $(exe_candles)"
# the secret is in no log line, no state file and no database page
if journalctl --no-pager -o cat | grep -F -- "$SCALP_STANDIN_SECRET" >/dev/null; then fail "the API secret is in the journal"; fi
if grep -rF -- "$SCALP_STANDIN_SECRET" $STATE >/dev/null; then fail "the API secret is under $STATE"; fi
# SIGTERM: state saved, STOPPED logged, a clean exit (not restarted)
systemctl stop $EXE
journal_has $EXE "EXECUTOR sma_cross STOPPED" || fail "$EXE: no STOPPED line after systemctl stop"
[ "$(systemctl show -P ExecMainStatus $EXE)" = 0 ] || fail "$EXE exited $(systemctl show -P ExecMainStatus $EXE) on SIGTERM"
kill "$STANDIN_PID" 2>/dev/null || true
wait "$STANDIN_PID" 2>/dev/null || true
cp -p /run/secrets.env.orig /etc/scalp-radar/secrets.env
cp -p /run/scalp.toml.orig $CONF
cp -p /run/strategies.toml.orig /etc/scalp-radar/strategies.toml
fi

WD=scalp-watchdog.service
case " $SERVICES " in *" $WD "*)
step "scalp-watchdog: state/watchdog.json, alerts logged without a token"
wait_for 120 "$STATE/state/watchdog.json written" test -s "$STATE/state/watchdog.json"
[ "$(stat -c %U "$STATE/state/watchdog.json")" = scalp ] || fail "watchdog.json owned by $(stat -c %U "$STATE/state/watchdog.json")"
wait_for 60 "ALERT lines in the watchdog's journal" journal_has "$WD" "ALERT "
grep -F '"telegram": "disabled"' "$STATE/state/watchdog.json" >/dev/null \
    || grep -F '"telegram":"disabled"' "$STATE/state/watchdog.json" >/dev/null \
    || fail "watchdog.json: telegram not disabled without a token"
;; esac

step "scalpctl checkpoint + backup (by hand and through scalp-backup.service)"
scalpctl checkpoint | sed 's/^/    /'
scalpctl backup --keep 3 | sed 's/^/    /'
systemctl start scalp-backup.service || fail "scalp-backup.service failed"
[ "$(systemctl show -P Result scalp-backup.service)" = success ] || fail "backup service result"
n=$(find $STATE/backups -name 'scalp-*.db' | wc -l)
[ "$n" = 2 ] || fail "expected 2 backups, found $n"
[ "$(stat -c %U $STATE/backups)" = scalp ] || fail "backups dir not owned by scalp"
journalctl -u scalp-backup.service --no-pager -o cat | grep -F 'integrity ok' | sed 's/^/    /'
for s in $SERVICES; do active_or_die "$s"; done

# ---------------------------------------------------- crash and watchdog ---
step "kill -9 of every daemon -> Restart=on-failure"
declare -A OLD N0
for s in $SERVICES; do OLD[$s]=$(mainpid "$s"); N0[$s]=$(systemctl show -P NRestarts "$s"); kill -KILL "${OLD[$s]}"; done
for s in $SERVICES; do
    wait_for 60 "$s restart after SIGKILL" restarted "$s" "${OLD[$s]}"
    n1=$(systemctl show -P NRestarts "$s")
    [ "$n1" -gt "${N0[$s]}" ] || fail "$s: NRestarts did not increase"
    journal_has "$s" "status=9/KILL" || fail "$s: no KILL record in the journal"
    log "  $s: pid ${OLD[$s]} -> $(mainpid "$s"), NRestarts=$n1"
done
if [ "$HAVE_SIM" = 1 ]; then
    # the restarted simulator restores its runners and continues the state file's seq
    s1=$(sim_seq)
    wait_for 60 "simulator.json seq growing past $s1 after the restart" sim_seq_above "$s1"
    wait_for 60 "runners in $SIM_STATE after the restart" sim_has_runners
    scalpctl trades --json > /var/tmp/systest-trades.json || fail "scalpctl trades --json after the restart"
    json_array "$(cat /var/tmp/systest-trades.json)" || fail "trades --json after the restart is not an array"
    log "  $SIM: seq $s1 -> $(sim_seq), $(sim_runners) runners after kill -9"
fi

case " $SERVICES " in *" $WD "*)
step "kill -STOP of the collector -> its systemd watchdog restarts it, scalp-watchdog reports it"
C=scalp-collector.service
OLDC=$(mainpid "$C"); kill -STOP "$OLDC"
wait_for 200 "$C restart by its systemd watchdog" restarted "$C" "$OLDC"
journal_has "$C" "Watchdog timeout" || fail "$C: no 'Watchdog timeout' in the journal"
# the restart count after this SIGSTOP (the kill -9 step's restart was reported before)
N1=$(systemctl show -P NRestarts "$C")
reported_restart() { journalctl -u "$WD" --no-pager -o cat | grep -F "RESTARTED scalp-collector by systemd" | grep -F -- "→ $1 restarts" >/dev/null; }
wait_for 120 "scalp-watchdog reports the collector's restart number $N1" reported_restart "$N1"
log "  $(journalctl -u "$WD" --no-pager -o cat | grep -F "RESTARTED scalp-collector" | tail -n1)"
;; esac

step "kill -STOP of every daemon -> watchdog timeout -> restart"
for s in $SERVICES; do OLD[$s]=$(mainpid "$s"); kill -STOP "${OLD[$s]}"; done
for s in $SERVICES; do
    wait_for 200 "$s restart by the watchdog" restarted "$s" "${OLD[$s]}"
    journal_has "$s" "Watchdog timeout" || fail "$s: no 'Watchdog timeout' in the journal"
    log "  $s: pid ${OLD[$s]} -> $(mainpid "$s") ($(journalctl -u "$s" --no-pager -o cat | grep -F 'Watchdog timeout' | tail -n1))"
done

# ------------------------------------------------- conffiles on upgrade ---
step "edit the config, apt install --reinstall -> edit kept"
sed -i 's/^candles_per_second = .*/candles_per_second = 25.0             # systest edit/' $CONF
grep -F '# systest edit' $CONF >/dev/null || fail "config edit did not apply"
echo '# admin note kept across upgrades' >> $CONF
scalpctl check-config >/dev/null
apt_quiet apt-get install -y --reinstall "/systest/debs/$(basename "$DEB")"
grep -F '# systest edit' $CONF >/dev/null && grep -Fx '# admin note kept across upgrades' $CONF >/dev/null \
    || fail "reinstall lost the config edit"
[ "$(stat -c '%U:%G %a' /etc/scalp-radar/secrets.env)" = "root:scalp 640" ] || fail "secrets.env ownership changed"
for s in $SERVICES; do wait_for 60 "$s active after reinstall" active_or_die "$s"; done

step "upgrade to $UPGRADE_VERSION -> edit kept, daemons restarted on the new binaries"
for s in $SERVICES; do OLD[$s]=$(mainpid "$s"); done
apt_quiet apt-get install -y "/systest/debs/$(basename "$DEB_UPGRADE")"
[ "$(dpkg-query -W -f='${Version}' scalp-radar)" = "$UPGRADE_VERSION" ] || fail "not upgraded"
grep -F '# systest edit' $CONF >/dev/null && grep -Fx '# admin note kept across upgrades' $CONF >/dev/null \
    || fail "upgrade lost the config edit"
[ ! -e $CONF.dpkg-new ] && [ ! -e $CONF.dpkg-dist ] || fail "dpkg left a conffile copy"
for s in $SERVICES; do
    wait_for 60 "$s restarted after upgrade" restarted "$s" "${OLD[$s]}"
done
[ -f /etc/scalp-radar/secrets.env ] || fail "upgrade removed secrets.env"

# ---------------------------------------------------------- stop, purge ---
step "systemctl stop $TARGET stops every daemon (PartOf=)"
systemctl stop "$TARGET"
for s in $SERVICES; do wait_for 60 "$s stopped" not_active "$s"; done
for s in $SERVICES; do
    r=$(systemctl show -P Result "$s")
    [ "$r" = success ] || fail "$s stopped with result $r (SIGTERM must give a clean exit)"
done
failed=$(systemctl list-units --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')
[ -z "${failed// /}" ] || fail "failed units: $failed"
log "  system state: $(systemctl is-system-running || true)"

step "apt purge scalp-radar"
apt_quiet apt-get purge -y scalp-radar
for u in $ALL_UNITS; do ! systemctl cat "$u" >/dev/null 2>&1 || fail "$u still present after purge"; done
[ ! -e /etc/scalp-radar ] || fail "/etc/scalp-radar left after purge: $(ls -A /etc/scalp-radar)"
[ ! -e $STATE ] || fail "$STATE left after purge"
[ ! -e /etc/systemd/system/multi-user.target.wants/scalp.target ] || fail "enable link left after purge"
# --------------------------------------------------------- install.sh ---
step "install.sh on the clean system, twice (idempotent)"
out=$(/bin/bash /systest/install.sh "$DEB" 2>&1) || { echo "$out" | tail -20; fail "install.sh failed"; }
echo "$out" | grep -E '^\[install\]|systemctl start' | sed 's/^/    /'
[ "$(stat -c '%U:%G %a' /etc/scalp-radar/secrets.env)" = "root:scalp 640" ] || fail "install.sh: secrets.env mode"
for s in $SERVICES; do [ "$(state_of "$s")" = inactive ] || fail "install.sh started $s"; done
echo 'SCALP_SYNC_API_KEY=kept-by-second-run' >> /etc/scalp-radar/secrets.env
/bin/bash /systest/install.sh "$DEB" > /var/tmp/systest-install2.log 2>&1 || { tail -20 /var/tmp/systest-install2.log; fail "second install.sh failed"; }
grep -Fx 'SCALP_SYNC_API_KEY=kept-by-second-run' /etc/scalp-radar/secrets.env >/dev/null || fail "install.sh overwrote secrets.env"
grep -F 'kept the existing' /var/tmp/systest-install2.log >/dev/null || fail "second install.sh did not keep secrets.env"
apt_quiet apt-get purge -y scalp-radar
[ ! -e /etc/scalp-radar ] && [ ! -e $STATE ] || fail "purge after install.sh left files"
step "end"
log "SYSTEST PASS"
