//! The collector pipeline: events from the sources (closed candles, stream status, funding,
//! open interest) → closed-candle rules → batched upserts on the database thread → stream
//! statistics → `state/collector.json` and the health verdict that feeds the watchdog.
//!
//! One task owns all of it, so the statistics need no locks; the database work runs on the
//! [`DbActor`] thread.

use crate::actor::DbActor;
use crate::db;
use crate::error::chain;
use crate::state::{CollectorState, STATE_VERSION, StreamState};
use crate::validate::check_closed;
use crate::{Error, Series, Stop};
use scalp_core::types::{fmt_ms, now_ms};
use scalp_core::{Candle, Exchange};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where candles of an [`Event::Closed`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A WS stream reported them closed.
    Stream,
    /// REST history fetched at start-up.
    Backfill,
    /// REST fetch filling a gap found in the store.
    Repair,
    /// The bundled replay file.
    Replay,
    /// Bitget: the REST values of a candle already stored from the stream, which differed.
    Correction,
}

/// Change of a stream's status, reported by a source.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusChange {
    /// The connection carrying the stream is up (subscribed).
    Connected,
    /// The connection dropped; the source reconnects with backoff.
    Disconnected(String),
    /// A reconnect happened (counted in `reconnects`).
    Reconnected,
    /// A non-fatal error (REST failure, malformed message, ...): stored in `last_error`.
    Error(String),
    /// `n` missing candles were found and repaired by REST.
    GapsRepaired(u64),
    /// Replay: the file is exhausted (healthy idle).
    Finished,
}

/// What sources send to the pipeline.
#[derive(Debug, Clone)]
pub enum Event {
    /// Candles the source considers closed, ascending open times.
    Closed {
        series: Series,
        candles: Vec<Candle>,
        origin: Origin,
    },
    Status {
        series: Series,
        change: StatusChange,
    },
    Funding {
        exchange: Exchange,
        symbol: String,
        rates: Vec<scalp_store::FundingRate>,
    },
    OpenInterest {
        exchange: Exchange,
        symbol: String,
        points: Vec<scalp_store::OpenInterest>,
    },
}

/// Tuning of the pipeline (the collector fills it from `[collector]`).
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// `state/collector.json`; `None` = do not write a state file.
    pub state_path: Option<PathBuf>,
    pub state_interval: Duration,
    /// A stream unhealthy for longer than this makes the whole collector unhealthy.
    pub max_unhealthy: Duration,
    /// A connected live stream whose next closed candle is this late (beyond the end of the
    /// candle after the last stored one) counts as unhealthy (stalled).
    pub overdue_grace: Duration,
    /// Flush when this many candles are pending, or every `flush_interval`.
    pub batch_max: usize,
    pub flush_interval: Duration,
    /// Max `CANDLE CLOSED` log lines per second before they are summarised.
    pub log_lines_per_s: u32,
    pub sources: Vec<Exchange>,
    /// Exchange clocks (the closed-candle rule and the lateness check use exchange time).
    pub clocks: crate::clock::ExchangeClocks,
    /// Period of the health cycle (verdict + heartbeat): 1 s, shorter under a short watchdog.
    pub health_interval: Duration,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            state_path: None,
            state_interval: Duration::from_secs(5),
            max_unhealthy: Duration::from_secs(600),
            overdue_grace: Duration::from_secs(95),
            batch_max: 2_000,
            flush_interval: Duration::from_millis(200),
            log_lines_per_s: 20,
            sources: vec![Exchange::Replay],
            clocks: Default::default(),
            health_interval: Duration::from_secs(1),
        }
    }
}

/// Called once per health cycle (every second) by the pipeline loop: `healthy` is the verdict,
/// `status` a one-line summary for `systemctl status`. The collector beats the watchdog here.
pub trait Progress: Send {
    fn cycle(&mut self, healthy: bool, status: &str);
}

impl Progress for () {
    fn cycle(&mut self, _healthy: bool, _status: &str) {}
}

/// Totals returned when the pipeline stops.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub candles_stored: u64,
    pub rejected: u64,
}

