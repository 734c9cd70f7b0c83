//! What both exchanges' REST clients share below the clients themselves: the result types and
//! the wire helpers (decimal and integer fields, JSON bodies, candle checks, paging arithmetic).
//! `rest` (the [`crate::RestClient`] front) depends on `binance`/`bitget`, which depend on this
//! module only: no cycle.

use crate::ExchangeError;
use scalp_core::{Candle, Exchange, Timeframe};
use serde::Serialize;
use serde_json::Value;

/// One funding-rate settlement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FundingRate {
    /// Settlement time, ms since the Unix epoch.
    pub funding_time: i64,
    /// Rate per funding interval (0.0001 = 0.01 %).
    pub rate: f64,
}

/// Open interest at a time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OpenInterest {
    /// ms since the Unix epoch.
    pub ts: i64,
    /// Open interest in the base coin (BTC for BTCUSDT).
    pub open_interest: f64,
    /// Its value in USDT when the exchange reports it (Binance history).
    pub value_usdt: Option<f64>,
}

/// Parses a decimal that the exchange sends as a JSON string (or, tolerated, a number).
pub(crate) fn num(
    ex: Exchange,
    endpoint: &str,
    field: &str,
    v: Option<&Value>,
) -> Result<f64, ExchangeError> {
    match v {
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| {
                ExchangeError::parse(
                    ex,
                    endpoint,
                    field,
                    format!("\"{s}\""),
                    "not a finite decimal",
                )
            }),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| ExchangeError::parse(ex, endpoint, field, n, "not a finite decimal")),
        Some(other) => Err(ExchangeError::parse(
            ex,
            endpoint,
            field,
            other,
            "expected a decimal string",
        )),
        None => Err(ExchangeError::parse(
            ex,
            endpoint,
            field,
            "<missing>",
            "field missing",
        )),
    }
}

/// Parses a millisecond timestamp sent as a JSON integer or an integer string.
pub(crate) fn int(
    ex: Exchange,
    endpoint: &str,
    field: &str,
    v: Option<&Value>,
) -> Result<i64, ExchangeError> {
    match v {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ExchangeError::parse(ex, endpoint, field, n, "not an integer")),
        Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| {
            ExchangeError::parse(ex, endpoint, field, format!("\"{s}\""), "not an integer")
        }),
        Some(other) => Err(ExchangeError::parse(
            ex,
            endpoint,
            field,
            other,
            "expected an integer",
        )),
        None => Err(ExchangeError::parse(
            ex,
            endpoint,
            field,
            "<missing>",
            "field missing",
        )),
    }
}

pub(crate) fn json(ex: Exchange, endpoint: &str, body: &str) -> Result<Value, ExchangeError> {
    serde_json::from_str(body).map_err(|e| {
        ExchangeError::parse(ex, endpoint, "<body>", body, format!("invalid JSON: {e}"))
    })
}

/// Checks alignment and OHLC sanity of one candle.
pub(crate) fn check_candle(
    ex: Exchange,
    endpoint: &str,
    tf: Timeframe,
    c: &Candle,
) -> Result<(), ExchangeError> {
    if c.open_time.rem_euclid(tf.ms()) != 0 {
        return Err(ExchangeError::InvalidCandle {
            exchange: ex,
            endpoint: endpoint.to_string(),
            open_time: c.open_time,
            msg: format!("open time is not aligned to {tf}"),
        });
    }
    c.validate().map_err(|msg| ExchangeError::InvalidCandle {
        exchange: ex,
        endpoint: endpoint.to_string(),
        open_time: c.open_time,
        msg,
    })
}

/// Sorts by open time and removes duplicates (the later copy wins).
pub(crate) fn sort_dedup(mut v: Vec<Candle>) -> Vec<Candle> {
    v.sort_by_key(|c| c.open_time);
    let mut out: Vec<Candle> = Vec::with_capacity(v.len());
    for c in v {
        match out.last_mut() {
            Some(last) if last.open_time == c.open_time => *last = c,
            _ => out.push(c),
        }
    }
    out
}

/// First open time ≥ `ts` on the `tf` grid.
pub(crate) fn align_up(tf: Timeframe, ts: i64) -> i64 {
    let a = tf.align(ts);
    if a < ts { a + tf.ms() } else { a }
}
