//! `scalp-collector`: the daemon (Linux-only; uses scalp-runtime). Wires the sources chosen in
//! `[collector].sources` to the [`Pipeline`] and the pipeline's health to the watchdog.

use crate::actor::DbActor;
use crate::live::LiveSource;
use crate::pipeline::{Event, Pipeline, PipelineOptions, Progress};
use crate::replay::ReplaySource;
use crate::state::STATE_FILE;
use crate::{Error, Series, Stop, db};
use scalp_core::Exchange;
use scalp_core::config::Config;
use scalp_runtime::{Ctx, Daemon, DaemonArgs, Heartbeat, Notifier};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Entry point of the `scalp-collector` binary.
pub fn main(args: &DaemonArgs) -> ExitCode {
    scalp_runtime::run_daemon::<Collector>(args)
}

/// Validates what `--check-config` can check beyond the schema: the replay file (read and
/// parsed in full), the exchange clients' URLs.
pub fn check(cfg: &Config) -> Result<(), Error> {
    for ex in &cfg.main.collector.sources {
        match ex {
            Exchange::Replay => {
                ReplaySource::load(cfg)?;
            }
            live => {
                scalp_exchange::RestClient::new(*live, &cfg.main.exchanges).map_err(|source| {
                    Error::ExchangeConfig {
                        config: cfg.path.clone(),
                        exchange: *live,
                        source: Box::new(source),
                    }
                })?;
            }
        }
    }
    Ok(())
}

/// The initialised collector (DB open, sources built, pipeline ready).
pub struct Collector {
    db: DbActor<db::Conn>,
    db_thread: std::thread::JoinHandle<()>,
    pipeline: Pipeline,
    replay: Option<(ReplaySource, Option<(i64, usize)>)>,
    live: Vec<LiveSource>,
}

/// The runtime's boundary: `scalp_runtime::Daemon` speaks `anyhow::Result`, so the typed
/// [`Error`]s of [`check`] and [`Collector::open`] are converted here and nowhere else (the
/// runtime prints the whole chain, `{:#}`).
impl Daemon for Collector {
    const NAME: &'static str = "scalp-collector";

    fn check(cfg: &Config) -> anyhow::Result<()> {
        Ok(check(cfg)?)
    }

    async fn init(ctx: &Ctx) -> anyhow::Result<Self> {
        Ok(Collector::open(ctx).await?)
    }

    async fn run(self, ctx: Ctx) -> anyhow::Result<()> {
        self.collect(ctx).await;
        Ok(())
    }
}

