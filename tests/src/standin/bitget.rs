//! The Bitget v2 stand-in: REST `/api/v2/public/time`, `/api/v2/mix/market/*` and the public WS
//! candle channels (no closed flag).

use super::market::{FUNDING_INTERVAL_MS, funding_rate_str, open_interest_str};
use super::{Bounds, ConnCmd, Push, PushState, Shared, dec, parse_query, q_get};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{Response, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use scalp_core::{Candle, Timeframe};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const D: i64 = 86_400_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v2/ws/public", get(ws))
        .fallback(rest)
        .with_state(shared)
}

/// How far back `market/candles` serves each granularity (as documented by Bitget).
pub fn recent_lookback_ms(tf: Timeframe) -> i64 {
    match tf {
        Timeframe::M1 | Timeframe::M3 | Timeframe::M5 => 30 * D,
        Timeframe::M15 => 52 * D,
        Timeframe::M30 => 62 * D,
        Timeframe::H1 => 83 * D,
        Timeframe::H2 => 120 * D,
        Timeframe::H4 => 240 * D,
        _ => 360 * D,
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn ok(now: i64, data: Value) -> Value {
    json!({"code": "00000", "msg": "success", "requestTime": now, "data": data})
}

fn err(code: &str, msg: &str) -> Value {
    json!({"code": code, "msg": msg, "requestTime": scalp_core::types::now_ms(), "data": null})
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
    let over = {
        let mut f = s.faults.lock().unwrap();
        let now = Instant::now();
        while f
            .rps
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            f.rps.pop_front();
        }
        f.rps.push_back(now);
        f.rps.len() > s.cfg.bitget_rps as usize
    };
    if let Some((status, ra)) = s.take_http_fault() {
        let mut r = reply(
            StatusCode::from_u16(status).unwrap(),
            match status {
                429 => err("429", "Too Many Requests"),
                _ => err("40010", "Request timed out"),
            },
        );
        if let Some(ra) = ra {
            r.headers_mut()
                .insert("retry-after", ra.to_string().parse().unwrap());
        }
        return (status, r);
    }
    if over {
        return (
            429,
            reply(
                StatusCode::TOO_MANY_REQUESTS,
                err("429", "Too Many Requests"),
            ),
        );
    }
    let now = s.clock.now_ms();
    let res = match path {
        "/api/v2/public/time" => Ok(json!({"serverTime": now.to_string()})),
        "/api/v2/mix/market/candles" => candles(s, q, now, false),
        "/api/v2/mix/market/history-candles" => candles(s, q, now, true),
        "/api/v2/mix/market/history-fund-rate" => funding(s, q, now),
        "/api/v2/mix/market/open-interest" => symbol(s, q).map(|sym| {
            json!({"openInterestList": [{"symbol": sym, "size": open_interest_str(now)}], "ts": now.to_string()})
        }),
        _ => return (404, reply(StatusCode::NOT_FOUND, err("40404", "Request URL NOT FOUND"))),
    };
    match res {
        Ok(d) => (200, reply(StatusCode::OK, ok(now, d))),
        Err(e) => (400, reply(StatusCode::BAD_REQUEST, e)),
    }
}

fn symbol(s: &Shared, q: &[(String, String)]) -> Result<String, Value> {
    let pt = q_get(q, "productType")
        .ok_or_else(|| err("40017", "Parameter productType cannot be empty"))?;
    if !pt.eq_ignore_ascii_case(&s.cfg.bitget_product_type) {
        return Err(err("40017", &format!("Parameter productType {pt} error")));
    }
    let sym = q_get(q, "symbol").ok_or_else(|| err("40017", "Parameter symbol cannot be empty"))?;
    if !s.symbol_ok(sym) {
        return Err(err("40034", &format!("Parameter {sym} does not exist")));
    }
    Ok(sym.to_string())
}

fn int(q: &[(String, String)], k: &str) -> Result<Option<i64>, Value> {
    match q_get(q, k) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| err("40017", &format!("Parameter {k} error"))),
    }
}

