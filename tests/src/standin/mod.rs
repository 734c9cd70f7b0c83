//! Exchange stand-ins: HTTP + WebSocket servers on 127.0.0.1 that speak the exact Binance
//! USDT-M and Bitget v2 public market-data formats, serve the bundled candles, and inject faults
//! on demand.
//!
//! ```no_run
//! # async fn demo() {
//! use scalp_e2e::standin::{Fault, StandIn, StandInConfig};
//! let s = StandIn::start(StandInConfig::default()).await;   // random ports
//! let cfg = s.exchanges_config();        // scalp_core ExchangesConfig pointed at the stand-ins
//! let toml = s.config_toml();            // the same as `[exchanges.*]` TOML for a scalp.toml
//! s.binance.inject(Fault::Http { status: 418, retry_after_s: Some(2), count: 1 });
//! s.bitget.inject(Fault::Disconnect);
//! let n = s.binance.request_count("/fapi/v1/klines");
//! # }
//! ```
//!
//! Each server runs on its own thread with its own tokio runtime: the stand-ins keep serving
//! even while a test blocks its own runtime (e.g. waiting on a child process), and work from
//! plain `#[test]`s too ([`StandIn::start_blocking`]). Dropping the [`StandIn`] stops them.
//!
//! # Endpoints
//! Binance (`s.binance.rest_url()`, `s.binance.ws_url()` = `ws://…/market`):
//! `GET /fapi/v1/time`, `/fapi/v1/klines`, `/fapi/v1/fundingRate`, `/fapi/v1/openInterest`,
//! `/futures/data/openInterestHist`; WS `/market/stream?streams=a/b` and `/market/ws/<stream>`
//! (the retired unrouted `/stream?streams=…` and `/ws/<stream>` complete the handshake but send
//! no kline, like the real server) (kline streams `<symbol>@kline_<interval>`, pushed every
//! `binance_push_ms`, `k.x == true` once when a candle closes; a ping frame every
//! `binance_ping_ms`). Every reply carries `X-MBX-USED-WEIGHT-1M`; above
//! `binance_weight_limit` per minute the server answers 429 with `Retry-After`.
//!
//! Bitget (`s.bitget.rest_url()`, `s.bitget.ws_url()` = `ws://…/v2/ws/public`):
//! `GET /api/v2/public/time`, `/api/v2/mix/market/candles` (limit ≤ 1000, look-back limited per
//! granularity like the real one), `/history-candles` (limit ≤ 200), `/history-fund-rate`,
//! `/open-interest` (`startTime`/`endTime` exclusive by default, see [`Bounds`]; no `2H`
//! granularity); WS `op: subscribe` to `candle<tf>` channels (no `candle3m`, no `candle2H`:
//! error 30001 naming the `arg`; a message over 4,096 bytes: error 30002; more than 10 messages
//! in a second: error 30006) → `event: subscribe` ack, a
//! `snapshot` (the last `bitget_snapshot_candles` closed candles and the forming one), then
//! `update` pushes every `bitget_push_ms` with **no closed flag**; text `ping` → `pong`; no ping
//! for `bitget_ping_timeout_ms` → the server closes. More than `bitget_rps` requests in one
//! second → 429.
//!
//! # Market and clock
//! Candles come from `data/coinbase_btcusd_1h.csv` for every symbol (see [`market`] for the
//! derived timeframes). The stand-ins' [`Clock`] decides what is closed: by default it starts at
//! the end of the bundled data (everything closed, nothing forming) and runs at real speed; set
//! `start_ms` inside the data and `speed` (e.g. 60 = one minute per second) to stream forming
//! updates and closes quickly. REST only serves candles opened at or before the clock's now (the
//! last one forming, as the real exchanges do).
//!
//! # Faults
//! [`Fault`]s apply to one server (`s.binance.inject`, `s.bitget.inject`) or both
//! ([`StandIn::inject`]); every request is logged ([`ServerHandle::requests`]) with its time and
//! status so tests can assert that backoff was respected.

pub mod binance;
pub mod bitget;
pub mod bitget_private;
pub mod market;
pub mod telegram;
pub mod tls;