#[derive(Debug)]
struct Stats {
    st: StreamState,
    connected_at: Option<i64>,
    /// The newest stored candles (at most the data-quality look-back), for the live
    /// data-quality pass.
    recent: std::collections::VecDeque<Candle>,
}

/// Candles kept per stream for the data-quality pass: the ATR look-back plus the candle judged.
const QUALITY_LOOKBACK: usize = scalp_core::quality::WICK_ATR_PERIOD + 1;

/// The data-quality pass (`scalp_core::quality`, the one shared by every reader) over candles
/// just stored: outlier wicks among `new`, judged against the stored candles before them
/// (`recent`). The pass is causal — a candle's verdict depends only on the candles before it —
/// so the difference of two passes counts exactly the new candles' findings.
fn quality_findings(
    recent: &std::collections::VecDeque<Candle>,
    new: &[Candle],
    tf: scalp_core::Timeframe,
) -> usize {
    let old: Vec<Candle> = recent.iter().copied().collect();
    let mut all = old.clone();
    all.extend_from_slice(new);
    let q_all = scalp_core::quality::check(&all, tf);
    let q_old = scalp_core::quality::check(&old, tf);
    q_all.outlier_wicks.saturating_sub(q_old.outlier_wicks)
}

/// Rate limiter for the per-candle `CANDLE CLOSED` lines.
#[derive(Debug)]
struct LineBudget {
    per_s: u32,
    window_start: i64,
    used: u32,
    suppressed: u64,
    last_summary: i64,
}

