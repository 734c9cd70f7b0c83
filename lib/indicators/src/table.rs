//! The indicator table: the columns strategies see, for `optimize indicators --data FILE.csv`.

use crate::*;
use scalp_core::Candle;
use std::io::Write;

/// Every column `table` can produce, in default order, with its definition.
pub const TABLE_COLUMNS: &[(&str, &str)] = &[
    ("sma20", "SMA(close, 20)"),
    ("ema20", "EMA(close, 20), SMA-seeded"),
    ("rsi14", "RSI(close, 14), Wilder"),
    ("atr14", "ATR(14), Wilder"),
    ("bb_mid", "Bollinger(20, 2) middle = SMA20"),
    ("bb_up", "Bollinger(20, 2) upper = mid + 2·σ (population)"),
    ("bb_low", "Bollinger(20, 2) lower = mid − 2·σ"),
    ("adx14", "ADX(14), TA-Lib (first at index 27)"),
    ("plus_di14", "+DI(14)"),
    ("minus_di14", "−DI(14)"),
    (
        "vwap",
        "VWAP cumulative from the first bar, typical price (h+l+c)/3",
    ),
    ("vwap_day", "VWAP reset at 00:00 UTC, typical price"),
    (
        "supertrend",
        "Supertrend(10, 3) value (TradingView ta.supertrend rules, Wilder ATR)",
    ),
    (
        "supertrend_dir",
        "Supertrend(10, 3) direction: +1 up, −1 down",
    ),
    ("donchian_up20", "max(high, 20 bars incl. current)"),
    ("donchian_low20", "min(low, 20 bars incl. current)"),
    ("donchian_mid20", "(donchian_up20 + donchian_low20)/2"),
    ("kc_mid", "Keltner mid = EMA(close, 20)"),
    ("kc_up", "Keltner upper = EMA20 + 2·ATR(10)"),
    ("kc_low", "Keltner lower = EMA20 − 2·ATR(10)"),
    ("roc10", "ROC(close, 10) in percent"),
    ("zscore20", "(close − SMA20)/σ20"),
];

/// Indicator columns (column-major), each as long as the candle slice, `NaN` in warm-up.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub columns: Vec<Vec<f64>>,
}

/// A requested column that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    pub name: String,
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known: Vec<&str> = TABLE_COLUMNS.iter().map(|c| c.0).collect();
        write!(
            f,
            "unknown indicator column `{}` (known: {})",
            self.name,
            known.join(", ")
        )
    }
}

impl std::error::Error for TableError {}

fn column(name: &str, candles: &[Candle], closes: &[f64]) -> Option<Vec<f64>> {
    Some(match name {
        "sma20" => sma(closes, 20),
        "ema20" => ema(closes, 20),
        "rsi14" => rsi(closes, 14),
        "atr14" => atr(candles, 14),
        "bb_mid" => bollinger(closes, 20, 2.0).mid,
        "bb_up" => bollinger(closes, 20, 2.0).up,
        "bb_low" => bollinger(closes, 20, 2.0).low,
        "adx14" => adx(candles, 14).adx,
        "plus_di14" => adx(candles, 14).plus_di,
        "minus_di14" => adx(candles, 14).minus_di,
        "vwap" => vwap(candles, VwapAnchor::Cumulative),
        "vwap_day" => vwap(candles, VwapAnchor::UtcDay),
        "supertrend" => supertrend(candles, 10, 3.0).value,
        "supertrend_dir" => supertrend(candles, 10, 3.0).dir,
        "donchian_up20" => donchian(candles, 20).up,
        "donchian_low20" => donchian(candles, 20).low,
        "donchian_mid20" => donchian(candles, 20).mid,
        "kc_mid" => keltner(candles, 20, 10, 2.0).mid,
        "kc_up" => keltner(candles, 20, 10, 2.0).up,
        "kc_low" => keltner(candles, 20, 10, 2.0).low,
        "roc10" => roc(closes, 10),
        "zscore20" => zscore(closes, 20),
        _ => return None,
    })
}

/// Computes the indicator columns over `candles`: all of [`TABLE_COLUMNS`], or only the named
/// ones in the given order. An unknown name is an error naming it.
pub fn table(candles: &[Candle], only: Option<&[&str]>) -> Result<Table, TableError> {
    let names: Vec<&str> = match only {
        Some(o) => o.to_vec(),
        None => TABLE_COLUMNS.iter().map(|c| c.0).collect(),
    };
    let closes: Vec<f64> = candles.iter().map(|c| c.close).collect();
    let mut t = Table::default();
    for name in names {
        let col = column(name, candles, &closes).ok_or_else(|| TableError {
            name: name.to_string(),
        })?;
        t.headers.push(name.to_string());
        t.columns.push(col);
    }
    Ok(t)
}

/// Writes `ts_ms,open,high,low,close,volume,<table headers>` rows; `NaN` cells are empty (as in
/// the TA-Lib reference file); numbers are shortest round-trip decimals.
pub fn write_table_csv<W: Write>(mut w: W, candles: &[Candle], t: &Table) -> std::io::Result<()> {
    write!(w, "ts_ms,open,high,low,close,volume")?;
    for h in &t.headers {
        write!(w, ",{h}")?;
    }
    writeln!(w)?;
    for (i, c) in candles.iter().enumerate() {
        write!(
            w,
            "{},{},{},{},{},{}",
            c.open_time, c.open, c.high, c.low, c.close, c.volume
        )?;
        for col in &t.columns {
            let v = col[i];
            if v.is_nan() {
                write!(w, ",")?;
            } else {
                write!(w, ",{v}")?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}
