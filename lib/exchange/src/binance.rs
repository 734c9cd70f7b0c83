//! Binance USDT-M futures public market data (REST `/fapi/v1/*`, `/futures/data/*`; WS kline
//! streams). Wire formats: docs/EXCHANGES.md.

use crate::http::RestCore;
use crate::wire::{align_up, check_candle, int, json, num, sort_dedup};
use crate::{ExchangeError, FundingRate, OpenInterest, RateBudget, RetryPolicy};
use scalp_core::config::BinanceConfig;
use scalp_core::types::now_ms;
use scalp_core::{Candle, Exchange, Timeframe};
use serde_json::Value;
use std::sync::Arc;

const EX: Exchange = Exchange::Binance;
/// `GET /fapi/v1/klines` maximum `limit`.
pub const KLINES_MAX_LIMIT: u32 = 1500;
/// `GET /fapi/v1/fundingRate` maximum `limit`.
pub const FUNDING_MAX_LIMIT: u32 = 1000;
/// `GET /futures/data/openInterestHist` maximum `limit`.
pub const OI_HIST_MAX_LIMIT: u32 = 500;

/// Request weight of `GET /fapi/v1/klines` for a `limit`: [1,100) → 1, [100,500) → 2,
/// [500,1000] → 5, > 1000 → 10.
pub fn klines_weight(limit: u32) -> u32 {
    match limit {
        0..=99 => 1,
        100..=499 => 2,
        500..=1000 => 5,
        _ => 10,
    }
}

/// One REST kline row with the exchange's close time (`openTime + interval - 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kline {
    pub candle: Candle,
    pub close_time: i64,
}

/// Binance USDT-M REST client. Cheap to clone; clones share the HTTP pool and the budget.
#[derive(Clone)]
pub struct BinanceRest {
    core: Arc<RestCore>,
    /// `fundingRate`'s own limit (500 / 5 min / IP), shared by every clone.
    funding_budget: RateBudget,
}

impl BinanceRest {
    pub fn new(cfg: &BinanceConfig, budget: RateBudget) -> Result<Self, ExchangeError> {
        Ok(BinanceRest {
            core: Arc::new(RestCore::new(
                EX,
                &cfg.rest_url,
                cfg.request_timeout_s,
                budget,
                cfg.ca_file.as_deref(),
            )?),
            funding_budget: RateBudget::binance_funding(cfg),
        })
    }

    /// The separate budget of `GET /fapi/v1/fundingRate`.
    pub fn funding_budget(&self) -> &RateBudget {
        &self.funding_budget
    }

    pub fn budget(&self) -> &RateBudget {
        &self.core.budget
    }

    /// Replaces the retry policy (for every clone).
    pub fn set_retry_policy(&self, p: RetryPolicy) {
        *self.core.policy.lock().unwrap() = p;
    }

    /// `GET /fapi/v1/time` → `serverTime` (weight 1).
    pub async fn server_time(&self) -> Result<i64, ExchangeError> {
        let ep = "/fapi/v1/time";
        let r = self.core.get(ep, &[], 1).await?;
        let v = json(EX, ep, &r.body)?;
        int(EX, ep, "serverTime", v.get("serverTime"))
    }

