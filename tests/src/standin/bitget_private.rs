//! A stateful fake Bitget USDT-M account on 127.0.0.1 speaking the private v2 (Classic) and v3
//! (UTA) REST bodies and private WebSockets of `exchanges-private.md`.
//!
//! * Verifies every signature (its own HMAC, over the path and query exactly as received) and
//!   the timestamp window, refusing with the real codes (40001/40002/40005/40006/40008/40009/
//!   40011/40012); WS login in seconds (30011/30012/30014/30015).
//! * `account_mode`: `Classic` answers v2 and refuses v3 with 40084; `Uta` the reverse (40085).
//! * Keeps the balance, orders, positions (one-way), plan orders (position TP/SL), fills and
//!   funding bills. No order book: [`PrivateStandIn::play_candle`] walks a candle's path the way
//!   the backtest engine does (jump to the open, gap rule, then O → X1 → X2 → C, triggers nearest
//!   first at their own price; ties stop-loss, take-profit, limits in creation order; everything
//!   re-evaluated after each fire); [`PrivateStandIn::push_price`] is the same walk as one leg
//!   from the last price. A resting limit fills at its limit (maker fee); market orders,
//!   close-positions and triggered position TP/SL are market executions slipped by
//!   `PrivateConfig::slippage` (buys up, sells down; taker fee).
//! * Plan history (v2 `orders-plan-history` `executed|fail_trigger|cancelled`, v3
//!   `history-strategy-orders` `success|failed|cancelled`), funding settlements
//!   ([`PrivateStandIn::settle_funding`]) served by v2 `account/bill` (`contract_settle_fee`)
//!   and v3 `account/financial-records` (`CONTRACT_MAIN_SETTLE_FEE_USER_IN/OUT`), amounts signed
//!   as the balance moved (negative = paid).
//! * Refuses a duplicate clientOid (v2 40786 among all orders; v3 25212 among pending ones, as
//!   since 2025-10-09), off-step sizes/prices (40808/41103, 25610/25244), below-minimum sizes
//!   and notionals (43006/45110, 25207/25611), insufficient margin (43012/25203), one-way
//!   mismatches (40774), per-endpoint rate limits (HTTP 429 with the real body).
//! * Faults ([`PrivateFault`]): HTTP 429/5xx before applying, a lost answer AFTER applying
//!   (the reply is held longer than the client waits), a dropped WS connection, clock skew,
//!   plan triggers that fail (`FailTrigger`), partial limit fills (`PartialFill`).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountMode {
    Classic,
    Uta,
}

/// One contract as `market/contracts` / `market/instruments` serve it.
#[derive(Debug, Clone)]
pub struct ContractFixture {
    pub symbol: String,
    pub min_qty: f64,
    pub lot: f64,
    pub volume_place: u32,
    pub price_place: u32,
    pub price_end_step: u32,
    pub min_notional: f64,
    pub max_leverage: u32,
}

impl ContractFixture {
    /// BTCUSDT as a live bot reported it (`minTradeNum 0.0001`, `pricePlace 1`), with a lot of
    /// 0.001 and a 5 USDT minimum.
    pub fn btc() -> Self {
        ContractFixture {
            symbol: "BTCUSDT".into(),
            min_qty: 0.001,
            lot: 0.001,
            volume_place: 3,
            price_place: 1,
            price_end_step: 1,
            min_notional: 5.0,
            max_leverage: 125,
        }
    }
    fn tick(&self) -> f64 {
        self.price_end_step as f64 / 10f64.powi(self.price_place as i32)
    }
}

#[derive(Debug, Clone)]
pub struct PrivateConfig {
    pub account_mode: AccountMode,
    pub api_key: String,
    pub secret: String,
    pub passphrase: String,
    /// Starting USDT balance.
    pub balance: f64,
    pub contracts: Vec<ContractFixture>,
    pub maker_fee: f64,
    pub taker_fee: f64,
    /// Largest accepted |request timestamp − server time| (REST and WS), ms.
    pub timestamp_window_ms: i64,
    /// How long a "lost" answer is held (longer than the client's timeout).
    pub lost_reply_hold_ms: u64,
    /// Enforce the documented per-endpoint limits with HTTP 429.
    pub enforce_rate_limits: bool,
    /// Adverse slippage of market executions (market orders, close-positions, triggered
    /// position TP/SL): buys at `price × (1 + slippage)`, sells at `price × (1 − slippage)`.
    pub slippage: f64,
}

impl Default for PrivateConfig {
    fn default() -> Self {
        PrivateConfig {
            account_mode: AccountMode::Classic,
            api_key: "bg_standin_key_0001".into(),
            secret: "standin-secret-0123456789abcdef".into(),
            passphrase: "standin-pass".into(),
            balance: 10_000.0,
            contracts: vec![ContractFixture::btc()],
            maker_fee: 0.0002,
            taker_fee: 0.0006,
            timestamp_window_ms: 30_000,
            lost_reply_hold_ms: 3_000,
            enforce_rate_limits: true,
            slippage: 0.0,
        }
    }
}

/// A fault to inject.
#[derive(Debug, Clone, PartialEq)]
pub enum PrivateFault {
    /// The next `count` private requests (to `path`, or any when `None`) get HTTP `status`
    /// (429 with `{"code":"429","msg":"Too Many Requests"}`, 5xx with a system-error body),
    /// **not** applied.
    Http {
        status: u16,
        path: Option<String>,
        count: u32,
    },
    /// The next `count` requests to `path` are applied, but their answer is held for
    /// `lost_reply_hold_ms` (the client times out).
    LoseReply { path: String, count: u32 },
    /// Drop every private WS connection at once (no close frame).
    DropWs,
    /// The next `count` position TP/SL triggers do **not** execute: the plan ends
    /// `fail_trigger` (v3 `failed`) and the position stays open (§6.5 incident: a stop missing
    /// from the open list is not proof it fired).
    FailTrigger { count: u32 },
    /// The next `count` limit-order fills fill only `fraction` of the remaining quantity
    /// (rounded down to the lot step, at least one lot); the order stays `partially_filled`,
    /// resting at its price, and a later move through it fills the rest.
    PartialFill { count: u32, fraction: f64 },
}

/// Per-endpoint limits the stand-in enforces (its own copy of exchanges-private.md §1, §6.9).
pub fn limit_of(path: &str) -> u32 {
    match path {
        "/api/v2/mix/order/close-positions" => 1,
        "/api/v2/mix/order/batch-place-order"
        | "/api/v2/mix/position/all-position"
        | "/api/v2/mix/account/set-leverage"
        | "/api/v2/mix/account/set-margin-mode"
        | "/api/v2/mix/account/set-position-mode"
        | "/api/v3/trade/place-batch"
        | "/api/v3/trade/cancel-batch"
        | "/api/v3/trade/cancel-symbol-order"
        | "/api/v3/trade/close-positions" => 5,
        p if p.starts_with("/api/v3/trade/order-info")
            || p == "/api/v3/trade/history-strategy-orders"
            || p == "/api/v3/account/financial-records"
            || p == "/api/v3/trade/unfilled-orders"
            || p == "/api/v3/trade/fills"
            || p == "/api/v3/position/current-position"
            || p == "/api/v3/trade/unfilled-strategy-orders"
            || p == "/api/v3/account/assets"
            || p == "/api/v3/account/settings"
            || p == "/api/v2/public/time"
            || p == "/api/v2/mix/market/contracts"
            || p == "/api/v3/market/instruments" =>
        {
            20
        }
        _ => 10,
    }
}

#[derive(Debug, Clone)]
pub struct SOrder {
    pub id: String,
    pub client_oid: String,
    pub symbol: String,
    pub side: String,
    pub order_type: String,
    pub qty: f64,
    pub price: Option<f64>,
    pub filled: f64,
    pub avg: f64,
    pub status: &'static str,
    pub reduce_only: bool,
    pub post_only: bool,
    pub fee: f64,
    pub margin_mode: Option<String>,
    pub ctime: i64,
    pub utime: i64,
}

#[derive(Debug, Clone)]
pub struct SPos {
    pub symbol: String,
    /// Signed: > 0 long, < 0 short.
    pub net: f64,
    pub entry: f64,
    pub leverage: u32,
    /// `crossed` or `isolated`: the opening order's (v3), else the symbol's setting (v2).
    pub margin_mode: String,
    pub ctime: i64,
    pub utime: i64,
}

#[derive(Debug, Clone)]
pub struct SPlan {
    pub id: String,
    pub client_oid: String,
    pub symbol: String,
    /// `pos_loss` or `pos_profit`.
    pub kind: String,
    /// `long` or `short`.
    pub hold: String,
    pub trigger: f64,
    /// `live`, `executed`, `fail_trigger`, `cancelled`.
    pub status: &'static str,
    pub ctime: i64,
    /// When it last changed (ended).
    pub utime: i64,
}

/// One funding settlement (`settle_funding`) as the account bill records it.
#[derive(Debug, Clone)]
pub struct SBill {
    pub id: String,
    pub symbol: String,
    /// Signed as the balance moved: negative = paid by the account.
    pub amount: f64,
    /// The balance after it.
    pub balance: f64,
    pub time: i64,
}

#[derive(Debug, Clone)]
pub struct SFill {
    pub trade_id: String,
    pub order_id: String,
    pub client_oid: String,
    pub symbol: String,
    pub side: String,
    pub price: f64,
    pub qty: f64,
    pub fee: f64,
    pub profit: f64,
    pub maker: bool,
    pub time: i64,
}

/// One REST request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct PrivRequest {
    pub at: Instant,
    pub path: String,
    pub status: u16,
    pub code: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone)]
enum Push {
    Order(SOrder),
    Fill(SFill),
    Position(String),
}

struct Acct {
    /// Injected HTTP faults and held answers that fired so far.
    injected: u64,
    mode: AccountMode,
    hedge: bool,
    balance: f64,
    leverage: HashMap<(String, String), u32>,
    /// v2 `set-margin-mode` per symbol (absent: crossed).
    margin_modes: HashMap<String, String>,
    orders: Vec<SOrder>,
    plans: Vec<SPlan>,
    fills: Vec<SFill>,
    positions: HashMap<String, SPos>,
    prices: HashMap<String, f64>,
    next_id: u64,
    skew_ms: i64,
    faults: Vec<PrivateFault>,
    rate: HashMap<String, VecDeque<Instant>>,
    /// Orders created per clientOid (never reset: the duplicate count of the chaos tests).
    created: HashMap<String, u32>,
    pushes: Vec<Push>,
    /// [`PrivateFault::FailTrigger`] left.
    fail_triggers: u32,
    /// [`PrivateFault::PartialFill`] left (count, fraction).
    partial: Option<(u32, f64)>,
    bills: Vec<SBill>,
}

struct Shared {
    cfg: PrivateConfig,
    acct: Mutex<Acct>,
    log: Mutex<Vec<PrivRequest>>,
    events: broadcast::Sender<Push>,
    drops: broadcast::Sender<()>,
    ws_total: AtomicU64,
    ws_logins: AtomicU64,
    ws_subscribe_msgs: AtomicU64,
    ws_pings: AtomicU64,
}

fn now_ms() -> i64 {
    scalp_core::types::now_ms()
}

