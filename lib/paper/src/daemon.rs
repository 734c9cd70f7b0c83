//! `scalp-simulator` under systemd (Type=notify, scalp-runtime): READY after every runner is
//! restored; WATCHDOG only while each pass over the stored candles completes; on SIGTERM the
//! last batch is already committed, the state file is written once more, exit 0.
//!
//! Wake-ups: `notify` on the database directory (the collector's commits touch `scalp.db-wal`)
//! and on the control directory, with a poll every `[simulator].poll_interval_ms` as the
//! guarantee (docs/SIMULATOR.md "Wake-ups" has the measured latencies).

use crate::sim::Simulator;
use crate::state::{STATE_FILE, STATE_VERSION};
use notify::{RecursiveMode, Watcher};
use scalp_core::config::Config;
use scalp_runtime::{Ctx, Daemon, DaemonArgs, run_daemon};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct SimDaemon {
    sim: Simulator,
}

impl Daemon for SimDaemon {
    const NAME: &'static str = "scalp-simulator";

    fn check(cfg: &Config) -> anyhow::Result<()> {
        for name in cfg.main.simulator.weights.keys() {
            if !cfg.strategies.strategies.contains_key(name) {
                return Err(scalp_core::config::ConfigError::invalid(
                    &cfg.path.display().to_string(),
                    std::fs::read_to_string(&cfg.path).ok().as_deref(),
                    &format!("simulator.weights.{name}"),
                    format!("`{name}` is not a strategy of strategies.toml"),
                )
                .into());
            }
        }
        let plans = crate::runner::plan(cfg)?;
        for p in &plans {
            // Every runner must build: its settings and its timeframes are checked.
            crate::runner::Runner::new(p.clone(), 0, 0, 0)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.id))?;
        }
        Ok(())
    }

    async fn init(ctx: &Ctx) -> anyhow::Result<Self> {
        let cfg = (*ctx.config).clone();
        let sim = tokio::task::spawn_blocking(move || Simulator::open(cfg)).await??;
        ctx.heartbeat.beat();
        Ok(SimDaemon { sim })
    }

    async fn run(self, ctx: Ctx) -> anyhow::Result<()> {
        let SimDaemon { sim } = self;
        tokio::task::spawn_blocking(move || work_loop(sim, &ctx)).await?
    }
}

fn work_loop(mut sim: Simulator, ctx: &Ctx) -> anyhow::Result<()> {
    let cfg = ctx.config.clone();
    let hb = ctx.heartbeat.clone();
    sim.on_commit = Some(Box::new(move || hb.beat()));
    let state_path = cfg.state_dir().join(STATE_FILE);
    let writer = scalp_statefile::StateWriter::new(&state_path, STATE_VERSION)
        .map_err(|e| anyhow::anyhow!("{}: {e}", state_path.display()))?;
    // The state file is serialized and fsynced on its own thread: a slow disk never delays
    // the next candle. Only the newest summary matters (a bounded channel of one).
    let (state_tx, state_rx) = mpsc::sync_channel::<crate::state::SimulatorState>(1);
    let state_thread = std::thread::Builder::new()
        .name("simulator-state".into())
        .spawn(move || {
            let mut w = writer;
            while let Ok(s) = state_rx.recv() {
                if let Err(e) = w.write(&s) {
                    tracing::warn!("{}: {e}", w.path().display());
                }
            }
        })?;
    let send_state = |sim: &Simulator, healthy: bool, wait: bool| {
        let s = sim.summary(healthy);
        if wait {
            let _ = state_tx.send(s);
        } else {
            // Busy writer: this summary is dropped, the next one (≤ state_interval) follows.
            let _ = state_tx.try_send(s);
        }
    };
    let interval = Duration::from_millis(cfg.main.simulator.state_interval_ms);
    let poll = Duration::from_millis(cfg.main.simulator.poll_interval_ms);
    let max_lag = Duration::from_secs(cfg.main.simulator.max_lag_s.max(1));
    let (tx, rx) = mpsc::channel::<()>();
    let _watcher = watch_dirs(&cfg, tx);
    let mut last_write: Option<Instant> = None;
    let mut dirty = true;
    loop {
        let started = Instant::now();
        let healthy = match sim.poll() {
            Ok(st) => {
                if st.runner_candles > 0 || st.commits > 0 {
                    dirty = true;
                }
                // A pass that completes is progress; a pass that took longer than the allowed lag
                // means the simulator does not keep up.
                started.elapsed() <= max_lag
            }
            Err(e) => {
                tracing::error!("pass failed: {e:#}");
                dirty = true;
                false
            }
        };
        ctx.heartbeat.set_healthy(healthy);
        if healthy {
            ctx.heartbeat.beat();
        }
        let due = last_write.is_none_or(|t| t.elapsed() >= interval);
        if dirty && due {
            send_state(&sim, healthy, last_write.is_none());
            last_write = Some(Instant::now());
            dirty = false;
        }
        if ctx.shutdown.is_triggered() {
            break;
        }
        // Wait for a file event, the poll interval, or the next state write.
        let wait = if dirty {
            interval
                .saturating_sub(last_write.map_or(Duration::ZERO, |t| t.elapsed()))
                .min(poll)
        } else {
            poll
        };
        match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok(()) => while rx.try_recv().is_ok() {},
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
        }
        if ctx.shutdown.is_triggered() {
            break;
        }
    }
    send_state(&sim, true, true);
    drop(state_tx);
    let _ = state_thread.join();
    tracing::info!(
        "SIMULATOR STOPPED runner_candles={} trades={} events={} commits={}",
        sim.totals.runner_candles,
        sim.totals.trades,
        sim.totals.events,
        sim.totals.commits
    );
    Ok(())
}

/// Watches the database directory (WAL commits) and the control directory. Events are hints:
/// the poll interval is the guarantee, so a watch that cannot be set up is only a warning.
fn watch_dirs(cfg: &Config, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let db = cfg.db_path();
    let wal_name = format!(
        "{}-wal",
        db.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let control = cfg.control_dir();
    let _ = std::fs::create_dir_all(&control);
    let ctl = control.clone();
    let mut w = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && scalp_statefile::is_change(&ev.kind)
        {
            let hit = ev.paths.iter().any(|p| {
                p.starts_with(&ctl)
                    || p.file_name()
                        .is_some_and(|n| n.to_string_lossy() == wal_name)
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

/// The whole daemon: `scalp-simulator --config ... [--check-config]`.
pub fn main(args: &DaemonArgs) -> ExitCode {
    run_daemon::<SimDaemon>(args)
}