impl LineBudget {
    fn take(&mut self, now: i64) -> bool {
        if now - self.window_start >= 1_000 {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.per_s {
            self.used += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

/// The pipeline task. Build with [`Pipeline::new`], then [`Pipeline::run`].
pub struct Pipeline {
    db: DbActor<db::Conn>,
    opts: PipelineOptions,
    streams: BTreeMap<Series, Stats>,
    pending: BTreeMap<Series, Vec<(Candle, Origin)>>,
    pending_len: usize,
    /// A candle a WS stream closed is pending: stored as soon as the queue is drained, not at
    /// the next flush tick (strategies trade on it; REST and replay batches keep the tick).
    stream_pending: bool,
    writer: Option<scalp_statefile::StateWriter<CollectorState>>,
    started_at: String,
    total: u64,
    funding_total: u64,
    oi_total: u64,
    rejected_total: u64,
    db_error: Option<String>,
    lines: LineBudget,
    healthy: bool,
    ws_stats: Vec<scalp_exchange::stream::StreamStats>,
}

impl Pipeline {
    /// `streams` are the series the sources will report on (listed in the state file from the
    /// start, with their last stored open time).
    pub fn new(
        db: DbActor<db::Conn>,
        opts: PipelineOptions,
        streams: Vec<(Series, Option<i64>)>,
    ) -> Result<Self, Error> {
        let writer = match &opts.state_path {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| Error::CreateStateDir {
                        dir: dir.to_path_buf(),
                        source,
                    })?;
                }
                Some(scalp_statefile::StateWriter::new(p.clone(), STATE_VERSION)?)
            }
            None => None,
        };
        let mut p = Pipeline {
            db,
            lines: LineBudget {
                per_s: opts.log_lines_per_s,
                window_start: 0,
                used: 0,
                suppressed: 0,
                last_summary: now_ms(),
            },
            opts,
            streams: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_len: 0,
            stream_pending: false,
            writer,
            started_at: fmt_ms(now_ms()),
            total: 0,
            funding_total: 0,
            oi_total: 0,
            rejected_total: 0,
            db_error: None,
            healthy: true,
            ws_stats: Vec::new(),
        };
        for (s, last) in streams {
            p.stats(&s).st.last_closed_open_time = last;
        }
        Ok(p)
    }

    /// Merges a live source's WS statistics (reconnects, last error) into the state file.
    pub fn add_ws_stats(&mut self, stats: scalp_exchange::stream::StreamStats) {
        self.ws_stats.push(stats);
    }

    fn stats(&mut self, s: &Series) -> &mut Stats {
        self.streams.entry(s.clone()).or_insert_with(|| Stats {
            st: StreamState {
                exchange: s.exchange,
                symbol: s.symbol.clone(),
                timeframe: s.timeframe,
                connected: false,
                last_closed_open_time: None,
                last_closed_stored_at: None,
                lag_ms: None,
                reconnects: 0,
                gaps_repaired: 0,
                rejected: 0,
                candles_stored: 0,
                last_error: None,
                failed: None,
                corrections: 0,
                quality_warnings: 0,
                unhealthy_since: None,
                finished: false,
            },
            connected_at: None,
            recent: std::collections::VecDeque::new(),
        })
    }

    /// Runs until `stop` is raised: then drains what the sources already sent, flushes, writes
    /// the final state file and returns. Sources finishing (their senders dropped) does not stop
    /// the pipeline: a finished replay stays up, idle and healthy. It does not fail: a database
    /// error is kept in the state file (`db_error`) and the candles are written again later.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Event>,
        stop: Stop,
        mut progress: impl Progress,
    ) -> Summary {
        let mut flush_tick = tokio::time::interval(self.opts.flush_interval);
        let mut health_tick = tokio::time::interval(self.opts.health_interval);
        let mut state_tick = tokio::time::interval(self.opts.state_interval);
        for t in [&mut flush_tick, &mut health_tick, &mut state_tick] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut rx_open = true;
        loop {
            if stop.is_triggered() {
                break;
            }
            tokio::select! {
                biased;
                _ = stop.wait() => break,
                _ = health_tick.tick() => {
                    self.flush().await;
                    let healthy = self.evaluate(now_ms());
                    progress.cycle(healthy, &self.status_line());
                }
                _ = state_tick.tick() => self.write_state().await,
                _ = flush_tick.tick() => self.flush().await,
                ev = rx.recv(), if rx_open => match ev {
                    Some(ev) => {
                        self.handle(ev).await;
                        // what is already queued joins this batch (a REST page, a burst of
                        // streams closing together); a stream's closed candle is then stored
                        // at once, the rest at the flush tick or when the batch is full
                        while self.pending_len < self.opts.batch_max {
                            match rx.try_recv() {
                                Ok(ev) => self.handle(ev).await,
                                Err(_) => break,
                            }
                        }
                        if self.stream_pending || self.pending_len >= self.opts.batch_max {
                            self.flush().await;
                        }
                    }
                    None => rx_open = false,
                },
            }
        }
        // Shutdown: take what is already queued, store it, write the final state.
        while let Ok(ev) = rx.try_recv() {
            self.handle(ev).await;
        }
        self.flush().await;
        self.evaluate(now_ms());
        self.write_state().await;
        tracing::info!(
            "COLLECTOR FLUSHED candles_stored_total={} rejected={}",
            self.total,
            self.rejected_total
        );
        Summary {
            candles_stored: self.total,
            rejected: self.rejected_total,
        }
    }