/// The running stand-in; dropping it stops the server.
pub struct PrivateStandIn {
    s: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for PrivateStandIn {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl PrivateStandIn {
    /// Starts on a random 127.0.0.1 port, on its own thread and runtime (as the public
    /// stand-ins).
    pub fn start(cfg: PrivateConfig) -> PrivateStandIn {
        let (events, _) = broadcast::channel(4096);
        let (drops, _) = broadcast::channel(16);
        let s = Arc::new(Shared {
            acct: Mutex::new(Acct {
                injected: 0,
                mode: cfg.account_mode,
                hedge: false,
                balance: cfg.balance,
                leverage: HashMap::new(),
                margin_modes: HashMap::new(),
                orders: Vec::new(),
                plans: Vec::new(),
                fills: Vec::new(),
                positions: HashMap::new(),
                prices: HashMap::new(),
                next_id: 1_116_501_214_293_032_000,
                skew_ms: 0,
                faults: Vec::new(),
                rate: HashMap::new(),
                created: HashMap::new(),
                pushes: Vec::new(),
                fail_triggers: 0,
                partial: None,
                bills: Vec::new(),
            }),
            cfg,
            log: Mutex::new(Vec::new()),
            events,
            drops,
            ws_total: AtomicU64::new(0),
            ws_logins: AtomicU64::new(0),
            ws_subscribe_msgs: AtomicU64::new(0),
            ws_pings: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/v2/ws/private", get(ws_v2))
            .route("/v3/ws/private", get(ws_v3))
            .fallback(rest)
            .with_state(s.clone());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("standin-bitget-private".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("stand-in runtime");
                rt.block_on(async move {
                    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    addr_tx.send(l.local_addr().unwrap()).unwrap();
                    tokio::select! {
                        _ = axum::serve(l, router) => {}
                        _ = stop_rx => {}
                    }
                });
            })
            .expect("stand-in thread");
        let addr = addr_rx.recv().expect("stand-in bound");
        PrivateStandIn {
            s,
            addr,
            stop: Some(stop_tx),
        }
    }

    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn ws_url_v2(&self) -> String {
        format!("ws://{}/v2/ws/private", self.addr)
    }
    pub fn ws_url_v3(&self) -> String {
        format!("ws://{}/v3/ws/private", self.addr)
    }
    pub fn config(&self) -> &PrivateConfig {
        &self.s.cfg
    }

    pub fn inject(&self, f: PrivateFault) {
        let mut a = self.s.acct.lock().unwrap();
        match f {
            PrivateFault::DropWs => {
                let _ = self.s.drops.send(());
            }
            PrivateFault::FailTrigger { count } => a.fail_triggers += count,
            PrivateFault::PartialFill { count, fraction } => {
                a.partial = (count > 0).then_some((count, fraction.clamp(0.0, 1.0)));
            }
            f => a.faults.push(f),
        }
    }
    /// The server clock runs `ms` ahead of the wall clock (negative: behind).
    pub fn set_skew_ms(&self, ms: i64) {
        self.s.acct.lock().unwrap().skew_ms = ms;
    }
    pub fn set_account_mode(&self, m: AccountMode) {
        self.s.acct.lock().unwrap().mode = m;
    }

    /// Moves the last (= mark) price of `symbol` continuously from the last price to `price`
    /// (a one-point move; the first price of a symbol is a jump): resting limits and position
    /// TP/SL on the way fire in the order the price reaches them, each at its own price
    /// (the rules of [`PrivateStandIn::play_candle`]).
    pub fn push_price(&self, symbol: &str, price: f64) {
        let pushes = {
            let mut a = self.s.acct.lock().unwrap();
            let pts = match a.prices.get(symbol) {
                Some(&last) => vec![last, price],
                None => vec![price],
            };
            walk(&self.s, &mut a, symbol, &pts);
            std::mem::take(&mut a.pushes)
        };
        for p in pushes {
            let _ = self.s.events.send(p);
        }
    }

    /// Sets the last (= mark) price of `symbol` without walking to it: nothing fires (the price
    /// a market order placed now executes at; a test harness's "next candle's open").
    pub fn set_price_silently(&self, symbol: &str, price: f64) {
        let mut a = self.s.acct.lock().unwrap();
        a.prices.insert(symbol.to_string(), price);
    }

    /// Replays one candle the way the backtest engine walks it (`walk_path`, docs/BACKTEST.md):
    /// the price jumps to `open` (whatever the jump passed fires **at the open**, gap rule),
    /// then moves O → X1 → X2 → C (X1 = low, X2 = high when close ≥ open, else X1 = high,
    /// X2 = low). On each leg triggers fire nearest first, each at its own price: limits at
    /// their limit (maker), position stop-loss / take-profit as market executions at the
    /// trigger × (1 ∓ slippage) (taker). Ties: stop-loss, take-profit, then limits in creation
    /// order; after every fire everything is evaluated again. The last price ends at `close`.
    pub fn play_candle(&self, symbol: &str, open: f64, high: f64, low: f64, close: f64) {
        let (x1, x2) = if close >= open {
            (low, high)
        } else {
            (high, low)
        };
        let pushes = {
            let mut a = self.s.acct.lock().unwrap();
            walk(&self.s, &mut a, symbol, &[open, x1, x2, close]);
            std::mem::take(&mut a.pushes)
        };
        for p in pushes {
            let _ = self.s.events.send(p);
        }
    }

    /// A funding settlement at `time_ms`: the open position of `symbol` pays
    /// `qty × last price × rate` (a long pays a positive rate, a short receives it; the entry
    /// price stands in when there is no last price). The balance moves and a bill is recorded
    /// (v2 `account/bill` `contract_settle_fee`, v3 `financial-records`
    /// `CONTRACT_MAIN_SETTLE_FEE_USER_IN/OUT`). Returns the payment (positive = paid).
    pub fn settle_funding(&self, symbol: &str, rate: f64, time_ms: i64) -> f64 {
        let mut a = self.s.acct.lock().unwrap();
        let Some(p) = a.positions.get(symbol).cloned() else {
            return 0.0;
        };
        let px = a.prices.get(symbol).copied().unwrap_or(p.entry);
        let pay = p.net * px * rate;
        if pay == 0.0 {
            return 0.0;
        }
        a.balance -= pay;
        let id = next_id(&mut a);
        let balance = a.balance;
        a.bills.push(SBill {
            id,
            symbol: symbol.to_string(),
            amount: -pay,
            balance,
            time: time_ms,
        });
        pay
    }

    /// The open positions (one per symbol, one-way).
    pub fn open_positions(&self) -> Vec<SPos> {
        let mut v: Vec<SPos> = self
            .s
            .acct
            .lock()
            .unwrap()
            .positions
            .values()
            .cloned()
            .collect();
        v.sort_by(|x, y| x.symbol.cmp(&y.symbol));
        v
    }
    /// The last (= mark) price of `symbol`.
    pub fn last_price(&self, symbol: &str) -> Option<f64> {
        self.s.acct.lock().unwrap().prices.get(symbol).copied()
    }
    /// The funding bills recorded so far, oldest first.
    pub fn bills(&self) -> Vec<SBill> {
        self.s.acct.lock().unwrap().bills.clone()
    }

    pub fn balance(&self) -> f64 {
        self.s.acct.lock().unwrap().balance
    }
    /// Signed net position (long > 0).
    pub fn position(&self, symbol: &str) -> f64 {
        self.s
            .acct
            .lock()
            .unwrap()
            .positions
            .get(symbol)
            .map_or(0.0, |p| p.net)
    }
    pub fn orders(&self) -> Vec<SOrder> {
        self.s.acct.lock().unwrap().orders.clone()
    }
    pub fn plans(&self) -> Vec<SPlan> {
        self.s.acct.lock().unwrap().plans.clone()
    }
    pub fn fills(&self) -> Vec<SFill> {
        self.s.acct.lock().unwrap().fills.clone()
    }
    /// How many orders were ever created with this clientOid.
    pub fn created_with_client_oid(&self, oid: &str) -> u32 {
        *self.s.acct.lock().unwrap().created.get(oid).unwrap_or(&0)
    }
    /// The leverage stored for (symbol, margin mode).
    pub fn leverage(&self, symbol: &str, margin_mode: &str) -> Option<u32> {
        self.s
            .acct
            .lock()
            .unwrap()
            .leverage
            .get(&(symbol.to_string(), margin_mode.to_string()))
            .copied()
    }
    pub fn requests(&self) -> Vec<PrivRequest> {
        self.s.log.lock().unwrap().clone()
    }
    pub fn clear_requests(&self) {
        self.s.log.lock().unwrap().clear();
    }
    /// The most requests to `path` that arrived within any rolling second.
    pub fn max_per_second(&self, path: &str) -> usize {
        let t: Vec<Instant> = self
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.at)
            .collect();
        let mut best = 0;
        for i in 0..t.len() {
            let n = t[i..]
                .iter()
                .take_while(|x| x.duration_since(t[i]) < Duration::from_secs(1))
                .count();
            best = best.max(n);
        }
        best
    }
    pub fn ws_connections_total(&self) -> u64 {
        self.s.ws_total.load(Ordering::SeqCst)
    }
    pub fn ws_logins(&self) -> u64 {
        self.s.ws_logins.load(Ordering::SeqCst)
    }
    pub fn ws_subscribe_messages(&self) -> u64 {
        self.s.ws_subscribe_msgs.load(Ordering::SeqCst)
    }
    pub fn ws_pings(&self) -> u64 {
        self.s.ws_pings.load(Ordering::SeqCst)
    }
    /// Injected faults ([`PrivateFault::Http`], [`PrivateFault::LoseReply`]) that fired so far.
    pub fn injected_faults(&self) -> u64 {
        self.s.acct.lock().unwrap().injected
    }
}

// --- formatting -----------------------------------------------------------------------------

fn fmt(x: f64, places: u32) -> String {
    let s = format!("{:.*}", places as usize, x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
fn money(x: f64) -> String {
    fmt(x, 8)
}

fn is_multiple(x: f64, step: f64) -> bool {
    let n = (x / step).round();
    (n * step - x).abs() <= step * 1e-7
}

fn reply(status: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn ok_env(data: Value) -> Value {
    json!({"code": "00000", "msg": "success", "requestTime": now_ms(), "data": data})
}

fn err_env(code: &str, msg: &str) -> Value {
    json!({"code": code, "msg": msg, "requestTime": now_ms(), "data": null})
}

type Res = Result<Value, (String, String)>;

fn e(code: &str, msg: impl Into<String>) -> (String, String) {
    (code.to_string(), msg.into())
}

// --- REST -----------------------------------------------------------------------------------

fn verify(
    s: &Shared,
    a: &Acct,
    method: &Method,
    uri: &Uri,
    h: &HeaderMap,
    body: &str,
) -> Result<(), (String, String)> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let key = get("ACCESS-KEY").ok_or_else(|| e("40001", "ACCESS_KEY cannot be empty"))?;
    let sig = get("ACCESS-SIGN").ok_or_else(|| e("40002", "ACCESS_SIGN cannot be empty"))?;
    let ts =
        get("ACCESS-TIMESTAMP").ok_or_else(|| e("40003", "ACCESS_TIMESTAMP cannot be empty"))?;
    let pass =
        get("ACCESS-PASSPHRASE").ok_or_else(|| e("40011", "ACCESS_PASSPHRASE cannot be empty"))?;
    if key != s.cfg.api_key {
        return Err(e("40006", "Invalid ACCESS_KEY"));
    }
    let t: i64 = ts
        .parse()
        .ok()
        .filter(|_| ts.len() == 13)
        .ok_or_else(|| e("40005", "Invalid ACCESS_TIMESTAMP"))?;
    if (t - (now_ms() + a.skew_ms)).abs() > s.cfg.timestamp_window_ms {
        return Err(e("40008", "Request timestamp expired"));
    }
    if pass != s.cfg.passphrase {
        return Err(e("40012", "apikey/password is incorrect"));
    }
    // the path and query exactly as received
    let pq = match uri.query() {
        Some(q) if !q.is_empty() => format!("{}?{q}", uri.path()),
        _ => uri.path().to_string(),
    };
    let pre = format!("{t}{}{pq}{body}", method.as_str().to_ascii_uppercase());
    let mut mac = Hmac::<Sha256>::new_from_slice(s.cfg.secret.as_bytes()).unwrap();
    mac.update(pre.as_bytes());
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if want != sig {
        return Err(e("40009", "sign signature error"));
    }
    Ok(())
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    super::parse_query(uri.query().unwrap_or(""))
        .into_iter()
        .map(|(k, v)| (k, v.replace("%3A", ":").replace("%2D", "-")))
        .collect()
}

async fn rest(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    h: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let path = uri.path().to_string();
    let body_s = String::from_utf8_lossy(&body).to_string();
    let (status, env, hold, pushes) = {
        let mut a = s.acct.lock().unwrap();
        let r = handle(&s, &mut a, &method, &uri, &h, &body_s);
        let pushes = std::mem::take(&mut a.pushes);
        (r.0, r.1, r.2, pushes)
    };
    let headers = h
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    s.log.lock().unwrap().push(PrivRequest {
        at: Instant::now(),
        path: path.clone(),
        status,
        code: env["code"].as_str().unwrap_or("").to_string(),
        headers,
        body: body_s,
    });
    for p in pushes {
        let _ = s.events.send(p);
    }
    if hold {
        tokio::time::sleep(Duration::from_millis(s.cfg.lost_reply_hold_ms)).await;
    }
    reply(status, env)
}

/// (HTTP status, envelope, hold the answer)
fn handle(
    s: &Shared,
    a: &mut Acct,
    method: &Method,
    uri: &Uri,
    h: &HeaderMap,
    body: &str,
) -> (u16, Value, bool) {
    let path = uri.path();
    let q = query_map(uri);
    let now = now_ms() + a.skew_ms;
    // rate limit per endpoint, counted before anything else
    if s.cfg.enforce_rate_limits {
        let lim = limit_of(path) as usize;
        let log = a.rate.entry(path.to_string()).or_default();
        let t = Instant::now();
        while log
            .front()
            .is_some_and(|x| t.duration_since(*x) >= Duration::from_secs(1))
        {
            log.pop_front();
        }
        log.push_back(t);
        if log.len() > lim {
            return (429, err_env("429", "Too Many Requests"), false);
        }
    }
    // public
    match path {
        "/api/v2/public/time" => {
            return (200, ok_env(json!({"serverTime": now.to_string()})), false);
        }
        "/api/v2/mix/market/contracts" => return (200, ok_env(contracts_v2(s, &q)), false),
        "/api/v3/market/instruments" => return (200, ok_env(instruments_v3(s, &q)), false),
        _ => {}
    }
    if !(path.starts_with("/api/v2/") || path.starts_with("/api/v3/")) {
        return (404, err_env("40404", "Request URL NOT FOUND"), false);
    }
    // injected faults, before anything is applied
    let mut hold = false;
    if let Some(i) = a.faults.iter().position(|f| match f {
        PrivateFault::Http { path: p, .. } => p.as_deref().is_none_or(|p| p == path),
        PrivateFault::LoseReply { path: p, .. } => p == path,
        PrivateFault::DropWs
        | PrivateFault::FailTrigger { .. }
        | PrivateFault::PartialFill { .. } => false,
    }) {
        let f = a.faults[i].clone();
        a.injected += 1;
        let (left, http) = match f {
            PrivateFault::Http { status, count, .. } => (count - 1, Some(status)),
            PrivateFault::LoseReply { count, .. } => {
                hold = true;
                (count - 1, None)
            }
            PrivateFault::DropWs
            | PrivateFault::FailTrigger { .. }
            | PrivateFault::PartialFill { .. } => (0, None),
        };
        if left == 0 {
            a.faults.remove(i);
        } else {
            match &mut a.faults[i] {
                PrivateFault::Http { count, .. } | PrivateFault::LoseReply { count, .. } => {
                    *count = left
                }
                PrivateFault::DropWs
                | PrivateFault::FailTrigger { .. }
                | PrivateFault::PartialFill { .. } => {}
            }
        }
        if let Some(st) = http {
            return match st {
                429 => (429, err_env("429", "Too Many Requests"), false),
                _ => (st, err_env("45001", "System error"), false),
            };
        }
    }
    if let Err((c, m)) = verify(s, a, method, uri, h, body) {
        return (400, err_env(&c, &m), false);
    }
    let v2 = path.starts_with("/api/v2/");
    match (a.mode, v2) {
        (AccountMode::Uta, true) => {
            return (
                400,
                err_env(
                    "40085",
                    "You are in Unified Account mode, and the Classic Account API is not supported at this time",
                ),
                false,
            );
        }
        (AccountMode::Classic, false) => {
            return (
                400,
                err_env(
                    "40084",
                    "You are in Classic Account mode, and the Unified Account API is not supported at this time",
                ),
                false,
            );
        }
        _ => {}
    }
    let b: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(_) => {
                return (
                    400,
                    err_env("40017", "Parameter verification failed: body is not JSON"),
                    false,
                );
            }
        }
    };
    let r = if v2 {
        route_v2(s, a, path, &q, &b, now)
    } else {
        route_v3(s, a, path, &q, &b, now)
    };
    match r {
        Ok(d) => (200, ok_env(d), hold),
        Err((c, m)) => (if c == "40404" { 404 } else { 400 }, err_env(&c, &m), hold),
    }
}

fn contracts_v2(s: &Shared, q: &HashMap<String, String>) -> Value {
    let rows: Vec<Value> = s.cfg.contracts.iter()
        .filter(|c| q.get("symbol").is_none_or(|x| x == &c.symbol))
        .map(|c| json!({
            "symbol": c.symbol, "baseCoin": c.symbol.trim_end_matches("USDT"), "quoteCoin": "USDT",
            "buyLimitPriceRatio": "0.9", "sellLimitPriceRatio": "0.9", "feeRateUpRatio": "0.1",
            "makerFeeRate": fmt(s.cfg.maker_fee, 6), "takerFeeRate": fmt(s.cfg.taker_fee, 6), "openCostUpRatio": "0.1",
            "supportMarginCoins": ["USDT"], "minTradeNum": fmt(c.min_qty, c.volume_place),
            "priceEndStep": c.price_end_step.to_string(), "volumePlace": c.volume_place.to_string(),
            "pricePlace": c.price_place.to_string(), "sizeMultiplier": fmt(c.lot, c.volume_place),
            "symbolType": "perpetual", "minTradeUSDT": fmt(c.min_notional, 4), "maxSymbolOrderNum": "999999",
            "maxProductOrderNum": "999999", "maxPositionNum": "150", "symbolStatus": "normal", "offTime": "-1",
            "limitOpenTime": "-1", "deliveryTime": "", "deliveryStartTime": "", "launchTime": "", "fundInterval": "8",
            "minLever": "1", "maxLever": c.max_leverage.to_string(), "posLimit": "0.05", "maintainTime": "",
            "maxMarketOrderQty": "220", "maxOrderQty": "1200", "isRwa": "NO"}))
        .collect();
    Value::Array(rows)
}

fn instruments_v3(s: &Shared, q: &HashMap<String, String>) -> Value {
    let rows: Vec<Value> = s.cfg.contracts.iter()
        .filter(|c| q.get("symbol").is_none_or(|x| x == &c.symbol))
        .map(|c| json!({
            "symbol": c.symbol, "category": "USDT-FUTURES", "baseCoin": c.symbol.trim_end_matches("USDT"),
            "quoteCoin": "USDT", "makerFeeRate": fmt(s.cfg.maker_fee, 6), "takerFeeRate": fmt(s.cfg.taker_fee, 6),
            "minOrderQty": fmt(c.min_qty, c.volume_place), "maxOrderQty": "", "pricePrecision": c.price_place.to_string(),
            "quantityPrecision": c.volume_place.to_string(), "priceMultiplier": fmt(c.tick(), c.price_place),
            "quantityMultiplier": fmt(c.lot, c.volume_place), "symbolType": "perpetual",
            "minOrderAmount": fmt(c.min_notional, 4), "maxPositionNum": "50", "status": "online", "fundInterval": "8",
            "minLeverage": "1", "maxLeverage": c.max_leverage.to_string(), "maxMarketOrderQty": "220", "isRwa": "NO"}))
        .collect();
    Value::Array(rows)
}

fn field<'a>(b: &'a Value, k: &str) -> Option<&'a str> {
    b.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn num(b: &Value, k: &str, code: &str) -> Result<f64, (String, String)> {
    field(b, k)
        .ok_or_else(|| e("40019", format!("Parameter {k} cannot be empty")))?
        .parse::<f64>()
        .map_err(|_| e(code, format!("Parameter verification failed {k}")))
}

fn contract<'a>(s: &'a Shared, sym: &str) -> Result<&'a ContractFixture, (String, String)> {
    s.cfg
        .contracts
        .iter()
        .find(|c| c.symbol == sym)
        .ok_or_else(|| e("40034", format!("Parameter {sym} does not exist")))
}

