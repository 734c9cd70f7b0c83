#!/usr/bin/env bash
# Cross-builds optimize.exe (x86_64-pc-windows-gnu, mingw-w64) and runs it under wine on the
# bundled data, asserting its output equals the native Linux binary's.
#
#   tests/windows/run.sh            (from the repo root or anywhere)
#
# Needs: rustup target x86_64-pc-windows-gnu, mingw-w64 (x86_64-w64-mingw32-gcc), wine64.
# Wine 8 lacks bcryptprimitives.dll (Rust's std calls ProcessPrng): the TEST-ONLY shim in
# tests/windows/shim/ is built and copied next to the exe in a throw-away directory. It is never
# shipped: real Windows has the genuine DLL.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TARGET=x86_64-pc-windows-gnu
WINE=${WINE:-$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)}
WINESERVER=${WINESERVER:-$(command -v wineserver || echo /usr/lib/wine/wineserver)}
[ -x "$WINE" ] || { echo "FAIL: wine64 not found (apt-get install wine64)"; exit 2; }
command -v x86_64-w64-mingw32-objdump >/dev/null || { echo "FAIL: x86_64-w64-mingw32-objdump not found (apt-get install binutils-mingw-w64-x86-64)"; exit 2; }
command -v x86_64-w64-mingw32-gcc >/dev/null || { echo "FAIL: x86_64-w64-mingw32-gcc not found (apt-get install gcc-mingw-w64-x86-64)"; exit 2; }

echo "== crates of optimize for $TARGET (no Linux-only crate allowed)"
LINUX_ONLY='^(nix|sd-notify|tracing-journald|libsystemd|inotify|inotify-sys) '
if cargo tree -p optimize --target "$TARGET" -e normal --prefix none --no-dedupe 2>/dev/null | sort -u | grep -E "$LINUX_ONLY"; then
    echo "FAIL: Linux-only crate in optimize's dependency tree for $TARGET"
    exit 1
fi
echo "ok"

echo "== cross-build (the shipped build: stripped, debug info split off)"
bash packaging/build-windows.sh target/dist/windows
# The Linux reference and the sync server: the dev-profile binaries (already built by tests/run.sh).
# (--workspace: the same feature set as that build, so nothing is compiled again)
cargo build --workspace --bins
EXE="target/dist/windows/optimize.exe"
# The shipped exe carries no debug sections (the release profile's line tables made it ~64 MB).
if x86_64-w64-mingw32-objdump -h "$EXE" | grep -q '\.debug_'; then
    echo "FAIL: $EXE still has debug sections"; exit 1
fi
NATIVE="target/debug/optimize"
SYNCD="target/debug/scalp-syncd"

