//! The Binance USDT-M stand-in: REST `/fapi/v1/*`, `/futures/data/openInterestHist` and the
//! kline WS streams.

use super::market::{FUNDING_INTERVAL_MS, funding_rate_str, open_interest_str};
use super::{ConnCmd, Push, PushState, Shared, dec, parse_query, q_get};
use axum::Router;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{Response, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use scalp_core::{Candle, Timeframe};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        // the retired unrouted paths: the handshake completes, but no kline is ever sent there
        // (since 2026-04-23 regular market data is routed through `/market`)
        .route("/stream", get(ws_retired))
        .route("/ws/{name}", get(ws_retired))
        .route("/market/stream", get(ws_combined))
        .route("/market/ws/{name}", get(ws_raw))
        .fallback(rest)
        .with_state(shared)
}

/// Request weight as Binance counts it.
pub fn weight(path: &str, q: &[(String, String)]) -> u32 {
    if path == "/fapi/v1/klines" {
        let limit: u32 = q_get(q, "limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(500);
        match limit {
            0..=99 => 1,
            100..=499 => 2,
            500..=1000 => 5,
            _ => 10,
        }
    } else {
        1
    }
}

fn reply(status: StatusCode, used: u32, retry_after: Option<u64>, body: Value) -> Response<Body> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-mbx-used-weight-1m", used.to_string())
        .header("x-mbx-used-weight", used.to_string());
    if let Some(ra) = retry_after {
        b = b.header("retry-after", ra.to_string());
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn err(code: i64, msg: &str) -> Value {
    json!({"code": code, "msg": msg})
}

async fn rest(State(s): State<Arc<Shared>>, uri: Uri) -> Response<Body> {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let q = parse_query(&query);
    let (status, resp) = handle(&s, &path, &q);
    s.record(&path, &query, status);
    resp
}

fn handle(s: &Shared, path: &str, q: &[(String, String)]) -> (u16, Response<Body>) {
    // weight accounting per wall-clock minute
    let w = weight(path, q);
    let minute = scalp_core::types::now_ms().div_euclid(60_000);
    let used = {
        let mut f = s.faults.lock().unwrap();
        if f.weight.0 != minute {
            f.weight = (minute, 0);
        }
        f.weight.1 += w;
        f.weight.1
    };
    if let Some((status, ra)) = s.take_http_fault() {
        let body = match status {
            418 => err(
                -1003,
                &format!(
                    "Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans.",
                    scalp_core::types::now_ms() + ra.unwrap_or(120) as i64 * 1000
                ),
            ),
            429 => err(
                -1003,
                "Too many requests; current limit of IP is 2400 requests per minute. Please use WebSocket Streams for live updates to avoid polling the API.",
            ),
            _ => err(
                -1000,
                "An unknown error occurred while processing the request.",
            ),
        };
        return (
            status,
            reply(StatusCode::from_u16(status).unwrap(), used, ra, body),
        );
    }
    if used > s.cfg.binance_weight_limit {
        let to_next = 60 - (scalp_core::types::now_ms().rem_euclid(60_000) / 1000) as u64;
        let body = err(
            -1003,
            "Too many requests; current limit of IP is 2400 requests per minute.",
        );
        return (
            429,
            reply(StatusCode::TOO_MANY_REQUESTS, used, Some(to_next), body),
        );
    }
    let now = s.clock.now_ms();
    let result = match path {
        "/fapi/v1/time" => Ok(json!({"serverTime": now})),
        "/fapi/v1/klines" => klines(s, q, now),
        "/fapi/v1/fundingRate" => funding(s, q, now),
        "/fapi/v1/openInterest" => symbol(s, q)
            .map(|sym| json!({"openInterest": open_interest_str(now), "symbol": sym, "time": now})),
        "/futures/data/openInterestHist" => oi_hist(s, q, now),
        _ => {
            return (
                404,
                reply(StatusCode::NOT_FOUND, used, None, err(-1000, "Not found")),
            );
        }
    };
    match result {
        Ok(v) => (200, reply(StatusCode::OK, used, None, v)),
        Err(e) => (400, reply(StatusCode::BAD_REQUEST, used, None, e)),
    }
}

fn symbol(s: &Shared, q: &[(String, String)]) -> Result<String, Value> {
    let sym = q_get(q, "symbol").ok_or_else(|| {
        err(
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        )
    })?;
    if !s.symbol_ok(sym) {
        return Err(err(-1121, "Invalid symbol."));
    }
    Ok(sym.to_string())
}

fn opt_i64(q: &[(String, String)], k: &str) -> Result<Option<i64>, Value> {
    match q_get(q, k) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            err(
                -1100,
                &format!(
                    "Illegal characters found in parameter '{k}'; legal range is '^[0-9]{{1,20}}$'."
                ),
            )
        }),
    }
}

fn limit(q: &[(String, String)], default: u32, max: u32) -> Result<u32, Value> {
    match q_get(q, "limit") {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(l) if (1..=max).contains(&l) => Ok(l),
            _ => Err(err(-1130, "Data sent for parameter 'limit' is not valid.")),
        },
    }
}