struct NewOrder {
    symbol: String,
    side: String,
    order_type: String,
    qty: f64,
    price: Option<f64>,
    reduce_only: bool,
    post_only: bool,
    client_oid: String,
    margin_mode: Option<String>,
}

fn next_id(a: &mut Acct) -> String {
    a.next_id += 1;
    a.next_id.to_string()
}

/// Validates and creates an order; market orders fill at once.
fn place(
    s: &Shared,
    a: &mut Acct,
    o: NewOrder,
    v3: bool,
    now: i64,
) -> Result<SOrder, (String, String)> {
    let c = contract(s, &o.symbol)?.clone();
    // clientOid
    let oid_ok = if v3 {
        !o.client_oid.is_empty()
            && o.client_oid.len() <= 32
            && o.client_oid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
    } else {
        o.client_oid.len() <= 50
            && o.client_oid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-+_#".contains(&b))
    };
    if !oid_ok {
        return Err(e(
            if v3 { "25209" } else { "40017" },
            "Parameter verification failed clientOid",
        ));
    }
    if !o.client_oid.is_empty() {
        let dup = a.orders.iter().any(|x| {
            x.client_oid == o.client_oid && (!v3 || !matches!(x.status, "filled" | "canceled"))
        });
        if dup {
            return Err(if v3 {
                e("25212", "Duplicate clientOid")
            } else {
                e("40786", "Duplicate clientOid")
            });
        }
    }
    if !matches!(o.side.as_str(), "buy" | "sell") {
        return Err(e("40017", "Parameter verification failed side"));
    }
    if !is_multiple(o.qty, c.lot) || o.qty <= 0.0 {
        return Err(if v3 {
            e("25610", "Quantity precision error")
        } else {
            e(
                "40808",
                format!(
                    "Parameter verification exception size checkBDScale error value={} checkScale={}",
                    o.qty, c.volume_place
                ),
            )
        });
    }
    if o.qty < c.min_qty - 1e-12 {
        return Err(if v3 {
            e(
                "25207",
                format!(
                    "{} trading quantity cannot be less than {} units",
                    o.symbol, c.min_qty
                ),
            )
        } else {
            e(
                "43006",
                "The order quantity is less than the minimum transaction quantity",
            )
        });
    }
    let last = a.prices.get(&o.symbol).copied();
    let px = match o.order_type.as_str() {
        "limit" => {
            let p = o
                .price
                .ok_or_else(|| e("40019", "Parameter price cannot be empty"))?;
            if p <= 0.0 || !is_multiple(p, c.tick()) {
                return Err(if v3 {
                    e(
                        "25244",
                        format!(
                            "Price should be a multiple of {}",
                            fmt(c.tick(), c.price_place)
                        ),
                    )
                } else {
                    e("41103", "param price scale error error")
                });
            }
            p
        }
        "market" => {
            last.ok_or_else(|| e("40762", "The order size is greater than the max open size"))?
        }
        _ => return Err(e("40017", "Parameter verification failed orderType")),
    };
    let pos = a.positions.get(&o.symbol).map_or(0.0, |p| p.net);
    let mut qty = o.qty;
    if o.reduce_only {
        let reduces = (o.side == "sell" && pos > 0.0) || (o.side == "buy" && pos < 0.0);
        if !reduces {
            return Err(if v3 {
                e("25227", "No position available to close")
            } else {
                e("22002", "No position to close")
            });
        }
        qty = qty.min(pos.abs());
    } else {
        if qty * px < c.min_notional - 1e-9 {
            return Err(if v3 {
                e(
                    "25611",
                    "Order quantity must be greater than the minimum order amount",
                )
            } else {
                e(
                    "45110",
                    format!(
                        "less than the minimum amount {} USDT",
                        fmt(c.min_notional, 2)
                    ),
                )
            });
        }
        let mm = o.margin_mode.clone().unwrap_or_else(|| "crossed".into());
        let lev = *a.leverage.get(&(o.symbol.clone(), mm)).unwrap_or(&20) as f64;
        let need = qty * px / lev + qty * px * s.cfg.taker_fee;
        if need > available(a) + 1e-9 {
            return Err(if v3 {
                e("25203", "Insufficient margin")
            } else {
                e("43012", "Insufficient balance")
            });
        }
    }
    let ord = SOrder {
        id: next_id(a),
        client_oid: o.client_oid.clone(),
        symbol: o.symbol.clone(),
        side: o.side.clone(),
        order_type: o.order_type.clone(),
        qty,
        price: if o.order_type == "limit" {
            Some(px)
        } else {
            None
        },
        filled: 0.0,
        avg: 0.0,
        status: "live",
        reduce_only: o.reduce_only,
        post_only: o.post_only,
        fee: 0.0,
        margin_mode: o.margin_mode.clone(),
        ctime: now,
        utime: now,
    };
    *a.created.entry(o.client_oid.clone()).or_insert(0) += 1;
    a.orders.push(ord.clone());
    a.pushes.push(Push::Order(ord.clone()));
    let idx = a.orders.len() - 1;
    if o.order_type == "market" {
        let slip = if o.side == "buy" {
            1.0 + s.cfg.slippage
        } else {
            1.0 - s.cfg.slippage
        };
        fill_order(s, a, idx, px * slip, false, now);
    } else if let Some(l) = last {
        // a marketable limit fills at once (post-only would be refused by the real one)
        let crosses = (o.side == "buy" && l <= px) || (o.side == "sell" && l >= px);
        if crosses && !o.post_only {
            fill_order(s, a, idx, px, false, now);
        }
    }
    Ok(a.orders[idx].clone())
}