    async fn handle(&mut self, ev: Event) {
        match ev {
            Event::Closed {
                series,
                candles,
                origin,
            } => {
                let mut refused = 0u64;
                let mut accepted = Vec::with_capacity(candles.len());
                let ex_now = self.opts.clocks.now(series.exchange);
                for c in candles {
                    match check_closed(series.exchange, series.timeframe, &c, ex_now) {
                        Ok(()) => accepted.push((c, origin)),
                        Err(why) => {
                            refused += 1;
                            tracing::warn!(
                                "CANDLE REJECTED exchange={} symbol={} tf={} open_time={} reason={why}",
                                series.exchange,
                                series.symbol,
                                series.timeframe,
                                fmt_ms(c.open_time)
                            );
                        }
                    }
                }
                if refused > 0 {
                    self.rejected_total += refused;
                    self.stats(&series).st.rejected += refused;
                }
                if !accepted.is_empty() {
                    self.stream_pending |= accepted.iter().any(|(_, o)| *o == Origin::Stream);
                    self.pending_len += accepted.len();
                    self.pending.entry(series).or_default().extend(accepted);
                }
            }
            Event::Status { series, change } => {
                let ex_now = self.opts.clocks.now(series.exchange);
                let stats = self.stats(&series);
                let st = &mut stats.st;
                match change {
                    StatusChange::Connected => {
                        st.connected = true;
                        stats.connected_at = Some(ex_now);
                    }
                    StatusChange::Disconnected(e) => {
                        st.connected = false;
                        st.last_error = Some(e);
                    }
                    StatusChange::Reconnected => st.reconnects += 1,
                    StatusChange::Error(e) => st.last_error = Some(e),
                    StatusChange::GapsRepaired(n) => st.gaps_repaired += n,
                    StatusChange::Finished => {
                        st.finished = true;
                        st.connected = true;
                    }
                }
            }
            Event::Funding {
                exchange,
                symbol,
                rates,
            } => {
                let n = rates.len();
                let sym = symbol.clone();
                match self
                    .db
                    .call(move |c| db::upsert_funding(c, exchange, &sym, &rates))
                    .await
                {
                    Ok(Ok(written)) => {
                        self.funding_total += written as u64;
                        tracing::info!(
                            "FUNDING STORED exchange={exchange} symbol={symbol} rows={n} new={written}"
                        );
                    }
                    Ok(Err(e)) => {
                        self.db_failed(format!("funding {exchange}/{symbol}: {}", chain(&e)))
                    }
                    Err(e) => self.db_failed(e.to_string()),
                }
            }
            Event::OpenInterest {
                exchange,
                symbol,
                points,
            } => {
                let sym = symbol.clone();
                match self
                    .db
                    .call(move |c| db::upsert_open_interest(c, exchange, &sym, &points))
                    .await
                {
                    Ok(Ok(written)) => {
                        self.oi_total += written as u64;
                        tracing::debug!(
                            "OPEN INTEREST STORED exchange={exchange} symbol={symbol} new={written}"
                        );
                    }
                    Ok(Err(e)) => {
                        self.db_failed(format!("open interest {exchange}/{symbol}: {}", chain(&e)))
                    }
                    Err(e) => self.db_failed(e.to_string()),
                }
            }
        }
    }

    fn db_failed(&mut self, msg: String) {
        tracing::error!("DB WRITE FAILED: {msg}");
        self.db_error = Some(msg);
    }

