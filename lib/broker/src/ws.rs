//! The private WebSocket (exchanges-private.md §2 for v2, §6.7 for v3): signed login
//! (timestamp in seconds), text `ping` → `pong`, subscribe to orders, fills and positions,
//! re-login and resubscribe after every reconnect, pushes parsed into [`WsEvent`]s.

use crate::model::{AccountMode, Fill, Order, Position};
use crate::{BrokerError, Credentials, sign, v2, v3};
use futures_util::{SinkExt, StreamExt};
use scalp_core::Exchange;
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone)]
pub struct WsConfig {
    pub mode: AccountMode,
    pub url: String,
    pub creds: Credentials,
    pub ca_file: Option<std::path::PathBuf>,
    /// Added to the local clock for the login timestamp (from the REST clock sync).
    pub clock_offset_ms: i64,
    /// Text `ping` after this long (Bitget drops a silent connection after 2 min; 25 s).
    pub ping_interval: Duration,
    /// No `pong` (or any message) this long after a ping: the connection is dead.
    pub pong_timeout: Duration,
    pub login_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl WsConfig {
    pub fn new(
        mode: AccountMode,
        url: String,
        creds: Credentials,
        ca_file: Option<std::path::PathBuf>,
        clock_offset_ms: i64,
    ) -> Self {
        WsConfig {
            mode,
            url,
            creds,
            ca_file,
            clock_offset_ms,
            ping_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

/// What the private stream reports.
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    /// Connection number `n` (1, 2, …) is logged in and its subscriptions were sent.
    Connected {
        n: u64,
    },
    /// The server acknowledged a subscription (`orders`, `fill`, `positions` / `order`, …).
    Subscribed {
        channel: String,
    },
    Order(Order),
    /// Deduplicated by trade id across reconnects.
    Fill(Fill),
    /// `complete`: the push is the whole position list (v2: a position missing from it is
    /// closed); v3 pushes per position and reports closed ones in `closed` (size 0).
    Positions {
        complete: bool,
        positions: Vec<Position>,
        closed: Vec<String>,
    },
    /// The connection ended; a reconnect follows.
    Disconnected {
        reason: String,
    },
    /// The exchange refused the login (bad key, signature, passphrase): the stream stops; a
    /// restart loop would not fix it.
    LoginRefused {
        code: String,
        msg: String,
    },
    /// A push that could not be parsed (kept going).
    Malformed {
        what: String,
    },
}

/// A running private stream; dropping it (or [`PrivateStream::stop`]) ends it.
pub struct PrivateStream {
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for PrivateStream {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl PrivateStream {
    /// Starts the connect/login/subscribe/read loop; events go to `tx`. The loop ends when
    /// `tx` is closed, on [`WsEvent::LoginRefused`], or on [`PrivateStream::stop`].
    pub fn spawn(cfg: WsConfig, tx: mpsc::Sender<WsEvent>) -> PrivateStream {
        PrivateStream {
            handle: tokio::spawn(run(cfg, tx)),
        }
    }
    pub fn stop(self) {}
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

enum End {
    Reconnect(String),
    Stop,
}

async fn run(cfg: WsConfig, tx: mpsc::Sender<WsEvent>) {
    let mut n = 0u64;
    let mut failures = 0u32;
    let mut seen = Dedup::default();
    loop {
        n += 1;
        let (end, healthy) = connection(&cfg, &tx, n, &mut seen).await;
        match end {
            End::Stop => return,
            End::Reconnect(reason) => {
                tracing::warn!(reason = %reason, "bitget private WS disconnected, reconnecting");
                if tx.send(WsEvent::Disconnected { reason }).await.is_err() {
                    return;
                }
            }
        }
        failures = if healthy { 0 } else { failures + 1 };
        let d = scalp_exchange::backoff::full_jitter(
            failures,
            cfg.reconnect_min.as_millis() as u64,
            cfg.reconnect_max.as_millis() as u64,
        );
        tokio::time::sleep(d).await;
    }
}

#[derive(Default)]
struct Dedup {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Dedup {
    fn first(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        self.set.insert(id.to_string());
        self.order.push_back(id.to_string());
        if self.order.len() > 10_000
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

fn login_msg(cfg: &WsConfig) -> String {
    let ts = (scalp_core::types::now_ms() + cfg.clock_offset_ms) / 1000;
    json!({"op": "login", "args": [{
        "apiKey": cfg.creds.key(), "passphrase": cfg.creds.passphrase(),
        "timestamp": ts.to_string(), "sign": sign::sign_ws_login(cfg.creds.secret(), ts)}]})
    .to_string()
}

fn subscribe_msg(mode: AccountMode) -> String {
    let args = match mode {
        AccountMode::Classic => json!([
            {"instType": "USDT-FUTURES", "channel": "orders", "instId": "default"},
            {"instType": "USDT-FUTURES", "channel": "fill", "instId": "default"},
            {"instType": "USDT-FUTURES", "channel": "positions", "instId": "default"},
        ]),
        AccountMode::Uta => json!([
            {"instType": "UTA", "topic": "order"},
            {"instType": "UTA", "topic": "fill"},
            {"instType": "UTA", "topic": "position"},
        ]),
    };
    json!({"op": "subscribe", "args": args}).to_string()
}

fn code_of(v: &Value) -> String {
    match &v["code"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

async fn connection(
    cfg: &WsConfig,
    tx: &mpsc::Sender<WsEvent>,
    n: u64,
    seen: &mut Dedup,
) -> (End, bool) {
    let tls = match scalp_exchange::tls::client_config(Exchange::Bitget, cfg.ca_file.as_deref()) {
        Ok(t) => t,
        Err(e) => return (End::Reconnect(format!("TLS set-up failed: {e}")), false),
    };
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        cfg.url.as_str(),
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(tls)),
    );
    let ws = match tokio::time::timeout(cfg.login_timeout, connect).await {
        Err(_) => return (End::Reconnect("connect timed out".into()), false),
        Ok(Err(e)) => return (End::Reconnect(format!("connect failed: {e}")), false),
        Ok(Ok((ws, _))) => ws,
    };
    let (mut sink, mut stream) = ws.split();
    if let Err(e) = sink.send(Message::text(login_msg(cfg))).await {
        return (End::Reconnect(format!("sending login: {e}")), false);
    }
    // wait for the login answer
    let deadline = tokio::time::Instant::now() + cfg.login_timeout;
    loop {
        let m = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return (End::Reconnect("no login answer".into()), false),
            Ok(None) => return (End::Reconnect("closed during login".into()), false),
            Ok(Some(Err(e))) => return (End::Reconnect(format!("during login: {e}")), false),
            Ok(Some(Ok(m))) => m,
        };
        let Message::Text(t) = m else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&t) else {
            continue;
        };
        match v["event"].as_str() {
            Some("login") if matches!(code_of(&v).as_str(), "0" | "00000" | "") => break,
            Some("login") | Some("error") => {
                let code = code_of(&v);
                let msg = v["msg"].as_str().unwrap_or("").to_string();
                if code == "30014" {
                    // timestamp expired: a clock problem, not the key; retry
                    return (
                        End::Reconnect(format!("login refused: {code} {msg}")),
                        false,
                    );
                }
                tracing::error!(code = %code, msg = %msg, "bitget private WS login refused");
                let _ = tx.send(WsEvent::LoginRefused { code, msg }).await;
                return (End::Stop, false);
            }
            _ => {}
        }
    }
    if let Err(e) = sink.send(Message::text(subscribe_msg(cfg.mode))).await {
        return (End::Reconnect(format!("sending subscribe: {e}")), true);
    }
    if tx.send(WsEvent::Connected { n }).await.is_err() {
        return (End::Stop, true);
    }
    let mut ping = tokio::time::interval(cfg.ping_interval);
    ping.tick().await;
    let mut awaiting_pong: Option<tokio::time::Instant> = None;
    loop {
        let pong_deadline = awaiting_pong.map(|t| t + cfg.pong_timeout);
        tokio::select! {
            _ = ping.tick() => {
                if awaiting_pong.is_none() {
                    if let Err(e) = sink.send(Message::text("ping")).await {
                        return (End::Reconnect(format!("sending ping: {e}")), true);
                    }
                    awaiting_pong = Some(tokio::time::Instant::now());
                }
            }
            _ = async { match pong_deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                return (End::Reconnect("no pong".into()), true);
            }
            m = stream.next() => {
                let m = match m {
                    None => return (End::Reconnect("connection closed".into()), true),
                    Some(Err(e)) => return (End::Reconnect(format!("read: {e}")), true),
                    Some(Ok(m)) => m,
                };
                let text = match m {
                    Message::Text(t) => t.to_string(),
                    Message::Ping(p) => { let _ = sink.send(Message::Pong(p)).await; continue; }
                    Message::Close(f) => return (End::Reconnect(format!("closed by the server: {f:?}")), true),
                    _ => continue,
                };
                awaiting_pong = None;
                if text == "pong" {
                    continue;
                }
                for ev in parse_push(cfg.mode, &text, seen) {
                    if tx.send(ev).await.is_err() {
                        return (End::Stop, true);
                    }
                }
            }
        }
    }
}

/// One text frame → events (public for the tests of the parsers).
pub fn parse_push(mode: AccountMode, text: &str, seen: &mut impl DedupLike) -> Vec<WsEvent> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            return vec![WsEvent::Malformed {
                what: scalp_core::types::truncate(text, 120),
            }];
        }
    };
    if v["event"].as_str() == Some("subscribe") {
        let ch = v["arg"]["channel"]
            .as_str()
            .or(v["arg"]["topic"].as_str())
            .unwrap_or("")
            .to_string();
        return vec![WsEvent::Subscribed { channel: ch }];
    }
    if v["event"].as_str() == Some("error") {
        return vec![WsEvent::Malformed {
            what: format!("error {}: {}", code_of(&v), v["msg"].as_str().unwrap_or("")),
        }];
    }
    let ch = v["arg"]["channel"]
        .as_str()
        .or(v["arg"]["topic"].as_str())
        .unwrap_or("");
    let data = v["data"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    let bad = |e: BrokerError| WsEvent::Malformed {
        what: e.to_string(),
    };
    match (mode, ch) {
        (AccountMode::Classic, "orders") => {
            for d in &data {
                match parse_v2_ws_order(d) {
                    Ok(o) => out.push(WsEvent::Order(o)),
                    Err(e) => out.push(bad(e)),
                }
            }
        }
        (AccountMode::Classic, "fill") => {
            for d in &data {
                match v2::parse_fill("ws fill", d) {
                    Ok(f) if seen.first(&f.trade_id) => out.push(WsEvent::Fill(f)),
                    Ok(_) => {}
                    Err(e) => out.push(bad(e)),
                }
            }
        }
        (AccountMode::Classic, "positions") => {
            let mut ps = Vec::new();
            for d in &data {
                match parse_v2_ws_position(d) {
                    Ok(Some(p)) => ps.push(p),
                    Ok(None) => {}
                    Err(e) => out.push(bad(e)),
                }
            }
            out.push(WsEvent::Positions {
                complete: true,
                positions: ps,
                closed: Vec::new(),
            });
        }
        (AccountMode::Uta, "order") => {
            for d in &data {
                match v3::parse_order("ws order", d) {
                    Ok(o) => out.push(WsEvent::Order(o)),
                    Err(e) => out.push(bad(e)),
                }
            }
        }
        (AccountMode::Uta, "fill") => {
            for d in &data {
                match v3::parse_fill("ws fill", d) {
                    Ok(f) if seen.first(&f.trade_id) => out.push(WsEvent::Fill(f)),
                    Ok(_) => {}
                    Err(e) => out.push(bad(e)),
                }
            }
        }
        (AccountMode::Uta, "position") => {
            let (mut ps, mut closed) = (Vec::new(), Vec::new());
            for d in &data {
                match v3::parse_position("ws position", d) {
                    Ok(Some(p)) => ps.push(p),
                    Ok(None) => {
                        if let Some(s) = d["symbol"].as_str() {
                            closed.push(s.to_string());
                        }
                    }
                    Err(e) => out.push(bad(e)),
                }
            }
            out.push(WsEvent::Positions {
                complete: false,
                positions: ps,
                closed,
            });
        }
        _ => {}
    }
    out
}

/// Trade-id deduplication across pushes and reconnects.
pub trait DedupLike {
    fn first(&mut self, id: &str) -> bool;
}
impl DedupLike for Dedup {
    fn first(&mut self, id: &str) -> bool {
        Dedup::first(self, id)
    }
}
impl DedupLike for HashSet<String> {
    fn first(&mut self, id: &str) -> bool {
        self.insert(id.to_string())
    }
}

fn parse_v2_ws_order(d: &Value) -> Result<Order, BrokerError> {
    let p = "ws orders";
    let r = crate::model::Row::new(p, d);
    let (fee, _) = r.fee_detail("fee")?;
    Ok(Order {
        order_id: r.str("orderId")?,
        client_oid: r.opt_str("clientOid").unwrap_or_default(),
        symbol: r.str("instId")?,
        side: r.side("side")?,
        order_type: r.order_type("orderType")?,
        qty: r.dec("size")?,
        price: r.opt_dec("price")?.filter(|x| x.is_positive()),
        filled_qty: r.dec_or_zero("accBaseVolume")?,
        avg_price: r.opt_dec("priceAvg")?.filter(|x| x.is_positive()),
        status: r.status(&["status"])?,
        reduce_only: r.yes("reduceOnly"),
        fee: fee.neg(),
        created_ms: r.ms("cTime")?,
        updated_ms: r.ms("uTime")?,
    })
}

fn parse_v2_ws_position(d: &Value) -> Result<Option<Position>, BrokerError> {
    let p = "ws positions";
    let r = crate::model::Row::new(p, d);
    let size = r.dec_or_zero("total")?;
    if !size.is_positive() {
        return Ok(None);
    }
    Ok(Some(Position {
        symbol: r.str("instId")?,
        side: r.pos_side("holdSide")?,
        size,
        entry_price: r.dec_or_zero("openPriceAvg")?,
        // a JSON number on this channel
        leverage: r.dec_or_zero("leverage")?,
        margin_mode: r.margin_mode("marginMode"),
        unrealized_pnl: r.dec_or_zero("unrealizedPL")?,
        liquidation_price: r.opt_dec("liquidationPrice")?.filter(|x| x.is_positive()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_doc_pushes() {
        let mut seen = HashSet::new();
        let fill = r#"{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"fill","instId":"default"},"ts":1703577336700,
 "data":[{"orderId":"111","clientOid":"111","tradeId":"222","symbol":"BTCUSDT","side":"buy","orderType":"market",
  "posMode":"one_way_mode","price":"51000.5","baseVolume":"0.01","quoteVolume":"510.005","profit":"0",
  "tradeSide":"open","tradeScope":"taker",
  "feeDetail":[{"feeCoin":"USDT","deduction":"no","totalDeductionFee":"0","totalFee":"-0.183717"}],
  "cTime":"1703577336606","uTime":"1703577336606"}]}"#;
        let ev = parse_push(AccountMode::Classic, fill, &mut seen);
        let WsEvent::Fill(f) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(f.fee.to_string(), "0.183717");
        assert_eq!(f.price.to_string(), "51000.5");
        assert!(
            parse_push(AccountMode::Classic, fill, &mut seen).is_empty(),
            "deduped"
        );
        let pos = r#"{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"positions","instId":"default"},"ts":1741850543864,
 "data":[{"posId":"1","instId":"XRPUSDT","marginCoin":"USDT","marginSize":"0.67098","marginMode":"crossed","holdSide":"long",
 "posMode":"one_way_mode","total":"3","available":"3","frozen":"0","openPriceAvg":"2.2366","leverage":10,
 "unrealizedPL":"0.0009","liquidationPrice":"-5.882918946895","totalFee":"","cTime":"1","uTime":"2"}]}"#;
        let ev = parse_push(AccountMode::Classic, pos, &mut seen);
        let WsEvent::Positions { positions, .. } = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(positions[0].leverage.to_string(), "10");
        assert_eq!(positions[0].liquidation_price, None);
        let v3fill = r#"{"action":"snapshot","arg":{"instType":"UTA","topic":"fill"},"ts":1733904123981,"data":[{"category":"USDT-FUTURES",
 "symbol":"BTCUSDT","orderId":"1","clientOid":"2","execId":"3","execLinkId":"3","orderType":"market","side":"buy","holdSide":"long",
 "tradeSide":"open","execPrice":"94993","execQty":"0.01","execValue":"949.93","execPnl":"0","tradeScope":"taker",
 "feeDetail":[{"feeCoin":"USDT","fee":"0.569958"}],"execTime":"1736378720623","updatedTime":"1736378720623"}]}"#;
        let ev = parse_push(AccountMode::Uta, v3fill, &mut seen);
        let WsEvent::Fill(f) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (f.fee.to_string().as_str(), f.time_ms),
            ("0.569958", 1736378720623)
        );
    }
}
