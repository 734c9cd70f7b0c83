"""Writes indicators_extra_btcusd_1h_first300.csv: ADX/+DI/-DI(14), ROC(10), MAX(high,20),
MIN(low,20) computed by TA-Lib 0.8.2 (pip install TA-Lib==0.8.2 numpy) from the first 300 bars of
data/coinbase_btcusd_1h.csv. Run from the repository root:
    python3 lib/indicators/tests/data/make_extra_reference.py
"""
import csv
import math

import numpy as np
import talib

rows = list(csv.DictReader(open("data/coinbase_btcusd_1h.csv")))[:300]
h = np.array([float(r["high"]) for r in rows])
l = np.array([float(r["low"]) for r in rows])
c = np.array([float(r["close"]) for r in rows])
cols = {
    "adx14": talib.ADX(h, l, c, 14),
    "plus_di14": talib.PLUS_DI(h, l, c, 14),
    "minus_di14": talib.MINUS_DI(h, l, c, 14),
    "roc10": talib.ROC(c, 10),
    "max_high20": talib.MAX(h, 20),
    "min_low20": talib.MIN(l, 20),
}
with open("lib/indicators/tests/data/indicators_extra_btcusd_1h_first300.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["ts_ms"] + list(cols))
    for i, r in enumerate(rows):
        w.writerow([r["ts_ms"]] + ["" if math.isnan(v[i]) else repr(float(v[i])) for v in cols.values()])
print("talib", talib.__version__)