/// USDT not tied up in positions and open orders (crossed margin, a simple model).
fn available(a: &Acct) -> f64 {
    let mut used = 0.0;
    for p in a.positions.values() {
        used += p.net.abs() * p.entry / p.leverage.max(1) as f64;
    }
    for o in a
        .orders
        .iter()
        .filter(|o| matches!(o.status, "live" | "partially_filled") && !o.reduce_only)
    {
        if let Some(px) = o.price {
            used += (o.qty - o.filled) * px / 20.0;
        }
    }
    a.balance - used
}

/// Fills what is left of order `idx` at `price` (a limit only a part of it while a
/// [`PrivateFault::PartialFill`] lasts); returns `true` when it is left `partially_filled`.
fn fill_order(s: &Shared, a: &mut Acct, idx: usize, price: f64, maker: bool, now: i64) -> bool {
    let (symbol, side, mut qty, order_id, client_oid, mm) = {
        let o = &a.orders[idx];
        (
            o.symbol.clone(),
            o.side.clone(),
            o.qty - o.filled,
            o.id.clone(),
            o.client_oid.clone(),
            o.margin_mode.clone(),
        )
    };
    if a.orders[idx].order_type == "limit"
        && let Some((left, fraction)) = a.partial
    {
        let lot = s
            .cfg
            .contracts
            .iter()
            .find(|c| c.symbol == symbol)
            .map_or(qty, |c| c.lot);
        let lots = (qty / lot).round();
        let part = (lots * fraction + 1e-9).floor().clamp(1.0, lots.max(1.0));
        qty = (part * lot).min(qty);
        a.partial = (left > 1).then_some((left - 1, fraction));
    }
    let fee = qty
        * price
        * if maker {
            s.cfg.maker_fee
        } else {
            s.cfg.taker_fee
        };
    let signed = if side == "buy" { qty } else { -qty };
    let mm = mm
        .filter(|m| !m.is_empty())
        .or_else(|| a.margin_modes.get(&symbol).cloned())
        .unwrap_or_else(|| "crossed".into());
    let lev = *a.leverage.get(&(symbol.clone(), mm.clone())).unwrap_or(&20);
    let pos = a.positions.entry(symbol.clone()).or_insert(SPos {
        symbol: symbol.clone(),
        net: 0.0,
        entry: 0.0,
        leverage: lev,
        margin_mode: mm.clone(),
        ctime: now,
        utime: now,
    });
    let mut profit = 0.0;
    if pos.net == 0.0 || pos.net.signum() == signed.signum() {
        let n = pos.net + signed;
        pos.entry = (pos.entry * pos.net.abs() + price * qty) / n.abs();
        if pos.net == 0.0 {
            pos.leverage = lev;
            pos.margin_mode = mm.clone();
            pos.ctime = now;
        }
        pos.net = n;
    } else {
        let closed = qty.min(pos.net.abs());
        profit = (price - pos.entry) * closed * pos.net.signum();
        let n = pos.net + signed;
        if n.abs() < 1e-12 {
            pos.net = 0.0;
        } else if n.signum() != pos.net.signum() {
            pos.net = n;
            pos.entry = price;
        } else {
            pos.net = n;
        }
    }
    pos.utime = now;
    let flat = pos.net == 0.0;
    a.balance += profit - fee;
    let o = &mut a.orders[idx];
    o.avg = if o.filled == 0.0 {
        price
    } else {
        (o.avg * o.filled + price * qty) / (o.filled + qty)
    };
    o.filled += qty;
    o.fee += fee;
    let partial = o.qty - o.filled > 1e-12;
    o.status = if partial {
        "partially_filled"
    } else {
        "filled"
    };
    o.utime = now;
    let snap = o.clone();
    let trade_id = next_id(a);
    let f = SFill {
        trade_id,
        order_id,
        client_oid,
        symbol: symbol.clone(),
        side,
        price,
        qty,
        fee,
        profit,
        maker,
        time: now,
    };
    a.fills.push(f.clone());
    a.pushes.push(Push::Order(snap));
    a.pushes.push(Push::Fill(f));
    a.pushes.push(Push::Position(symbol.clone()));
    if flat {
        a.positions.remove(&symbol);
    }
    // position TP/SL go with the position (closed, or flipped to the other side)
    let side_now = a
        .positions
        .get(&symbol)
        .map(|p| if p.net > 0.0 { "long" } else { "short" });
    for p in a
        .plans
        .iter_mut()
        .filter(|p| p.symbol == symbol && p.status == "live")
    {
        if side_now != Some(p.hold.as_str()) {
            p.status = "cancelled";
            p.utime = now;
        }
    }
    partial
}

/// What can fire on the walk.
#[derive(Debug, Clone, Copy)]
enum Trig {
    /// `a.plans[i]`
    Plan(usize),
    /// `a.orders[i]`, a resting limit
    Limit(usize),
}

fn same(x: f64, y: f64) -> bool {
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
}

/// Every armed trigger of `symbol`: (trigger, price, hit when the price falls to it, tie key).
fn triggers(a: &Acct, symbol: &str, paused: &[String]) -> Vec<(Trig, f64, bool, u64)> {
    let mut out = Vec::new();
    let side = a.positions.get(symbol).map(|p| p.net > 0.0);
    for (i, p) in a.plans.iter().enumerate() {
        if p.symbol != symbol || p.status != "live" || side != Some(p.hold == "long") {
            continue;
        }
        let long = p.hold == "long";
        let (down, key) = match p.kind.as_str() {
            "pos_loss" => (long, i as u64),
            "pos_profit" => (!long, (1u64 << 40) | i as u64),
            _ => continue,
        };
        out.push((Trig::Plan(i), p.trigger, down, key));
    }
    for (i, o) in a.orders.iter().enumerate() {
        if o.symbol == symbol
            && o.order_type == "limit"
            && matches!(o.status, "live" | "partially_filled")
            && !paused.contains(&o.id)
            && let Some(px) = o.price
        {
            out.push((Trig::Limit(i), px, o.side == "buy", (2u64 << 40) | i as u64));
        }
    }
    out
}

/// The engine's `next_trigger`: at `p` moving towards `b`, first any trigger already through
/// `p` (fires at `p`, lowest tie key first), else the nearest one in `[p, b]` at its own price.
fn next_trigger(a: &Acct, symbol: &str, p: f64, b: f64, paused: &[String]) -> Option<(Trig, f64)> {
    let ts = triggers(a, symbol, paused);
    let through = ts
        .iter()
        .filter(|(_, px, down, _)| !same(*px, p) && if *down { *px > p } else { *px < p })
        .min_by_key(|t| t.3);
    if let Some(t) = through {
        // the rest of a partly filled limit was resting on the book at its price: it fills
        // there; anything else through the price (a gap) fills at the current price
        let px = match t.0 {
            Trig::Limit(i) if a.orders[i].status == "partially_filled" => t.1,
            _ => p,
        };
        return Some((t.0, px));
    }
    let mut best: Option<(Trig, f64, f64, u64)> = None;
    for (t, px, down, key) in ts {
        let hit = same(px, p)
            || if down {
                b < p && px < p && px >= b
            } else {
                b > p && px > p && px <= b
            };
        if !hit {
            continue;
        }
        let d = if same(px, p) { 0.0 } else { (px - p).abs() };
        if best.is_none_or(|(_, _, bd, bk)| d < bd || (d == bd && key < bk)) {
            best = Some((t, px, d, key));
        }
    }
    best.map(|(t, px, _, _)| (t, px))
}

/// Walks the price of `symbol` through `points` (the first one is a jump), firing triggers in
/// the order the price reaches them; the last price ends at the last point.
fn walk(s: &Shared, a: &mut Acct, symbol: &str, points: &[f64]) {
    let Some(&first) = points.first() else {
        return;
    };
    let now = now_ms() + a.skew_ms;
    let mut p = first;
    // a partly filled limit rests until a later move
    let mut paused: Vec<String> = Vec::new();
    for &b in points {
        a.prices.insert(symbol.to_string(), p);
        // bounded: every fire ends a trigger (filled, paused, executed, failed, cancelled)
        for _ in 0..(2 * (a.orders.len() + a.plans.len()) + 8) {
            let Some((t, px)) = next_trigger(a, symbol, p, b, &paused) else {
                break;
            };
            fire(s, a, symbol, t, px, now, &mut paused);
            p = px;
            a.prices.insert(symbol.to_string(), p);
        }
        p = b;
    }
    a.prices.insert(symbol.to_string(), p);
}

fn fire(
    s: &Shared,
    a: &mut Acct,
    symbol: &str,
    t: Trig,
    px: f64,
    now: i64,
    paused: &mut Vec<String>,
) {
    match t {
        Trig::Limit(i) => {
            // a reduce-only order larger than what is left is cut to it; nothing left → cancelled
            let pos = a.positions.get(symbol).map_or(0.0, |p| p.net);
            if a.orders[i].reduce_only {
                let left = a.orders[i].qty - a.orders[i].filled;
                let reduces = (a.orders[i].side == "sell" && pos > 0.0)
                    || (a.orders[i].side == "buy" && pos < 0.0);
                if !reduces {
                    a.orders[i].status = "canceled";
                    a.orders[i].utime = now;
                    let snap = a.orders[i].clone();
                    a.pushes.push(Push::Order(snap));
                    return;
                }
                if left > pos.abs() {
                    a.orders[i].qty = a.orders[i].filled + pos.abs();
                }
            }
            if fill_order(s, a, i, px, true, now) {
                paused.push(a.orders[i].id.clone());
            }
        }
        Trig::Plan(i) => {
            a.plans[i].utime = now;
            if a.fail_triggers > 0 {
                a.fail_triggers -= 1;
                a.plans[i].status = "fail_trigger";
                return;
            }
            a.plans[i].status = "executed";
            let pos = a.positions.get(symbol).map_or(0.0, |p| p.net);
            if pos == 0.0 {
                return;
            }
            let plan_oid = a.plans[i].client_oid.clone();
            let id = next_id(a);
            let ord = SOrder {
                id,
                client_oid: format!("{plan_oid}-x"),
                symbol: symbol.to_string(),
                side: if pos > 0.0 {
                    "sell".into()
                } else {
                    "buy".into()
                },
                order_type: "market".into(),
                qty: pos.abs(),
                price: None,
                filled: 0.0,
                avg: 0.0,
                status: "live",
                reduce_only: true,
                post_only: false,
                fee: 0.0,
                margin_mode: None,
                ctime: now,
                utime: now,
            };
            a.orders.push(ord);
            let n = a.orders.len() - 1;
            // a market execution: sells (a long's exit) slip down, buys up
            let slip = if pos > 0.0 {
                1.0 - s.cfg.slippage
            } else {
                1.0 + s.cfg.slippage
            };
            fill_order(s, a, n, px * slip, false, now);
        }
    }
}