use market::Series;
use scalp_core::config::{BinanceConfig, BitgetConfig, ExchangesConfig};
use scalp_core::{Candle, Exchange, Timeframe};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Stand-in settings. `Default` = bundled data, clock at the end of it, real speed, real limits.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    /// 1h candle CSV (`ts_ms,open,high,low,close,volume`, contiguous).
    pub data_file: PathBuf,
    /// Symbols that exist (upper case). Empty = any symbol ending in `USDT`. All get the same
    /// candles.
    pub symbols: Vec<String>,
    /// The clock's start (ms). `None` = close time of the last bundled candle.
    pub start_ms: Option<i64>,
    /// Clock speed (1.0 = real time; 60 = a minute per second).
    pub speed: f64,
    /// WS push period, real milliseconds (Binance: 250, Bitget: 500).
    pub binance_push_ms: u64,
    pub bitget_push_ms: u64,
    /// Binance sends a ping frame this often (real: 3 min).
    pub binance_ping_ms: u64,
    /// Bitget closes a connection that sent no `ping` for this long (real: 2 min).
    pub bitget_ping_timeout_ms: u64,
    /// Binance request weight per minute before 429 (real: 2400).
    pub binance_weight_limit: u32,
    /// Bitget requests per second before 429 (real: 20).
    pub bitget_rps: u32,
    /// Bitget `productType` / `instType` accepted.
    pub bitget_product_type: String,
    /// Closed candles in a Bitget subscribe snapshot (besides the forming one).
    pub bitget_snapshot_candles: usize,
    /// How Bitget's `market/candles` and `history-candles` read `startTime`/`endTime`.
    /// Default [`Bounds::Exclusive`]: what connectors report from live use.
    pub bitget_bounds: Bounds,
    /// Serve `https://localhost:<port>` / `wss://localhost:<port>` with a certificate of this
    /// local CA instead of plain HTTP (`None`, the default).
    pub tls: Option<tls::TestCa>,
}

/// Reading of the `startTime`/`endTime` of Bitget's candle endpoints (open times).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// `startTime < open_time < endTime`: "after this time" / "before this time" (Bitget's doc
    /// wording; hummingbot, passivbot and ccxt issue 20587 report it from live use).
    Exclusive,
    /// `startTime <= open_time <= endTime`.
    Inclusive,
}

impl Default for StandInConfig {
    fn default() -> Self {
        StandInConfig {
            data_file: crate::repo_root().join("data/coinbase_btcusd_1h.csv"),
            symbols: Vec::new(),
            start_ms: None,
            speed: 1.0,
            binance_push_ms: 250,
            bitget_push_ms: 500,
            binance_ping_ms: 180_000,
            bitget_ping_timeout_ms: 120_000,
            binance_weight_limit: 2400,
            bitget_rps: 20,
            bitget_product_type: "USDT-FUTURES".into(),
            bitget_snapshot_candles: 3,
            bitget_bounds: Bounds::Exclusive,
            tls: None,
        }
    }
}

impl StandInConfig {
    /// The bundled market with the clock held still at `ms` (moved only by
    /// [`Clock::set_ms`]) and a 5 ms push period: the test decides when each candle closes,
    /// and its closed kline goes out on the next push.
    pub fn held_at(ms: i64) -> StandInConfig {
        StandInConfig {
            start_ms: Some(ms),
            speed: 0.0,
            binance_push_ms: 5,
            bitget_push_ms: 5,
            ..StandInConfig::default()
        }
    }
}

/// A fault to inject.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Drop every open WS connection at once, without a close frame (network failure).
    Disconnect,
    /// The 24 h forced disconnect: every open WS connection gets a close frame and is closed.
    ForcedClose,
    /// WS sends nothing at all (no pushes, no pings, no pongs) for `ms` real milliseconds.
    Silence { ms: u64 },
    /// WS keeps pushing the current forming candle unchanged, and neither closes it nor starts
    /// the next one, for `ms` real milliseconds; then it catches up.
    StallForming { ms: u64 },
    /// The next `candles` candles (opening after now, on every stream) are never pushed on WS
    /// (REST still serves them): the client sees a gap.
    WsGap { candles: u32 },
    /// The next `count` push rounds each start with a malformed message.
    Malformed { count: u32 },
    /// The next `count` REST requests get HTTP `status` (429, 418, 500, …) in the exchange's
    /// error format, with `Retry-After: retry_after_s` when given.
    Http {
        status: u16,
        retry_after_s: Option<u64>,
        count: u32,
    },
    /// Binance: set the weight used in the current minute (reported in `X-MBX-USED-WEIGHT-1M`).
    UsedWeight(u32),
    /// Bitget: the next `candles` candles that close (counted over every stream of every
    /// connection) never get their final update on WS: the last values pushed are those of 90 %
    /// of the candle, while REST serves the final ones.
    StaleFinalPush { candles: u32 },
}