    /// Writes every pending candle in one transaction per series (on the DB thread).
    async fn flush(&mut self) {
        if self.pending_len == 0 {
            return;
        }
        let batches: Vec<(Series, Vec<(Candle, Origin)>)> =
            std::mem::take(&mut self.pending).into_iter().collect();
        self.pending_len = 0;
        self.stream_pending = false;
        let jobs: Vec<(Series, Vec<Candle>)> = batches
            .iter()
            .map(|(s, v)| (s.clone(), v.iter().map(|(c, _)| *c).collect()))
            .collect();
        let res = self
            .db
            .call(move |conn| -> Result<Vec<usize>, scalp_store::StoreError> {
                jobs.iter()
                    .map(|(s, c)| db::upsert_candles(conn, s, c))
                    .collect()
            })
            .await;
        let written = match res {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => {
                self.db_failed(format!("candles: {}", chain(&e)));
                self.requeue(batches);
                return;
            }
            Err(e) => {
                self.db_failed(e.to_string());
                self.requeue(batches);
                return;
            }
        };
        self.db_error = None;
        let now = now_ms();
        for ((series, items), n_written) in batches.into_iter().zip(written) {
            self.total += n_written as u64;
            let mut log_each = Vec::new();
            {
                let ex_now = self.opts.clocks.now(series.exchange);
                let stats = self.stats(&series);
                let st = &mut stats.st;
                st.candles_stored += n_written as u64;
                let newest = items.iter().map(|(c, _)| c.open_time).max();
                if let Some(newest) = newest
                    && st.last_closed_open_time.is_none_or(|t| newest >= t)
                {
                    st.last_closed_open_time = Some(newest);
                    st.last_closed_stored_at = Some(now);
                    // Ingest delay, when the newest candle came from the live stream.
                    let streamed = items
                        .iter()
                        .any(|(c, o)| *o == Origin::Stream && c.open_time == newest);
                    st.lag_ms = (series.exchange != Exchange::Replay && streamed)
                        .then(|| ex_now - (newest + series.timeframe.ms()));
                }
            }
            let (first, last) = (items[0].0.open_time, items[items.len() - 1].0.open_time);
            // The shared data-quality pass on what the live sources stored (the replay file is
            // checked as a whole when it is opened).
            if series.exchange != Exchange::Replay {
                let mut fresh: Vec<Candle> = items.iter().map(|(c, _)| *c).collect();
                fresh.sort_by_key(|c| c.open_time);
                fresh.dedup_by_key(|c| c.open_time);
                let stats = self.stats(&series);
                let newest_known = stats.recent.back().map(|c| c.open_time);
                // only candles after the ones already judged (a repair fills older holes)
                let judged: Vec<Candle> = fresh
                    .into_iter()
                    .filter(|c| newest_known.is_none_or(|t| c.open_time > t))
                    .collect();
                let n = quality_findings(&stats.recent, &judged, series.timeframe);
                for c in &judged {
                    stats.recent.push_back(*c);
                    if stats.recent.len() > QUALITY_LOOKBACK {
                        stats.recent.pop_front();
                    }
                }
                if n > 0 {
                    stats.st.quality_warnings += n as u64;
                    tracing::warn!(
                        "DATA QUALITY exchange={} symbol={} tf={}: {n} outlier wick(s) (range > {} × ATR{}) among the candles stored from {} to {}",
                        series.exchange,
                        series.symbol,
                        series.timeframe,
                        scalp_core::quality::WICK_ATR_K,
                        scalp_core::quality::WICK_ATR_PERIOD,
                        fmt_ms(first),
                        fmt_ms(last)
                    );
                }
            }
            for (c, origin) in &items {
                match origin {
                    Origin::Stream | Origin::Replay => log_each.push(*c),
                    _ => {}
                }
            }
            let bulk = items.len() - log_each.len();
            if bulk > 0 {
                let origin = items
                    .iter()
                    .find(|(_, o)| {
                        matches!(o, Origin::Backfill | Origin::Repair | Origin::Correction)
                    })
                    .map(|x| x.1);
                tracing::info!(
                    "CANDLES {} exchange={} symbol={} tf={} count={bulk} written={n_written} from={} to={}",
                    match origin {
                        Some(Origin::Repair) => "REPAIRED",
                        Some(Origin::Correction) => "CORRECTED",
                        _ => "BACKFILLED",
                    },
                    series.exchange,
                    series.symbol,
                    series.timeframe,
                    fmt_ms(first),
                    fmt_ms(last)
                );
            }
            for c in log_each {
                if self.lines.take(now) {
                    tracing::info!(
                        "CANDLE CLOSED exchange={} symbol={} tf={} open_time={} close={} volume={}",
                        series.exchange,
                        series.symbol,
                        series.timeframe,
                        fmt_ms(c.open_time),
                        c.close,
                        c.volume
                    );
                }
            }
        }
        if self.lines.suppressed > 0 && now - self.lines.last_summary >= 5_000 {
            tracing::info!(
                "CANDLES STORED summary: {} candle lines not logged individually in the last {} s (> {}/s); candles_stored_total={}",
                self.lines.suppressed,
                (now - self.lines.last_summary) / 1_000,
                self.opts.log_lines_per_s,
                self.total
            );
            self.lines.suppressed = 0;
            self.lines.last_summary = now;
        }
    }

    fn requeue(&mut self, batches: Vec<(Series, Vec<(Candle, Origin)>)>) {
        for (s, v) in batches {
            self.pending_len += v.len();
            let e = self.pending.entry(s).or_default();
            let mut v = v;
            v.append(e);
            *e = v;
        }
    }

