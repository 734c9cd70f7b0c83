//! Bitget v2 USDT-FUTURES public market data (REST `/api/v2/mix/market/*`; WS `candle<tf>`
//! channels). Wire formats: docs/EXCHANGES.md.

use crate::http::RestCore;
use crate::wire::{align_up, check_candle, int, json, num, sort_dedup};
use crate::{ExchangeError, FundingRate, OpenInterest, RateBudget, RetryPolicy, truncate};
use scalp_core::config::BitgetConfig;
use scalp_core::types::now_ms;
use scalp_core::{Candle, Exchange, Timeframe};
use serde_json::Value;
use std::sync::Arc;

const EX: Exchange = Exchange::Bitget;
/// `market/candles` maximum `limit`.
pub const CANDLES_MAX_LIMIT: u32 = 1000;
/// `market/history-candles` maximum `limit`.
pub const HISTORY_CANDLES_MAX_LIMIT: u32 = 200;
/// Maximum `startTime..endTime` span of a candles query (90 days).
pub const MAX_QUERY_SPAN_MS: i64 = 90 * 86_400_000;
/// `history-fund-rate` maximum `pageSize`.
pub const FUNDING_PAGE_SIZE: u32 = 100;
/// `limit` of a close confirmation: the window `[t − 2tf, t + 2tf]` holds at most 5 candles.
const CONFIRM_LIMIT: u32 = 5;

/// The REST `granularity` of `tf`, or an error for a timeframe Bitget does not serve (2h).
fn granularity(tf: Timeframe) -> Result<&'static str, ExchangeError> {
    tf.bitget_granularity()
        .ok_or_else(|| ExchangeError::InvalidRequest {
            exchange: EX,
            msg: format!(
                "Bitget serves no {tf} candles (REST granularities: {})",
                Timeframe::bitget_rest_list()
            ),
        })
}

/// The page of a backwards walk that ends at `newest` (inclusive): returns `(lo, startTime,
/// endTime, limit)`. The wanted candles are `lo..=newest` (at most `limit_max − 2` of them and
/// spanning ≤ 90 days once widened); the query asks `[lo − tf, newest + tf]` with a limit that
/// covers every candle of that window even if both bounds are inclusive.
pub fn widened_window(
    tf: Timeframe,
    first: i64,
    newest: i64,
    endpoint: CandleEndpoint,
    recent_floor: i64,
) -> (i64, i64, i64, u32) {
    let max_wanted = endpoint.max_limit() as i64 - 2;
    // widened span (newest + tf) − (lo − tf) = (n + 1)·tf must stay ≤ 90 days
    let max_by_span = MAX_QUERY_SPAN_MS / tf.ms() - 1;
    let n = max_wanted.min(max_by_span).max(1);
    let mut lo = (newest - (n - 1) * tf.ms()).max(first);
    if endpoint == CandleEndpoint::Recent {
        lo = lo.max(recent_floor).min(newest);
    }
    let wanted = (newest - lo) / tf.ms() + 1;
    (lo, lo - tf.ms(), newest + tf.ms(), (wanted + 2) as u32)
}

/// How far back `market/candles` serves each granularity (Bitget doc); older data comes from
/// `market/history-candles`.
pub fn recent_lookback_ms(tf: Timeframe) -> i64 {
    const D: i64 = 86_400_000;
    match tf {
        Timeframe::M1 | Timeframe::M3 | Timeframe::M5 => 30 * D,
        Timeframe::M15 => 52 * D,
        Timeframe::M30 => 62 * D,
        Timeframe::H1 => 83 * D,
        Timeframe::H2 => 120 * D,
        Timeframe::H4 => 240 * D,
        Timeframe::H6 | Timeframe::H12 | Timeframe::D1 => 360 * D,
    }
}

/// Which candle endpoint a page uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandleEndpoint {
    /// `GET /api/v2/mix/market/candles` (limit ≤ 1000, recent data only).
    Recent,
    /// `GET /api/v2/mix/market/history-candles` (limit ≤ 200).
    History,
}