fn candles(s: &Shared, q: &[(String, String)], now: i64, history: bool) -> Result<Value, Value> {
    symbol(s, q)?;
    let g = q_get(q, "granularity")
        .ok_or_else(|| err("40017", "Parameter granularity cannot be empty"))?;
    let tf = Timeframe::from_bitget(g)
        .ok_or_else(|| err("40017", &format!("Parameter granularity {g} error")))?;
    let max = if history { 200 } else { 1000 };
    let limit = match q_get(q, "limit") {
        None => 100,
        Some(l) => match l.parse::<i64>() {
            Ok(l) if (1..=max).contains(&l) => l,
            _ => return Err(err("40017", &format!("Parameter limit error, max {max}"))),
        },
    };
    let start = int(q, "startTime")?;
    let end = int(q, "endTime")?;
    if let (Some(a), Some(b)) = (start, end)
        && (b < a || b - a > 90 * D)
    {
        return Err(err(
            "40017",
            "The time range between startTime and endTime cannot exceed 90 days",
        ));
    }
    let latest = tf.align(now).min(tf.align(s.series.end() - 1));
    let exclusive = s.cfg.bitget_bounds == Bounds::Exclusive;
    // newest open time served: ≤ endTime (inclusive) or < endTime (exclusive)
    let hi = end
        .map(|e| tf.align(if exclusive { e - 1 } else { e }).min(latest))
        .unwrap_or(latest);
    let mut lo = match start {
        Some(a) => {
            // oldest open time served: ≥ startTime (inclusive) or > startTime (exclusive)
            let a = if exclusive { a + 1 } else { a };
            let x = tf.align(a);
            if x < a { x + tf.ms() } else { x }
        }
        None => hi - (limit - 1) * tf.ms(),
    };
    lo = lo.max(tf.align(s.series.first_open() + tf.ms() - 1));
    if !history {
        let floor = now - recent_lookback_ms(tf);
        lo = lo.max(tf.align(floor) + tf.ms());
    }
    // the latest `limit` candles of [lo, hi]
    let lo = lo.max(hi - (limit - 1) * tf.ms());
    let mut rows = Vec::new();
    let mut o = lo;
    while o <= hi {
        let c = if o + tf.ms() <= now {
            s.series.candle(tf, o)
        } else {
            s.series.partial(tf, o, now)
        };
        if let Some(c) = c {
            rows.push(candle_row(&c, false));
        }
        o += tf.ms();
    }
    Ok(Value::Array(rows))
}

/// REST: `["ts","o","h","l","c","baseVol","quoteVol"]`; WS adds `"usdtVol"`.
pub fn candle_row(c: &Candle, ws: bool) -> Value {
    let quote = format!("{:.4}", c.volume * c.close);
    let mut v = vec![
        c.open_time.to_string(),
        dec(c.open),
        dec(c.high),
        dec(c.low),
        dec(c.close),
        dec(c.volume),
        quote.clone(),
    ];
    if ws {
        v.push(quote);
    }
    json!(v)
}

fn funding(s: &Shared, q: &[(String, String)], now: i64) -> Result<Value, Value> {
    let sym = symbol(s, q)?;
    let size = match q_get(q, "pageSize") {
        None => 20,
        Some(p) => match p.parse::<i64>() {
            Ok(p) if (1..=100).contains(&p) => p,
            _ => return Err(err("40017", "Parameter pageSize error")),
        },
    };
    let page = int(q, "pageNo")?.unwrap_or(1).max(1);
    let newest = now.min(s.series.end()).div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS;
    let first = s.series.first_open();
    let rows: Vec<Value> = (0..size)
        .map(|i| newest - ((page - 1) * size + i) * FUNDING_INTERVAL_MS)
        .take_while(|&t| t >= first)
        .map(|t| json!({"symbol": sym, "fundingRate": funding_rate_str(t), "fundingTime": t.to_string()}))
        .collect();
    Ok(Value::Array(rows))
}