impl Collector {
    /// Opens the database, builds the sources and the pipeline (`init`: `READY=1` follows).
    async fn open(ctx: &Ctx) -> Result<Self, Error> {
        let cfg = ctx.config.clone();
        let db_path = cfg.db_path();
        tracing::info!("opening database {}", db_path.display());
        let p = db_path.clone();
        let (db, db_thread) = tokio::task::spawn_blocking(move || {
            DbActor::spawn("collector-db", move || db::open(&p))
        })
        .await??;
        let mut streams: Vec<Series> = Vec::new();
        let mut replay = None;
        let mut live = Vec::new();
        let clocks = crate::clock::ExchangeClocks::new();
        for ex in &cfg.main.collector.sources {
            match ex {
                Exchange::Replay => {
                    let src = ReplaySource::load(&cfg)?;
                    streams.push(src.series.clone());
                    replay = Some(src);
                }
                other => {
                    let src = LiveSource::new(cfg.clone(), *other, clocks.clone())?;
                    streams.extend(src.series().iter().cloned());
                    live.push(src);
                }
            }
        }
        let list = streams.clone();
        let lasts = db
            .call(
                move |c| -> Result<Vec<(Series, Option<i64>)>, scalp_store::StoreError> {
                    list.into_iter()
                        .map(|s| {
                            let l = db::last_open_time(c, &s)?;
                            Ok((s, l))
                        })
                        .collect()
                },
            )
            .await??;
        for src in &mut live {
            src.set_last_stored(&lasts);
        }
        let replay = replay.map(|src| {
            let last = lasts
                .iter()
                .find(|(s, _)| *s == src.series)
                .and_then(|x| x.1);
            let at = src.resume_at(last);
            match (last, at) {
                (None, _) => tracing::info!("replay: empty series, starting at the first candle"),
                (Some(l), Some((pass, i))) => tracing::info!(
                    "replay: RESUMING after stored open_time={} at index {i} (pass {pass})",
                    scalp_core::types::fmt_ms(l)
                ),
                (Some(l), None) => tracing::info!(
                    "replay: all {} candles already stored (last open_time={}); nothing to replay",
                    src.len(),
                    scalp_core::types::fmt_ms(l)
                ),
            }
            (src, at)
        });
        let c = &cfg.main.collector;
        let opts = PipelineOptions {
            state_path: Some(cfg.state_dir().join(STATE_FILE)),
            state_interval: Duration::from_secs(c.state_interval_s.max(1)),
            max_unhealthy: Duration::from_secs(c.max_unhealthy_s),
            overdue_grace: Duration::from_millis(
                c.stall_timeout_s * 1_000 + c.bitget_close_grace_ms,
            ),
            sources: c.sources.clone(),
            clocks,
            // Beat at least 4 times per watchdog timeout (pings go out every half of it).
            health_interval: ctx
                .notifier
                .watchdog_timeout()
                .map(|w| (w / 4).clamp(Duration::from_millis(50), Duration::from_secs(1)))
                .unwrap_or(Duration::from_secs(1)),
            ..PipelineOptions::default()
        };
        let pipeline = Pipeline::new(db.clone(), opts, lasts)?;
        Ok(Collector {
            db,
            db_thread,
            pipeline,
            replay,
            live,
        })
    }

    /// The work loop (`run`): until the shutdown, then the sources end and the state is saved.
    /// It does not fail: errors of the sources and the database are in the state file.
    async fn collect(self, ctx: Ctx) {
        let Collector {
            db,
            db_thread,
            mut pipeline,
            replay,
            live,
        } = self;
        let stop = Stop::new();
        {
            let (shutdown, stop) = (ctx.shutdown.clone(), stop.clone());
            tokio::spawn(async move {
                shutdown.wait().await;
                stop.trigger();
            });
        }
        let (tx, rx) = mpsc::channel::<Event>(1_024);
        let mut tasks = Vec::new();
        if let Some((src, at)) = replay {
            tasks.push(tokio::spawn(src.run(at, tx.clone(), stop.clone())));
        }
        for src in live {
            let h = src.start(db.clone(), tx.clone(), stop.clone());
            pipeline.add_ws_stats(h.stats.clone());
            tasks.push(h.task);
        }
        drop(tx);
        tracing::info!(
            "COLLECTOR RUNNING sources={:?}",
            ctx.config.main.collector.sources
        );
        let progress = Watchdog {
            hb: ctx.heartbeat.clone(),
            notifier: ctx.notifier.clone(),
            last_status: String::new(),
            last_sent: None,
        };
        let summary = pipeline.run(rx, stop.clone(), progress).await;
        // Sources have seen the stop; give them a moment to end their requests.
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        for t in tasks {
            tokio::select! {
                _ = &mut deadline => break,
                _ = t => {}
            }
        }
        drop(db);
        let _ = tokio::task::spawn_blocking(move || db_thread.join()).await;
        tracing::info!(
            "COLLECTOR STOPPED candles_stored_total={} rejected={}",
            summary.candles_stored,
            summary.rejected
        );
    }
}

/// Feeds the pipeline's health cycles to the watchdog heartbeat and `STATUS=`.
struct Watchdog {
    hb: Heartbeat,
    notifier: Notifier,
    last_status: String,
    last_sent: Option<Instant>,
}

impl Progress for Watchdog {
    fn cycle(&mut self, healthy: bool, status: &str) {
        self.hb.set_healthy(healthy);
        if healthy {
            self.hb.beat();
        }
        let stale = self
            .last_sent
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if status != self.last_status && stale {
            self.notifier.status(status);
            self.last_status = status.to_string();
            self.last_sent = Some(Instant::now());
        }
    }
}