/// One REST request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub at: Instant,
    /// Wall-clock ms.
    pub wall_ms: i64,
    pub path: String,
    pub query: String,
    pub status: u16,
}

/// The stand-ins' notion of now: `start + elapsed * speed`.
#[derive(Debug)]
pub struct Clock {
    inner: Mutex<(Instant, i64, f64)>,
}

impl Clock {
    pub fn new(start_ms: i64, speed: f64) -> Clock {
        Clock {
            inner: Mutex::new((Instant::now(), start_ms, speed)),
        }
    }
    pub fn now_ms(&self) -> i64 {
        let (at, ms, speed) = *self.inner.lock().unwrap();
        ms + (at.elapsed().as_secs_f64() * 1000.0 * speed) as i64
    }
    /// Jumps to `ms` (keeps the speed).
    pub fn set_ms(&self, ms: i64) {
        let mut g = self.inner.lock().unwrap();
        *g = (Instant::now(), ms, g.2);
    }
    pub fn set_speed(&self, speed: f64) {
        let now = self.now_ms();
        *self.inner.lock().unwrap() = (Instant::now(), now, speed);
    }
    pub fn advance_ms(&self, d: i64) {
        let now = self.now_ms();
        self.set_ms(now + d);
    }
    pub fn speed(&self) -> f64 {
        self.inner.lock().unwrap().2
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ConnCmd {
    Drop,
    Close,
}

#[derive(Debug, Default)]
pub(crate) struct FaultState {
    pub http: Option<(u16, Option<u64>, u32)>,
    pub silence_until: Option<Instant>,
    pub stall_until: Option<Instant>,
    /// (first gap open time is the first open > this, candles)
    pub gaps: Vec<(i64, u32)>,
    pub malformed: u32,
    pub stale_final: u32,
    pub weight: (i64, u32),
    pub rps: VecDeque<Instant>,
}

/// State shared by one server's handlers.
pub(crate) struct Shared {
    pub exchange: Exchange,
    pub cfg: StandInConfig,
    pub series: Arc<Series>,
    pub clock: Arc<Clock>,
    pub faults: Mutex<FaultState>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub conns: broadcast::Sender<ConnCmd>,
    pub ws_total: AtomicU64,
    pub ws_active: AtomicU64,
    pub client_pings: AtomicU64,
    pub client_pongs: AtomicU64,
    pub subscriptions: AtomicU64,
    pub refused_messages: AtomicU64,
    pub client_messages_max_len: AtomicU64,
    pub sni: Arc<Mutex<Vec<Option<String>>>>,
    pub failed_handshakes: Arc<AtomicU64>,
    /// Binance: (open time, when its closed kline was handed to the socket) per closed push.
    pub closed_sent: Mutex<Vec<(i64, Instant)>>,
}

impl Shared {
    pub fn symbol_ok(&self, s: &str) -> bool {
        if self.cfg.symbols.is_empty() {
            s.len() > 4
                && s.ends_with("USDT")
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        } else {
            self.cfg.symbols.iter().any(|x| x == s)
        }
    }

    pub fn silenced(&self) -> bool {
        self.faults
            .lock()
            .unwrap()
            .silence_until
            .is_some_and(|u| u > Instant::now())
    }

    pub fn stalled(&self) -> bool {
        self.faults
            .lock()
            .unwrap()
            .stall_until
            .is_some_and(|u| u > Instant::now())
    }

    pub fn in_gap(&self, tf: Timeframe, open: i64) -> bool {
        self.faults.lock().unwrap().gaps.iter().any(|&(after, n)| {
            let first = tf.align(after) + tf.ms();
            open >= first && open < first + n as i64 * tf.ms()
        })
    }

    pub fn take_stale_final(&self) -> bool {
        let mut f = self.faults.lock().unwrap();
        if f.stale_final > 0 {
            f.stale_final -= 1;
            true
        } else {
            false
        }
    }

    pub fn take_malformed(&self) -> bool {
        let mut f = self.faults.lock().unwrap();
        if f.malformed > 0 {
            f.malformed -= 1;
            true
        } else {
            false
        }
    }

    /// A pending HTTP fault for this request, if any.
    pub fn take_http_fault(&self) -> Option<(u16, Option<u64>)> {
        let mut f = self.faults.lock().unwrap();
        let (status, ra, n) = f.http?;
        if n <= 1 {
            f.http = None;
        } else {
            f.http = Some((status, ra, n - 1));
        }
        Some((status, ra))
    }

    pub fn record(&self, path: &str, query: &str, status: u16) {
        self.log.lock().unwrap().push(RequestRecord {
            at: Instant::now(),
            wall_ms: scalp_core::types::now_ms(),
            path: path.to_string(),
            query: query.to_string(),
            status,
        });
    }

    /// One stream's pushes for this tick.
    pub fn step(&self, st: &mut PushState, tf: Timeframe) -> Vec<Push> {
        let now = self.clock.now_ms();
        let mut out = Vec::new();
        if self.stalled() {
            if let Some(f) = st.frozen {
                out.push(Push::Forming(f, now));
            }
            return out;
        }
        let cur = tf.align(now);
        if let Some(prev) = st.last_open {
            let mut o = prev;
            let mut n = 0;
            while o < cur && n < 2000 {
                if !self.in_gap(tf, o)
                    && let Some(c) = self.series.candle(tf, o)
                {
                    out.push(Push::Closed(c, now));
                }
                o += tf.ms();
                n += 1;
            }
        }
        st.last_open = Some(cur);
        if !self.in_gap(tf, cur)
            && cur + tf.ms() <= self.series.end()
            && let Some(f) = self.series.partial(tf, cur, now)
        {
            st.frozen = Some(f);
            out.push(Push::Forming(f, now));
        }
        out
    }
}

/// Per-stream push progress of one WS connection.
#[derive(Debug, Default, Clone)]
pub(crate) struct PushState {
    pub last_open: Option<i64>,
    pub frozen: Option<Candle>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Push {
    /// The final values of a candle that just closed, with the event time.
    Closed(Candle, i64),
    Forming(Candle, i64),
}

/// One running stand-in server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Stops the server's runtime thread (dropping its runtime ends every connection).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl ServerHandle {
    pub fn exchange(&self) -> Exchange {
        self.shared.exchange
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://127.0.0.1:<port>`, or with TLS `https://localhost:<port>` (the name the
    /// certificate is for, sent as SNI).
    pub fn rest_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls() { "https" } else { "http" },
            self.host()
        )
    }
    /// Binance: `ws://127.0.0.1:<port>/market`; Bitget: `ws://127.0.0.1:<port>/v2/ws/public`
    /// (`wss://localhost:<port>/…` with TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls() { "wss" } else { "ws" };
        match self.shared.exchange {
            Exchange::Bitget => format!("{scheme}://{}/v2/ws/public", self.host()),
            _ => format!("{scheme}://{}/market", self.host()),
        }
    }
    fn tls(&self) -> bool {
        self.shared.cfg.tls.is_some()
    }
    fn host(&self) -> String {
        if self.tls() {
            format!("localhost:{}", self.addr.port())
        } else {
            self.addr.to_string()
        }
    }
    /// TLS: the SNI name of every handshake so far (`None` = the client sent none).
    pub fn tls_server_names(&self) -> Vec<Option<String>> {
        self.shared.sni.lock().unwrap().clone()
    }
    /// TLS: handshakes that failed (e.g. the client refused our certificate).
    pub fn tls_failed_handshakes(&self) -> u64 {
        self.shared.failed_handshakes.load(Ordering::SeqCst)
    }