    /// Updates each stream's `unhealthy_since` and the collector's verdict (`healthy`, in the
    /// state file), and returns whether the work is progressing for the watchdog: the same
    /// verdict except that streams the exchange refused (`failed`) do not count there — a
    /// restart cannot fix a refused subscription, and the other streams must keep being
    /// collected.
    fn evaluate(&mut self, now: i64) -> bool {
        let mut refused = false;
        let grace = self.opts.overdue_grace.as_millis() as i64;
        let max_unhealthy = self.opts.max_unhealthy.as_millis() as i64;
        let mut healthy = self.db_error.is_none();
        for (series, stats) in self.streams.iter_mut() {
            let ex_now = self.opts.clocks.now(series.exchange);
            let st = &mut stats.st;
            let spec = scalp_exchange::stream::StreamSpec::new(&series.symbol, series.timeframe);
            let failed = self.ws_stats.iter().any(|ws| {
                ws.get(&spec)
                    .is_some_and(|w| w.exchange == series.exchange && w.failed.is_some())
            });
            if failed {
                // refused by the exchange: no data will come, whatever the grace
                refused = true;
            }
            let ok = if failed {
                true // judged by `refused` above
            } else if series.exchange == Exchange::Replay {
                st.connected
            } else if !st.connected {
                false
            } else {
                // Next close expected at the end of the candle after the last stored one.
                let tf = series.timeframe.ms();
                let reference = match (st.last_closed_open_time, stats.connected_at) {
                    (Some(t), Some(c)) => (t + 2 * tf).max(c + tf),
                    (Some(t), None) => t + 2 * tf,
                    (None, Some(c)) => c + tf,
                    (None, None) => ex_now,
                };
                ex_now <= reference + grace
            };
            if ok {
                st.unhealthy_since = None;
            } else {
                let since = *st.unhealthy_since.get_or_insert(now);
                if now - since > max_unhealthy {
                    healthy = false;
                }
            }
        }
        let progressing = healthy;
        let healthy = healthy && !refused;
        if healthy != self.healthy {
            if healthy {
                tracing::info!("COLLECTOR HEALTHY again");
            } else if progressing {
                tracing::warn!(
                    "COLLECTOR UNHEALTHY: the exchange refuses streams (see `failed` in the state file); the others are collected"
                );
            } else {
                let bad: Vec<String> = self
                    .streams
                    .iter()
                    .filter(|(_, s)| s.st.unhealthy_since.is_some())
                    .map(|(k, _)| k.to_string())
                    .collect();
                tracing::warn!(
                    "COLLECTOR UNHEALTHY: streams unhealthy for > {} s: {} {}",
                    max_unhealthy / 1_000,
                    bad.join(" "),
                    self.db_error
                        .as_deref()
                        .map(|e| format!("db_error={e}"))
                        .unwrap_or_default()
                );
            }
            self.healthy = healthy;
        }
        progressing
    }

    fn status_line(&self) -> String {
        let n = self.streams.len();
        let up = self
            .streams
            .values()
            .filter(|s| s.st.unhealthy_since.is_none())
            .count();
        format!(
            "{} streams healthy of {n}; {} candles stored{}",
            up,
            self.total,
            if self.healthy { "" } else { "; UNHEALTHY" }
        )
    }

    /// The current state-file payload.
    pub fn snapshot(&self) -> CollectorState {
        CollectorState {
            pid: std::process::id(),
            started_at: self.started_at.clone(),
            sources: self.opts.sources.clone(),
            candles_stored_total: self.total,
            funding_rates_stored_total: self.funding_total,
            open_interest_stored_total: self.oi_total,
            healthy: self.healthy,
            db_error: self.db_error.clone(),
            rss_kb: crate::state::rss_kb(),
            streams: self.streams.values().map(|s| self.merged(&s.st)).collect(),
        }
    }

    fn merged(&self, st: &StreamState) -> StreamState {
        let mut st = st.clone();
        let spec = scalp_exchange::stream::StreamSpec::new(&st.symbol, st.timeframe);
        for ws in &self.ws_stats {
            if let Some(w) = ws.get(&spec).filter(|w| w.exchange == st.exchange) {
                st.reconnects = st.reconnects.max(w.reconnects);
                st.failed = w.failed.clone();
                st.corrections = w.corrections;
                if st.last_error.is_none() {
                    st.last_error = w.last_error.clone();
                }
            }
        }
        st
    }

