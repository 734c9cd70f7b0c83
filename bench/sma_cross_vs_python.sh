#!/usr/bin/env bash
# Side-by-side benchmark (docs/OPTIMIZER.md, "Benchmarks"): sma_cross grid
# fast=2..40:2 × slow=50..430:20 (400 combos) on data/coinbase_btcusd_1h.csv, fee 0.1 %,
# fills at the next open, all cash in lots of 1e-8, open trade closed at the last open:
#   1. `optimize sweep` (this repo, fast kernel, all cores), one process per run (thread start
#      and first-touch memory included), and the same kernel warm in one process
#      (examples/sweep_bench.rs), which is how vectorbt is timed (after its JIT warm-up)
#   2. backtesting.py 0.6.6 `Backtest.optimize` (FractionalBacktest, maximize final equity)
#   3. vectorbt `Portfolio.from_signals` over all 400 columns at once
# Prints candle·combos/s for each and asserts the three agree on the best combo (by final
# equity). The Python libraries go into a throw-away venv (BENCH_VENV, default
# /tmp/scalp-bench-venv), never into the repo.
#
#   bench/sma_cross_vs_python.sh            # full comparison
#   SKIP_BACKTESTINGPY=1 bench/...          # skip the slow backtesting.py optimize
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DATA=${DATA:-data/coinbase_btcusd_1h.csv}
VENV=${BENCH_VENV:-/tmp/scalp-bench-venv}
RUNS=${RUNS:-7}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import backtesting, vectorbt' 2>/dev/null; then
    echo "== creating venv $VENV (backtesting==0.6.6, vectorbt from PyPI)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q backtesting==0.6.6 vectorbt
fi

echo "== building optimize and the in-process kernel bench (release)"
cargo build -q -p optimize --release
cargo build -q -p scalp-optimizer --release --example sweep_bench
OPT="$ROOT/target/release/optimize"
OUT=$(mktemp -d /tmp/scalp-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

echo "== kernel in one warm process (like vectorbt after its JIT warm-up): median of 100 runs"
"$ROOT/target/release/examples/sweep_bench" 256 100 | tee "$OUT/warm.txt"

echo "== optimize sweep ($RUNS runs, best time kept)"
for i in $(seq "$RUNS"); do
    "$OPT" --config config/demo/scalp.toml sweep --strategy sma_cross --data "$DATA" \
        --grid 'fast=2..40:2,slow=50..430:20' --fee 0.001 --slippage 0 --leverage 1 --no-funding \
        --size all_cash --lot 0.00000001 --end last_open --capital 10000 --fill next_open --json > "$OUT/sweep_$i.json"
done

TQDM_DISABLE=1 "$VENV/bin/python" - "$DATA" "$OUT" "$RUNS" "${SKIP_BACKTESTINGPY:-0}" <<'PY'
import glob, json, sys, time, warnings, os
import numpy as np
import pandas as pd

data, out, runs, skip_btpy = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
FAST = list(range(2, 41, 2))
SLOW = list(range(50, 431, 20))
CASH, FEE, LOT = 10_000.0, 0.001, 1e-8

sweeps = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, "sweep_*.json")))]
best_run = min(sweeps, key=lambda s: s["seconds"])
n = best_run["candles"]; combos = best_run["combos"]
assert combos == len(FAST) * len(SLOW) == 400, combos
ours_best = {k: int(v) for k, v in best_run["results"][0]["params"]}
ours_eq = best_run["results"][0]["metrics"]["final_equity"]
ours_rate = n * combos / best_run["seconds"]
print(f"optimize sweep   : {best_run['seconds']*1e3:9.3f} ms  {ours_rate:10.3e} candle·combos/s  best fast={ours_best['fast']} slow={ours_best['slow']} equity {ours_eq:.2f}  (engine {best_run['engine']}, one process per run, best of {runs})")
import re
warm_line = [l for l in open(os.path.join(out, "warm.txt")) if l.startswith("full metrics false")][0]
warm_ms = float(re.search(r"median ([0-9.]+) ms", warm_line).group(1))
warm_rate = n * combos / (warm_ms / 1e3)
print(f"kernel, warm     : {warm_ms:9.3f} ms  {warm_rate:10.3e} candle·combos/s  (same grid in one process, median of 100)")

df = pd.read_csv(data)
df.index = pd.to_datetime(df["ts_ms"], unit="ms", utc=True)
df = df.rename(columns={"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"})[["Open", "High", "Low", "Close", "Volume"]]

