//! scalp-api: the daemon around [`crate::app`] (Linux only: systemd notify, journald).
//!
//! Init: check the key, bind `[api].listen`, start the app (state-file watcher, `/ws/live`
//! builder) → `READY=1`. Run: serve until SIGTERM/SIGINT, finish in-flight requests, write the
//! last `state/api.json` (`stopped: true`), exit 0. Watchdog: a self-check asks the database for
//! `SELECT 1` every ≤ 5 s and beats the heartbeat only when it answers.

use crate::app::{App, Settings, serve};
use scalp_core::config::{Config, ConfigError};
use scalp_core::secrets;
use scalp_runtime::{Ctx, Daemon, DaemonArgs, run_daemon};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub struct Api {
    listener: tokio::net::TcpListener,
    app: Arc<App>,
}

fn invalid(cfg: &Config, key: &str, msg: String) -> anyhow::Error {
    let text = std::fs::read_to_string(&cfg.path).ok();
    ConfigError::invalid(&cfg.path.display().to_string(), text.as_deref(), key, msg).into()
}

fn listen_addr(cfg: &Config) -> anyhow::Result<SocketAddr> {
    let l = &cfg.main.api.listen;
    l.parse::<SocketAddr>().map_err(|e| {
        invalid(
            cfg,
            "api.listen",
            format!("`{l}` is not an IP:port address ({e})"),
        )
    })
}

/// The settings of the app from the config.
pub fn settings(cfg: &Config) -> Settings {
    Settings {
        db_path: cfg.db_path(),
        state_dir: cfg.state_dir(),
        control_dir: cfg.control_dir(),
        web_dir: cfg.resolve(Path::new(&cfg.main.api.web_dir)),
        strategies: cfg.strategies.strategies.keys().cloned().collect(),
        quote: cfg.assets.quote.clone(),
        cors_origins: cfg.main.api.cors_origins.clone(),
        write_state_file: true,
    }
}

fn check_period(ctx: &Ctx) -> Duration {
    match ctx.notifier.watchdog_timeout() {
        Some(t) => (t / 4).clamp(Duration::from_millis(50), Duration::from_secs(5)),
        None => Duration::from_secs(5),
    }
}

impl Daemon for Api {
    const NAME: &'static str = "scalp-api";

    fn check(cfg: &Config) -> anyhow::Result<()> {
        listen_addr(cfg)?;
        Ok(())
    }

    fn preflight(_cfg: &Config) -> anyhow::Result<()> {
        if secrets::from_env(secrets::API_KEY).is_none() {
            anyhow::bail!(
                "{} is not set (or empty): every route but /health needs it; set it in \
                 /etc/scalp-radar/secrets.env (docs/API.md, docs/OPERATIONS.md)",
                secrets::API_KEY
            );
        }
        Ok(())
    }

    async fn init(ctx: &Ctx) -> anyhow::Result<Self> {
        let cfg = &ctx.config;
        let key = secrets::from_env(secrets::API_KEY)
            .ok_or_else(|| anyhow::anyhow!("{} is not set", secrets::API_KEY))?;
        let addr = listen_addr(cfg)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} ([api].listen): {e}"))?;
        let local = listener.local_addr()?;
        let s = settings(cfg);
        if !s.web_dir.join("index.html").is_file() {
            tracing::warn!(
                "dashboard not installed: {} has no index.html ([api].web_dir); the API works, / answers 404",
                s.web_dir.display()
            );
        }
        if !local.ip().is_loopback() {
            tracing::info!(
                "listening on a non-loopback address {local}: keep it behind a firewall (docs/API.md)"
            );
        }
        tracing::info!(
            "API LISTENING on {local} db={} web_dir={}",
            s.db_path.display(),
            s.web_dir.display()
        );
        let app = App::start(s, &key, local)?;
        let first = app.self_check(Duration::from_secs(10)).await;
        match &first {
            Ok(()) => {}
            Err(e) => tracing::warn!("database not readable yet: {e}"),
        }
        ctx.heartbeat.beat();
        app.write_state(Some(first), false).await;
        Ok(Api { listener, app })
    }

    async fn run(self, ctx: Ctx) -> anyhow::Result<()> {
        let Api { listener, app } = self;
        let period = check_period(&ctx);
        let a = app.clone();
        let hb = ctx.heartbeat.clone();
        let selfcheck = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut was_ok = true;
            loop {
                tick.tick().await;
                let checked = a.check_db(Duration::from_secs(10)).await;
                let hung = matches!(checked, Err(crate::app::DbCheckError::Hung(_)));
                let r = checked.map_err(|e| e.to_string());
                let ok = r.is_ok();
                if ok != was_ok {
                    match &r {
                        Ok(()) => tracing::info!("database answers again"),
                        Err(e) => tracing::error!("database does not answer ({e})"),
                    }
                    was_ok = ok;
                }
                // Only a database thread that does not answer withholds the systemd watchdog (a
                // restart can help there). A database that does not exist yet (the collector
                // creates it) or answers with an error is reported in state/api.json and
                // /health, and the API keeps serving: restarting it would change nothing.
                a.write_state(Some(r), false).await;
                hb.set_healthy(!hung);
                if !hung {
                    hb.beat();
                }
            }
        });
        let shutdown = ctx.shutdown.clone();
        let res = serve(listener, app.clone(), async move { shutdown.wait().await }).await;
        selfcheck.abort();
        let _ = selfcheck.await;
        app.write_state(None, true).await;
        tracing::info!("server stopped");
        res.map_err(Into::into)
    }
}

/// The whole daemon: `scalp-api --config ... [--check-config]`.
pub fn main(args: &DaemonArgs) -> ExitCode {
    run_daemon::<Api>(args)
}