async fn ws(State(s): State<Arc<Shared>>, uri: Uri, ws: WebSocketUpgrade) -> impl IntoResponse {
    s.record(uri.path(), "", 101);
    ws.on_upgrade(move |sock| serve_ws(s, sock))
}

/// Largest client message the server takes (Bitget: 4,096 bytes of subscribe arguments).
const MAX_MESSAGE_BYTES: usize = 4_096;
/// Client messages per second per connection (Bitget: 10).
const MAX_MESSAGES_PER_S: usize = 10;

const MALFORMED: [&str; 4] = [
    "definitely not json",
    r#"{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"candle1m","instId":"BTCUSDT"},"data":[["1695835800000","abc","1","1","1","1","1","1"]],"ts":1}"#,
    r#"{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"candle1m","instId":"BTCUSDT"},"data":"nope","ts":1}"#,
    r#"{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"candle1m"#,
];

struct Sub {
    arg: Value,
    tf: Timeframe,
    state: PushState,
}

fn push_msg(action: &str, arg: &Value, rows: Vec<Value>, ts: i64) -> String {
    json!({"action": action, "arg": arg, "data": rows, "ts": ts}).to_string()
}

async fn serve_ws(s: Arc<Shared>, sock: WebSocket) {
    s.ws_total.fetch_add(1, Ordering::SeqCst);
    s.ws_active.fetch_add(1, Ordering::SeqCst);
    let (mut tx, mut rx) = sock.split();
    let mut cmds = s.conns.subscribe();
    let mut push = tokio::time::interval(Duration::from_millis(s.cfg.bitget_push_ms.max(1)));
    let mut subs: Vec<Sub> = Vec::new();
    let mut last_ping = Instant::now();
    // arrival times of the client's messages in the last second (≤ 10/s per connection)
    let mut recent_msgs: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
    let ping_timeout = Duration::from_millis(s.cfg.bitget_ping_timeout_ms.max(1));
    let mut malformed_i = 0usize;
    'conn: loop {
        let mut out: Vec<String> = Vec::new();
        tokio::select! {
            c = cmds.recv() => match c {
                Ok(ConnCmd::Drop) => break,
                Ok(ConnCmd::Close) => {
                    let _ = tx.send(Message::Close(Some(CloseFrame { code: 1000, reason: "24 h connection limit".into() }))).await;
                    break;
                }
                Err(_) => {}
            },
            _ = tokio::time::sleep_until((last_ping + ping_timeout).into()) => {
                let _ = tx.send(Message::Close(Some(CloseFrame { code: 1000, reason: "no ping".into() }))).await;
                break;
            }
            m = rx.next() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(t))) => {
                    let t = t.to_string();
                    let at = Instant::now();
                    s.client_messages_max_len.fetch_max(t.len() as u64, Ordering::SeqCst);
                    while recent_msgs.front().is_some_and(|x| at.duration_since(*x) >= Duration::from_secs(1)) {
                        recent_msgs.pop_front();
                    }
                    recent_msgs.push_back(at);
                    if recent_msgs.len() > MAX_MESSAGES_PER_S {
                        s.refused_messages.fetch_add(1, Ordering::SeqCst);
                        out.push(json!({"event": "error", "code": 30006, "msg": "request too many"}).to_string());
                    } else if t.len() > MAX_MESSAGE_BYTES {
                        s.refused_messages.fetch_add(1, Ordering::SeqCst);
                        out.push(json!({"event": "error", "code": 30002,
                            "msg": format!("illegal request: message of {} bytes exceeds 4096", t.len())}).to_string());
                    } else if t == "ping" {
                        s.client_pings.fetch_add(1, Ordering::SeqCst);
                        last_ping = Instant::now();
                        if !s.silenced() {
                            out.push("pong".into());
                        }
                    } else {
                        handle_op(&s, &t, &mut subs, &mut out);
                    }
                }
                Some(Ok(_)) => {}
            },
            _ = push.tick() => {
                if s.silenced() {
                    continue;
                }
                if s.take_malformed() {
                    out.push(MALFORMED[malformed_i % MALFORMED.len()].to_string());
                    malformed_i += 1;
                }
                for sub in subs.iter_mut() {
                    for p in s.step(&mut sub.state, sub.tf) {
                        let (c, t) = match p {
                            Push::Closed(c, t) if s.take_stale_final() => {
                                let at = c.open_time + sub.tf.ms() * 9 / 10;
                                (s.series.partial(sub.tf, c.open_time, at).unwrap_or(c), t)
                            }
                            Push::Closed(c, t) | Push::Forming(c, t) => (c, t),
                        };
                        out.push(push_msg("update", &sub.arg, vec![candle_row(&c, true)], t));
                    }
                }
            }
        }
        for m in out {
            if tx.send(Message::Text(m.into())).await.is_err() {
                break 'conn;
            }
        }
    }
    s.ws_active.fetch_sub(1, Ordering::SeqCst);
}