fn new_order_v2(b: &Value, item: &Value) -> Result<NewOrder, (String, String)> {
    if item
        .get("tradeSide")
        .is_some_and(|v| !v.is_null() && v != "")
    {
        return Err(e(
            "40774",
            "The order type for unilateral position must also be the unilateral position type.",
        ));
    }
    let ot = field(item, "orderType").unwrap_or("").to_ascii_lowercase();
    Ok(NewOrder {
        symbol: field(b, "symbol")
            .ok_or_else(|| e("40019", "Parameter symbol cannot be empty"))?
            .to_string(),
        side: field(item, "side").unwrap_or("").to_ascii_lowercase(),
        qty: num(item, "size", "40808")?,
        price: if ot == "limit" {
            Some(num(item, "price", "41103")?)
        } else {
            None
        },
        order_type: ot,
        reduce_only: field(item, "reduceOnly").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        post_only: field(item, "force") == Some("post_only"),
        client_oid: field(item, "clientOid").unwrap_or("").to_string(),
        margin_mode: field(b, "marginMode").map(str::to_string),
    })
}

fn order_v2(o: &SOrder, status_key: &str) -> Value {
    let mut v = json!({
        "symbol": o.symbol, "size": fmt(o.qty, 8), "orderId": o.id, "clientOid": o.client_oid,
        "baseVolume": fmt(o.filled, 8), "fee": money(-o.fee), "price": o.price.map(|p| fmt(p, 8)).unwrap_or_default(),
        "priceAvg": if o.filled > 0.0 { fmt(o.avg, 8) } else { String::new() }, "side": o.side,
        "force": if o.post_only { "post_only" } else { "gtc" }, "totalProfits": "0", "posSide": "net",
        "marginCoin": "USDT", "quoteVolume": fmt(o.filled * o.avg, 8), "leverage": "20",
        "marginMode": o.margin_mode.clone().unwrap_or_else(|| "crossed".into()), "enterPointSource": "API",
        "tradeSide": if o.reduce_only { "close" } else { "open" }, "posMode": "one_way_mode",
        "orderType": o.order_type, "orderSource": "normal", "presetStopSurplusPrice": "", "presetStopLossPrice": "",
        "reduceOnly": if o.reduce_only { "YES" } else { "NO" }, "cTime": o.ctime.to_string(), "uTime": o.utime.to_string(),
    });
    v[status_key] = json!(o.status);
    v
}

fn order_v3(o: &SOrder) -> Value {
    json!({
        "orderId": o.id, "clientOid": o.client_oid, "category": "USDT-FUTURES", "symbol": o.symbol,
        "orderType": o.order_type, "side": o.side, "price": o.price.map(|p| fmt(p, 8)).unwrap_or_default(),
        "qty": fmt(o.qty, 8), "amount": "0", "cumExecQty": fmt(o.filled, 8), "cumExecValue": fmt(o.filled * o.avg, 8),
        "avgPrice": if o.filled > 0.0 { fmt(o.avg, 8) } else { "0".into() }, "timeInForce": if o.post_only { "post_only" } else { "gtc" },
        "orderStatus": if o.status == "canceled" { "cancelled" } else { o.status }, "posSide": "net", "holdMode": "one_way_mode",
        "reduceOnly": if o.reduce_only { "YES" } else { "NO" }, "marginMode": o.margin_mode.clone().unwrap_or_default(),
        "feeDetail": [{"feeCoin": "USDT", "fee": money(o.fee)}], "createdTime": o.ctime.to_string(),
        "updatedTime": o.utime.to_string(), "cancelReason": "", "execType": "normal", "stpMode": "none",
    })
}

fn fill_v2(f: &SFill) -> Value {
    json!({"tradeId": f.trade_id, "symbol": f.symbol, "orderId": f.order_id, "clientOid": f.client_oid, "price": fmt(f.price, 8),
        "baseVolume": fmt(f.qty, 8), "feeDetail": [{"deduction": "no", "feeCoin": "USDT", "totalDeductionFee": null, "totalFee": money(-f.fee)}],
        "side": f.side, "quoteVolume": fmt(f.qty * f.price, 8), "profit": money(f.profit), "enterPointSource": "api",
        "tradeSide": if f.profit != 0.0 { "close" } else { "open" }, "posMode": "one_way_mode",
        "tradeScope": if f.maker { "maker" } else { "taker" }, "cTime": f.time.to_string()})
}

fn fill_v3(f: &SFill, ws: bool) -> Value {
    let mut v = json!({"execId": f.trade_id, "orderId": f.order_id, "clientOid": f.client_oid, "category": "USDT-FUTURES",
        "symbol": f.symbol, "orderType": "limit", "side": f.side, "execPrice": fmt(f.price, 8), "execQty": fmt(f.qty, 8),
        "execValue": fmt(f.qty * f.price, 8), "tradeScope": if f.maker { "maker" } else { "taker" },
        "tradeSide": if f.profit != 0.0 { "close" } else { "open" }, "feeDetail": [{"feeCoin": "USDT", "fee": money(f.fee)}],
        "updatedTime": f.time.to_string(), "execPnl": money(f.profit)});
    if ws {
        v["execTime"] = json!(f.time.to_string());
    } else {
        v["createdTime"] = json!(f.time.to_string());
    }
    v
}

fn pos_v2(p: &SPos, price: f64, ws: bool) -> Value {
    let hold = if p.net > 0.0 { "long" } else { "short" };
    let upl = (price - p.entry) * p.net;
    let mut v = json!({"marginCoin": "USDT", "symbol": p.symbol, "holdSide": hold, "openDelegateSize": "0",
        "marginSize": money(p.net.abs() * p.entry / p.leverage as f64), "available": fmt(p.net.abs(), 8), "locked": "0",
        "total": fmt(p.net.abs(), 8), "leverage": p.leverage.to_string(), "achievedProfits": "0",
        "openPriceAvg": fmt(p.entry, 8), "marginMode": p.margin_mode, "posMode": "one_way_mode", "unrealizedPL": money(upl),
        "liquidationPrice": "0", "keepMarginRate": "0.004", "markPrice": fmt(price, 8), "breakEvenPrice": fmt(p.entry, 8),
        "totalFee": "", "deductedFee": "0", "marginRatio": "0.01", "assetMode": "single",
        "cTime": p.ctime.to_string(), "uTime": p.utime.to_string()});
    if ws {
        // on the WS channel: instId, and leverage as a JSON number
        let o = v.as_object_mut().unwrap();
        let sym = o.remove("symbol").unwrap();
        o.insert("instId".into(), sym);
        o.insert("leverage".into(), json!(p.leverage));
        o.insert("posId".into(), json!("1244249778959294501"));
    }
    v
}

fn pos_v3(p: &SPos, price: f64, ws: bool) -> Value {
    let side = if p.net > 0.0 { "long" } else { "short" };
    let mut v = json!({"category": "USDT-FUTURES", "symbol": p.symbol, "marginCoin": "USDT", "holdMode": "one_way_mode",
        "posSide": side, "marginMode": p.margin_mode, "positionBalance": money(p.net.abs() * p.entry / p.leverage as f64),
        "available": fmt(p.net.abs(), 8), "frozen": "0", "total": fmt(p.net.abs(), 8), "leverage": p.leverage.to_string(),
        "curRealisedPnl": "0", "avgPrice": fmt(p.entry, 8), "positionStatus": "normal",
        "unrealisedPnl": money((price - p.entry) * p.net), "liquidationPrice": "0", "mmr": "0.004", "markPrice": fmt(price, 8),
        "breakEvenPrice": fmt(p.entry, 8), "totalFunding": "0", "openFeeTotal": "0", "closeFeeTotal": "0",
        "createdTime": p.ctime.to_string(), "updatedTime": p.utime.to_string()});
    if ws {
        let o = v.as_object_mut().unwrap();
        let t = o.remove("total").unwrap();
        o.insert("size".into(), t);
    }
    v
}

fn plan_v2(p: &SPlan) -> Value {
    json!({"planType": p.kind, "symbol": p.symbol, "size": "", "orderId": p.id, "clientOid": p.client_oid, "price": "",
        "executePrice": "0", "callbackRatio": "", "triggerPrice": fmt(p.trigger, 8), "triggerType": "mark_price",
        "planStatus": p.status, "side": if p.hold == "long" { "buy" } else { "sell" }, "posSide": p.hold, "marginCoin": "USDT",
        "marginMode": "crossed", "enterPointSource": "api", "tradeSide": "close", "posMode": "one_way_mode",
        "orderType": "market", "orderSource": "normal", "cTime": p.ctime.to_string(),
        "uTime": if p.status == "live" { String::new() } else { p.utime.to_string() },
        "stopSurplusTriggerPrice": "", "stopSurplusExecutePrice": "", "stopSurplusTriggerType": "fill_price",
        "stopLossTriggerPrice": "", "stopLossExecutePrice": "", "stopLossTriggerType": "fill_price"})
}

fn plan_v3(p: &SPlan) -> Value {
    let sl = p.kind == "pos_loss";
    json!({"orderId": p.id, "clientOid": p.client_oid, "symbol": p.symbol, "category": "USDT-FUTURES", "qty": "",
        "posSide": p.hold, "status": match p.status { "live" => "pending", "executed" => "success", "fail_trigger" => "failed", x => x },
        "triggerType": if sl { "stopLoss" } else { "takeProfit" }, "tpTriggerBy": "mark", "slTriggerBy": "mark",
        "takeProfit": if sl { String::new() } else { fmt(p.trigger, 8) }, "stopLoss": if sl { fmt(p.trigger, 8) } else { String::new() },
        "tpOrderType": "market", "slOrderType": "market", "tpLimitPrice": "", "slLimitPrice": "",
        "createdTime": p.ctime.to_string(), "updatedTime": p.utime.to_string()})
}

/// Final plans, newest first.
fn plan_history<'a>(a: &'a Acct, sym: Option<&String>) -> Vec<&'a SPlan> {
    let mut l: Vec<&SPlan> = a
        .plans
        .iter()
        .filter(|p| p.status != "live" && sym.is_none_or(|s| s == &p.symbol))
        .collect();
    l.sort_by(|x, y| y.utime.cmp(&x.utime).then(y.id.cmp(&x.id)));
    l
}

/// Funding bills in `[startTime, endTime]` (at most 30 days apart) with an id below `before`,
/// newest first, at most `limit` (default 20, at most 100).
fn bills_page<'a>(
    a: &'a Acct,
    q: &HashMap<String, String>,
    before: Option<&String>,
) -> Result<(Vec<&'a SBill>, usize), (String, String)> {
    let int = |k: &str| -> Result<Option<i64>, (String, String)> {
        q.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| e("40020", format!("Parameter {k} error")))
            })
            .transpose()
    };
    let (start, end) = (int("startTime")?, int("endTime")?);
    if let (Some(st), Some(en)) = (start, end)
        && en - st > 30 * 86_400_000
    {
        return Err(e(
            "40017",
            "Parameter verification failed: startTime and endTime at most 30 days apart",
        ));
    }
    let limit = int("limit")?.unwrap_or(20).clamp(1, 100) as usize;
    let before: Option<u64> = before.and_then(|b| b.parse().ok());
    let mut l: Vec<&SBill> = a
        .bills
        .iter()
        .filter(|b| {
            start.is_none_or(|st| b.time >= st)
                && end.is_none_or(|en| b.time <= en)
                && before.is_none_or(|x| b.id.parse::<u64>().unwrap_or(0) < x)
        })
        .collect();
    l.sort_by(|x, y| {
        y.id.parse::<u64>()
            .unwrap_or(0)
            .cmp(&x.id.parse::<u64>().unwrap_or(0))
    });
    l.truncate(limit);
    Ok((l, limit))
}

