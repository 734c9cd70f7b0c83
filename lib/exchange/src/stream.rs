//! WebSocket kline streams with reconnect, stall detection and closed-candle rules.
//!
//! ```text
//! let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
//! let stop = Shutdown::new();
//! let h = spawn_binance_streams(&cfg.exchanges.binance, StreamOptions::from_config(&cfg.collector),
//!                               specs, tx, stop.clone());
//! while let Some(ev) = rx.recv().await { /* StreamEvent::Closed { .. } → store */ }
//! stop.trigger(); h.join().await;
//! ```
//!
//! Closed-candle rules (a forming candle is never sent as [`StreamEvent::Closed`]):
//! * Binance: a kline event with `k.x == true`.
//! * Bitget (no closed flag): when a candle with a newer start time arrives on the channel; or,
//!   if none arrived by `end + bitget_close_grace_ms` (exchange clock, estimated from the pushes'
//!   `ts`), when REST (`market/candles`) confirms it with `open_time + tf <= requestTime` — the
//!   REST values are then emitted.
//!
//! Each stream emits closed candles in strictly increasing open time (duplicates after a
//! reconnect are dropped). Candles that closed while disconnected are *not* replayed: the
//! consumer repairs gaps by REST.

use crate::backoff::full_jitter;
use crate::bitget::BitgetRest;
use crate::{Shutdown, binance, bitget, truncate};
use futures_util::{SinkExt, StreamExt};
use scalp_core::config::{BinanceConfig, BitgetConfig, CollectorConfig};
use scalp_core::types::now_ms;
use scalp_core::{Candle, Exchange, Timeframe};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Identifies one WS connection (unique in the process).
pub type ConnId = u64;
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// One kline stream to follow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct StreamSpec {
    /// Exchange symbol, upper case (`BTCUSDT`).
    pub symbol: String,
    pub timeframe: Timeframe,
}

impl StreamSpec {
    pub fn new(symbol: &str, timeframe: Timeframe) -> Self {
        StreamSpec {
            symbol: symbol.to_ascii_uppercase(),
            timeframe,
        }
    }
}

/// How a candle was found to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Binance `k.x == true`.
    ClosedFlag,
    /// Bitget: a candle with a newer start time arrived.
    NewerCandle,
    /// Bitget: end + grace passed and REST confirmed it (REST values).
    RestConfirmed,
    /// Bitget: the candle was already emitted (closed by a newer one), and the REST re-fetch
    /// after end + grace returned other values: these replace it.
    RestCorrected,
}

/// What the stream tasks report.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A closed candle (never a forming one).
    Closed {
        exchange: Exchange,
        symbol: String,
        timeframe: Timeframe,
        candle: Candle,
        reason: CloseReason,
    },
    /// The latest state of a forming candle (only with [`StreamOptions::emit_forming`]).
    Forming {
        exchange: Exchange,
        symbol: String,
        timeframe: Timeframe,
        candle: Candle,
        /// Exchange time of the update.
        event_time: i64,
    },
    Connected {
        exchange: Exchange,
        conn_id: ConnId,
        /// The streams this connection carries.
        streams: Vec<StreamSpec>,
    },
    Disconnected {
        exchange: Exchange,
        conn_id: ConnId,
        reason: String,
        reconnect_in_ms: u64,
    },
    /// The exchange refused to stream this (subscribe error, e.g. Bitget 30001 "doesn't exist",
    /// or a channel the exchange does not have): no data will come for it on this connection.
    Failed {
        exchange: Exchange,
        stream: StreamSpec,
        reason: String,
    },
}

/// Largest Bitget subscribe message we send (bytes). Bitget caps the arguments of one
/// subscribe request at 4,096 bytes; the whole message is kept under it.
pub const BITGET_MAX_SUBSCRIBE_BYTES: usize = 4_096;

/// Bitget allows ≤ 10 messages per second per connection: subscribe messages of one
/// connection are sent this far apart.
const BITGET_MESSAGE_SPACING: Duration = Duration::from_millis(120);