WORK=$(mktemp -d /tmp/scalp-wine.XXXXXX)
export WINEPREFIX="$WORK/prefix" WINEDEBUG=-all WINEARCH=win64 WINEDLLOVERRIDES="mscoree,mshtml="
SYNCD_PID=""
cleanup() {
    [ -z "$SYNCD_PID" ] || kill "$SYNCD_PID" 2>/dev/null || true
    "$WINESERVER" -k >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cp "$EXE" "$WORK/optimize.exe"
x86_64-w64-mingw32-gcc -shared -O2 -o "$WORK/bcryptprimitives.dll" tests/windows/shim/bcryptprimitives.c
mkdir -p "$WORK/config" "$WORK/data"
cp config/*.toml "$WORK/config/"
cp data/coinbase_btcusd_1h.csv "$WORK/data/"
# Local data dir for the run (relative paths resolve against the config dir).
sed -i 's#^data_dir = .*#data_dir = "../var"#' "$WORK/config/scalp.toml"

run_win() { (cd "$WORK" && "$WINE" optimize.exe "$@"); }

echo "== optimize.exe --help under wine"
HELP=$(run_win --help 2>&1 | tr -d '\r')
echo "$HELP" | head -20
echo "$HELP" | grep -q "sweep" || { echo "FAIL: --help does not list sweep"; exit 1; }

GRID='fast=2..40:2,slow=50..430:20'
ARGS=(sweep --strategy sma_cross --grid "$GRID" --fee 0.001 --slippage 0 --leverage 1 --no-funding
      --size all_cash --lot 0.00000001 --end last_open --capital 10000 --json)
echo "== optimize.exe sweep on the bundled BTC 1h data under wine"
run_win --config 'config\scalp.toml' "${ARGS[@]}" --data 'data\coinbase_btcusd_1h.csv' | tr -d '\r' > "$WORK/win.json"
"$NATIVE" --config "$WORK/config/scalp.toml" "${ARGS[@]}" --data "$WORK/data/coinbase_btcusd_1h.csv" > "$WORK/linux.json"
python3 - "$WORK/win.json" "$WORK/linux.json" <<'PY'
import json, sys
w = json.load(open(sys.argv[1])); l = json.load(open(sys.argv[2]))
assert w["combos"] == 400 and w["candles"] == 20111, (w["combos"], w["candles"])
assert w["engine"] == "kernel", w["engine"]
key = lambda r: (tuple(map(tuple, r["params"])), r["metrics"]["final_equity"], r["metrics"]["n_trades"])
wk, lk = [key(r) for r in w["results"]], [key(r) for r in l["results"]]
assert wk == lk, "windows and linux rankings differ"
b = w["results"][0]
print("ok: windows == linux, best", b["params"], "final equity %.2f" % b["metrics"]["final_equity"],
      "(%.3g candle·combos/s under wine)" % w["candle_combos_per_s"])
PY

echo "== a real scalp-syncd on 127.0.0.1 for optimize.exe's pushes"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/server"
cp config/*.toml "$WORK/server/"
sed -i -e 's#^data_dir = .*#data_dir = "data"#' -e "s#^listen = .*#listen = \"127.0.0.1:$PORT\"#" "$WORK/server/scalp.toml"
export SCALP_SYNC_API_KEY="wine-e2e-$RANDOM$RANDOM"
"$SYNCD" --config "$WORK/server/scalp.toml" > "$WORK/syncd.log" 2>&1 &
SYNCD_PID=$!
for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=1)" 2>/dev/null && break
    kill -0 "$SYNCD_PID" 2>/dev/null || { cat "$WORK/syncd.log"; echo "FAIL: scalp-syncd exited"; exit 1; }
    sleep 0.2
done
# optimize.exe pushes to it (key from the environment, which wine passes to the Windows process).
sed -i -e 's#^enabled = false#enabled = true#' -e "s#^server_url = .*#server_url = \"http://127.0.0.1:$PORT\"#" "$WORK/config/scalp.toml"

echo "== optimize.exe run (walk-forward, grading, local db, report, push) under wine"
OUTRUN=$(run_win --config 'config\scalp.toml' run --strategy sma_cross --symbol BTC --data 'data\coinbase_btcusd_1h.csv' --permutations 9 --json 2>/dev/null | tr -d '\r')
echo "$OUTRUN" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); assert r["n_windows"]>=5 and r["grade"] in "ABCDEF", r; print("ok: grade", r["grade"], "score", r["total_score"], "windows", r["n_windows"])'
[ -f "$WORK/config/optimize.db" ] || { echo "FAIL: no optimize.db written by optimize.exe"; exit 1; }
ls "$WORK/config/reports/"*.json >/dev/null || { echo "FAIL: no JSON report written by optimize.exe"; exit 1; }
python3 - "$WORK/server/data/scalp.db" "$WORK/config/optimize.db" <<'PY'
import sqlite3, sys
srv = sqlite3.connect(sys.argv[1]).execute(
    "select strategy_name, asset, created_at, grade, source, is_latest from optimization_results").fetchall()
loc = sqlite3.connect(sys.argv[2]).execute(
    "select strategy_name, asset, created_at, grade from optimization_results").fetchall()
assert len(srv) == 1 and len(loc) == 1, (srv, loc)
assert srv[0][:4] == loc[0], (srv, loc)
assert srv[0][4] == "server" and srv[0][5] == 1, srv
print("ok: optimize.exe's push landed in scalp-syncd:", srv[0])
PY
echo "== optimize.exe sync is idempotent (the row already exists on the server)"
SYNCOUT=$(run_win --config 'config\scalp.toml' sync 2>&1 | tr -d '\r')
echo "$SYNCOUT" | tail -3
echo "$SYNCOUT" | grep -q "0 created, 1 already existed, 0 errors" || { echo "FAIL: unexpected sync summary"; exit 1; }
grep -q "$SCALP_SYNC_API_KEY" "$WORK/syncd.log" && { echo "FAIL: the API key appears in syncd's log"; exit 1; }

echo "== optimize.exe dashboard: the API over the local optimize.db under wine"
DPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SCALP_API_KEY="wine-dash-$RANDOM$RANDOM"
(cd "$WORK" && exec "$WINE" optimize.exe --config 'config\scalp.toml' dashboard --listen "127.0.0.1:$DPORT" > "$WORK/dashboard.log" 2>&1) &
DASH_PID=$!
python3 - "$DPORT" "$SCALP_API_KEY" <<'PY' || { cat "$WORK/dashboard.log"; kill "$DASH_PID" 2>/dev/null; echo "FAIL: optimize.exe dashboard"; exit 1; }
import json, sys, time, urllib.request, urllib.error
port, key = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/health", timeout=1); break
    except Exception:
        time.sleep(0.2)
try:
    urllib.request.urlopen(base + "/api/optimization/runs", timeout=5)
    raise SystemExit("no key: expected 401")
except urllib.error.HTTPError as e:
    assert e.code == 401, e.code
req = urllib.request.Request(base + "/api/optimization/runs", headers={"X-API-Key": key})
runs = json.loads(urllib.request.urlopen(req, timeout=5).read())
rows = runs["runs"] if isinstance(runs, dict) else runs
assert any(r.get("strategy_name") == "sma_cross" for r in rows), runs
print("ok: optimize.exe dashboard lists the local optimization run")
PY
kill "$DASH_PID" 2>/dev/null || true
unset SCALP_API_KEY

if [ -n "${SCALP_WINE_EXTRA:-}" ]; then
    echo "== extra: optimize.exe $SCALP_WINE_EXTRA"
    # shellcheck disable=SC2086
    run_win --config 'config\scalp.toml' $SCALP_WINE_EXTRA
fi
echo "PASS: optimize.exe runs under wine"
