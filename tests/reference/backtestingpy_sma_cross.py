#!/usr/bin/env python3
"""Reference figures for the `sma_cross` backtest, computed with backtesting.py 0.6.6.

Settings (mirrored by lib/backtest/tests/reference_backtestingpy.rs):
  data            data/coinbase_btcusd_1h.csv (ts_ms,open,high,low,close,volume)
  strategy        SMA(close,10) / SMA(close,30) crossover, long-only:
                  buy when crossover(fast, slow), close when crossover(slow, fast)
  fills           market orders at the next bar's open (trade_on_close=False)
  commission      0.1 % of traded value, on entry and on exit
  size            all available cash, in whole lots of 1e-8 BTC: FractionalBacktest with
                  fractional_unit=1e-8 (prices scaled by 1e-8, whole-unit sizing
                  floor(cash*(1-eps) / (price*(1+fee))))
  end of data     finalize_trades=True: the open trade is closed at the last bar's open
  cash            10 000

Usage (throw-away venv, the library is not committed):
  python3 -m venv /tmp/btpy && /tmp/btpy/bin/pip install backtesting==0.6.6 pandas
  /tmp/btpy/bin/python tests/reference/backtestingpy_sma_cross.py > tests/reference/sma_cross_btcusd_1h.json
"""
import json
import os
import sys
import warnings

import numpy as np
import pandas as pd
import backtesting
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASH = 10_000.0
FEE = 0.001
LOT = 1e-8


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


def main():
    df = pd.read_csv(os.path.join(ROOT, "data", "coinbase_btcusd_1h.csv"))
    ts = df["ts_ms"].astype("int64").values
    df.index = pd.to_datetime(df["ts_ms"], unit="ms", utc=True)
    df = df.rename(columns={"open": "Open", "high": "High", "low": "Low",
                            "close": "Close", "volume": "Volume"})[["Open", "High", "Low", "Close", "Volume"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(df, SmaCross, cash=CASH, commission=FEE, trade_on_close=False,
                                exclusive_orders=False, finalize_trades=True, fractional_unit=LOT)
        st = bt.run()
    tr = st["_trades"]
    trades = []
    for _, t in tr.iterrows():
        trades.append({
            "entry_time": int(ts[int(t["EntryBar"])]),
            "exit_time": int(ts[int(t["ExitBar"])]),
            "entry_bar": int(t["EntryBar"]),
            "exit_bar": int(t["ExitBar"]),
            "size": float(t["Size"]),
            "lots": int(round(t["Size"] / LOT)),
            "entry_price": float(t["EntryPrice"]),
            "exit_price": float(t["ExitPrice"]),
            "pnl": float(t["PnL"]),
            "commission": float(t["Commission"]),
        })
    eq = st["_equity_curve"]["Equity"].values
    out = {
        "tool": f"backtesting.py {backtesting.__version__}",
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "data": "data/coinbase_btcusd_1h.csv",
        "strategy": "sma_cross fast=10 slow=30 long-only",
        "cash": CASH,
        "commission": FEE,
        "lot": LOT,
        "n_trades": len(trades),
        "final_equity": float(st["Equity Final [$]"]),
        "max_drawdown_pct": float(-st["Max. Drawdown [%]"]),
        "return_pct": float(st["Return [%]"]),
        "equity_peak": float(st["Equity Peak [$]"]),
        "n_bars": int(len(eq)),
        "trades": trades,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