impl CandleEndpoint {
    pub fn path(self) -> &'static str {
        match self {
            CandleEndpoint::Recent => "/api/v2/mix/market/candles",
            CandleEndpoint::History => "/api/v2/mix/market/history-candles",
        }
    }
    pub fn max_limit(self) -> u32 {
        match self {
            CandleEndpoint::Recent => CANDLES_MAX_LIMIT,
            CandleEndpoint::History => HISTORY_CANDLES_MAX_LIMIT,
        }
    }
}

/// A page of candles and the server time of the reply (`requestTime`).
#[derive(Debug, Clone)]
pub struct CandlePage {
    /// As sent (ascending); the last one may be forming.
    pub candles: Vec<Candle>,
    pub server_time: i64,
}

/// Bitget v2 REST client. Cheap to clone; clones share the HTTP pool and the budget.
#[derive(Clone)]
pub struct BitgetRest {
    core: Arc<RestCore>,
    product_type: String,
}

impl BitgetRest {
    pub fn new(cfg: &BitgetConfig, budget: RateBudget) -> Result<Self, ExchangeError> {
        Ok(BitgetRest {
            core: Arc::new(RestCore::new(
                EX,
                &cfg.rest_url,
                cfg.request_timeout_s,
                budget,
                cfg.ca_file.as_deref(),
            )?),
            product_type: cfg.product_type.clone(),
        })
    }

    pub fn budget(&self) -> &RateBudget {
        &self.core.budget
    }

    /// Replaces the retry policy (for every clone).
    pub fn set_retry_policy(&self, p: RetryPolicy) {
        *self.core.policy.lock().unwrap() = p;
    }

