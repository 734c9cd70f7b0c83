#!/usr/bin/env bash
# README's main job: the whole paper-trading stack on the bundled real candles, from a checkout.
#   scalp-collector (replays data/coinbase_btcusd_1h.csv into var/demo/scalp.db)
#   → scalp-simulator (paper-trades every enabled strategy on the candles as they arrive)
#   → scalp-api (REST, /ws/live and the dashboard on http://127.0.0.1:8000/)
#   + scalp-watchdog (checks and alerts; without a Telegram token its alerts are log lines,
#     printed here as they come).
# No network is needed. Ctrl-C stops the four daemons (SIGTERM: each saves its state).
# Usage: bash config/demo/run.sh [--keep] [--dev]
#   --keep: continue the previous demo's database; --dev: the debug build (faster to compile)
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CFG=config/demo/scalp.toml
VAR=var/demo
KEEP=0; PROFILE=release
for a in "$@"; do
    case "$a" in
        --keep) KEEP=1 ;;
        --dev) PROFILE=debug ;;
        *) echo "usage: bash config/demo/run.sh [--keep] [--dev]" >&2; exit 2 ;;
    esac
done

echo "== building the daemons (cargo build, $PROFILE)"
PFLAG=(); [ "$PROFILE" = release ] && PFLAG=(--release)
cargo build "${PFLAG[@]}" --quiet -p scalp-collector -p scalp-simulator -p scalp-watchdog \
    -p scalp-api-daemon -p scalpctl
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE

if [ ! -f web/dist/index.html ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "== building the dashboard (npm ci && npm run build in web/)"
        (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent) \
            || echo "   dashboard build failed: the API runs without it (see web/)"
    else
        echo "== npm not found: the dashboard is not built (apt-get install -y npm); the API runs without it"
    fi
fi

if [ "$KEEP" = 0 ] && [ -d "$VAR" ]; then
    echo "== a fresh demo: removing $VAR (use --keep to continue the previous one)"
    rm -rf "$VAR"
fi
mkdir -p "$VAR/logs"
export SCALP_API_KEY=${SCALP_API_KEY:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
export RUST_LOG=${RUST_LOG:-info}
unset SCALP_TELEGRAM_TOKEN NOTIFY_SOCKET WATCHDOG_USEC

"$BIN/scalpctl" --config "$CFG" check-config >/dev/null

PIDS=()
start() {  # name
    # A session of its own: Ctrl-C (SIGINT to the terminal's foreground group) reaches only this
    # script, which then stops each daemon with one SIGTERM (a daemon given SIGINT and then
    # SIGTERM would take the second signal as "exit without waiting").
    setsid "$BIN/$1" --config "$CFG" >>"$VAR/logs/$1.log" 2>&1 &
    PIDS+=($!)
    echo "   $1 started (pid $!, log $VAR/logs/$1.log)"
}
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "== stopping (SIGTERM; each daemon saves its state)"
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "   stopped. Paper trades: $BIN/scalpctl --config $CFG trades --limit 20"
}
trap stop_all INT TERM EXIT

echo "== starting the stack ($CFG, data in $VAR)"
start scalp-collector
start scalp-simulator
start scalp-api
start scalp-watchdog

for _ in $(seq 1 100); do
    # (absent until scalp-api's first write: not an error under set -e / pipefail)
    listen=$(sed -n 's/.*"listen": *"\([^"]*\)".*/\1/p' "$VAR/state/api.json" 2>/dev/null | head -n1 || true)
    [ -n "$listen" ] && break
    if ! kill -0 "${PIDS[2]}" 2>/dev/null; then
        echo "scalp-api stopped: $(tail -n 5 "$VAR/logs/scalp-api.log")" >&2
        exit 1
    fi
    sleep 0.2
done
[ -n "${listen:-}" ] || { echo "scalp-api did not report its address ($VAR/logs/scalp-api.log)" >&2; exit 1; }

cat <<MSG

  Dashboard:  http://$listen/
  API key:    $SCALP_API_KEY   (the page asks for it once)
  REST:       curl -H 'X-API-Key: $SCALP_API_KEY' http://$listen/api/simulator/status
  Arena:      $BIN/scalpctl --config $CFG arena

  The replay stores 50 candles a second; paper trades appear as it runs. Watchdog alerts follow
  (trades, anomalies). Ctrl-C stops everything.

MSG
tail -n +1 -F "$VAR/logs/scalp-watchdog.log" 2>/dev/null | grep --line-buffered -o 'ALERT .*' &
PIDS+=($!)
wait "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}" "${PIDS[3]}" || true
