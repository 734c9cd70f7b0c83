//! Live sources (Binance USDT-M, Bitget USDT-FUTURES) through scalp-exchange: WS kline streams
//! for every asset × timeframe, start-up backfill by REST, periodic gap repair, funding-rate
//! history and open-interest polls. Everything goes to the pipeline as [`Event`]s.

use crate::actor::DbActor;
use crate::clock::ExchangeClocks;
use crate::db;
use crate::error::chain;
use crate::pipeline::{Event, Origin, StatusChange};
use crate::validate::{Reject, check_closed};
use crate::{Series, Stop};
use scalp_core::config::Config;
use scalp_core::types::{fmt_ms, now_ms};
use scalp_core::{Exchange, Timeframe};
use scalp_exchange::RestClient;
use scalp_exchange::stream::{
    CloseReason, ConnId, StreamEvent, StreamHandle, StreamOptions, StreamSpec, StreamStats,
    spawn_binance_streams, spawn_bitget_streams,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const DAY_MS: i64 = 86_400_000;
/// Candles sent to the pipeline per message during backfill / repair.
const CHUNK: usize = 5_000;

/// Every configured asset × timeframe of one exchange.
pub fn live_series(cfg: &Config, ex: Exchange) -> Vec<Series> {
    let mut v = Vec::new();
    for sym in cfg.assets.symbols() {
        for tf in &cfg.assets.timeframes {
            v.push(Series::new(ex, sym.clone(), *tf));
        }
    }
    v
}

/// One live exchange source.
pub struct LiveSource {
    pub exchange: Exchange,
    cfg: Arc<Config>,
    rest: RestClient,
    series: Vec<Series>,
    clocks: ExchangeClocks,
    /// Newest stored open time per series read before the streams started: the backfill
    /// starts after it (a candle streamed meanwhile must not hide the history before it).
    last_at_start: HashMap<Series, Option<i64>>,
}

/// A started live source: its WS statistics (for the state file) and the task.
pub struct LiveHandle {
    pub exchange: Exchange,
    pub stats: StreamStats,
    pub task: tokio::task::JoinHandle<()>,
}

impl LiveSource {
    /// Builds the REST client (one per process and exchange: its clones share the rate budget).
    pub fn new(
        cfg: Arc<Config>,
        exchange: Exchange,
        clocks: ExchangeClocks,
    ) -> Result<Self, scalp_exchange::ExchangeError> {
        let rest = RestClient::new(exchange, &cfg.main.exchanges)?;
        Ok(LiveSource {
            exchange,
            series: live_series(&cfg, exchange),
            cfg,
            rest,
            clocks,
            last_at_start: HashMap::new(),
        })
    }

    /// Records the newest stored open time of each series, read before [`start`](Self::start).
    pub fn set_last_stored(&mut self, lasts: &[(Series, Option<i64>)]) {
        for (s, l) in lasts {
            if s.exchange == self.exchange {
                self.last_at_start.insert(s.clone(), *l);
            }
        }
    }

    /// Measures the exchange clock's offset (server-time endpoint). On failure keeps the last
    /// offset and says so.
    pub async fn sync_clock(&self) {
        sync_clock(self.exchange, &self.rest, &self.clocks).await
    }

    fn now(&self) -> i64 {
        self.clocks.now(self.exchange)
    }

    pub fn series(&self) -> &[Series] {
        &self.series
    }

    pub fn rest(&self) -> &RestClient {
        &self.rest
    }

    /// Starts the WS streams at once (so nothing closes unseen during the backfill), then in a
    /// task: backfill, then the gap-repair loop; plus the funding and open-interest polls.
    pub fn start(self, db: DbActor<db::Conn>, tx: mpsc::Sender<Event>, stop: Stop) -> LiveHandle {
        let c = &self.cfg.main;
        let specs: Vec<StreamSpec> = self
            .series
            .iter()
            .map(|s| StreamSpec::new(&s.symbol, s.timeframe))
            .collect();
        let (ws_tx, ws_rx) = mpsc::channel::<StreamEvent>(4_096);
        let opts = StreamOptions::from_config(&c.collector);
        let handle: StreamHandle = match &self.rest {
            RestClient::Binance(_) => {
                spawn_binance_streams(&c.exchanges.binance, opts, specs, ws_tx, stop.clone())
            }
            RestClient::Bitget(b) => spawn_bitget_streams(
                &c.exchanges.bitget,
                b.clone(),
                opts,
                specs,
                ws_tx,
                stop.clone(),
            ),
        };
        let stats = handle.stats.clone();
        let (repair_tx, repair_rx) = mpsc::channel::<Vec<Series>>(64);
        let exchange = self.exchange;
        let translator = tokio::spawn(translate(
            exchange,
            ws_rx,
            tx.clone(),
            repair_tx,
            self.rest.clone(),
            self.clocks.clone(),
        ));
        let task = tokio::spawn(async move {
            let this = Arc::new(self);
            // The exchange clock first: every later decision uses it.
            tokio::select! {
                _ = stop.wait() => {}
                _ = this.sync_clock() => {}
            }
            let polls = [
                tokio::spawn(
                    this.clone()
                        .poll_funding(db.clone(), tx.clone(), stop.clone()),
                ),
                tokio::spawn(this.clone().poll_open_interest(tx.clone(), stop.clone())),
            ];
            this.clone()
                .backfill_then_repair(db, tx, repair_rx, stop.clone())
                .await;
            for p in polls {
                let _ = p.await;
            }
            handle.join().await;
            let _ = translator.await;
        });
        LiveHandle {
            exchange,
            stats,
            task,
        }
    }

    fn window_start(&self, now: i64) -> i64 {
        now - self.cfg.main.collector.backfill_days as i64 * DAY_MS
    }

    /// Open times up to which a missing candle counts as a gap: its end is at least this far in
    /// the past (the stream's own close event had time to arrive and be stored).
    fn settled_before(&self, now: i64, tf: Timeframe) -> i64 {
        let settle = self.cfg.main.collector.bitget_close_grace_ms as i64 + 5_000;
        tf.align(now - settle) - tf.ms()
    }

    async fn backfill_then_repair(
        self: Arc<Self>,
        db: DbActor<db::Conn>,
        tx: mpsc::Sender<Event>,
        mut repair_rx: mpsc::Receiver<Vec<Series>>,
        stop: Stop,
    ) {
        let t0 = std::time::Instant::now();
        let mut total = 0usize;
        for s in &self.series {
            if stop.is_triggered() {
                return;
            }
            total += self.backfill(s, &db, &tx, &stop).await;
        }
        tracing::info!(
            "BACKFILL DONE exchange={} streams={} candles={total} elapsed_ms={}",
            self.exchange,
            self.series.len(),
            t0.elapsed().as_millis()
        );
        let every = Duration::from_secs(self.cfg.main.collector.gap_check_interval_s.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let todo: Vec<Series> = tokio::select! {
                _ = stop.wait() => return,
                _ = tick.tick() => self.series.clone(),
                r = repair_rx.recv() => match r {
                    Some(v) => {
                        // A reconnect: candles that closed meanwhile were not streamed. Wait for
                        // them to settle, then repair.
                        tokio::select! {
                            _ = stop.wait() => return,
                            _ = tokio::time::sleep(Duration::from_millis(
                                self.cfg.main.collector.bitget_close_grace_ms + 5_000)) => {}
                        }
                        v
                    }
                    None => return,
                },
            };
            tokio::select! {
                _ = stop.wait() => return,
                _ = self.sync_clock() => {}
            }
            for s in &todo {
                if stop.is_triggered() {
                    return;
                }
                self.repair(s, &db, &tx, &stop).await;
            }
        }
    }

    async fn send(&self, tx: &mpsc::Sender<Event>, ev: Event, stop: &Stop) -> bool {
        tokio::select! {
            r = tx.send(ev) => r.is_ok(),
            _ = stop.wait() => false,
        }
    }

    async fn status(
        &self,
        tx: &mpsc::Sender<Event>,
        s: &Series,
        change: StatusChange,
        stop: &Stop,
    ) {
        self.send(
            tx,
            Event::Status {
                series: s.clone(),
                change,
            },
            stop,
        )
        .await;
    }

    /// Fetches what is missing between the last stored candle (or the start of the backfill
    /// window) and now. Returns the number of candles fetched.
    async fn backfill(
        &self,
        s: &Series,
        db: &DbActor<db::Conn>,
        tx: &mpsc::Sender<Event>,
        stop: &Stop,
    ) -> usize {
        let now = self.now();
        let tf = s.timeframe;
        let last = match self.last_at_start.get(s) {
            Some(l) => *l,
            None => {
                let s2 = s.clone();
                match db.call(move |c| db::last_open_time(c, &s2)).await {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => {
                        self.status(
                            tx,
                            s,
                            StatusChange::Error(format!("backfill: {}", chain(&e))),
                            stop,
                        )
                        .await;
                        return 0;
                    }
                    Err(_) => return 0,
                }
            }
        };
        let window = tf.align(self.window_start(now));
        let from = last.map(|t| t + tf.ms()).unwrap_or(window).max(window);
        if from + tf.ms() > now {
            return 0;
        }
        let fetched = tokio::select! {
            _ = stop.wait() => return 0,
            r = self.rest.fetch_klines(&s.symbol, tf, from, now) => r,
        };
        match fetched {
            Ok(candles) => {
                let n = candles.len();
                tracing::info!(
                    "BACKFILL exchange={} symbol={} tf={} from={} candles={n}",
                    s.exchange,
                    s.symbol,
                    tf,
                    fmt_ms(from)
                );
                for chunk in candles.chunks(CHUNK) {
                    let ev = Event::Closed {
                        series: s.clone(),
                        candles: chunk.to_vec(),
                        origin: Origin::Backfill,
                    };
                    if !self.send(tx, ev, stop).await {
                        return n;
                    }
                }
                n
            }
            Err(e) => {
                tracing::warn!(
                    "BACKFILL FAILED exchange={} symbol={} tf={tf}: {e}",
                    s.exchange,
                    s.symbol
                );
                self.status(tx, s, StatusChange::Error(format!("backfill: {e}")), stop)
                    .await;
                0
            }
        }
    }

    /// Finds missing open times in the stored series (inside the backfill window, up to the
    /// last settled candle), fetches them by REST, keeps only candles that fill a missing open
    /// time, and sends them to the pipeline. Returns the number repaired.
    async fn repair(
        &self,
        s: &Series,
        db: &DbActor<db::Conn>,
        tx: &mpsc::Sender<Event>,
        stop: &Stop,
    ) -> u64 {
        let now = self.now();
        let tf = s.timeframe;
        let from = tf.align(self.window_start(now));
        // Exclusive end: everything up to the last settled candle.
        let to = self.settled_before(now, tf) + tf.ms();
        if to <= from {
            return 0;
        }
        let s2 = s.clone();
        let missing = match db.call(move |c| db::missing_ranges(c, &s2, from, to)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                self.status(
                    tx,
                    s,
                    StatusChange::Error(format!("gap scan: {}", chain(&e))),
                    stop,
                )
                .await;
                return 0;
            }
            Err(_) => return 0,
        };
        if missing.is_empty() {
            return 0;
        }
        let mut repaired = 0u64;
        let mut wanted_total = 0i64;
        for (a, b) in missing {
            wanted_total += (b - a) / tf.ms();
            let fetched = tokio::select! {
                _ = stop.wait() => return repaired,
                r = self.rest.fetch_klines(&s.symbol, tf, a, b) => r,
            };
            match fetched {
                Ok(candles) => {
                    // Verify: only candles that fill this gap, aligned, validated by the client.
                    let fill: Vec<_> = candles
                        .into_iter()
                        .filter(|c| {
                            c.open_time >= a
                                && c.open_time < b
                                && tf.align(c.open_time) == c.open_time
                        })
                        .collect();
                    if fill.is_empty() {
                        continue;
                    }
                    repaired += fill.len() as u64;
                    for chunk in fill.chunks(CHUNK) {
                        let ev = Event::Closed {
                            series: s.clone(),
                            candles: chunk.to_vec(),
                            origin: Origin::Repair,
                        };
                        if !self.send(tx, ev, stop).await {
                            return repaired;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        "GAP REPAIR FAILED exchange={} symbol={} tf={tf} from={} to={}: {e}",
                        s.exchange,
                        s.symbol,
                        fmt_ms(a),
                        fmt_ms(b)
                    );
                    self.status(tx, s, StatusChange::Error(format!("gap repair: {e}")), stop)
                        .await;
                }
            }
        }
        tracing::info!(
            "GAPS REPAIRED exchange={} symbol={} tf={tf} missing={wanted_total} repaired={repaired}",
            s.exchange,
            s.symbol
        );
        if repaired > 0 {
            self.status(tx, s, StatusChange::GapsRepaired(repaired), stop)
                .await;
        }
        repaired
    }

    async fn poll_funding(
        self: Arc<Self>,
        db: DbActor<db::Conn>,
        tx: mpsc::Sender<Event>,
        stop: Stop,
    ) {
        let every = Duration::from_secs(self.cfg.main.collector.funding_poll_s.max(1));
        let symbols: Vec<String> = self.cfg.assets.symbols();
        loop {
            for sym in &symbols {
                let now = self.now();
                let (ex, s2) = (self.exchange, sym.clone());
                let last = match db.call(move |c| db::last_funding_time(c, ex, &s2)).await {
                    Ok(Ok(v)) => v,
                    _ => None,
                };
                let from = last
                    .map(|t| t + 1)
                    .unwrap_or_else(|| self.window_start(now));
                let r = tokio::select! {
                    _ = stop.wait() => return,
                    r = self.rest.fetch_funding(sym, from, now) => r,
                };
                match r {
                    Ok(rates) if !rates.is_empty() => {
                        let rates = rates
                            .into_iter()
                            .map(|f| scalp_store::FundingRate {
                                time: f.funding_time,
                                rate: f.rate,
                            })
                            .collect();
                        let ev = Event::Funding {
                            exchange: self.exchange,
                            symbol: sym.clone(),
                            rates,
                        };
                        if !self.send(&tx, ev, &stop).await {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(
                        "FUNDING POLL FAILED exchange={} symbol={sym}: {e}",
                        self.exchange
                    ),
                }
            }
            tokio::select! {
                _ = stop.wait() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    async fn poll_open_interest(self: Arc<Self>, tx: mpsc::Sender<Event>, stop: Stop) {
        let every = Duration::from_secs(self.cfg.main.collector.open_interest_poll_s.max(1));
        let symbols: Vec<String> = self.cfg.assets.symbols();
        loop {
            for sym in &symbols {
                let r = tokio::select! {
                    _ = stop.wait() => return,
                    r = self.rest.open_interest(sym) => r,
                };
                match r {
                    Ok(oi) => {
                        let ev = Event::OpenInterest {
                            exchange: self.exchange,
                            symbol: sym.clone(),
                            points: vec![scalp_store::OpenInterest {
                                time: oi.ts,
                                oi: oi.open_interest,
                            }],
                        };
                        if !self.send(&tx, ev, &stop).await {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(
                        "OPEN INTEREST POLL FAILED exchange={} symbol={sym}: {e}",
                        self.exchange
                    ),
                }
            }
            tokio::select! {
                _ = stop.wait() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// Measures `exchange`'s clock offset with its server-time endpoint; on failure keeps the last
/// offset and says so.
async fn sync_clock(exchange: Exchange, rest: &RestClient, clocks: &ExchangeClocks) {
    let t0 = now_ms();
    match rest.server_time().await {
        Ok(server) => {
            let off = clocks.observe(exchange, server, t0, now_ms());
            tracing::info!(
                "CLOCK exchange={exchange} server_time={} offset_ms={off}",
                fmt_ms(server)
            );
        }
        Err(e) => tracing::warn!(
            "CLOCK exchange={exchange}: server time unavailable ({e}); keeping offset {} ms",
            clocks.offset(exchange)
        ),
    }
}

/// Maps WS events to pipeline events; asks for a gap repair of the streams of a connection
/// that came back (candles closed while it was down are not replayed by the stream).
///
/// A candle the exchange says closed but our estimate of its clock says has not ended (the
/// offset went stale: a suspended VM, a stepped local clock) makes it measure the exchange's
/// clock again before passing the candle on, once per candle, so that the pipeline judges it
/// by a fresh offset instead of refusing every closed candle until the next reconnect.
async fn translate(
    exchange: Exchange,
    mut rx: mpsc::Receiver<StreamEvent>,
    tx: mpsc::Sender<Event>,
    repair: mpsc::Sender<Vec<Series>>,
    rest: RestClient,
    clocks: ExchangeClocks,
) {
    let mut conns: HashMap<ConnId, Vec<Series>> = HashMap::new();
    let mut ever: HashSet<Series> = HashSet::new();
    let mut resynced_for: Option<i64> = None;
    while let Some(ev) = rx.recv().await {
        let out: Vec<Event> = match ev {
            StreamEvent::Closed {
                exchange,
                symbol,
                timeframe,
                candle,
                reason,
            } => {
                if let Err(Reject::Forming { ends_in_ms }) =
                    check_closed(exchange, timeframe, &candle, clocks.now(exchange))
                    && resynced_for != Some(candle.open_time)
                {
                    resynced_for = Some(candle.open_time);
                    tracing::info!(
                        "CLOCK exchange={exchange}: {symbol} {timeframe} {} closed by the exchange ends in {ends_in_ms} ms by our clock estimate; measuring the exchange's clock again",
                        fmt_ms(candle.open_time)
                    );
                    sync_clock(exchange, &rest, &clocks).await;
                }
                vec![Event::Closed {
                    series: Series::new(exchange, symbol, timeframe),
                    candles: vec![candle],
                    origin: if reason == CloseReason::RestCorrected {
                        Origin::Correction
                    } else {
                        Origin::Stream
                    },
                }]
            }
            StreamEvent::Failed { stream, reason, .. } => vec![Event::Status {
                series: Series::new(exchange, stream.symbol, stream.timeframe),
                change: StatusChange::Error(reason),
            }],
            StreamEvent::Forming { .. } => vec![],
            StreamEvent::Connected {
                conn_id, streams, ..
            } => {
                let series: Vec<Series> = streams
                    .iter()
                    .map(|s| Series::new(exchange, s.symbol.clone(), s.timeframe))
                    .collect();
                let mut evs = Vec::new();
                let mut again = Vec::new();
                for s in &series {
                    evs.push(Event::Status {
                        series: s.clone(),
                        change: StatusChange::Connected,
                    });
                    if !ever.insert(s.clone()) {
                        again.push(s.clone());
                        evs.push(Event::Status {
                            series: s.clone(),
                            change: StatusChange::Reconnected,
                        });
                    }
                }
                tracing::info!(
                    "STREAM CONNECTED exchange={exchange} conn_id={conn_id} streams={}{}",
                    series.len(),
                    if again.is_empty() {
                        ""
                    } else {
                        " (reconnect: gap repair scheduled)"
                    }
                );
                if !again.is_empty() {
                    let _ = repair.try_send(again);
                }
                conns.insert(conn_id, series);
                evs
            }
            StreamEvent::Disconnected {
                conn_id, reason, ..
            } => conns
                .remove(&conn_id)
                .unwrap_or_default()
                .into_iter()
                .map(|s| Event::Status {
                    series: s,
                    change: StatusChange::Disconnected(reason.clone()),
                })
                .collect(),
        };
        for e in out {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    }
}