    pub fn inject(&self, fault: Fault) {
        let now = Instant::now();
        let mut f = self.shared.faults.lock().unwrap();
        match fault {
            Fault::Disconnect => {
                let _ = self.shared.conns.send(ConnCmd::Drop);
            }
            Fault::ForcedClose => {
                let _ = self.shared.conns.send(ConnCmd::Close);
            }
            Fault::Silence { ms } => f.silence_until = Some(now + Duration::from_millis(ms)),
            Fault::StallForming { ms } => f.stall_until = Some(now + Duration::from_millis(ms)),
            Fault::WsGap { candles } => f.gaps.push((self.shared.clock.now_ms(), candles)),
            Fault::Malformed { count } => f.malformed += count,
            Fault::StaleFinalPush { candles } => f.stale_final += candles,
            Fault::Http {
                status,
                retry_after_s,
                count,
            } => f.http = Some((status, retry_after_s, count)),
            Fault::UsedWeight(w) => {
                let minute = scalp_core::types::now_ms().div_euclid(60_000);
                f.weight = (minute, w);
            }
        }
    }

    /// Every REST request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.lock().unwrap().clone()
    }
    /// REST requests to `path` so far.
    pub fn request_count(&self, path: &str) -> usize {
        self.shared
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
    pub fn clear_requests(&self) {
        self.shared.log.lock().unwrap().clear();
    }
    /// WS connections accepted so far.
    /// Binance: when the closed kline of the candle opening at `open_time` was sent on a
    /// WebSocket (the first time, over every connection and stream), if it was.
    pub fn closed_sent_at(&self, open_time: i64) -> Option<Instant> {
        self.shared
            .closed_sent
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| *t == open_time)
            .map(|(_, at)| *at)
    }

    pub fn ws_connections_total(&self) -> u64 {
        self.shared.ws_total.load(Ordering::SeqCst)
    }
    /// WS connections open now.
    pub fn ws_connections_active(&self) -> u64 {
        self.shared.ws_active.load(Ordering::SeqCst)
    }
    /// Bitget: text `ping`s received.
    pub fn client_pings(&self) -> u64 {
        self.shared.client_pings.load(Ordering::SeqCst)
    }
    /// Binance: pong frames received (answers to our pings).
    pub fn client_pongs(&self) -> u64 {
        self.shared.client_pongs.load(Ordering::SeqCst)
    }
    /// Bitget: channels subscribed so far.
    pub fn subscriptions(&self) -> u64 {
        self.shared.subscriptions.load(Ordering::SeqCst)
    }
    /// Bitget: client messages refused for their size (> 4,096 bytes) or rate (> 10/s).
    pub fn refused_messages(&self) -> u64 {
        self.shared.refused_messages.load(Ordering::SeqCst)
    }
    /// Bitget: the longest client message received, in bytes.
    pub fn client_message_max_len(&self) -> u64 {
        self.shared.client_messages_max_len.load(Ordering::SeqCst)
    }
}