/// Open times on `step`'s grid selected like Binance: from `start` ascending, or the last
/// `limit` up to `end`, never after `latest`.
fn select(
    first: i64,
    latest: i64,
    step: i64,
    start: Option<i64>,
    end: Option<i64>,
    limit: u32,
) -> Vec<i64> {
    let hi = end
        .map(|e| e.min(latest))
        .unwrap_or(latest)
        .div_euclid(step)
        * step;
    let mut out = Vec::new();
    match start {
        Some(st) => {
            let mut o = st.max(first).div_euclid(step) * step;
            if o < st.max(first) {
                o += step;
            }
            while o <= hi && out.len() < limit as usize {
                out.push(o);
                o += step;
            }
        }
        None => {
            let mut o = hi;
            while o >= first && out.len() < limit as usize {
                out.push(o);
                o -= step;
            }
            out.reverse();
        }
    }
    out
}

fn klines(s: &Shared, q: &[(String, String)], now: i64) -> Result<Value, Value> {
    symbol(s, q)?;
    let tf: Timeframe = q_get(q, "interval")
        .ok_or_else(|| {
            err(
                -1102,
                "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.",
            )
        })?
        .parse()
        .map_err(|_| err(-1120, "Invalid interval."))?;
    let start = opt_i64(q, "startTime")?;
    let end = opt_i64(q, "endTime")?;
    let limit = limit(q, 500, 1500)?;
    let latest = tf.align(now).min(tf.align(s.series.end() - 1));
    let first = tf.align(s.series.first_open() + tf.ms() - 1);
    let rows: Vec<Value> = select(first, latest, tf.ms(), start, end, limit)
        .into_iter()
        .filter_map(|o| {
            let c = if o + tf.ms() <= now {
                s.series.candle(tf, o)
            } else {
                s.series.partial(tf, o, now)
            }?;
            Some(kline_row(&c, tf))
        })
        .collect();
    Ok(Value::Array(rows))
}

/// `[openTime, "o", "h", "l", "c", "v", closeTime, "quoteVol", trades, "takerBase", "takerQuote", "0"]`
pub fn kline_row(c: &Candle, tf: Timeframe) -> Value {
    json!([
        c.open_time,
        dec(c.open),
        dec(c.high),
        dec(c.low),
        dec(c.close),
        dec(c.volume),
        c.open_time + tf.ms() - 1,
        format!("{:.4}", c.volume * c.close),
        (c.volume * 10.0) as i64 + 1,
        dec(c.volume / 2.0),
        format!("{:.4}", c.volume * c.close / 2.0),
        "0"
    ])
}

fn funding(s: &Shared, q: &[(String, String)], now: i64) -> Result<Value, Value> {
    let sym = symbol(s, q)?;
    let start = opt_i64(q, "startTime")?;
    let end = opt_i64(q, "endTime")?;
    let limit = limit(q, 100, 1000)?;
    let first = s.series.first_open();
    let rows: Vec<Value> = select(first, now.min(s.series.end()), FUNDING_INTERVAL_MS, start, end, limit)
        .into_iter()
        .map(|t| {
            let mark = s.series.candle(Timeframe::H1, t).map(|c| c.open).unwrap_or(0.0);
            json!({"symbol": sym, "fundingRate": funding_rate_str(t), "fundingTime": t, "markPrice": format!("{mark:.8}")})
        })
        .collect();
    Ok(Value::Array(rows))
}

fn oi_hist(s: &Shared, q: &[(String, String)], now: i64) -> Result<Value, Value> {
    let sym = symbol(s, q)?;
    let period: Timeframe = q_get(q, "period")
        .and_then(|p| p.parse().ok())
        .filter(|p| !matches!(p, Timeframe::M1 | Timeframe::M3))
        .ok_or_else(|| {
            err(
                -1102,
                "Mandatory parameter 'period' was not sent, was empty/null, or malformed.",
            )
        })?;
    let start = opt_i64(q, "startTime")?;
    let end = opt_i64(q, "endTime")?;
    let limit = limit(q, 30, 500)?;
    let first = (now - 30 * 86_400_000).max(s.series.first_open());
    let rows: Vec<Value> = select(first, now, period.ms(), start, end, limit)
        .into_iter()
        .map(|t| {
            let oi: f64 = open_interest_str(t).parse().unwrap();
            let px = s.series.partial(Timeframe::H1, Timeframe::H1.align(t), t).map(|c| c.close).unwrap_or(1.0);
            json!({"symbol": sym, "sumOpenInterest": format!("{oi:.8}"), "sumOpenInterestValue": format!("{:.8}", oi * px), "timestamp": t})
        })
        .collect();
    Ok(Value::Array(rows))
}

/// `<symbol>@kline_<interval>` → (SYMBOL, tf)
fn parse_stream(name: &str) -> Option<(String, Timeframe)> {
    let (sym, rest) = name.split_once('@')?;
    let tf: Timeframe = rest.strip_prefix("kline_")?.parse().ok()?;
    if sym.chars().any(|c| c.is_ascii_uppercase()) {
        return None; // Binance stream names are lower case
    }
    Some((sym.to_ascii_uppercase(), tf))
}