    /// One `GET /fapi/v1/klines` page as the exchange sends it (the last row may be forming).
    pub async fn klines_page(
        &self,
        symbol: &str,
        tf: Timeframe,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Kline>, ExchangeError> {
        let ep = "/fapi/v1/klines";
        let limit = limit.clamp(1, KLINES_MAX_LIMIT);
        let mut q = vec![
            ("symbol", symbol.to_ascii_uppercase()),
            ("interval", tf.binance_interval().to_string()),
            ("limit", limit.to_string()),
        ];
        if let Some(s) = start_ms {
            q.push(("startTime", s.to_string()));
        }
        if let Some(e) = end_ms {
            q.push(("endTime", e.to_string()));
        }
        let r = self.core.get(ep, &q, klines_weight(limit)).await?;
        parse_klines(&r.body, tf)
    }

    /// Closed candles with `from_ms <= open_time < to_ms`, ascending, deduplicated and
    /// validated, paged by 1,500. Closed means `open_time + tf <= min(now, server time)`.
    pub async fn fetch_klines(
        &self,
        symbol: &str,
        tf: Timeframe,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Candle>, ExchangeError> {
        let server_now = self.server_time().await?;
        let cutoff = server_now.min(now_ms());
        // the last open time that can be closed, exclusive bound
        // exclusive bound: the open time after the last candle that can be closed
        let end_excl = to_ms.min(tf.align(cutoff - tf.ms()) + tf.ms());
        let mut out = Vec::new();
        let mut cursor = align_up(tf, from_ms);
        while cursor < end_excl {
            let page = self
                .klines_page(
                    symbol,
                    tf,
                    Some(cursor),
                    Some(end_excl - 1),
                    KLINES_MAX_LIMIT,
                )
                .await?;
            let n = page.len();
            let Some(last) = page.last().map(|k| k.candle.open_time) else {
                break;
            };
            for k in page {
                let c = k.candle;
                if c.open_time >= cursor
                    && c.open_time < end_excl
                    && c.open_time + tf.ms() <= cutoff
                {
                    out.push(c);
                }
            }
            if last < cursor {
                break; // the server ignored startTime: never loop forever
            }
            cursor = last + tf.ms();
            if n < KLINES_MAX_LIMIT as usize {
                break;
            }
        }
        Ok(sort_dedup(out))
    }

    /// Funding settlements with `from_ms <= funding_time < to_ms`, ascending
    /// (`GET /fapi/v1/fundingRate`, pages of 1,000).
    pub async fn fetch_funding(
        &self,
        symbol: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<FundingRate>, ExchangeError> {
        let ep = "/fapi/v1/fundingRate";
        let mut out: Vec<FundingRate> = Vec::new();
        let mut cursor = from_ms;
        while cursor < to_ms {
            let q = vec![
                ("symbol", symbol.to_ascii_uppercase()),
                ("startTime", cursor.to_string()),
                ("endTime", (to_ms - 1).to_string()),
                ("limit", FUNDING_MAX_LIMIT.to_string()),
            ];
            // its own 500 / 5 min limit first, then the shared weight budget (weight 1)
            self.funding_budget.acquire(1).await;
            let r = self.core.get(ep, &q, 1).await?;
            let v = json(EX, ep, &r.body)?;
            let rows = v.as_array().ok_or_else(|| {
                ExchangeError::parse(EX, ep, "<body>", &r.body, "expected an array")
            })?;
            let n = rows.len();
            let mut last = None;
            for (i, row) in rows.iter().enumerate() {
                let t = int(
                    EX,
                    ep,
                    &format!("[{i}].fundingTime"),
                    row.get("fundingTime"),
                )?;
                let rate = num(
                    EX,
                    ep,
                    &format!("[{i}].fundingRate"),
                    row.get("fundingRate"),
                )?;
                last = Some(t);
                if t >= cursor && t < to_ms {
                    out.push(FundingRate {
                        funding_time: t,
                        rate,
                    });
                }
            }
            match last {
                Some(t) if t >= cursor && n >= FUNDING_MAX_LIMIT as usize => cursor = t + 1,
                _ => break,
            }
        }
        out.sort_by_key(|f| f.funding_time);
        out.dedup_by_key(|f| f.funding_time);
        Ok(out)
    }

    /// Current open interest (`GET /fapi/v1/openInterest`, weight 1).
    pub async fn open_interest(&self, symbol: &str) -> Result<OpenInterest, ExchangeError> {
        let ep = "/fapi/v1/openInterest";
        let r = self
            .core
            .get(ep, &[("symbol", symbol.to_ascii_uppercase())], 1)
            .await?;
        let v = json(EX, ep, &r.body)?;
        Ok(OpenInterest {
            ts: int(EX, ep, "time", v.get("time"))?,
            open_interest: num(EX, ep, "openInterest", v.get("openInterest"))?,
            value_usdt: None,
        })
    }

    /// Open-interest history (`GET /futures/data/openInterestHist`; Binance keeps 30 days)
    /// with `from_ms <= ts < to_ms`, `period` one of 5m 15m 30m 1h 2h 4h 6h 12h 1d.
    pub async fn open_interest_hist(
        &self,
        symbol: &str,
        period: Timeframe,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<OpenInterest>, ExchangeError> {
        let ep = "/futures/data/openInterestHist";
        if matches!(period, Timeframe::M1 | Timeframe::M3) {
            return Err(ExchangeError::InvalidRequest {
                exchange: EX,
                msg: format!("openInterestHist has no period {period}"),
            });
        }
        let mut out: Vec<OpenInterest> = Vec::new();
        let mut cursor = from_ms;
        while cursor < to_ms {
            let q = vec![
                ("symbol", symbol.to_ascii_uppercase()),
                ("period", period.as_str().to_string()),
                ("startTime", cursor.to_string()),
                ("endTime", (to_ms - 1).to_string()),
                ("limit", OI_HIST_MAX_LIMIT.to_string()),
            ];
            let r = self.core.get(ep, &q, 1).await?;
            let v = json(EX, ep, &r.body)?;
            let rows = v.as_array().ok_or_else(|| {
                ExchangeError::parse(EX, ep, "<body>", &r.body, "expected an array")
            })?;
            let n = rows.len();
            let mut last = None;
            for (i, row) in rows.iter().enumerate() {
                let ts = int(EX, ep, &format!("[{i}].timestamp"), row.get("timestamp"))?;
                let oi = OpenInterest {
                    ts,
                    open_interest: num(
                        EX,
                        ep,
                        &format!("[{i}].sumOpenInterest"),
                        row.get("sumOpenInterest"),
                    )?,
                    value_usdt: Some(num(
                        EX,
                        ep,
                        &format!("[{i}].sumOpenInterestValue"),
                        row.get("sumOpenInterestValue"),
                    )?),
                };
                last = Some(ts);
                if ts >= cursor && ts < to_ms {
                    out.push(oi);
                }
            }
            match last {
                Some(t) if t >= cursor && n >= OI_HIST_MAX_LIMIT as usize => cursor = t + 1,
                _ => break,
            }
        }
        out.sort_by_key(|o| o.ts);
        out.dedup_by_key(|o| o.ts);
        Ok(out)
    }
}

/// Parses a `GET /fapi/v1/klines` body:
/// `[[openTime, "o", "h", "l", "c", "v", closeTime, "q", n, "V", "Q", "0"], ...]`.
pub fn parse_klines(body: &str, tf: Timeframe) -> Result<Vec<Kline>, ExchangeError> {
    let ep = "/fapi/v1/klines";
    let v = json(EX, ep, body)?;
    let rows = v
        .as_array()
        .ok_or_else(|| ExchangeError::parse(EX, ep, "<body>", body, "expected an array of rows"))?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let a = row.as_array().filter(|a| a.len() >= 7).ok_or_else(|| {
            ExchangeError::parse(
                EX,
                ep,
                format!("[{i}]"),
                row,
                "expected a row of ≥ 7 fields",
            )
        })?;
        let f = |j: usize, name: &str| num(EX, ep, &format!("[{i}].{name}"), a.get(j));
        let c = Candle {
            open_time: int(EX, ep, &format!("[{i}].openTime"), a.first())?,
            open: f(1, "open")?,
            high: f(2, "high")?,
            low: f(3, "low")?,
            close: f(4, "close")?,
            volume: f(5, "volume")?,
        };
        let close_time = int(EX, ep, &format!("[{i}].closeTime"), a.get(6))?;
        check_candle(EX, ep, tf, &c)?;
        out.push(Kline {
            candle: c,
            close_time,
        });
    }
    Ok(out)
}

/// A kline event from the WS stream.
#[derive(Debug, Clone, PartialEq)]
pub struct WsKline {
    /// Stream name, e.g. `btcusdt@kline_1m`.
    pub stream: String,
    /// Upper-case symbol (`k.s`).
    pub symbol: String,
    pub timeframe: Timeframe,
    /// Event time `E` (exchange clock).
    pub event_time: i64,
    pub candle: Candle,
    /// `k.x`: is this kline closed?
    pub closed: bool,
}

/// What a WS text frame was.
#[derive(Debug, Clone, PartialEq)]
pub enum WsMessage {
    Kline(WsKline),
    /// A valid message we do not use (e.g. a `{"result":null,"id":1}` reply, other events).
    Other,
}

/// Parses one WS text frame of a combined (`{"stream":…,"data":{…}}`) or raw kline stream.
pub fn parse_ws_message(text: &str) -> Result<WsMessage, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let (stream, data) = match v.get("data") {
        Some(d) => (
            v.get("stream")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            d,
        ),
        None => (String::new(), &v),
    };
    match data.get("e").and_then(Value::as_str) {
        Some("kline") => {}
        Some(_) => return Ok(WsMessage::Other),
        None if data.get("result").is_some() || data.get("id").is_some() => {
            return Ok(WsMessage::Other);
        }
        None => return Err("no event type `e`".into()),
    }
    let k = data.get("k").ok_or("kline event without `k`")?;
    let s = |f: &str| -> Result<f64, String> {
        let raw = k.get(f).ok_or(format!("field `k.{f}` missing"))?;
        raw.as_str()
            .and_then(|x| x.parse::<f64>().ok())
            .filter(|x| x.is_finite())
            .ok_or(format!("field `k.{f}`: `{raw}` is not a decimal string"))
    };
    let i = |f: &str| -> Result<i64, String> {
        let raw = k.get(f).ok_or(format!("field `k.{f}` missing"))?;
        raw.as_i64()
            .ok_or(format!("field `k.{f}`: `{raw}` is not an integer"))
    };
    let interval = k
        .get("i")
        .and_then(Value::as_str)
        .ok_or("field `k.i` missing")?;
    let timeframe: Timeframe = interval
        .parse()
        .map_err(|_| format!("field `k.i`: unknown interval `{interval}`"))?;
    let symbol = k
        .get("s")
        .and_then(Value::as_str)
        .ok_or("field `k.s` missing")?
        .to_ascii_uppercase();
    let closed = k.get("x").and_then(Value::as_bool).ok_or_else(|| {
        format!(
            "field `k.x`: `{}` is not a boolean",
            k.get("x").unwrap_or(&Value::Null)
        )
    })?;
    let candle = Candle {
        open_time: i("t")?,
        open: s("o")?,
        high: s("h")?,
        low: s("l")?,
        close: s("c")?,
        volume: s("v")?,
    };
    if candle.open_time.rem_euclid(timeframe.ms()) != 0 {
        return Err(format!(
            "field `k.t`: {} is not aligned to {timeframe}",
            candle.open_time
        ));
    }
    candle
        .validate()
        .map_err(|e| format!("candle {}: {e}", candle.open_time))?;
    let event_time = data
        .get("E")
        .and_then(Value::as_i64)
        .unwrap_or(candle.open_time);
    Ok(WsMessage::Kline(WsKline {
        stream,
        symbol,
        timeframe,
        event_time,
        candle,
        closed,
    }))
}

/// Stream name for a symbol and timeframe: `btcusdt@kline_1m`.
pub fn stream_name(symbol: &str, tf: Timeframe) -> String {
    format!(
        "{}@kline_{}",
        symbol.to_ascii_lowercase(),
        tf.binance_interval()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(klines_weight(99), 1);
        assert_eq!(klines_weight(100), 2);
        assert_eq!(klines_weight(500), 5);
        assert_eq!(klines_weight(1000), 5);
        assert_eq!(klines_weight(1001), 10);
        assert_eq!(klines_weight(1500), 10);
    }

    #[test]
    fn parses_doc_ws_example() {
        let t = r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1638747660000,"s":"BTCUSDT","k":{"t":1638747660000,"T":1638747719999,"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}}"#;
        // the doc example has low > open: our validation rejects it, naming the candle
        let e = parse_ws_message(t).unwrap_err();
        assert!(e.contains("1638747660000"), "{e}");
        let ok = t.replace(r#""l":"0.0015""#, r#""l":"0.0009""#);
        let WsMessage::Kline(k) = parse_ws_message(&ok).unwrap() else {
            panic!()
        };
        assert_eq!(k.symbol, "BTCUSDT");
        assert_eq!(k.timeframe, Timeframe::M1);
        assert!(!k.closed);
        assert_eq!(k.candle.close, 0.002);
        assert_eq!(
            parse_ws_message(r#"{"result":null,"id":1}"#).unwrap(),
            WsMessage::Other
        );
        let bad = ok.replace(r#""x":false"#, r#""x":"nope""#);
        assert!(parse_ws_message(&bad).unwrap_err().contains("k.x"));
        assert!(parse_ws_message("garbage").is_err());
    }

    #[test]
    fn rest_parse_errors_name_field_and_value() {
        let body = r#"[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"],
                       [1499040060000,"1.5","x2","1.0","1.2","3",1499040119999,"0",1,"0","0","0"]]"#;
        let e = parse_klines(body, Timeframe::M1).unwrap_err().to_string();
        assert!(e.contains("[1].high") && e.contains("x2"), "{e}");
    }
}