/// The subscribe messages for `args`, in order, each at most `max_bytes` long (an argument that
/// alone exceeds it still goes in a message of its own).
pub fn bitget_subscribe_messages(args: &[serde_json::Value], max_bytes: usize) -> Vec<String> {
    let wrap =
        |a: &[serde_json::Value]| serde_json::json!({"op": "subscribe", "args": a}).to_string();
    let mut out = Vec::new();
    let mut start = 0;
    while start < args.len() {
        let mut end = start + 1;
        while end < args.len() && wrap(&args[start..=end]).len() <= max_bytes {
            end += 1;
        }
        out.push(wrap(&args[start..end]));
        start = end;
    }
    out
}

/// Tunables; [`StreamOptions::from_config`] takes them from `[collector]`.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// No kline data (pings, pongs and acks do not count) for this long → reconnect.
    pub stall_timeout: Duration,
    /// Reconnect proactively after this long (exchanges cut connections at 24 h).
    pub max_connection_age: Duration,
    pub bitget_close_grace_ms: u64,
    /// Also send [`StreamEvent::Forming`].
    pub emit_forming: bool,
    /// Connect/handshake timeout.
    pub connect_timeout: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self::from_config(&CollectorConfig::default())
    }
}

impl StreamOptions {
    pub fn from_config(c: &CollectorConfig) -> Self {
        StreamOptions {
            reconnect_min_ms: c.reconnect_min_ms,
            reconnect_max_ms: c.reconnect_max_ms,
            stall_timeout: Duration::from_secs(c.stall_timeout_s.max(1)),
            max_connection_age: Duration::from_secs(23 * 3600 + 30 * 60),
            bitget_close_grace_ms: c.bitget_close_grace_ms,
            emit_forming: false,
            connect_timeout: Duration::from_secs(15),
        }
    }
}

/// Health of one stream, for `state/collector.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamStat {
    pub exchange: Exchange,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub connected: bool,
    pub conn_id: Option<ConnId>,
    /// Wall-clock ms of the last message received on its connection.
    pub last_message_ms: Option<i64>,
    /// Open time of the last candle emitted as closed.
    pub last_closed_open_time: Option<i64>,
    /// Wall-clock ms when that candle was emitted.
    pub last_closed_at_ms: Option<i64>,
    /// Reconnects of its connection so far.
    pub reconnects: u64,
    /// Malformed messages skipped on its connection.
    pub malformed: u64,
    pub last_error: Option<String>,
    /// Why the exchange refused to stream it (subscribe error), while it does.
    pub failed: Option<String>,
    /// Bitget: closed candles replaced by their REST values after the grace period.
    pub corrections: u64,
}

/// Shared, live statistics of every stream of a [`StreamHandle`].
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    inner: Arc<Mutex<HashMap<StreamSpec, StreamStat>>>,
}

impl StreamStats {
    /// A snapshot, sorted by symbol then timeframe.
    pub fn snapshot(&self) -> Vec<StreamStat> {
        let mut v: Vec<StreamStat> = self.inner.lock().unwrap().values().cloned().collect();
        v.sort_by(|a, b| (&a.symbol, a.timeframe).cmp(&(&b.symbol, b.timeframe)));
        v
    }

    pub fn get(&self, spec: &StreamSpec) -> Option<StreamStat> {
        self.inner.lock().unwrap().get(spec).cloned()
    }

    fn init(&self, exchange: Exchange, specs: &[StreamSpec]) {
        let mut m = self.inner.lock().unwrap();
        for s in specs {
            m.entry(s.clone()).or_insert_with(|| StreamStat {
                exchange,
                symbol: s.symbol.clone(),
                timeframe: s.timeframe,
                connected: false,
                conn_id: None,
                last_message_ms: None,
                last_closed_open_time: None,
                last_closed_at_ms: None,
                reconnects: 0,
                malformed: 0,
                last_error: None,
                failed: None,
                corrections: 0,
            });
        }
    }

    fn update_all(&self, specs: &[StreamSpec], f: impl Fn(&mut StreamStat)) {
        let mut m = self.inner.lock().unwrap();
        for s in specs {
            if let Some(st) = m.get_mut(s) {
                f(st);
            }
        }
    }

    fn update(&self, spec: &StreamSpec, f: impl FnOnce(&mut StreamStat)) {
        if let Some(st) = self.inner.lock().unwrap().get_mut(spec) {
            f(st);
        }
    }
}

/// The running stream tasks.
pub struct StreamHandle {
    pub stats: StreamStats,
    tasks: Vec<JoinHandle<()>>,
}