/// Both stand-ins, sharing one market and one clock.
pub struct StandIn {
    pub binance: ServerHandle,
    pub bitget: ServerHandle,
    clock: Arc<Clock>,
    series: Arc<Series>,
}

impl StandIn {
    /// Starts both servers on random 127.0.0.1 ports. Each server runs on its own thread and
    /// tokio runtime, so a test that blocks its own runtime (e.g. `std::process::Command::output`
    /// inside `#[tokio::test]`) does not stall the stand-ins.
    pub async fn start(cfg: StandInConfig) -> StandIn {
        Self::start_blocking(cfg)
    }

    /// [`StandIn::start`] for synchronous tests.
    pub fn start_blocking(cfg: StandInConfig) -> StandIn {
        Self::start_blocking_on(cfg, 0, 0).unwrap_or_else(|e| panic!("stand-in: {e}"))
    }

    /// Starts both servers on given ports (0 = random).
    pub async fn start_on(
        cfg: StandInConfig,
        binance_port: u16,
        bitget_port: u16,
    ) -> std::io::Result<StandIn> {
        Self::start_blocking_on(cfg, binance_port, bitget_port)
    }

    /// [`StandIn::start_on`] for synchronous code.
    pub fn start_blocking_on(
        cfg: StandInConfig,
        binance_port: u16,
        bitget_port: u16,
    ) -> std::io::Result<StandIn> {
        let hours = scalp_core::csvdata::read_candles_csv(&cfg.data_file)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let series = Arc::new(Series::new(hours));
        let clock = Arc::new(Clock::new(cfg.start_ms.unwrap_or(series.end()), cfg.speed));
        let binance = start_server_on(
            Exchange::Binance,
            cfg.clone(),
            series.clone(),
            clock.clone(),
            binance_port,
        )?;
        let bitget = start_server_on(
            Exchange::Bitget,
            cfg,
            series.clone(),
            clock.clone(),
            bitget_port,
        )?;
        Ok(StandIn {
            binance,
            bitget,
            clock,
            series,
        })
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The market the stand-ins serve (reference values for assertions).
    pub fn series(&self) -> &Series {
        &self.series
    }

    /// Injects a fault into both servers.
    pub fn inject(&self, fault: Fault) {
        self.binance.inject(fault.clone());
        self.bitget.inject(fault);
    }

    /// The local CA's PEM file when the stand-ins serve TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.binance
            .shared
            .cfg
            .tls
            .as_ref()
            .map(|t| t.ca_pem_path().to_path_buf())
    }

