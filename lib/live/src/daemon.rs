//! `scalp-executor@<strategy>` under systemd (Type=notify, scalp-runtime): READY after the
//! account is set up and reconciled; WATCHDOG only while the private WebSocket is logged in and
//! the passes complete; SIGTERM → the state is already committed, the state file is written
//! once more, exit 0. Refusals (strategy not enabled / not live-eligible, keys rejected) exit 2,
//! which the unit does not restart.
//!
//! The executor runs on its own thread with a current-thread runtime (its SQLite connection
//! never crosses threads). Wake-ups: the private WebSocket's pushes (a fill → protection within
//! a round trip), `notify` on the database directory (a new candle) and the control directory,
//! and the poll interval as the guarantee.

use crate::exec::{Executor, Refused, broker_config, control_files};
use crate::state::{STATE_VERSION, state_file};
use notify::{RecursiveMode, Watcher};
use scalp_broker::ws::{PrivateStream, WsEvent};
use scalp_broker::{BrokerError, Credentials};
use scalp_core::config::Config;
use scalp_runtime::{Ctx, Daemon, DaemonArgs, Fatal, run_daemon};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static STRATEGY: OnceLock<String> = OnceLock::new();

fn strategy() -> &'static str {
    STRATEGY.get().map(String::as_str).unwrap_or("")
}

fn is_fatal(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>().is_some()
        || matches!(
            e.downcast_ref::<BrokerError>(),
            Some(
                BrokerError::Auth { .. }
                    | BrokerError::Credentials(_)
                    | BrokerError::AccountMode(_)
                    | BrokerError::LeverageUnderOpenPosition { .. }
                    | BrokerError::PositionMode { .. }
            )
        )
}

fn fatal_or(e: anyhow::Error) -> anyhow::Error {
    if is_fatal(&e) {
        anyhow::Error::new(Fatal(format!("{e:#}")))
    } else {
        e
    }
}

pub struct ExecDaemon {
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl Daemon for ExecDaemon {
    const NAME: &'static str = "scalp-executor";

    fn check(cfg: &Config) -> anyhow::Result<()> {
        crate::exec::check_strategy(cfg, strategy())?;
        let plans = crate::exec::plans(cfg, strategy())?;
        for p in &plans {
            scalp_paper::runner::Runner::new(p.clone(), 0, 0, 0)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.id))?;
        }
        Ok(())
    }

    fn preflight(_cfg: &Config) -> anyhow::Result<()> {
        Credentials::from_env(strategy())?;
        Ok(())
    }

    async fn init(ctx: &Ctx) -> anyhow::Result<Self> {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
        let ctx2 = ctx.clone();
        let thread = std::thread::Builder::new()
            .name("executor".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(executor_main(ctx2, ready_tx))
            })?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(ExecDaemon { thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(anyhow::anyhow!("the executor thread ended during init")),
            },
        }
    }

    async fn run(self, _ctx: Ctx) -> anyhow::Result<()> {
        let t = self.thread;
        tokio::task::spawn_blocking(move || {
            t.join()
                .map_err(|_| anyhow::anyhow!("the executor thread panicked"))?
        })
        .await?
    }
}

