//! scalp-syncd: the daemon around [`crate::server`] (feature `daemon`, Linux only).
//!
//! Init: open the database (migrations), start the DB thread, bind `[syncd].listen` →
//! `READY=1`. Run: serve until SIGTERM/SIGINT (`STOPPING=1` is sent by the runtime), finish
//! in-flight requests, stop the DB thread, exit 0. Watchdog: a self-check task asks the DB
//! thread for its row counts every few seconds and beats the heartbeat only when it answers,
//! so `WATCHDOG=1` stops if the database thread wedges.

use crate::server::{App, DbError, DbHandle, StartError, serve};
use crate::state::{STATE_FILE, STATE_VERSION, SyncdState};
use scalp_core::config::{Config, ConfigError};
use scalp_core::secrets;
use scalp_runtime::{Ctx, Daemon, DaemonArgs, run_daemon};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// What stops scalp-syncd: a bad `[syncd]` value, a missing secret, the database, the socket,
/// the state file, or the server's I/O. Converted to the runtime's error type only at
/// `impl Daemon for Syncd`.
#[derive(Debug, thiserror::Error)]
pub enum SyncdError {
    /// A `[syncd]` value (file, line and key).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The shared key, the environment variable `var`, is absent or empty.
    #[error(
        "{var} is not set (or empty): without the shared key every push would be refused; set it in /etc/scalp-radar/secrets.env (docs/OPERATIONS.md, docs/SYNC.md)"
    )]
    NoApiKey { var: &'static str },
    /// Opening, creating or migrating the database (the error names it).
    #[error(transparent)]
    Store(#[from] scalp_store::StoreError),
    /// The database thread did not start.
    #[error(transparent)]
    DbThread(#[from] StartError),
    /// `[syncd].listen` could not be bound.
    #[error("cannot listen on {addr} ([syncd].listen)")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The address of the bound socket could not be read.
    #[error(transparent)]
    LocalAddr(std::io::Error),
    /// `state/syncd.json` at `path` could not be set up.
    #[error("{}", path.display())]
    StateFile {
        path: PathBuf,
        #[source]
        source: scalp_statefile::StateError,
    },
    /// The HTTP server stopped on an I/O error.
    #[error(transparent)]
    Serve(std::io::Error),
}

pub struct Syncd {
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    db_thread: std::thread::JoinHandle<()>,
    state: StateFile,
}

/// `state/syncd.json` and what goes in it (one writer: this daemon).
struct StateFile {
    writer: scalp_statefile::StateWriter<SyncdState>,
    state: SyncdState,
}

impl StateFile {
    fn write(&mut self) {
        if let Err(e) = self.writer.write(&self.state) {
            tracing::warn!("cannot write {}: {e}", self.writer.path().display());
        }
    }

    /// Records a self-check: row counts, or why the database did not answer.
    fn checked(&mut self, r: Result<(i64, i64), DbError>) {
        match r {
            Ok((results, portfolio)) => {
                self.state.healthy = true;
                self.state.optimization_results = results;
                self.state.portfolio_backtests = portfolio;
                self.state.last_error = None;
            }
            Err(e) => {
                self.state.healthy = false;
                self.state.last_error = Some(e.to_string());
            }
        }
        self.write();
    }
}

/// The database's row counts within `timeout` (the self-check).
async fn counts(db: &crate::server::DbHandle, timeout: Duration) -> Result<(i64, i64), DbError> {
    match tokio::time::timeout(timeout, db.counts()).await {
        Ok(r) => r,
        Err(_) => Err(DbError::Timeout(timeout)),
    }
}

fn invalid(cfg: &Config, key: &str, msg: String) -> ConfigError {
    let text = std::fs::read_to_string(&cfg.path).ok();
    ConfigError::invalid(&cfg.path.display().to_string(), text.as_deref(), key, msg)
}

fn listen_addr(cfg: &Config) -> Result<SocketAddr, ConfigError> {
    let l = &cfg.main.syncd.listen;
    l.parse::<SocketAddr>().map_err(|e| {
        invalid(
            cfg,
            "syncd.listen",
            format!("`{l}` is not an IP:port address ({e})"),
        )
    })
}

/// Self-check period: well under the watchdog timeout.
fn check_period(ctx: &Ctx) -> Duration {
    match ctx.notifier.watchdog_timeout() {
        Some(t) => (t / 4).clamp(Duration::from_millis(50), Duration::from_secs(5)),
        None => Duration::from_secs(5),
    }
}

/// The runtime's boundary: `scalp_runtime::Daemon` speaks `anyhow::Result`, so the typed
/// [`SyncdError`]s are converted here and nowhere else (the runtime prints the whole chain).
impl Daemon for Syncd {
    const NAME: &'static str = "scalp-syncd";

    fn check(cfg: &Config) -> anyhow::Result<()> {
        Ok(Syncd::check_config(cfg)?)
    }

    fn preflight(_cfg: &Config) -> anyhow::Result<()> {
        Ok(Syncd::check_env()?)
    }

    async fn init(ctx: &Ctx) -> anyhow::Result<Self> {
        Ok(Syncd::open(ctx).await?)
    }

    async fn run(self, ctx: Ctx) -> anyhow::Result<()> {
        Ok(self.work(ctx).await?)
    }
}

impl Syncd {
    /// `check`: the `[syncd]` values beyond the schema.
    fn check_config(cfg: &Config) -> Result<(), SyncdError> {
        listen_addr(cfg)?;
        if cfg.main.syncd.max_body_bytes < 1024 {
            return Err(
                invalid(cfg, "syncd.max_body_bytes", "must be at least 1024".into()).into(),
            );
        }
        Ok(())
    }

    /// `preflight`: the shared key must be in the environment.
    fn check_env() -> Result<(), SyncdError> {
        if secrets::from_env(secrets::SYNC_API_KEY).is_none() {
            return Err(SyncdError::NoApiKey {
                var: secrets::SYNC_API_KEY,
            });
        }
        Ok(())
    }

    /// `init`: the database and its thread, the socket, the state file, the first self-check.
    async fn open(ctx: &Ctx) -> Result<Self, SyncdError> {
        let cfg = &ctx.config;
        let db_path = cfg.db_path();
        // Creates the file if needed, sets WAL/busy_timeout/foreign_keys, runs the migrations
        // (03-optimization-results holds our tables).
        let conn = scalp_store::open(&db_path)?;
        let (db, db_thread) = DbHandle::start(conn)?;
        let addr = listen_addr(cfg)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SyncdError::Listen { addr, source })?;
        // preflight refused to start without it; App still refuses every POST if it is absent.
        let key = secrets::from_env(secrets::SYNC_API_KEY);
        let local = listener.local_addr().map_err(SyncdError::LocalAddr)?;
        if !local.ip().is_loopback() {
            tracing::info!(
                "listening on a non-loopback address {local}: keep it behind a firewall (docs/SYNC.md)"
            );
        }
        tracing::info!(
            "SYNCD LISTENING on {local} db={} max_body_bytes={}",
            db_path.display(),
            cfg.main.syncd.max_body_bytes
        );
        let app = App::new(key.as_ref(), cfg.main.syncd.max_body_bytes, db);
        let state_path = cfg.state_dir().join(STATE_FILE);
        let writer =
            scalp_statefile::StateWriter::new(&state_path, STATE_VERSION).map_err(|source| {
                SyncdError::StateFile {
                    path: state_path.clone(),
                    source,
                }
            })?;
        let mut state = StateFile {
            writer,
            state: SyncdState {
                pid: std::process::id(),
                started_at: scalp_core::types::fmt_ms(scalp_core::types::now_ms()),
                listen: local.to_string(),
                healthy: false,
                optimization_results: 0,
                portfolio_backtests: 0,
                last_error: None,
                stopped: false,
            },
        };
        // First beat now, if the DB answers during init.
        let first = counts(app.db(), Duration::from_secs(10)).await;
        if first.is_ok() {
            ctx.heartbeat.beat();
        }
        state.checked(first);
        Ok(Syncd {
            listener,
            app,
            db_thread,
            state,
        })
    }

    /// `run`: serve until the shutdown, then the last self-check and the database closed.
    async fn work(self, ctx: Ctx) -> Result<(), SyncdError> {
        let Syncd {
            listener,
            app,
            db_thread,
            state,
        } = self;
        let state = Arc::new(std::sync::Mutex::new(state));
        let st = state.clone();
        let period = check_period(&ctx);
        let db = app.db().clone();
        let hb = ctx.heartbeat.clone();
        let selfcheck = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut was_ok = true;
            loop {
                tick.tick().await;
                let r = counts(&db, Duration::from_secs(10)).await;
                let ok = r.is_ok();
                st.lock().unwrap_or_else(|e| e.into_inner()).checked(r);
                hb.set_healthy(ok);
                if ok {
                    hb.beat();
                }
                if ok != was_ok {
                    if ok {
                        tracing::info!("database thread answers again");
                    } else {
                        tracing::error!(
                            "database thread does not answer: withholding the watchdog"
                        );
                    }
                    was_ok = ok;
                }
            }
        });
        let final_db = app.db().clone();
        let shutdown = ctx.shutdown.clone();
        let res = serve(listener, app, async move { shutdown.wait().await }).await;
        selfcheck.abort();
        let _ = selfcheck.await;
        // Last word: the final counts, stopped cleanly (the self-check task is gone).
        let last = counts(&final_db, Duration::from_secs(5)).await;
        drop(final_db);
        {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            st.state.stopped = true;
            st.checked(last);
        }
        // Every DbHandle is gone now: the DB thread finishes its queue and closes the database.
        tokio::task::spawn_blocking(move || db_thread.join())
            .await
            .ok();
        tracing::info!("server stopped, database closed");
        res.map_err(SyncdError::Serve)
    }
}

/// The whole daemon: `scalp-syncd --config ... [--check-config]`.
pub fn main(args: &DaemonArgs) -> ExitCode {
    run_daemon::<Syncd>(args)
}