    async fn write_state(&mut self) {
        let Some(mut w) = self.writer.take() else {
            return;
        };
        let payload = self.snapshot();
        let (w, res) = match tokio::task::spawn_blocking(move || {
            let r = w.write(&payload);
            (w, r)
        })
        .await
        {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("state file writer task failed: {e}");
                return;
            }
        };
        if let Err(e) = res {
            tracing::error!("cannot write the state file: {e}");
        }
        self.writer = Some(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalp_core::Timeframe;

    fn candle(t: i64) -> Candle {
        Candle {
            open_time: t,
            open: 100.0,
            high: 101.5,
            low: 99.25,
            close: 100.75,
            volume: 12.5,
        }
    }

    /// A pipeline running on a fresh database in `dir` for one Binance 1m series.
    struct Running {
        db: DbActor<db::Conn>,
        join: std::thread::JoinHandle<()>,
        s: Series,
        tx: mpsc::Sender<Event>,
        stop: Stop,
        h: tokio::task::JoinHandle<Summary>,
    }

    impl Running {
        fn start(dir: &std::path::Path, opts: PipelineOptions) -> Running {
            let p = dir.join("t.db");
            let (db, join) = DbActor::spawn("db", move || db::open(&p)).unwrap();
            let s = Series::new(Exchange::Binance, "BTCUSDT", Timeframe::M1);
            let pipe = Pipeline::new(db.clone(), opts, vec![(s.clone(), None)]).unwrap();
            let (tx, rx) = mpsc::channel(64);
            let stop = Stop::new();
            let h = tokio::spawn(pipe.run(rx, stop.clone(), ()));
            Running {
                db,
                join,
                s,
                tx,
                stop,
                h,
            }
        }

        async fn send(&self, ev: Event) {
            self.tx.send(ev).await.unwrap();
        }

        async fn stored(&self) -> Vec<Candle> {
            let key = self.s.clone();
            self.db
                .call(move |c| scalp_store::candles::load(c, &key.key(), i64::MIN, i64::MAX))
                .await
                .unwrap()
                .unwrap()
        }

        /// Stops the pipeline: its summary and what it stored.
        async fn stop(mut self) -> (Summary, Vec<Candle>) {
            self.stop.trigger();
            let summary = (&mut self.h).await.unwrap();
            let stored = self.stored().await;
            drop(self.db);
            self.join.join().unwrap();
            (summary, stored)
        }
    }

    /// The shared data-quality pass runs on live candles as they are stored: an outlier wick is
    /// counted in `quality_warnings` (once, also across batches) and the candles are still stored.
    #[tokio::test]
    async fn live_candles_go_through_the_data_quality_pass() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/collector.json");
        let p = Running::start(
            dir.path(),
            PipelineOptions {
                state_path: Some(state.clone()),
                sources: vec![Exchange::Binance],
                // each batch below is flushed (stored and judged) on its own
                batch_max: 25,
                ..PipelineOptions::default()
            },
        );
        let forming = Timeframe::M1.align(now_ms());
        let mut all: Vec<Candle> = (1..=40)
            .map(|i| candle(forming - i * 60_000))
            .rev()
            .collect();
        // one candle whose range is ~100× the others' (a bad print)
        all[30].low = 1.0;
        // two batches of ≥ batch_max: two flushes; the look-back carries over between them
        for chunk in [&all[..25], &all[15..]] {
            p.send(Event::Closed {
                series: p.s.clone(),
                candles: chunk.to_vec(),
                origin: Origin::Backfill,
            })
            .await;
        }
        p.stop().await;
        let env = scalp_statefile::read::<CollectorState>(&state, STATE_VERSION)
            .ok()
            .unwrap();
        let st = &env.payload.streams[0];
        assert_eq!(st.quality_warnings, 1, "{st:?}");
        assert_eq!(st.candles_stored, 40);
    }