fn find_order(a: &Acct, b: &HashMap<String, String>) -> Option<usize> {
    if let Some(id) = b.get("orderId").filter(|s| !s.is_empty()) {
        return a.orders.iter().position(|o| &o.id == id);
    }
    let c = b.get("clientOid")?;
    // the newest with this clientOid
    a.orders.iter().rposition(|o| &o.client_oid == c)
}

fn obj_map(b: &Value) -> HashMap<String, String> {
    b.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn cancel_one(a: &mut Acct, m: &HashMap<String, String>, now: i64) -> Option<SOrder> {
    let i = find_order(a, m)?;
    if !matches!(a.orders[i].status, "live" | "partially_filled") {
        return None;
    }
    a.orders[i].status = "canceled";
    a.orders[i].utime = now;
    let snap = a.orders[i].clone();
    a.pushes.push(Push::Order(snap.clone()));
    Some(snap)
}

fn has_pos_or_orders(a: &Acct, sym: Option<&str>) -> bool {
    a.positions
        .values()
        .any(|p| sym.is_none_or(|s| s == p.symbol))
        || a.orders.iter().any(|o| {
            matches!(o.status, "live" | "partially_filled") && sym.is_none_or(|s| s == o.symbol)
        })
}

fn set_lev(
    s: &Shared,
    a: &mut Acct,
    sym: &str,
    lev: &str,
    mm: &str,
    v3: bool,
) -> Result<u32, (String, String)> {
    let c = contract(s, sym)?;
    let l: u32 = lev
        .parse()
        .map_err(|_| e("40017", "Parameter verification failed leverage"))?;
    if l < 1 || l > c.max_leverage {
        return Err(if v3 {
            e("25223", "Exceeds Max. leverage")
        } else {
            e("40797", "Exceeded the maximum settable leverage")
        });
    }
    a.leverage.insert((sym.to_string(), mm.to_string()), l);
    Ok(l)
}

fn close_all(
    s: &Shared,
    a: &mut Acct,
    sym: Option<&str>,
    now: i64,
) -> Vec<(String, String, String)> {
    let syms: Vec<String> = a
        .positions
        .keys()
        .filter(|k| sym.is_none_or(|s| s == k.as_str()))
        .cloned()
        .collect();
    let mut out = Vec::new();
    for symbol in syms {
        let pos = a.positions[&symbol].net;
        let price = a
            .prices
            .get(&symbol)
            .copied()
            .unwrap_or(a.positions[&symbol].entry);
        let id = next_id(a);
        let oid = format!("close-{id}");
        a.orders.push(SOrder {
            id: id.clone(),
            client_oid: oid.clone(),
            symbol: symbol.clone(),
            side: if pos > 0.0 {
                "sell".into()
            } else {
                "buy".into()
            },
            order_type: "market".into(),
            qty: pos.abs(),
            price: None,
            filled: 0.0,
            avg: 0.0,
            status: "live",
            reduce_only: true,
            post_only: false,
            fee: 0.0,
            margin_mode: None,
            ctime: now,
            utime: now,
        });
        let n = a.orders.len() - 1;
        let slip = if pos > 0.0 {
            1.0 - s.cfg.slippage
        } else {
            1.0 + s.cfg.slippage
        };
        fill_order(s, a, n, price * slip, false, now);
        out.push((id, oid, symbol));
    }
    out
}

fn route_v2(
    s: &Shared,
    a: &mut Acct,
    path: &str,
    q: &HashMap<String, String>,
    b: &Value,
    now: i64,
) -> Res {
    let bm = obj_map(b);
    match path {
        "/api/v2/mix/account/accounts" | "/api/v2/mix/account/account" => {
            let av = available(a);
            let row = json!({"marginCoin": "USDT", "locked": "0", "available": money(av), "crossedMaxAvailable": money(av),
                "isolatedMaxAvailable": money(av), "maxTransferOut": money(av), "accountEquity": money(a.balance),
                "usdtEquity": money(a.balance), "btcEquity": "0", "crossedRiskRate": "0", "unrealizedPL": "0", "coupon": "0",
                "unionTotalMagin": money(a.balance), "unionAvailable": money(av), "unionMm": "0", "assetMode": "single",
                "posMode": if a.hedge { "hedge_mode" } else { "one_way_mode" }, "marginMode": "crossed"});
            Ok(if path.ends_with("accounts") {
                json!([row])
            } else {
                row
            })
        }
        "/api/v2/mix/account/set-leverage" => {
            let sym = bm.get("symbol").cloned().unwrap_or_default();
            // v2 leverage belongs to the symbol's margin mode setting
            let mm = a
                .margin_modes
                .get(&sym)
                .cloned()
                .unwrap_or_else(|| "crossed".into());
            let l = set_lev(
                s,
                a,
                &sym,
                bm.get("leverage").map(String::as_str).unwrap_or(""),
                &mm,
                false,
            )?;
            Ok(
                json!({"symbol": sym, "marginCoin": "USDT", "longLeverage": l.to_string(), "shortLeverage": l.to_string(),
                      "crossMarginLeverage": l.to_string(), "marginMode": "crossed"}),
            )
        }
        "/api/v2/mix/account/set-margin-mode" => {
            let sym = bm.get("symbol").cloned().unwrap_or_default();
            let want = bm
                .get("marginMode")
                .cloned()
                .unwrap_or_else(|| "crossed".into());
            let cur = a
                .margin_modes
                .get(&sym)
                .cloned()
                .unwrap_or_else(|| "crossed".into());
            if want != cur && has_pos_or_orders(a, Some(&sym)) {
                return Err(e(
                    "45117",
                    "Currently holding positions or orders, the margin mode cannot be adjusted",
                ));
            }
            a.margin_modes.insert(sym.clone(), want);
            Ok(
                json!({"symbol": sym, "marginCoin": "USDT", "longLeverage": "20", "shortLeverage": "20", "marginMode": bm.get("marginMode")}),
            )
        }
        "/api/v2/mix/account/set-position-mode" => {
            let hedge = bm.get("posMode").map(String::as_str) == Some("hedge_mode");
            if hedge != a.hedge && has_pos_or_orders(a, None) {
                return Err(e(
                    "40920",
                    "Position or order exists, the position mode cannot be switched",
                ));
            }
            a.hedge = hedge;
            Ok(json!({"posMode": bm.get("posMode")}))
        }
        "/api/v2/mix/order/place-order" => {
            if a.hedge && b.get("tradeSide").is_none() {
                return Err(e(
                    "40774",
                    "The order type for unilateral position must also be the unilateral position type.",
                ));
            }
            let o = new_order_v2(b, b)?;
            let r = place(s, a, o, false, now)?;
            Ok(json!({"clientOid": r.client_oid, "orderId": r.id}))
        }
        "/api/v2/mix/order/batch-place-order" => {
            let items = b["orderList"].as_array().cloned().unwrap_or_default();
            if items.len() > 50 {
                return Err(e("40017", "Parameter verification failed orderList max 50"));
            }
            let (mut ok, mut bad) = (Vec::new(), Vec::new());
            for it in &items {
                let cid = field(it, "clientOid").unwrap_or("").to_string();
                match new_order_v2(b, it).and_then(|o| place(s, a, o, false, now)) {
                    Ok(r) => ok.push(json!({"orderId": r.id, "clientOid": r.client_oid})),
                    Err((c, m)) => bad.push(
                        json!({"orderId": "", "clientOid": cid, "errorMsg": m, "errorCode": c}),
                    ),
                }
            }
            Ok(json!({"successList": ok, "failureList": bad}))
        }
        "/api/v2/mix/order/cancel-order" => match cancel_one(a, &bm, now) {
            Some(o) => Ok(json!({"orderId": o.id, "clientOid": o.client_oid})),
            None => Err(e("43001", "The order does not exist")),
        },
        "/api/v2/mix/order/cancel-all-orders" => {
            let ids: Vec<HashMap<String, String>> = a
                .orders
                .iter()
                .filter(|o| {
                    matches!(o.status, "live" | "partially_filled")
                        && bm.get("symbol").is_none_or(|s| s == &o.symbol)
                })
                .map(|o| HashMap::from([("orderId".to_string(), o.id.clone())]))
                .collect();
            if ids.is_empty() {
                return Err(e("22001", "No order to cancel"));
            }
            let list: Vec<Value> = ids
                .iter()
                .filter_map(|m| cancel_one(a, m, now))
                .map(|o| json!({"orderId": o.id, "clientOid": o.client_oid}))
                .collect();
            Ok(json!({"successList": list, "failureList": []}))
        }
        "/api/v2/mix/order/detail" => match find_order(a, q) {
            Some(i) => Ok(order_v2(&a.orders[i], "state")),
            None => Err(e(
                "40109",
                "The data of the order cannot be found, please confirm the order number",
            )),
        },
        "/api/v2/mix/order/orders-pending" => {
            let l: Vec<Value> = a
                .orders
                .iter()
                .filter(|o| {
                    matches!(o.status, "live" | "partially_filled")
                        && q.get("symbol").is_none_or(|s| s == &o.symbol)
                })
                .map(|o| order_v2(o, "status"))
                .collect();
            Ok(
                json!({"entrustedList": if l.is_empty() { Value::Null } else { json!(l) }, "endId": null}),
            )
        }
        "/api/v2/mix/order/fills" => {
            let l: Vec<Value> = a
                .fills
                .iter()
                .rev()
                .filter(|f| {
                    q.get("symbol").is_none_or(|s| s == &f.symbol)
                        && q.get("orderId").is_none_or(|o| o == &f.order_id)
                })
                .map(fill_v2)
                .collect();
            Ok(
                json!({"fillList": if l.is_empty() { Value::Null } else { json!(l) }, "endId": null}),
            )
        }
        "/api/v2/mix/position/all-position" => {
            let l: Vec<Value> = a
                .positions
                .values()
                .map(|p| pos_v2(p, *a.prices.get(&p.symbol).unwrap_or(&p.entry), false))
                .collect();
            Ok(json!(l))
        }
        "/api/v2/mix/position/single-position" => {
            let sym = q
                .get("symbol")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| e("40019", "Parameter symbol cannot be empty"))?;
            if q.get("marginCoin").is_none_or(|c| c.is_empty()) {
                return Err(e("40019", "Parameter marginCoin cannot be empty"));
            }
            let l: Vec<Value> = a
                .positions
                .values()
                .filter(|p| &p.symbol == sym)
                .map(|p| pos_v2(p, *a.prices.get(&p.symbol).unwrap_or(&p.entry), false))
                .collect();
            Ok(json!(l))
        }
        "/api/v2/mix/order/place-tpsl-order" => {
            let sym = bm.get("symbol").cloned().unwrap_or_default();
            let c = contract(s, &sym)?.clone();
            let kind = bm.get("planType").cloned().unwrap_or_default();
            if !matches!(kind.as_str(), "pos_loss" | "pos_profit") {
                return Err(e("40017", "Parameter verification failed planType"));
            }
            // one-way: holdSide buy = long position, sell = short
            let hold = match bm.get("holdSide").map(String::as_str) {
                Some("buy") | Some("long") => "long",
                Some("sell") | Some("short") => "short",
                _ => return Err(e("40019", "Parameter holdSide cannot be empty")),
            };
            let pos = a.positions.get(&sym).map_or(0.0, |p| p.net);
            if pos == 0.0 || (pos > 0.0) != (hold == "long") {
                return Err(e(
                    "40891",
                    "Insufficient position, can not set take profit or stop loss",
                ));
            }
            let trig = num(b, "triggerPrice", "41103")?;
            if !is_multiple(trig, c.tick()) {
                return Err(e("41103", "param price scale error error"));
            }
            let cid = bm.get("clientOid").cloned().unwrap_or_default();
            if !cid.is_empty() && a.plans.iter().any(|p| p.client_oid == cid) {
                return Err(e("40786", "Duplicate clientOid"));
            }
            let id = next_id(a);
            *a.created.entry(cid.clone()).or_insert(0) += 1;
            a.plans.push(SPlan {
                id: id.clone(),
                client_oid: cid.clone(),
                symbol: sym,
                kind,
                hold: hold.into(),
                trigger: trig,
                status: "live",
                ctime: now,
                utime: now,
            });
            Ok(json!({"orderId": id, "clientOid": cid}))
        }
        "/api/v2/mix/order/orders-plan-pending" => {
            if q.get("planType").map(String::as_str) != Some("profit_loss") {
                // normal_plan / track_plan: none of ours
                return Ok(json!({"entrustedList": null, "endId": null}));
            }
            let l: Vec<Value> = a
                .plans
                .iter()
                .filter(|p| p.status == "live" && q.get("symbol").is_none_or(|s| s == &p.symbol))
                .map(plan_v2)
                .collect();
            Ok(
                json!({"entrustedList": if l.is_empty() { Value::Null } else { json!(l) }, "endId": null}),
            )
        }
        "/api/v2/mix/order/orders-plan-history" => {
            if q.get("planType").map(String::as_str) != Some("profit_loss") {
                return Ok(json!({"entrustedList": null, "endId": null}));
            }
            let l: Vec<Value> = plan_history(a, q.get("symbol"))
                .into_iter()
                .map(plan_v2)
                .collect();
            let end = l
                .last()
                .map(|v| v["orderId"].clone())
                .unwrap_or(Value::Null);
            Ok(
                json!({"entrustedList": if l.is_empty() { Value::Null } else { json!(l) }, "endId": end}),
            )
        }
        "/api/v2/mix/account/bill" => {
            let bt = q.get("businessType").filter(|b| !b.is_empty());
            let (l, _) = bills_page(a, q, q.get("idLessThan"))?;
            let rows: Vec<Value> = l
                .into_iter()
                .filter(|_| bt.is_none_or(|b| b == "contract_settle_fee"))
                .map(|b| json!({"billId": b.id, "symbol": b.symbol, "amount": money(b.amount), "fee": "0",
                    "feeByCoupon": "", "businessType": "contract_settle_fee", "coin": "USDT",
                    "balance": money(b.balance), "cTime": b.time.to_string()}))
                .collect();
            let end = rows
                .last()
                .map(|v| v["billId"].clone())
                .unwrap_or(Value::Null);
            Ok(json!({"bills": rows, "endId": end}))
        }
        "/api/v2/mix/order/cancel-plan-order" => {
            let pt = bm
                .get("planType")
                .cloned()
                .unwrap_or_else(|| "normal_plan".into());
            let (mut ok, mut bad) = (Vec::new(), Vec::new());
            for it in b["orderIdList"].as_array().cloned().unwrap_or_default() {
                let m = obj_map(&it);
                let hit = a.plans.iter_mut().find(|p| {
                    p.status == "live"
                        && p.kind == pt
                        && (m.get("orderId") == Some(&p.id)
                            || m.get("clientOid") == Some(&p.client_oid))
                });
                match hit {
                    Some(p) => {
                        p.status = "cancelled";
                        p.utime = now;
                        ok.push(json!({"orderId": p.id, "clientOid": p.client_oid}));
                    }
                    None => bad.push(json!({"orderId": m.get("orderId"), "clientOid": m.get("clientOid"), "errorMsg": "Plan order does not exist"})),
                }
            }
            Ok(json!({"successList": ok, "failureList": bad}))
        }
        "/api/v2/mix/order/close-positions" => {
            let l = close_all(s, a, bm.get("symbol").map(String::as_str), now);
            if l.is_empty() {
                return Err(e("22002", "No position to close"));
            }
            Ok(
                json!({"successList": l.iter().map(|(i, c, s)| json!({"orderId": i, "clientOid": c, "symbol": s})).collect::<Vec<_>>(), "failureList": []}),
            )
        }
        _ => Err(e("40404", "Request URL NOT FOUND")),
    }
}