    fn private_ws_url(&self) -> String {
        if self.ca_file().is_some() {
            format!(
                "wss://localhost:{}/v2/ws/private",
                self.bitget.addr().port()
            )
        } else {
            format!("ws://{}/v2/ws/private", self.bitget.addr())
        }
    }

    /// `[exchanges]` config pointing at the stand-ins (defaults otherwise; with TLS, `ca_file`
    /// is the local CA).
    pub fn exchanges_config(&self) -> ExchangesConfig {
        ExchangesConfig {
            binance: BinanceConfig {
                rest_url: self.binance.rest_url(),
                ws_url: self.binance.ws_url(),
                ca_file: self.ca_file(),
                ..BinanceConfig::default()
            },
            bitget: BitgetConfig {
                rest_url: self.bitget.rest_url(),
                ws_public_url: self.bitget.ws_url(),
                ws_private_url: self.private_ws_url(),
                ca_file: self.ca_file(),
                ..BitgetConfig::default()
            },
        }
    }

    /// The same as TOML tables `[exchanges.binance]` and `[exchanges.bitget]` (URL keys only).
    pub fn config_toml(&self) -> String {
        let ca = self
            .ca_file()
            .map(|p| format!("ca_file = \"{}\"\n", p.display()))
            .unwrap_or_default();
        format!(
            "[exchanges.binance]\nrest_url = \"{}\"\nws_url = \"{}\"\n{ca}\n[exchanges.bitget]\nrest_url = \"{}\"\nws_public_url = \"{}\"\nws_private_url = \"{}\"\n{ca}",
            self.binance.rest_url(),
            self.binance.ws_url(),
            self.bitget.rest_url(),
            self.bitget.ws_url(),
            self.private_ws_url()
        )
    }
}

fn start_server_on(
    ex: Exchange,
    cfg: StandInConfig,
    series: Arc<Series>,
    clock: Arc<Clock>,
    port: u16,
) -> std::io::Result<ServerHandle> {
    let (conns, _) = broadcast::channel(16);
    let shared = Arc::new(Shared {
        exchange: ex,
        cfg,
        series,
        clock,
        faults: Mutex::new(FaultState::default()),
        log: Mutex::new(Vec::new()),
        conns,
        ws_total: AtomicU64::new(0),
        ws_active: AtomicU64::new(0),
        client_pings: AtomicU64::new(0),
        client_pongs: AtomicU64::new(0),
        subscriptions: AtomicU64::new(0),
        refused_messages: AtomicU64::new(0),
        client_messages_max_len: AtomicU64::new(0),
        sni: Arc::new(Mutex::new(Vec::new())),
        failed_handshakes: Arc::new(AtomicU64::new(0)),
        closed_sent: Mutex::new(Vec::new()),
    });
    let tls = shared.cfg.tls.as_ref().map(|t| t.server_config());
    let (sni, failed) = (shared.sni.clone(), shared.failed_handshakes.clone());
    let router = match ex {
        Exchange::Bitget => bitget::router(shared.clone()),
        _ => binance::router(shared.clone()),
    };
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<std::io::Result<SocketAddr>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(format!("standin-{ex}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = addr_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                let _ = addr_tx.send(listener.local_addr());
                match tls {
                    None => tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        _ = stop_rx => {}
                    },
                    Some(cfg) => tokio::select! {
                        _ = tls::serve(listener, router, cfg, sni, failed) => {}
                        _ = stop_rx => {}
                    },
                }
            });
            // dropping the runtime here ends every open connection
        })?;
    let addr = addr_rx
        .recv()
        .map_err(|_| std::io::Error::other("stand-in thread ended before binding"))??;
    Ok(ServerHandle {
        shared,
        addr,
        stop: Some(stop_tx),
    })
}

/// Query string → pairs.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.replace("%2F", "/").replace("%2f", "/"))
        })
        .collect()
}

pub(crate) fn q_get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str())
}

/// Formats a price/volume like the exchanges do (plain decimal).
pub(crate) fn dec(x: f64) -> String {
    format!("{x}")
}