impl StreamHandle {
    /// Waits for every connection task to end (after [`Shutdown::trigger`], or when the event
    /// receiver is dropped).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Number of WS connections (tasks) used.
    pub fn connections(&self) -> usize {
        self.tasks.len()
    }
}

/// Follows Binance kline streams: `{ws_url}/stream?streams=a/b/…`, at most
/// `max_streams_per_connection` per connection.
pub fn spawn_binance_streams(
    cfg: &BinanceConfig,
    opts: StreamOptions,
    specs: Vec<StreamSpec>,
    tx: mpsc::Sender<StreamEvent>,
    shutdown: Shutdown,
) -> StreamHandle {
    let stats = StreamStats::default();
    stats.init(Exchange::Binance, &specs);
    let per = cfg.max_streams_per_connection.clamp(1, 1024);
    let tls = crate::tls::client_config(Exchange::Binance, cfg.ca_file.as_deref())
        .map_err(|e| e.to_string());
    let tasks = dedup(specs)
        .chunks(per)
        .map(|chunk| {
            let names: Vec<String> = chunk
                .iter()
                .map(|s| binance::stream_name(&s.symbol, s.timeframe))
                .collect();
            let url = format!(
                "{}/stream?streams={}",
                cfg.ws_url.trim_end_matches('/'),
                names.join("/")
            );
            let conn = Conn {
                exchange: Exchange::Binance,
                tls: tls.clone(),
                url,
                specs: chunk.to_vec(),
                opts: opts.clone(),
                tx: tx.clone(),
                shutdown: shutdown.clone(),
                stats: stats.clone(),
            };
            tokio::spawn(conn.run(Proto::Binance))
        })
        .collect();
    StreamHandle { stats, tasks }
}

/// Follows Bitget `candle<tf>` channels on `ws_public_url`, at most
/// `max_channels_per_connection` per connection; `rest` confirms candles after the grace period.
pub fn spawn_bitget_streams(
    cfg: &BitgetConfig,
    rest: BitgetRest,
    opts: StreamOptions,
    specs: Vec<StreamSpec>,
    tx: mpsc::Sender<StreamEvent>,
    shutdown: Shutdown,
) -> StreamHandle {
    let stats = StreamStats::default();
    stats.init(Exchange::Bitget, &specs);
    let per = cfg.max_channels_per_connection.clamp(1, 1000);
    let tls = crate::tls::client_config(Exchange::Bitget, cfg.ca_file.as_deref())
        .map_err(|e| e.to_string());
    let tasks = dedup(specs)
        .chunks(per)
        .map(|chunk| {
            let conn = Conn {
                exchange: Exchange::Bitget,
                tls: tls.clone(),
                url: cfg.ws_public_url.clone(),
                specs: chunk.to_vec(),
                opts: opts.clone(),
                tx: tx.clone(),
                shutdown: shutdown.clone(),
                stats: stats.clone(),
            };
            let proto = Proto::Bitget {
                rest: rest.clone(),
                inst_type: cfg.product_type.clone(),
                ping_every: Duration::from_secs(cfg.ping_interval_s.max(1)),
            };
            tokio::spawn(conn.run(proto))
        })
        .collect();
    StreamHandle { stats, tasks }
}