async fn executor_main(
    ctx: Ctx,
    ready: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let cfg = (*ctx.config).clone();
    let strategy = strategy().to_string();
    // One writer of this strategy's rows and state file: the lock is held while the process
    // lives (released by the kernel on any exit, kill -9 included).
    let lock_path = cfg.state_dir().join(format!("executor-{strategy}.lock"));
    let _lock = {
        std::fs::create_dir_all(cfg.state_dir())?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", lock_path.display()))?;
        if f.try_lock().is_err() {
            let _ = ready.send(Err(anyhow::Error::new(Fatal(format!(
                "another scalp-executor for `{strategy}` is running (it holds {})",
                lock_path.display()
            )))));
            return Ok(());
        }
        f
    };
    let opened = async {
        let (creds, source) = Credentials::from_env(&strategy)?;
        tracing::info!(
            "{strategy}: Bitget keys from {source} (key {})",
            scalp_broker::creds::redact(creds.key())
        );
        let broker = scalp_broker::connect(broker_config(&cfg), creds)
            .await
            .map_err(anyhow::Error::from)?;
        tracing::info!(
            "{strategy}: account {:?} (clock offset {} ms)",
            scalp_broker::Broker::account_mode(&broker),
            scalp_broker::Broker::clock_offset_ms(&broker)
        );
        Executor::open(cfg.clone(), &strategy, broker, source.to_string()).await
    }
    .await;
    let mut ex = match opened {
        Ok(ex) => {
            let _ = ready.send(Ok(()));
            ex
        }
        Err(e) => {
            let e = fatal_or(e);
            if let Some(Fatal(why)) = e.downcast_ref::<Fatal>() {
                record_halt(&cfg, &strategy, why);
            }
            let _ = ready.send(Err(e));
            return Ok(());
        }
    };
    let state_path = cfg.state_dir().join(state_file(&strategy));
    let mut writer = scalp_statefile::StateWriter::new(&state_path, STATE_VERSION)
        .map_err(|e| anyhow::anyhow!("{}: {e}", state_path.display()))?;
    let (ws_tx, mut ws_rx) = tokio::sync::mpsc::channel::<WsEvent>(4096);
    let _stream = PrivateStream::spawn(ex.broker().ws_config(), ws_tx);
    let (file_tx, mut file_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let _watcher = watch_dirs(&cfg, &strategy, file_tx);
    let poll = Duration::from_millis(cfg.main.executor.poll_interval_ms);
    let interval = Duration::from_millis(cfg.main.executor.state_interval_ms);
    let check_every = Duration::from_millis(cfg.main.executor.check_interval_ms);
    let mut ws_live = false;
    let mut last_write: Option<Instant> = None;
    let mut last_check = Instant::now();
    let mut fatal: Option<String> = None;
    // a check right after start (reconciliation armed what was missing: verify it)
    let mut need_check = true;
    // Re-looks after a file event that found no new candle: inotify reports the WAL's first
    // write, which can come before the commit is visible to readers (the wal-index in -shm is
    // updated through a mapping, which raises no event). Without them such a candle would wait
    // for the next poll (poll_interval_ms); with them it is seen within a few milliseconds.
    // Dense at first (a look is one indexed query per runner), then sparser: ~100 ms in all,
    // each look at most a few milliseconds after the commit becomes visible.
    const RELOOKS: [Duration; 14] = {
        const fn ms(n: u64) -> Duration {
            Duration::from_millis(n)
        }
        [
            ms(1),
            ms(1),
            ms(2),
            ms(2),
            ms(3),
            ms(3),
            ms(4),
            ms(4),
            ms(5),
            ms(5),
            ms(10),
            ms(10),
            ms(25),
            ms(25),
        ]
    };
    let mut relook: Option<usize> = None;
    loop {
        let wait = if need_check {
            Duration::ZERO
        } else {
            relook.map_or(poll, |i| RELOOKS[i])
        };
        let mut by_file = false;
        tokio::select! {
            ev = ws_rx.recv() => {
                if let Some(ev) = ev {
                    need_check |= on_ws(&strategy, ev, &mut ws_live, &mut fatal);
                } else {
                    ws_live = false;
                }
            }
            _ = file_rx.recv() => { by_file = true; }
            _ = tokio::time::sleep(wait) => {}
        }
        while let Ok(ev) = ws_rx.try_recv() {
            need_check |= on_ws(&strategy, ev, &mut ws_live, &mut fatal);
        }
        while file_rx.try_recv().is_ok() {
            by_file = true;
        }
        // the re-look to schedule should this pass find no new candle
        let next_relook = if by_file {
            Some(0)
        } else {
            relook.map(|i| i + 1).filter(|i| *i < RELOOKS.len())
        };
        relook = None;
        let candles_before = ex.counters.candles;
        // without pushes the REST poll is the only eye on the exchange
        let every = if ws_live { check_every } else { poll };
        if last_check.elapsed() >= every {
            need_check = true;
        }
        if let Some(why) = fatal.take() {
            let _ = writer.write(&ex.summary(false, false));
            record_halt(&cfg, &strategy, &why);
            return Err(anyhow::Error::new(Fatal(why)));
        }
        let check = std::mem::take(&mut need_check);
        if check {
            last_check = Instant::now();
        }
        let healthy = match ex.poll(check).await {
            Ok(acted) => {
                // what was sent is verified at once
                need_check = acted;
                true
            }
            Err(e) => {
                tracing::error!("{strategy}: pass failed: {e:#}");
                ex.last_error = Some(format!("{e:#}"));
                false
            }
        };
        if ex.counters.candles == candles_before {
            relook = next_relook;
        }
        ctx.heartbeat.set_healthy(healthy && ws_live);
        if healthy && ws_live {
            ctx.heartbeat.beat();
        }
        // not while a file event's candle may be about to show (the write's fsyncs would
        // delay the look that finds it), unless that has gone on for ten intervals
        let due = last_write.is_none_or(|t| {
            let e = t.elapsed();
            e >= interval && (relook.is_none() || e >= interval * 10)
        });
        if due {
            if let Err(e) = writer.write(&ex.summary(healthy, ws_live)) {
                tracing::warn!("{}: {e}", state_path.display());
            }
            last_write = Some(Instant::now());
        }
        if ctx.shutdown.is_triggered() {
            break;
        }
    }
    let _ = writer.write(&ex.summary(true, ws_live));
    tracing::info!(
        "EXECUTOR {strategy} STOPPED candles={} fills={} trades={} requests={}",
        ex.counters.candles,
        ex.counters.fills,
        ex.counters.trades,
        ex.counters.requests
    );
    Ok(())
}

/// A `halted` event (the alert of an executor that stops for good: bad keys, a refused
/// account set-up), written by this process, which holds the strategy's lock.
fn record_halt(cfg: &Config, strategy: &str, why: &str) {
    let ev = crate::db::EventRow {
        time: scalp_core::types::now_ms(),
        asset: None,
        kind: "halted",
        detail: serde_json::json!({ "reason": why }),
    };
    if let Err(e) = crate::db::record_event(&cfg.db_path(), strategy, &ev) {
        tracing::warn!("{strategy}: the halt was not recorded in live_events: {e:#}");
    }
}

/// Updates the WebSocket's liveness; `true` when the event calls for a protection check (a
/// fill, an order or position change, a reconnect after which pushes may have been missed).
fn on_ws(strategy: &str, ev: WsEvent, live: &mut bool, fatal: &mut Option<String>) -> bool {
    match ev {
        WsEvent::Connected { n } => {
            *live = true;
            tracing::info!("{strategy}: private WebSocket connected (#{n})");
            true
        }
        WsEvent::Disconnected { reason } => {
            *live = false;
            tracing::warn!("{strategy}: private WebSocket lost ({reason}); REST polling meanwhile");
            true
        }
        WsEvent::LoginRefused { code, msg } => {
            *live = false;
            *fatal = Some(format!(
                "the private WebSocket refused the login (code {code}: {msg}): check the API key, secret and passphrase"
            ));
            false
        }
        WsEvent::Malformed { what } => {
            tracing::warn!("{strategy}: private push: {what}");
            true
        }
        WsEvent::Subscribed { .. } => false,
        WsEvent::Order(_) | WsEvent::Fill(_) | WsEvent::Positions { .. } => true,
    }
}

fn watch_dirs(
    cfg: &Config,
    strategy: &str,
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    let db = cfg.db_path();
    let wal_name = format!(
        "{}-wal",
        db.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let control = cfg.control_dir();
    let _ = std::fs::create_dir_all(&control);
    let files = control_files(strategy);
    let mut w = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && scalp_statefile::is_change(&ev.kind)
        {
            let hit = ev.paths.iter().any(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n == wal_name || files.iter().any(|f| *f == n)
                })
            });
            if hit {
                let _ = tx.send(());
            }
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("file notifications unavailable ({e}): polling only");
            return None;
        }
    };
    if let Some(dir) = db.parent()
        && let Err(e) = w.watch(dir, RecursiveMode::NonRecursive)
    {
        tracing::warn!("cannot watch {} ({e}): polling only", dir.display());
    }
    if let Err(e) = w.watch(&control, RecursiveMode::NonRecursive) {
        tracing::warn!("cannot watch {} ({e})", control.display());
    }
    Some(w)
}

/// The whole daemon: `scalp-executor --strategy S --config ... [--check-config]`.
pub fn main(strategy: &str, args: &DaemonArgs) -> ExitCode {
    let _ = STRATEGY.set(strategy.to_string());
    run_daemon::<ExecDaemon>(args)
}