async fn ws_combined(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> impl IntoResponse {
    let q = parse_query(uri.query().unwrap_or(""));
    let names: Vec<String> = q_get(&q, "streams")
        .unwrap_or("")
        .split('/')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    s.record(uri.path(), uri.query().unwrap_or(""), 101);
    ws.on_upgrade(move |sock| serve_ws(s, sock, names, true))
}

async fn ws_retired(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> impl IntoResponse {
    s.record(uri.path(), uri.query().unwrap_or(""), 101);
    ws.on_upgrade(move |sock| serve_ws(s, sock, Vec::new(), true))
}

async fn ws_raw(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> impl IntoResponse {
    s.record(uri.path(), "", 101);
    ws.on_upgrade(move |sock| serve_ws(s, sock, vec![name], false))
}

pub(crate) fn kline_event(
    sym: &str,
    tf: Timeframe,
    c: &Candle,
    closed: bool,
    event_time: i64,
) -> Value {
    json!({
        "e": "kline", "E": event_time, "s": sym,
        "k": {
            "t": c.open_time, "T": c.open_time + tf.ms() - 1, "s": sym, "i": tf.binance_interval(),
            "f": 100, "L": 200,
            "o": dec(c.open), "c": dec(c.close), "h": dec(c.high), "l": dec(c.low), "v": dec(c.volume),
            "n": (c.volume * 10.0) as i64 + 1, "x": closed,
            "q": format!("{:.4}", c.volume * c.close), "V": dec(c.volume / 2.0),
            "Q": format!("{:.4}", c.volume * c.close / 2.0), "B": "0"
        }
    })
}

const MALFORMED: [&str; 4] = [
    "this is not json",
    r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":"soon","i":"1m","s":"BTCUSDT","x":true}}}"#,
    r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":60000,"T":119999,"s":"BTCUSDT","i":"1m","o":"1","c":"1","h":"1","l":"1","v":"1","x":"yes"}}}"#,
    r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline""#,
];

async fn serve_ws(s: Arc<Shared>, sock: WebSocket, names: Vec<String>, combined: bool) {
    s.ws_total.fetch_add(1, Ordering::SeqCst);
    s.ws_active.fetch_add(1, Ordering::SeqCst);
    let streams: Vec<(String, String, Timeframe)> = names
        .iter()
        .filter_map(|n| {
            parse_stream(n)
                .filter(|(sym, _)| s.symbol_ok(sym))
                .map(|(sym, tf)| (n.clone(), sym, tf))
        })
        .collect();
    let mut states: Vec<PushState> = vec![PushState::default(); streams.len()];
    let (mut tx, mut rx) = sock.split();
    let mut cmds = s.conns.subscribe();
    let mut push = tokio::time::interval(Duration::from_millis(s.cfg.binance_push_ms.max(1)));
    let mut ping = tokio::time::interval(Duration::from_millis(s.cfg.binance_ping_ms.max(10)));
    ping.tick().await;
    let mut malformed_i = 0usize;
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                Ok(ConnCmd::Drop) => break,
                Ok(ConnCmd::Close) => {
                    let _ = tx.send(Message::Close(Some(CloseFrame { code: 1001, reason: "24 h connection limit".into() }))).await;
                    break;
                }
                Err(_) => {}
            },
            m = rx.next() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Pong(_))) => { s.client_pongs.fetch_add(1, Ordering::SeqCst); }
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if !s.silenced() && tx.send(Message::Ping(b"standin".to_vec().into())).await.is_err() {
                    break;
                }
            }
            _ = push.tick() => {
                if s.silenced() {
                    continue;
                }
                let mut out: Vec<String> = Vec::new();
                if s.take_malformed() {
                    out.push(MALFORMED[malformed_i % MALFORMED.len()].to_string());
                    malformed_i += 1;
                }
                let mut closed = Vec::new();
                for (i, (name, sym, tf)) in streams.iter().enumerate() {
                    for p in s.step(&mut states[i], *tf) {
                        let ev = match p {
                            Push::Closed(c, t) => {
                                closed.push((out.len(), c.open_time));
                                kline_event(sym, *tf, &c, true, t)
                            }
                            Push::Forming(c, t) => kline_event(sym, *tf, &c, false, t),
                        };
                        out.push(if combined { json!({"stream": name, "data": ev}).to_string() } else { ev.to_string() });
                    }
                }
                let mut failed = false;
                for (k, m) in out.into_iter().enumerate() {
                    // the moment the closed kline is handed to the socket (before the write)
                    let at = Instant::now();
                    if tx.send(Message::Text(m.into())).await.is_err() {
                        failed = true;
                        break;
                    }
                    if let Some(&(_, open)) = closed.iter().find(|(j, _)| *j == k) {
                        let mut sent = s.closed_sent.lock().unwrap();
                        if !sent.iter().any(|(t, _)| *t == open) {
                            sent.push((open, at));
                        }
                    }
                }
                if failed {
                    break;
                }
            }
        }
    }
    s.ws_active.fetch_sub(1, Ordering::SeqCst);
}