fn new_order_v3(it: &Value) -> Result<NewOrder, (String, String)> {
    if it.get("holdSide").is_some() || it.get("tradeSide").is_some() || it.get("posSide").is_some()
    {
        return Err(e("25236", "Incorrect position open type"));
    }
    let ot = field(it, "orderType").unwrap_or("").to_ascii_lowercase();
    Ok(NewOrder {
        symbol: field(it, "symbol")
            .ok_or_else(|| e("40019", "Parameter symbol cannot be empty"))?
            .to_string(),
        side: field(it, "side").unwrap_or("").to_ascii_lowercase(),
        qty: num(it, "qty", "25610")?,
        price: if ot == "limit" {
            Some(num(it, "price", "25244")?)
        } else {
            None
        },
        order_type: ot,
        reduce_only: field(it, "reduceOnly").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        post_only: field(it, "timeInForce") == Some("post_only"),
        client_oid: field(it, "clientOid").unwrap_or("").to_string(),
        margin_mode: field(it, "marginMode").map(str::to_string),
    })
}

fn route_v3(
    s: &Shared,
    a: &mut Acct,
    path: &str,
    q: &HashMap<String, String>,
    b: &Value,
    now: i64,
) -> Res {
    let bm = obj_map(b);
    match path {
        "/api/v3/account/settings" => Ok(
            json!({"uid": "1111111111", "accountMode": "unified", "assetMode": "single_asset",
            "accountLevel": "basic", "holdMode": if a.hedge { "hedge_mode" } else { "one_way_mode" }, "stpMode": "none",
            "symbolConfigList": a.leverage.iter().map(|((sy, mm), l)| json!({"category": "USDT-FUTURES", "symbol": sy, "marginMode": mm, "leverage": l.to_string()})).collect::<Vec<_>>(),
            "coinConfigList": []}),
        ),
        "/api/v3/account/assets" => {
            let av = available(a);
            Ok(
                json!({"accountEquity": money(a.balance), "usdtEquity": money(a.balance), "btcEquity": "0", "unrealisedPnl": "0",
                "usdtUnrealisedPnl": "0", "btcUnrealizedPnl": "0", "effEquity": money(a.balance), "mmr": "0", "imr": "0",
                "mgnRatio": "0", "positionMgnRatio": "0", "assets": [{"coin": "USDT", "equity": money(a.balance),
                "usdValue": money(a.balance), "balance": money(a.balance), "available": money(av), "debt": "0", "locked": "0"}]}),
            )
        }
        "/api/v3/account/set-leverage" => {
            let sym = bm.get("symbol").cloned().unwrap_or_default();
            // stored per (symbol, marginMode); without marginMode only the crossed one changes
            let mm = bm
                .get("marginMode")
                .cloned()
                .unwrap_or_else(|| "crossed".into());
            set_lev(
                s,
                a,
                &sym,
                bm.get("leverage").map(String::as_str).unwrap_or(""),
                &mm,
                true,
            )?;
            Ok(json!("success"))
        }
        "/api/v3/account/set-hold-mode" => {
            let hedge = bm.get("holdMode").map(String::as_str) == Some("hedge_mode");
            if hedge != a.hedge && has_pos_or_orders(a, None) {
                return Err(e("25010", "Unsupported position mode switch"));
            }
            a.hedge = hedge;
            Ok(json!("success"))
        }
        "/api/v3/trade/place-order" => {
            let o = new_order_v3(b)?;
            let r = place(s, a, o, true, now)?;
            Ok(json!({"orderId": r.id, "clientOid": r.client_oid}))
        }
        "/api/v3/trade/place-batch" => {
            let items = b
                .as_array()
                .cloned()
                .ok_or_else(|| e("40017", "Parameter verification failed: a JSON array"))?;
            if items.len() > 20 {
                return Err(e(
                    "40017",
                    "Parameter verification failed: at most 20 orders",
                ));
            }
            let out: Vec<Value> = items
                .iter()
                .map(|it| {
                    let cid = field(it, "clientOid").unwrap_or("").to_string();
                    match new_order_v3(it).and_then(|o| place(s, a, o, true, now)) {
                        Ok(r) => json!({"orderId": r.id, "clientOid": r.client_oid}),
                        Err((c, m)) => {
                            json!({"orderId": "", "clientOid": cid, "code": c, "msg": m})
                        }
                    }
                })
                .collect();
            Ok(json!(out))
        }
        "/api/v3/trade/cancel-order" => match cancel_one(a, &bm, now) {
            Some(o) => Ok(json!({"orderId": o.id, "clientOid": o.client_oid})),
            None => Err(e("25204", "Order does not exist")),
        },
        "/api/v3/trade/order-info" => match find_order(a, q) {
            Some(i) => Ok(order_v3(&a.orders[i])),
            None => Err(e("25204", "Order does not exist")),
        },
        "/api/v3/trade/unfilled-orders" => {
            let l: Vec<Value> = a
                .orders
                .iter()
                .filter(|o| {
                    matches!(o.status, "live" | "partially_filled")
                        && q.get("symbol").is_none_or(|s| s == &o.symbol)
                })
                .map(order_v3)
                .collect();
            Ok(json!({"list": l, "cursor": ""}))
        }
        "/api/v3/trade/fills" => {
            let l: Vec<Value> = a
                .fills
                .iter()
                .rev()
                .filter(|f| q.get("orderId").is_none_or(|o| o == &f.order_id))
                .map(|f| fill_v3(f, false))
                .collect();
            Ok(json!({"list": l, "cursor": ""}))
        }
        "/api/v3/position/current-position" => {
            let l: Vec<Value> = a
                .positions
                .values()
                .filter(|p| q.get("symbol").is_none_or(|s| s == &p.symbol))
                .map(|p| pos_v3(p, *a.prices.get(&p.symbol).unwrap_or(&p.entry), false))
                .collect();
            Ok(json!({"list": l}))
        }
        "/api/v3/trade/place-strategy-order" => {
            let sym = bm.get("symbol").cloned().unwrap_or_default();
            let c = contract(s, &sym)?.clone();
            if bm.get("type").map(String::as_str) != Some("tpsl") {
                return Err(e("40017", "Parameter verification failed type"));
            }
            let hold = match bm.get("posSide").map(String::as_str) {
                Some("long") => "long",
                Some("short") => "short",
                _ => return Err(e("40019", "Parameter posSide cannot be empty")),
            };
            let pos = a.positions.get(&sym).map_or(0.0, |p| p.net);
            if pos == 0.0 || (pos > 0.0) != (hold == "long") {
                return Err(e("25601", "No position to set take-profit and stop-loss"));
            }
            let (kind, trig) = if let Some(sl) = field(b, "stopLoss") {
                (
                    "pos_loss",
                    sl.parse::<f64>()
                        .map_err(|_| e("40808", "Parameter verification exception stopLoss"))?,
                )
            } else if let Some(tp) = field(b, "takeProfit") {
                (
                    "pos_profit",
                    tp.parse::<f64>()
                        .map_err(|_| e("40808", "Parameter verification exception takeProfit"))?,
                )
            } else {
                return Err(e("40019", "Parameter stopLoss cannot be empty"));
            };
            if !is_multiple(trig, c.tick()) {
                return Err(e(
                    "25244",
                    format!(
                        "Price should be a multiple of {}",
                        fmt(c.tick(), c.price_place)
                    ),
                ));
            }
            if a.plans
                .iter()
                .any(|p| p.symbol == sym && p.kind == kind && p.status == "live")
            {
                return Err(e(
                    "25594",
                    "Only one full take-profit and stop-loss order is allowed per symbol",
                ));
            }
            let cid = bm.get("clientOid").cloned().unwrap_or_default();
            if !cid.is_empty()
                && a.plans
                    .iter()
                    .any(|p| p.client_oid == cid && p.status == "live")
            {
                return Err(e("25212", "Duplicate clientOid"));
            }
            let id = next_id(a);
            *a.created.entry(cid.clone()).or_insert(0) += 1;
            a.plans.push(SPlan {
                id: id.clone(),
                client_oid: cid.clone(),
                symbol: sym,
                kind: kind.into(),
                hold: hold.into(),
                trigger: trig,
                status: "live",
                ctime: now,
                utime: now,
            });
            Ok(json!({"orderId": id, "clientOid": cid}))
        }
        "/api/v3/trade/unfilled-strategy-orders" => {
            // a bare array, no symbol filter (§6.5)
            Ok(json!(
                a.plans
                    .iter()
                    .filter(|p| p.status == "live")
                    .map(plan_v3)
                    .collect::<Vec<_>>()
            ))
        }
        "/api/v3/trade/history-strategy-orders" => {
            if q.get("type").is_some_and(|t| t != "tpsl") {
                return Ok(json!({"list": [], "cursor": ""}));
            }
            let l: Vec<Value> = plan_history(a, q.get("symbol"))
                .into_iter()
                .map(plan_v3)
                .collect();
            Ok(json!({"list": l, "cursor": ""}))
        }
        "/api/v3/account/financial-records" => {
            let ty = q.get("type").filter(|t| !t.is_empty());
            if let Some(t) = ty
                && t.chars().any(|c| c.is_ascii_lowercase())
            {
                // a v2-style lower-case type (hummingbot c73e745)
                return Err(e("40020", "Parameter type error"));
            }
            let (l, limit) = bills_page(a, q, q.get("cursor"))?;
            let full = l.len() == limit;
            let rows: Vec<Value> = l
                .into_iter()
                .map(|b| {
                    let t = if b.amount < 0.0 {
                        "CONTRACT_MAIN_SETTLE_FEE_USER_OUT"
                    } else {
                        "CONTRACT_MAIN_SETTLE_FEE_USER_IN"
                    };
                    (t, b)
                })
                .filter(|(t, _)| ty.is_none_or(|x| x == t))
                .map(|(t, b)| json!({"category": "USDT-FUTURES", "id": b.id, "symbol": b.symbol, "coin": "USDT",
                    "type": t, "amount": money(b.amount), "fee": "0", "balance": money(b.balance),
                    "ts": b.time.to_string()}))
                .collect();
            let cursor = if full {
                rows.last().map(|v| v["id"].clone()).unwrap_or(json!(""))
            } else {
                json!("")
            };
            Ok(json!({"list": rows, "cursor": cursor}))
        }
        "/api/v3/trade/cancel-strategy-order" => {
            let hit = a.plans.iter_mut().find(|p| {
                p.status == "live"
                    && (bm.get("orderId") == Some(&p.id)
                        || bm.get("clientOid") == Some(&p.client_oid))
            });
            match hit {
                Some(p) => {
                    p.status = "cancelled";
                    p.utime = now;
                    Ok(Value::Null)
                }
                None => Err(e("25204", "Order does not exist")),
            }
        }
        "/api/v3/trade/close-positions" => {
            let l = close_all(s, a, bm.get("symbol").map(String::as_str), now);
            if l.is_empty() {
                return Err(e("25227", "No position available to close"));
            }
            Ok(
                json!({"list": l.iter().map(|(i, c, _)| json!({"orderId": i, "clientOid": c})).collect::<Vec<_>>()}),
            )
        }
        _ => Err(e("40404", "Request URL NOT FOUND")),
    }
}