fn handle_op(s: &Shared, text: &str, subs: &mut Vec<Sub>, out: &mut Vec<String>) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        out.push(
            json!({"event": "error", "code": 30001, "msg": format!("Invalid request: {text}")})
                .to_string(),
        );
        return;
    };
    let op = v.get("op").and_then(Value::as_str).unwrap_or("");
    let args = v
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match op {
        "subscribe" => {
            for arg in args {
                let inst_type = arg.get("instType").and_then(Value::as_str).unwrap_or("");
                let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
                let inst_id = arg.get("instId").and_then(Value::as_str).unwrap_or("");
                // the WS channels, which are not the REST granularities (no candle3m)
                let tf = Timeframe::ALL
                    .into_iter()
                    .find(|tf| tf.bitget_channel().as_deref() == Some(channel));
                match tf {
                    Some(tf) if inst_type.eq_ignore_ascii_case(&s.cfg.bitget_product_type) && s.symbol_ok(inst_id) => {
                        s.subscriptions.fetch_add(1, Ordering::SeqCst);
                        out.push(json!({"event": "subscribe", "arg": arg}).to_string());
                        let now = s.clock.now_ms();
                        let cur = tf.align(now);
                        let mut rows = Vec::new();
                        for k in (1..=s.cfg.bitget_snapshot_candles as i64).rev() {
                            let o = cur - k * tf.ms();
                            if !s.in_gap(tf, o)
                                && let Some(c) = s.series.candle(tf, o)
                            {
                                rows.push(candle_row(&c, true));
                            }
                        }
                        let mut state = PushState { last_open: Some(cur), frozen: None };
                        if cur + tf.ms() <= s.series.end()
                            && !s.in_gap(tf, cur)
                            && let Some(f) = s.series.partial(tf, cur, now)
                        {
                            state.frozen = Some(f);
                            rows.push(candle_row(&f, true));
                        }
                        if !rows.is_empty() {
                            out.push(push_msg("snapshot", &arg, rows, now));
                        }
                        subs.retain(|x| x.arg != arg);
                        subs.push(Sub { arg, tf, state });
                    }
                    _ => out.push(
                        json!({"event": "error", "arg": arg, "code": 30001,
                               "msg": format!("instType:{inst_type},channel:{channel},instId:{inst_id} doesn't exist")})
                        .to_string(),
                    ),
                }
            }
        }
        "unsubscribe" => {
            for arg in args {
                subs.retain(|x| x.arg != arg);
                out.push(json!({"event": "unsubscribe", "arg": arg}).to_string());
            }
        }
        _ => out.push(
            json!({"event": "error", "code": 30002, "msg": format!("Illegal request: {text}")})
                .to_string(),
        ),
    }
}