    /// GET, check `code == "00000"`, return (`data`, `requestTime`).
    async fn call(&self, ep: &str, q: &[(&str, String)]) -> Result<(Value, i64), ExchangeError> {
        let r = self.core.get(ep, q, 1).await?;
        let v = json(EX, ep, &r.body)?;
        let code = match v.get("code") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => {
                return Err(ExchangeError::parse(
                    EX,
                    ep,
                    "code",
                    truncate(&r.body, 120),
                    "field missing",
                ));
            }
        };
        if code != "00000" {
            return Err(ExchangeError::Api {
                exchange: EX,
                endpoint: ep.to_string(),
                code,
                msg: v
                    .get("msg")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        let rt = int(EX, ep, "requestTime", v.get("requestTime"))?;
        Ok((v.get("data").cloned().unwrap_or(Value::Null), rt))
    }

    /// `GET /api/v2/public/time` → `data.serverTime`.
    pub async fn server_time(&self) -> Result<i64, ExchangeError> {
        let ep = "/api/v2/public/time";
        let (d, _) = self.call(ep, &[]).await?;
        int(EX, ep, "data.serverTime", d.get("serverTime"))
    }

    /// One candles page as the exchange sends it (`startTime`/`endTime` passed as given).
    pub async fn candles_page(
        &self,
        endpoint: CandleEndpoint,
        symbol: &str,
        tf: Timeframe,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        limit: u32,
    ) -> Result<CandlePage, ExchangeError> {
        let gran = granularity(tf)?;
        self.candles_page_gran(endpoint, symbol, tf, gran, start_ms, end_ms, limit)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn candles_page_gran(
        &self,
        endpoint: CandleEndpoint,
        symbol: &str,
        tf: Timeframe,
        gran: &str,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        limit: u32,
    ) -> Result<CandlePage, ExchangeError> {
        let ep = endpoint.path();
        let mut q = vec![
            ("symbol", symbol.to_ascii_uppercase()),
            ("productType", self.product_type.clone()),
            ("granularity", gran.to_string()),
            ("limit", limit.clamp(1, endpoint.max_limit()).to_string()),
        ];
        if let Some(s) = start_ms {
            q.push(("startTime", s.to_string()));
        }
        if let Some(e) = end_ms {
            q.push(("endTime", e.to_string()));
        }
        let (data, server_time) = self.call(ep, &q).await?;
        let candles = parse_candle_rows(ep, &data, tf)?;
        Ok(CandlePage {
            candles,
            server_time,
        })
    }

    /// Closed candles with `from_ms <= open_time < to_ms`, ascending, deduplicated and
    /// validated. Pages backwards in windows of at most `limit − 2` candles (and ≤ 90 days) using
    /// `market/candles` (1,000) inside its look-back and `market/history-candles` (200) before it.
    /// Closed means `open_time + tf <= min(now, the reply's requestTime)`.
    ///
    /// Bitget documents `startTime` as "after this time" and `endTime` as "before this time", and
    /// connectors report both bounds as exclusive in live use, while other readings treat them as
    /// inclusive. Every window is therefore asked for one candle wider on each side
    /// (`[lo − tf, newest + tf]`) and filtered to `[lo, hi)` here, so it is complete whichever
    /// convention the server follows (docs/EXCHANGES.md, "Candle windows").
    pub async fn fetch_klines(
        &self,
        symbol: &str,
        tf: Timeframe,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Candle>, ExchangeError> {
        let gran = granularity(tf)?;
        let server_now = self.server_time().await?;
        let cutoff = server_now.min(now_ms());
        let first = align_up(tf, from_ms);
        // exclusive end on the grid: after the last candle that can be closed
        let end_excl = align_up(tf, to_ms).min(tf.align(cutoff - tf.ms()) + tf.ms());
        let mut out = Vec::new();
        let mut hi = end_excl; // exclusive
        // oldest open time `market/candles` still serves (with one candle of margin)
        let recent_floor = align_up(tf, server_now - recent_lookback_ms(tf)) + tf.ms();
        while hi > first {
            let newest = hi - tf.ms();
            let endpoint = if newest >= recent_floor {
                CandleEndpoint::Recent
            } else {
                CandleEndpoint::History
            };
            let (lo, q_start, q_end, limit) =
                widened_window(tf, first, newest, endpoint, recent_floor);
            let page = self
                .candles_page_gran(
                    endpoint,
                    symbol,
                    tf,
                    gran,
                    Some(q_start),
                    Some(q_end),
                    limit,
                )
                .await?;
            let cut = cutoff.min(page.server_time);
            for c in page.candles {
                if c.open_time >= lo && c.open_time < hi && c.open_time + tf.ms() <= cut {
                    out.push(c);
                }
            }
            hi = lo;
        }
        Ok(sort_dedup(out))
    }

    /// Whether the candle opening at `open_time` is closed according to the exchange, with its
    /// final values (`market/candles` over the three candles around it, asked one candle wider
    /// on each side so that either bound convention returns it; closed iff
    /// `open_time + tf <= requestTime`).
    pub async fn confirm_closed(
        &self,
        symbol: &str,
        tf: Timeframe,
        open_time: i64,
    ) -> Result<Option<Candle>, ExchangeError> {
        let gran = granularity(tf)?;
        let page = self
            .candles_page_gran(
                CandleEndpoint::Recent,
                symbol,
                tf,
                gran,
                Some(open_time - 2 * tf.ms()),
                Some(open_time + 2 * tf.ms()),
                CONFIRM_LIMIT,
            )
            .await?;
        if open_time + tf.ms() > page.server_time {
            return Ok(None);
        }
        Ok(page.candles.into_iter().find(|c| c.open_time == open_time))
    }

    /// Funding settlements with `from_ms <= funding_time < to_ms`, ascending
    /// (`history-fund-rate`, newest first, pages of 100 by `pageNo`).
    pub async fn fetch_funding(
        &self,
        symbol: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<FundingRate>, ExchangeError> {
        let ep = "/api/v2/mix/market/history-fund-rate";
        let mut out: Vec<FundingRate> = Vec::new();
        for page_no in 1..=1000u32 {
            let q = vec![
                ("symbol", symbol.to_ascii_uppercase()),
                ("productType", self.product_type.clone()),
                ("pageSize", FUNDING_PAGE_SIZE.to_string()),
                ("pageNo", page_no.to_string()),
            ];
            let (data, _) = self.call(ep, &q).await?;
            let rows = data
                .as_array()
                .ok_or_else(|| ExchangeError::parse(EX, ep, "data", &data, "expected an array"))?;
            let mut oldest = i64::MAX;
            for (i, row) in rows.iter().enumerate() {
                let t = int(
                    EX,
                    ep,
                    &format!("data[{i}].fundingTime"),
                    row.get("fundingTime"),
                )?;
                let rate = num(
                    EX,
                    ep,
                    &format!("data[{i}].fundingRate"),
                    row.get("fundingRate"),
                )?;
                oldest = oldest.min(t);
                if t >= from_ms && t < to_ms {
                    out.push(FundingRate {
                        funding_time: t,
                        rate,
                    });
                }
            }
            if rows.len() < FUNDING_PAGE_SIZE as usize || oldest < from_ms {
                break;
            }
        }
        out.sort_by_key(|f| f.funding_time);
        out.dedup_by_key(|f| f.funding_time);
        Ok(out)
    }

    /// Current open interest (`market/open-interest`; size in the base coin).
    pub async fn open_interest(&self, symbol: &str) -> Result<OpenInterest, ExchangeError> {
        let ep = "/api/v2/mix/market/open-interest";
        let sym = symbol.to_ascii_uppercase();
        let q = vec![
            ("symbol", sym.clone()),
            ("productType", self.product_type.clone()),
        ];
        let (data, _) = self.call(ep, &q).await?;
        let list = data
            .get("openInterestList")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ExchangeError::parse(EX, ep, "data.openInterestList", &data, "expected an array")
            })?;
        let row = list
            .iter()
            .find(|r| r.get("symbol").and_then(Value::as_str) == Some(sym.as_str()))
            .or(list.first())
            .ok_or_else(|| {
                ExchangeError::parse(EX, ep, "data.openInterestList", "[]", "empty list")
            })?;
        Ok(OpenInterest {
            ts: int(EX, ep, "data.ts", data.get("ts"))?,
            open_interest: num(EX, ep, "data.openInterestList[].size", row.get("size"))?,
            value_usdt: None,
        })
    }
}

/// Parses candle rows `[["ts","o","h","l","c","baseVol","quoteVol"(, "usdtVol")], ...]`
/// (REST `data` or WS `data`), sorted ascending.
pub fn parse_candle_rows(
    ep: &str,
    data: &Value,
    tf: Timeframe,
) -> Result<Vec<Candle>, ExchangeError> {
    let rows = data
        .as_array()
        .ok_or_else(|| ExchangeError::parse(EX, ep, "data", data, "expected an array of rows"))?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let a = row.as_array().filter(|a| a.len() >= 6).ok_or_else(|| {
            ExchangeError::parse(
                EX,
                ep,
                format!("data[{i}]"),
                row,
                "expected a row of ≥ 6 fields",
            )
        })?;
        let f = |j: usize, name: &str| num(EX, ep, &format!("data[{i}].{name}"), a.get(j));
        let c = Candle {
            open_time: int(EX, ep, &format!("data[{i}].ts"), a.first())?,
            open: f(1, "open")?,
            high: f(2, "high")?,
            low: f(3, "low")?,
            close: f(4, "close")?,
            volume: f(5, "baseVol")?,
        };
        check_candle(EX, ep, tf, &c)?;
        out.push(c);
    }
    out.sort_by_key(|c| c.open_time);
    Ok(out)
}

/// What a WS text frame was.
#[derive(Debug, Clone, PartialEq)]
pub enum WsMessage {
    /// The text `pong`.
    Pong,
    /// `{"event":"subscribe","arg":{…}}`.
    Subscribed { inst_id: String, channel: String },
    /// `{"event":"error","code":…,"msg":…}`, with the `(instId, channel)` of its `arg` when the
    /// error names one (a refused subscription).
    Error {
        code: String,
        msg: String,
        arg: Option<(String, String)>,
    },
    /// A `snapshot` or `update` push on a candle channel.
    Candles {
        snapshot: bool,
        inst_id: String,
        timeframe: Timeframe,
        /// Server time of the push (`ts`), if present.
        ts: Option<i64>,
        candles: Vec<Candle>,
    },
    /// A valid message we do not use.
    Other,
}

/// Parses one WS text frame from the public channel.
pub fn parse_ws_message(text: &str) -> Result<WsMessage, String> {
    if text == "pong" {
        return Ok(WsMessage::Pong);
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let arg = v.get("arg");
    let arg_str = |f: &str| -> Result<String, String> {
        arg.and_then(|a| a.get(f))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or(format!("field `arg.{f}` missing"))
    };
    if let Some(ev) = v.get("event").and_then(Value::as_str) {
        return Ok(match ev {
            "subscribe" => WsMessage::Subscribed {
                inst_id: arg_str("instId")?,
                channel: arg_str("channel")?,
            },
            "error" => WsMessage::Error {
                code: v
                    .get("code")
                    .map(|c| c.to_string().trim_matches('"').to_string())
                    .unwrap_or_default(),
                msg: v
                    .get("msg")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                arg: arg_str("instId").ok().zip(arg_str("channel").ok()),
            },
            _ => WsMessage::Other,
        });
    }
    let Some(action) = v.get("action").and_then(Value::as_str) else {
        return Err("neither `event` nor `action`".into());
    };
    let channel = arg_str("channel")?;
    let Some(gran) = channel.strip_prefix("candle") else {
        return Ok(WsMessage::Other);
    };
    let timeframe = Timeframe::from_bitget(gran)
        .ok_or(format!("field `arg.channel`: unknown channel `{channel}`"))?;
    let inst_id = arg_str("instId")?;
    let data = v.get("data").ok_or("field `data` missing")?;
    let candles = parse_candle_rows("ws", data, timeframe).map_err(|e| e.to_string())?;
    let ts = v.get("ts").and_then(|t| {
        t.as_i64()
            .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
    });
    Ok(WsMessage::Candles {
        snapshot: action == "snapshot",
        inst_id,
        timeframe,
        ts,
        candles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_push_and_events() {
        let t = r#"{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"candle1m","instId":"BTCUSDT"},"data":[["1695835800000","26000","26010","25990","26005","12.5","325000","325000"]],"ts":1695835812345}"#;
        let WsMessage::Candles {
            snapshot,
            inst_id,
            timeframe,
            ts,
            candles,
        } = parse_ws_message(t).unwrap()
        else {
            panic!()
        };
        assert!(snapshot);
        assert_eq!(inst_id, "BTCUSDT");
        assert_eq!(timeframe, Timeframe::M1);
        assert_eq!(ts, Some(1695835812345));
        assert_eq!(candles[0].open_time, 1695835800000);
        assert_eq!(candles[0].volume, 12.5);
        assert_eq!(parse_ws_message("pong").unwrap(), WsMessage::Pong);
        let ack = r#"{"event":"subscribe","arg":{"instType":"USDT-FUTURES","channel":"candle1H","instId":"ETHUSDT"}}"#;
        assert_eq!(
            parse_ws_message(ack).unwrap(),
            WsMessage::Subscribed {
                inst_id: "ETHUSDT".into(),
                channel: "candle1H".into()
            }
        );
        let bad = t.replace(r#""26010""#, r#""abc""#);
        let e = parse_ws_message(&bad).unwrap_err();
        assert!(e.contains("data[0].high") && e.contains("abc"), "{e}");
        assert!(parse_ws_message("{}").is_err());
    }

    #[test]
    fn lookbacks() {
        assert_eq!(recent_lookback_ms(Timeframe::H1), 83 * 86_400_000);
        assert_eq!(CandleEndpoint::History.max_limit(), 200);
    }
}