// --- WebSocket ------------------------------------------------------------------------------

async fn ws_v2(State(s): State<Arc<Shared>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(move |sock| serve_ws(s, sock, AccountMode::Classic))
}
async fn ws_v3(State(s): State<Arc<Shared>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(move |sock| serve_ws(s, sock, AccountMode::Uta))
}

fn ws_login(s: &Shared, args: &Value) -> Result<(), (String, String)> {
    let a = if args.is_array() { &args[0] } else { args };
    let key = a["apiKey"].as_str().unwrap_or("");
    let pass = a["passphrase"].as_str().unwrap_or("");
    let ts_s = match &a["timestamp"] {
        Value::String(x) => x.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let sign = a["sign"].as_str().unwrap_or("");
    if key != s.cfg.api_key {
        return Err(e("30011", "Invalid ACCESS_KEY"));
    }
    if pass != s.cfg.passphrase {
        return Err(e("30012", "Invalid ACCESS_PASSPHRASE"));
    }
    let t: i64 = ts_s
        .parse()
        .map_err(|_| e("30013", "Invalid ACCESS_TIMESTAMP"))?;
    // 10 digits: seconds (what every connector sends); 13: ms
    let t_ms = if ts_s.len() >= 13 { t } else { t * 1000 };
    let skew = s.acct.lock().unwrap().skew_ms;
    if (t_ms - (now_ms() + skew)).abs() > 30_000 {
        return Err(e("30014", "Request timestamp expired"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(s.cfg.secret.as_bytes()).unwrap();
    mac.update(format!("{ts_s}GET/user/verify").as_bytes());
    if base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()) != sign {
        return Err(e("30015", "Invalid sign"));
    }
    Ok(())
}

fn ws_push(s: &Shared, mode: AccountMode, subs: &[Value], p: &Push) -> Vec<String> {
    let find = |ch: &str| {
        subs.iter()
            .find(|a| a["channel"] == ch || a["topic"] == ch)
            .cloned()
    };
    let ts = now_ms();
    let wrap = |arg: Value, data: Vec<Value>| {
        json!({"action": "snapshot", "arg": arg, "data": data, "ts": ts}).to_string()
    };
    match (mode, p) {
        (AccountMode::Classic, Push::Order(o)) => find("orders").map(|arg| {
            let mut v = order_v2(o, "status");
            let m = v.as_object_mut().unwrap();
            let sym = m.remove("symbol").unwrap();
            m.insert("instId".into(), sym);
            m.insert("accBaseVolume".into(), json!(fmt(o.filled, 8)));
            m.insert("feeDetail".into(), json!([{"feeCoin": "USDT", "fee": money(-o.fee)}]));
            m.insert("reduceOnly".into(), json!(if o.reduce_only { "yes" } else { "no" }));
            wrap(arg, vec![v])
        }).into_iter().collect(),
        (AccountMode::Classic, Push::Fill(f)) => find("fill").map(|arg| wrap(arg, vec![fill_v2(f)])).into_iter().collect(),
        (AccountMode::Classic, Push::Position(_)) => find("positions").map(|arg| {
            let a = s.acct.lock().unwrap();
            let l = a.positions.values().map(|p| pos_v2(p, *a.prices.get(&p.symbol).unwrap_or(&p.entry), true)).collect();
            wrap(arg, l)
        }).into_iter().collect(),
        (AccountMode::Uta, Push::Order(o)) => find("order").map(|arg| {
            let mut v = order_v3(o);
            v["reduceOnly"] = json!(if o.reduce_only { "yes" } else { "no" });
            v["category"] = json!("usdt-futures");
            wrap(arg, vec![v])
        }).into_iter().collect(),
        (AccountMode::Uta, Push::Fill(f)) => find("fill").map(|arg| wrap(arg, vec![fill_v3(f, true)])).into_iter().collect(),
        (AccountMode::Uta, Push::Position(sym)) => find("position").map(|arg| {
            let a = s.acct.lock().unwrap();
            let v = match a.positions.get(sym) {
                Some(p) => pos_v3(p, *a.prices.get(sym).unwrap_or(&p.entry), true),
                None => json!({"symbol": sym, "marginCoin": "USDT", "holdMode": "one_way_mode", "posSide": "long",
                    "marginMode": "crossed", "size": "0", "available": "0", "frozen": "0", "avgPrice": "0", "leverage": "20",
                    "positionStatus": "ended", "createdTime": ts.to_string(), "updatedTime": ts.to_string()}),
            };
            wrap(arg, vec![v])
        }).into_iter().collect(),
    }
}

async fn serve_ws(s: Arc<Shared>, sock: WebSocket, mode: AccountMode) {
    s.ws_total.fetch_add(1, Ordering::SeqCst);
    let (mut tx, mut rx) = sock.split();
    let mut events = s.events.subscribe();
    let mut drops = s.drops.subscribe();
    let mut logged_in = false;
    let mut subs: Vec<Value> = Vec::new();
    loop {
        let mut out: Vec<String> = Vec::new();
        let mut close = false;
        tokio::select! {
            _ = drops.recv() => break,
            ev = events.recv() => {
                if let Ok(p) = ev
                    && logged_in
                {
                    out.extend(ws_push(&s, mode, &subs, &p));
                }
            }
            m = rx.next() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(t))) => {
                    let t = t.to_string();
                    if t == "ping" {
                        s.ws_pings.fetch_add(1, Ordering::SeqCst);
                        out.push("pong".into());
                    } else if let Ok(v) = serde_json::from_str::<Value>(&t) {
                        match v["op"].as_str() {
                            Some("login") => {
                                let acct_mode = s.acct.lock().unwrap().mode;
                                let r = if acct_mode != mode {
                                    Err(e("30005", "login failed: account mode does not match this endpoint"))
                                } else {
                                    ws_login(&s, &v["args"])
                                };
                                match r {
                                    Ok(()) => {
                                        logged_in = true;
                                        s.ws_logins.fetch_add(1, Ordering::SeqCst);
                                        out.push(json!({"event": "login", "code": "0", "msg": ""}).to_string());
                                    }
                                    Err((c, m)) => {
                                        out.push(json!({"event": "error", "code": c, "msg": m}).to_string());
                                        close = true;
                                    }
                                }
                            }
                            Some("subscribe") if !logged_in => {
                                out.push(json!({"event": "error", "code": "30004", "msg": "User not logged in"}).to_string());
                            }
                            Some("subscribe") => {
                                s.ws_subscribe_msgs.fetch_add(1, Ordering::SeqCst);
                                for arg in v["args"].as_array().cloned().unwrap_or_default() {
                                    let okarg = match mode {
                                        AccountMode::Classic => arg["instType"] == "USDT-FUTURES"
                                            && matches!(arg["channel"].as_str(), Some("orders" | "fill" | "positions" | "account" | "orders-algo")),
                                        AccountMode::Uta => arg["instType"] == "UTA"
                                            && matches!(arg["topic"].as_str(), Some("order" | "fill" | "position" | "account" | "strategy-order")),
                                    };
                                    if !okarg {
                                        out.push(json!({"event": "error", "arg": arg, "code": "30001", "msg": "channel does not exist"}).to_string());
                                        continue;
                                    }
                                    out.push(json!({"event": "subscribe", "arg": arg}).to_string());
                                    subs.retain(|x| x != &arg);
                                    subs.push(arg.clone());
                                    // positions: a snapshot on subscribe (v2: the whole list, maybe [])
                                    let snap = match mode {
                                        AccountMode::Classic if arg["channel"] == "positions" => Some(Push::Position(String::new())),
                                        AccountMode::Uta if arg["topic"] == "position" => {
                                            let syms: Vec<String> = s.acct.lock().unwrap().positions.keys().cloned().collect();
                                            for sy in syms {
                                                out.extend(ws_push(&s, mode, &subs, &Push::Position(sy)));
                                            }
                                            None
                                        }
                                        _ => None,
                                    };
                                    if let Some(p) = snap {
                                        out.extend(ws_push(&s, mode, &subs, &p));
                                    }
                                }
                            }
                            _ => out.push(json!({"event": "error", "code": "30003", "msg": "invalid op"}).to_string()),
                        }
                    } else {
                        out.push(json!({"event": "error", "code": "30002", "msg": "illegal request"}).to_string());
                    }
                }
                Some(Ok(_)) => {}
            },
        }
        for m in out {
            if tx.send(Message::Text(m.into())).await.is_err() {
                return;
            }
        }
        if close {
            let _ = tx.send(Message::Close(None)).await;
            break;
        }
    }
}