# ---- vectorbt: all 400 combinations as columns of one simulation
import vectorbt as vbt
close = df["Close"]; opn = df["Open"]
def vbt_run(close, opn):
    fw = np.repeat(FAST, len(SLOW)); sw = np.tile(SLOW, len(FAST))
    f = vbt.MA.run(close, window=list(fw)).ma.values
    s = vbt.MA.run(close, window=list(sw)).ma.values
    d = f - s
    prev = np.vstack([np.full((1, d.shape[1]), np.nan), d[:-1]])
    up = (d > 0) & (prev < 0)          # crossover as backtesting.lib.crossover
    down = (d < 0) & (prev > 0)
    # signals at the close of bar i fill at the open of bar i+1
    entries = np.vstack([np.zeros((1, d.shape[1]), bool), up[:-1]])
    exits = np.vstack([np.zeros((1, d.shape[1]), bool), down[:-1]])
    price = np.repeat(opn.values[:, None], d.shape[1], axis=1)
    pf = vbt.Portfolio.from_signals(np.repeat(close.values[:, None], d.shape[1], axis=1), entries, exits,
                                    price=price, fees=FEE, init_cash=CASH, size=np.inf, freq="1h")
    # (size_granularity=1e-8 is left out: vectorbt's rounding then rejects most all-cash orders
    #  — 3 trades instead of 51; fractional sizing gives the same trades as the 1e-8 lots here.)
    return fw, sw, pf.final_value()
vbt_run(close.iloc[:600], opn.iloc[:600])  # numba JIT warm-up, not timed
t = time.perf_counter(); fw, sw, fv = vbt_run(close, opn); vbt_s = time.perf_counter() - t
fv = np.asarray(fv); k = int(np.argmax(fv))
vbt_best = {"fast": int(fw[k]), "slow": int(sw[k])}
vbt_rate = n * combos / vbt_s
print(f"vectorbt         : {vbt_s*1e3:9.3f} ms  {vbt_rate:10.3e} candle·combos/s  best fast={vbt_best['fast']} slow={vbt_best['slow']} equity {fv[k]:.2f}")

bt_best = None
if not skip_btpy:
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover
    def SMA(values, n):
        return pd.Series(values).rolling(n).mean()
    class SmaCross(Strategy):
        fast = 10
        slow = 30
        def init(self):
            self.sma1 = self.I(SMA, self.data.Close, self.fast)
            self.sma2 = self.I(SMA, self.data.Close, self.slow)
        def next(self):
            if crossover(self.sma1, self.sma2):
                if not self.position:
                    self.buy()
            elif crossover(self.sma2, self.sma1):
                if self.position:
                    self.position.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(df, SmaCross, cash=CASH, commission=FEE, trade_on_close=False,
                                exclusive_orders=False, finalize_trades=True, fractional_unit=LOT)
        t = time.perf_counter()
        st = bt.optimize(fast=FAST, slow=SLOW, maximize="Equity Final [$]", return_heatmap=False)
        bt_s = time.perf_counter() - t
    bt_best = {"fast": int(st._strategy.fast), "slow": int(st._strategy.slow)}
    bt_rate = n * combos / bt_s
    print(f"backtesting.py   : {bt_s*1e3:9.1f} ms  {bt_rate:10.3e} candle·combos/s  best fast={bt_best['fast']} slow={bt_best['slow']} equity {st['Equity Final [$]']:.2f}")

print(f"speed-up vs vectorbt: {ours_rate / vbt_rate:,.0f}x one-shot process, {warm_rate / vbt_rate:,.0f}x warm vs warm"
      + (f"; vs backtesting.py: {ours_rate / bt_rate:,.0f}x" if bt_best else ""))
print(f"GOAL >= 1e9 candle·combos/s: {'met' if ours_rate >= 1e9 else 'NOT met'} ({ours_rate:.3e} one-shot, {warm_rate:.3e} warm); "
      f"GOAL >= 1000x vectorbt: one-shot {'met' if ours_rate >= 1000 * vbt_rate else 'NOT met'}, "
      f"warm vs warm {'met' if warm_rate >= 1000 * vbt_rate else 'NOT met'}")
ok = ours_best == vbt_best and (bt_best is None or ours_best == bt_best)
print("same best combo:", "yes" if ok else f"NO (ours {ours_best}, vectorbt {vbt_best}, backtesting.py {bt_best})")
sys.exit(0 if ok else 1)
PY