fn dedup(specs: Vec<StreamSpec>) -> Vec<StreamSpec> {
    let mut out: Vec<StreamSpec> = Vec::with_capacity(specs.len());
    for s in specs {
        let s = StreamSpec::new(&s.symbol, s.timeframe);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[derive(Clone)]
enum Proto {
    Binance,
    Bitget {
        rest: BitgetRest,
        inst_type: String,
        ping_every: Duration,
    },
}

struct Conn {
    exchange: Exchange,
    /// Trusted roots for `wss://` (bundled + `ca_file`), or why they could not be loaded.
    tls: Result<Arc<rustls::ClientConfig>, String>,
    url: String,
    specs: Vec<StreamSpec>,
    opts: StreamOptions,
    tx: mpsc::Sender<StreamEvent>,
    shutdown: Shutdown,
    stats: StreamStats,
}

/// A REST confirmation result: (stream, open time, closed candle if confirmed).
type ConfirmMsg = (StreamSpec, i64, Result<Option<Candle>, String>);

/// Why a session ended.
enum End {
    Shutdown,
    ReceiverGone,
    /// Reconnect; `healthy` = the session delivered data (resets the backoff).
    Reconnect {
        reason: String,
        healthy: bool,
    },
}

/// Per-stream closed-candle state, kept across reconnects.
#[derive(Default, Clone)]
struct Track {
    /// Open time of the last candle emitted as closed.
    last_closed: Option<i64>,
    /// Bitget: the newest candle seen (maybe forming) and whether a REST confirm is running.
    current: Option<Candle>,
    confirm_pending: bool,
    /// Bitget: do not ask REST again before this exchange time.
    next_confirm_at: i64,
    /// Bitget: candles closed by a newer one, to re-fetch once by REST after end + grace
    /// (oldest first), with the attempts made so far.
    verify: std::collections::VecDeque<(Candle, u32)>,
    verify_pending: bool,
    /// Bitget: do not re-fetch again before this exchange time (after a failed attempt).
    next_verify_at: i64,
}

/// A REST re-fetch result: (stream, the candle as pushed, attempts, REST result).
type VerifyMsg = (StreamSpec, Candle, u32, Result<Option<Candle>, String>);

/// Re-fetch attempts of one candle before it is left as pushed.
const MAX_VERIFY_ATTEMPTS: u32 = 3;
/// At most this many candles wait for re-fetch per stream (a backlog beyond it is dropped,
/// oldest first, and logged).
const MAX_VERIFY_QUEUE: usize = 64;

impl Conn {
    async fn run(self, proto: Proto) {
        let mut attempt: u32 = 0;
        let mut tracks: HashMap<StreamSpec, Track> = self
            .specs
            .iter()
            .map(|s| (s.clone(), Track::default()))
            .collect();
        let mut reconnects: u64 = 0;
        loop {
            if self.shutdown.is_triggered() {
                break;
            }
            let conn_id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
            let end = self.session(conn_id, &proto, &mut tracks).await;
            self.stats.update_all(&self.specs, |st| {
                st.connected = false;
            });
            let (reason, healthy) = match end {
                End::Shutdown | End::ReceiverGone => break,
                End::Reconnect { reason, healthy } => (reason, healthy),
            };
            if healthy {
                attempt = 0;
            }
            let delay = full_jitter(
                attempt,
                self.opts.reconnect_min_ms,
                self.opts.reconnect_max_ms,
            );
            attempt = attempt.saturating_add(1);
            reconnects += 1;
            tracing::warn!(exchange = %self.exchange, conn_id, %reason, reconnect_in_ms = delay.as_millis() as u64, "stream disconnected");
            self.stats.update_all(&self.specs, |st| {
                st.reconnects = reconnects;
                st.last_error = Some(reason.clone());
            });
            let ev = StreamEvent::Disconnected {
                exchange: self.exchange,
                conn_id,
                reason,
                reconnect_in_ms: delay.as_millis() as u64,
            };
            if self.tx.send(ev).await.is_err() {
                break;
            }
            tokio::select! {
                _ = self.shutdown.wait() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        self.stats
            .update_all(&self.specs, |st| st.connected = false);
    }

    async fn emit(&self, ev: StreamEvent) -> bool {
        self.tx.send(ev).await.is_ok()
    }

    async fn session(
        &self,
        conn_id: ConnId,
        proto: &Proto,
        tracks: &mut HashMap<StreamSpec, Track>,
    ) -> End {
        let tls = match &self.tls {
            Ok(t) => t.clone(),
            Err(e) => {
                return End::Reconnect {
                    reason: format!("TLS set-up failed: {e}"),
                    healthy: false,
                };
            }
        };
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            self.url.as_str(),
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(tls)),
        );
        let ws = tokio::select! {
            _ = self.shutdown.wait() => return End::Shutdown,
            r = tokio::time::timeout(self.opts.connect_timeout, connect) => match r {
                Err(_) => return End::Reconnect { reason: "connect timed out".into(), healthy: false },
                Ok(Err(e)) => return End::Reconnect { reason: format!("connect failed: {e}"), healthy: false },
                Ok(Ok((ws, _resp))) => ws,
            },
        };
        let (mut sink, mut stream) = ws.split();
        let started = Instant::now();
        let mut last_data = Instant::now();
        let mut healthy = false;
        let mut malformed: u64 = 0;
        // Bitget: the subscription and the text ping
        let mut ping_tick = tokio::time::interval(match proto {
            Proto::Bitget { ping_every, .. } => *ping_every,
            Proto::Binance => Duration::from_secs(3600),
        });
        ping_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping_tick.tick().await; // the first tick is immediate
        let mut awaiting_pong = false;
        // exchange clock estimate (Bitget push `ts`)
        let mut ex_clock: Option<(i64, Instant)> = None;
        let mut grace_tick = tokio::time::interval(Duration::from_millis(250));
        grace_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (confirm_tx, mut confirm_rx) = mpsc::channel::<ConfirmMsg>(64);
        let (verify_tx, mut verify_rx) = mpsc::channel::<VerifyMsg>(64);
        let by_key: HashMap<(String, Timeframe), StreamSpec> = self
            .specs
            .iter()
            .map(|s| ((s.symbol.clone(), s.timeframe), s.clone()))
            .collect();

        let mut unstreamable: Vec<StreamSpec> = Vec::new();
        if let Proto::Bitget { inst_type, .. } = proto {
            let mut args: Vec<serde_json::Value> = Vec::new();
            for s in &self.specs {
                match s.timeframe.bitget_channel() {
                    Some(ch) => args.push(serde_json::json!({"instType": inst_type, "channel": ch, "instId": s.symbol})),
                    None => unstreamable.push(s.clone()),
                }
            }
            let msgs = bitget_subscribe_messages(&args, BITGET_MAX_SUBSCRIBE_BYTES);
            for (i, sub) in msgs.into_iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(BITGET_MESSAGE_SPACING).await;
                }
                if let Err(e) = sink.send(Message::text(sub)).await {
                    return End::Reconnect {
                        reason: format!("subscribe failed: {e}"),
                        healthy: false,
                    };
                }
            }
            // a fresh connection starts with a snapshot: forget the forming candles
            for t in tracks.values_mut() {
                t.current = None;
                t.confirm_pending = false;
                t.verify_pending = false;
            }
        }
        tracing::info!(exchange = %self.exchange, conn_id, streams = self.specs.len(), "stream connected");
        self.stats.update_all(&self.specs, |st| {
            st.connected = true;
            st.conn_id = Some(conn_id);
            st.failed = None;
        });
        if !self
            .emit(StreamEvent::Connected {
                exchange: self.exchange,
                conn_id,
                streams: self.specs.clone(),
            })
            .await
        {
            return End::ReceiverGone;
        }
        for spec in unstreamable {
            let reason = format!(
                "Bitget has no candle channel for {} (WebSocket timeframes: {})",
                spec.timeframe,
                Timeframe::bitget_ws_list()
            );
            if !self.fail(&spec, reason).await {
                return End::ReceiverGone;
            }
        }

        loop {
            let stall_at = last_data + self.opts.stall_timeout;
            let age_at = started + self.opts.max_connection_age;
            let msg = tokio::select! {
                _ = self.shutdown.wait() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return End::Shutdown;
                }
                _ = tokio::time::sleep_until(stall_at.into()) => {
                    return End::Reconnect {
                        reason: format!("stalled: no kline data for {} s", self.opts.stall_timeout.as_secs_f64()),
                        healthy,
                    };
                }
                _ = tokio::time::sleep_until(age_at.into()) => {
                    let _ = sink.send(Message::Close(None)).await;
                    return End::Reconnect { reason: "proactive reconnect before the 24 h limit".into(), healthy: true };
                }
                _ = ping_tick.tick(), if matches!(proto, Proto::Bitget { .. }) => {
                    if awaiting_pong {
                        return End::Reconnect { reason: "no pong to the last ping".into(), healthy };
                    }
                    if let Err(e) = sink.send(Message::text("ping")).await {
                        return End::Reconnect { reason: format!("ping failed: {e}"), healthy };
                    }
                    awaiting_pong = true;
                    continue;
                }
                _ = grace_tick.tick(), if matches!(proto, Proto::Bitget { .. }) => {
                    if let (Proto::Bitget { rest, .. }, Some((ts, at))) = (proto, ex_clock) {
                        let ex_now = ts + at.elapsed().as_millis() as i64;
                        self.start_confirms(rest, ex_now, tracks, &confirm_tx);
                        self.start_verifies(rest, ex_now, tracks, &verify_tx);
                    }
                    continue;
                }
                Some((spec, pushed, attempts, res)) = verify_rx.recv() => {
                    let Some(t) = tracks.get_mut(&spec) else { continue };
                    t.verify_pending = false;
                    match res {
                        Ok(Some(rest_c)) => {
                            if rest_c != pushed {
                                tracing::info!(exchange = %self.exchange, symbol = %spec.symbol, tf = %spec.timeframe, open_time = pushed.open_time,
                                    pushed = ?(pushed.open, pushed.high, pushed.low, pushed.close, pushed.volume),
                                    rest = ?(rest_c.open, rest_c.high, rest_c.low, rest_c.close, rest_c.volume),
                                    "closed candle corrected by its REST values");
                                self.stats.update(&spec, |st| st.corrections += 1);
                                if !self.emit(StreamEvent::Closed {
                                    exchange: self.exchange,
                                    symbol: spec.symbol.clone(),
                                    timeframe: spec.timeframe,
                                    candle: rest_c,
                                    reason: CloseReason::RestCorrected,
                                }).await {
                                    return End::ReceiverGone;
                                }
                            }
                        }
                        Ok(None) | Err(_) if attempts < MAX_VERIFY_ATTEMPTS => {
                            t.verify.push_front((pushed, attempts));
                            let ex_now = ex_clock.map(|(ts, at)| ts + at.elapsed().as_millis() as i64).unwrap_or(0);
                            t.next_verify_at = ex_now + self.opts.bitget_close_grace_ms.max(1000) as i64;
                        }
                        other => {
                            tracing::warn!(exchange = %self.exchange, symbol = %spec.symbol, tf = %spec.timeframe, open_time = pushed.open_time,
                                attempts, result = ?other.map(|_| "not served"), "REST re-fetch of a closed candle gave up; kept as pushed");
                        }
                    }
                    continue;
                }
                Some((spec, open_time, res)) = confirm_rx.recv() => {
                    let Some(t) = tracks.get_mut(&spec) else { continue };
                    t.confirm_pending = false;
                    match res {
                        Ok(Some(c)) if t.last_closed.is_none_or(|l| c.open_time > l) => {
                            t.last_closed = Some(c.open_time);
                            if !self.emit_closed(&spec, c, CloseReason::RestConfirmed).await {
                                return End::ReceiverGone;
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            // not closed yet for the exchange: ask again after another grace period
                            let ex_now = ex_clock.map(|(ts, at)| ts + at.elapsed().as_millis() as i64).unwrap_or(open_time);
                            t.next_confirm_at = ex_now + self.opts.bitget_close_grace_ms.max(250) as i64;
                        }
                        Err(e) => {
                            tracing::warn!(exchange = %self.exchange, symbol = %spec.symbol, tf = %spec.timeframe, open_time, error = %e, "REST confirmation failed");
                            let ex_now = ex_clock.map(|(ts, at)| ts + at.elapsed().as_millis() as i64).unwrap_or(open_time);
                            t.next_confirm_at = ex_now + self.opts.bitget_close_grace_ms.max(1000) as i64;
                        }
                    }
                    continue;
                }
                m = stream.next() => m,
            };
            let msg = match msg {
                None => {
                    return End::Reconnect {
                        reason: "connection closed without a close frame".into(),
                        healthy,
                    };
                }
                Some(Err(e)) => {
                    return End::Reconnect {
                        reason: format!("read error: {e}"),
                        healthy,
                    };
                }
                Some(Ok(m)) => m,
            };
            let now_wall = now_ms();
            self.stats
                .update_all(&self.specs, |st| st.last_message_ms = Some(now_wall));
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Ping(p) => {
                    // tungstenite queues the pong; flush it now
                    let _ = sink.send(Message::Pong(p)).await;
                    continue;
                }
                Message::Pong(_) | Message::Binary(_) | Message::Frame(_) => continue,
                Message::Close(frame) => {
                    let why = frame
                        .map(|f| {
                            format!(
                                "server closed the connection ({} {})",
                                u16::from(f.code),
                                f.reason
                            )
                        })
                        .unwrap_or_else(|| "server closed the connection".into());
                    return End::Reconnect {
                        reason: why,
                        healthy: true,
                    };
                }
            };
            match proto {
                Proto::Binance => match binance::parse_ws_message(&text) {
                    Err(e) => {
                        malformed += 1;
                        self.stats
                            .update_all(&self.specs, |st| st.malformed = malformed);
                        tracing::warn!(exchange = %self.exchange, conn_id, error = %e, message = %truncate(&text, 200), "malformed message skipped");
                    }
                    Ok(binance::WsMessage::Other) => {}
                    Ok(binance::WsMessage::Kline(k)) => {
                        last_data = Instant::now();
                        let Some(spec) = by_key.get(&(k.symbol.clone(), k.timeframe)) else {
                            continue;
                        };
                        healthy = true;
                        let Some(t) = tracks.get_mut(spec) else {
                            continue;
                        };
                        if k.closed {
                            if t.last_closed.is_none_or(|l| k.candle.open_time > l) {
                                t.last_closed = Some(k.candle.open_time);
                                if !self
                                    .emit_closed(spec, k.candle, CloseReason::ClosedFlag)
                                    .await
                                {
                                    return End::ReceiverGone;
                                }
                            }
                        } else if self.opts.emit_forming
                            && !self
                                .emit(StreamEvent::Forming {
                                    exchange: self.exchange,
                                    symbol: spec.symbol.clone(),
                                    timeframe: spec.timeframe,
                                    candle: k.candle,
                                    event_time: k.event_time,
                                })
                                .await
                        {
                            return End::ReceiverGone;
                        }
                    }
                },
                Proto::Bitget { .. } => match bitget::parse_ws_message(&text) {
                    Err(e) => {
                        malformed += 1;
                        self.stats
                            .update_all(&self.specs, |st| st.malformed = malformed);
                        tracing::warn!(exchange = %self.exchange, conn_id, error = %e, message = %truncate(&text, 200), "malformed message skipped");
                    }
                    Ok(bitget::WsMessage::Pong) => awaiting_pong = false,
                    Ok(bitget::WsMessage::Subscribed { .. }) | Ok(bitget::WsMessage::Other) => {}
                    Ok(bitget::WsMessage::Error { code, msg, arg }) => {
                        tracing::warn!(exchange = %self.exchange, conn_id, %code, %msg, "exchange reported an error");
                        let named = arg.and_then(|(inst_id, channel)| {
                            self.specs.iter().find(|s| {
                                s.symbol.eq_ignore_ascii_case(&inst_id)
                                    && s.timeframe.bitget_channel().as_deref()
                                        == Some(channel.as_str())
                            })
                        });
                        match named {
                            Some(spec) => {
                                if !self
                                    .fail(spec, format!("subscribe refused: {code}: {msg}"))
                                    .await
                                {
                                    return End::ReceiverGone;
                                }
                            }
                            None => self.stats.update_all(&self.specs, |st| {
                                st.last_error = Some(format!("{code}: {msg}"))
                            }),
                        }
                    }
                    Ok(bitget::WsMessage::Candles {
                        inst_id,
                        timeframe,
                        ts,
                        candles,
                        ..
                    }) => {
                        last_data = Instant::now();
                        if let Some(ts) = ts {
                            ex_clock = Some((ts, Instant::now()));
                        }
                        let Some(spec) = by_key.get(&(inst_id.to_ascii_uppercase(), timeframe))
                        else {
                            continue;
                        };
                        healthy = true;
                        let Some(t) = tracks.get_mut(spec) else {
                            continue;
                        };
                        for c in candles {
                            // rows arrive ascending; a newer start closes the one we hold
                            match t.current {
                                Some(cur) if c.open_time > cur.open_time => {
                                    t.current = Some(c);
                                    t.confirm_pending = false;
                                    t.next_confirm_at = 0;
                                    if t.last_closed.is_none_or(|l| cur.open_time > l) {
                                        t.last_closed = Some(cur.open_time);
                                        if t.verify.len() >= MAX_VERIFY_QUEUE
                                            && let Some((old, _)) = t.verify.pop_front()
                                        {
                                            tracing::warn!(exchange = %self.exchange, symbol = %spec.symbol, tf = %spec.timeframe, open_time = old.open_time, "REST re-fetch backlog full: candle kept as pushed");
                                        }
                                        t.verify.push_back((cur, 0));
                                        if !self
                                            .emit_closed(spec, cur, CloseReason::NewerCandle)
                                            .await
                                        {
                                            return End::ReceiverGone;
                                        }
                                    }
                                }
                                Some(cur) if c.open_time < cur.open_time => {} // stale row
                                _ => t.current = Some(c),
                            }
                        }
                        if self.opts.emit_forming
                            && let Some(cur) = t.current
                            && t.last_closed.is_none_or(|l| cur.open_time > l)
                            && !self
                                .emit(StreamEvent::Forming {
                                    exchange: self.exchange,
                                    symbol: spec.symbol.clone(),
                                    timeframe: spec.timeframe,
                                    candle: cur,
                                    event_time: ts.unwrap_or(now_wall),
                                })
                                .await
                        {
                            return End::ReceiverGone;
                        }
                    }
                },
            }
        }
    }

    /// Bitget: for each stream whose newest candle ended more than the grace period ago
    /// (exchange clock) and was not closed by a newer one, ask REST in the background.
    fn start_confirms(
        &self,
        rest: &BitgetRest,
        ex_now: i64,
        tracks: &mut HashMap<StreamSpec, Track>,
        confirm_tx: &mpsc::Sender<ConfirmMsg>,
    ) {
        for (spec, t) in tracks.iter_mut() {
            let Some(cur) = t.current else { continue };
            if t.confirm_pending || t.last_closed.is_some_and(|l| l >= cur.open_time) {
                continue;
            }
            let due = cur.open_time + spec.timeframe.ms() + self.opts.bitget_close_grace_ms as i64;
            if ex_now < due || ex_now < t.next_confirm_at {
                continue;
            }
            t.confirm_pending = true;
            let rest = rest.clone();
            let spec = spec.clone();
            let tx = confirm_tx.clone();
            let open_time = cur.open_time;
            tracing::info!(exchange = "bitget", symbol = %spec.symbol, tf = %spec.timeframe, open_time, "no newer candle after end + grace: confirming by REST");
            tokio::spawn(async move {
                let r = rest
                    .confirm_closed(&spec.symbol, spec.timeframe, open_time)
                    .await
                    .map_err(|e| e.to_string());
                let _ = tx.send((spec, open_time, r)).await;
            });
        }
    }

    /// Bitget: re-fetches by REST, once each, the candles that were closed by a newer one, as
    /// soon as their end + grace has passed (exchange clock); one request per stream at a time.
    fn start_verifies(
        &self,
        rest: &BitgetRest,
        ex_now: i64,
        tracks: &mut HashMap<StreamSpec, Track>,
        verify_tx: &mpsc::Sender<VerifyMsg>,
    ) {
        for (spec, t) in tracks.iter_mut() {
            if t.verify_pending || ex_now < t.next_verify_at {
                continue;
            }
            let Some((c, _)) = t.verify.front() else {
                continue;
            };
            let due = c.open_time + spec.timeframe.ms() + self.opts.bitget_close_grace_ms as i64;
            if ex_now < due {
                continue;
            }
            let (pushed, attempts) = t.verify.pop_front().expect("front exists");
            t.verify_pending = true;
            let rest = rest.clone();
            let spec = spec.clone();
            let tx = verify_tx.clone();
            tokio::spawn(async move {
                let r = rest
                    .confirm_closed(&spec.symbol, spec.timeframe, pushed.open_time)
                    .await
                    .map_err(|e| e.to_string());
                let _ = tx.send((spec, pushed, attempts + 1, r)).await;
            });
        }
    }

    /// Marks a stream refused by the exchange and reports it.
    async fn fail(&self, spec: &StreamSpec, reason: String) -> bool {
        tracing::error!(exchange = %self.exchange, symbol = %spec.symbol, tf = %spec.timeframe, %reason, "STREAM FAILED");
        self.stats.update(spec, |st| {
            st.failed = Some(reason.clone());
            st.last_error = Some(reason.clone());
        });
        self.emit(StreamEvent::Failed {
            exchange: self.exchange,
            stream: spec.clone(),
            reason,
        })
        .await
    }

    async fn emit_closed(&self, spec: &StreamSpec, candle: Candle, reason: CloseReason) -> bool {
        let at = now_ms();
        self.stats.update(spec, |st| {
            st.last_closed_open_time = Some(candle.open_time);
            st.last_closed_at_ms = Some(at);
        });
        self.emit(StreamEvent::Closed {
            exchange: self.exchange,
            symbol: spec.symbol.clone(),
            timeframe: spec.timeframe,
            candle,
            reason,
        })
        .await
    }
}