    #[tokio::test]
    async fn stores_closed_candles_refuses_forming_ones_and_writes_state() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/collector.json");
        let p = Running::start(
            dir.path(),
            PipelineOptions {
                state_path: Some(state.clone()),
                sources: vec![Exchange::Binance],
                ..PipelineOptions::default()
            },
        );
        let s = p.s.clone();
        let forming = Timeframe::M1.align(now_ms());
        let closed: Vec<Candle> = (1..=5)
            .map(|i| candle(forming - i * 60_000))
            .rev()
            .collect();
        p.send(Event::Status {
            series: s.clone(),
            change: StatusChange::Connected,
        })
        .await;
        let mut batch = closed.clone();
        batch.push(candle(forming));
        p.send(Event::Closed {
            series: s.clone(),
            candles: batch,
            origin: Origin::Stream,
        })
        .await;
        // Same candles again (a reconnect replay): no duplicate rows.
        p.send(Event::Closed {
            series: s.clone(),
            candles: closed.clone(),
            origin: Origin::Repair,
        })
        .await;
        p.send(Event::Status {
            series: s.clone(),
            change: StatusChange::GapsRepaired(2),
        })
        .await;
        let (summary, stored) = p.stop().await;
        assert_eq!(
            summary,
            Summary {
                candles_stored: 5,
                rejected: 1
            }
        );
        assert_eq!(stored, closed);
        let env = scalp_statefile::read::<CollectorState>(&state, STATE_VERSION)
            .ok()
            .unwrap();
        let st = &env.payload.streams[0];
        assert_eq!(st.rejected, 1);
        assert_eq!(st.candles_stored, 5);
        assert_eq!(st.gaps_repaired, 2);
        assert!(st.connected);
        assert_eq!(st.last_closed_open_time, Some(closed[4].open_time));
        assert!(st.lag_ms.is_some());
        assert_eq!(env.payload.candles_stored_total, 5);
    }

    /// A candle a WS stream closed is committed at once (strategies trade on it), not at the
    /// next flush tick; a REST batch waits for the tick.
    #[tokio::test]
    async fn a_stream_closed_candle_is_stored_at_once_a_backfill_batch_at_the_tick() {
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        let p = Running::start(
            dir.path(),
            PipelineOptions {
                sources: vec![Exchange::Binance],
                flush_interval: hour,
                health_interval: hour,
                state_interval: hour,
                ..PipelineOptions::default()
            },
        );
        // The ticks' first rounds are due at once but complete on the timer's next turn, so an
        // event sent right away could be handled before them and flushed by the first flush
        // tick: let them pass first.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = Timeframe::M1.align(now_ms()) - 10 * 60_000;
        p.send(Event::Closed {
            series: p.s.clone(),
            candles: vec![candle(t), candle(t + 60_000)],
            origin: Origin::Backfill,
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            p.stored().await.len(),
            0,
            "a backfill batch waits for the flush tick"
        );
        p.send(Event::Closed {
            series: p.s.clone(),
            candles: vec![candle(t + 120_000)],
            origin: Origin::Stream,
        })
        .await;
        let mut n = 0;
        for _ in 0..500 {
            n = p.stored().await.len();
            if n == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            n, 3,
            "the stream's candle (with what was pending) is stored before any tick"
        );
        p.stop().await;
    }

    #[test]
    fn unhealthy_only_after_max_unhealthy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        let (db, _join) = DbActor::spawn("db", move || db::open(&p)).unwrap();
        let opts = PipelineOptions {
            max_unhealthy: Duration::from_secs(10),
            ..PipelineOptions::default()
        };
        let s = Series::new(Exchange::Bitget, "BTCUSDT", Timeframe::M1);
        let mut pipe = Pipeline::new(db, opts, vec![(s.clone(), None)]).unwrap();
        let t = now_ms();
        // Never connected: unhealthy from the first evaluation, but within bounds for 10 s.
        assert!(pipe.evaluate(t));
        assert!(pipe.evaluate(t + 9_000));
        assert!(!pipe.evaluate(t + 10_001));
        // Connected and fresh: healthy again, and the clock restarts.
        let st = &mut pipe.stats(&s);
        st.st.connected = true;
        st.connected_at = Some(t + 10_000);
        assert!(pipe.evaluate(t + 11_000));
        assert_eq!(pipe.snapshot().streams[0].unhealthy_since, None);
    }
}
