use crate::{DaemonArgs, Heartbeat, Notifier, init_logging, shutdown_signal, spawn_watchdog};
use scalp_core::config::Config;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit status for an invalid configuration (`--check-config` or start-up). The systemd units
/// list it in `RestartPreventExitStatus=` so a bad config does not restart-loop.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status for a failed init or a work loop that returned an error.
pub const EXIT_FAILURE: u8 = 1;

/// An init error that restarting cannot fix (refused configuration, rejected credentials):
/// the daemon exits [`EXIT_CONFIG`] so that `RestartPreventExitStatus=2` stops systemd from
/// restarting it in a loop. Return it from [`Daemon::init`] as `anyhow::Error::new(Fatal(..))`.
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// Shutdown flag handed to the work loop: triggered once SIGTERM/SIGINT arrived (the project's
/// one stop signal, `scalp_core::Shutdown`).
pub use scalp_core::Shutdown;

/// What the runtime hands a daemon.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub name: &'static str,
    pub config: Arc<Config>,
    pub notifier: Notifier,
    pub heartbeat: Heartbeat,
    pub shutdown: Shutdown,
}

/// A daemon driven by [`run_daemon`].
pub trait Daemon: Sized {
    /// Binary name, used in logs (`scalp-collector`).
    const NAME: &'static str;

    /// Checks beyond the config schema (files exist, URLs parse, ...), run by `--check-config`
    /// and at start-up. Errors should be [`scalp_core::config::ConfigError`]s naming the file,
    /// line and key.
    fn check(_cfg: &Config) -> anyhow::Result<()> {
        Ok(())
    }

    /// What the process environment must provide to start (secrets), checked at start-up but
    /// not by `--check-config` (which validates files, and runs where the secrets are not set).
    /// An error is printed on stderr and the daemon exits 2, like a bad config: the units'
    /// `RestartPreventExitStatus=2` keeps systemd from restarting it in a loop.
    fn preflight(_cfg: &Config) -> anyhow::Result<()> {
        Ok(())
    }

    /// Opens the DB, loads state, binds sockets. `READY=1` is sent when it returns `Ok`.
    fn init(ctx: &Ctx) -> impl Future<Output = anyhow::Result<Self>>;

    /// The work loop: call `ctx.heartbeat.beat()` on real progress; return after
    /// `ctx.shutdown` is requested, once state is saved. `STOPPING=1` is already sent then.
    fn run(self, ctx: Ctx) -> impl Future<Output = anyhow::Result<()>>;
}

/// Runs a daemon: config (exit 2 on error, or exit 0 after `--check-config`) →
/// [`Daemon::preflight`] (exit 2 on error) → logging →
/// [`Daemon::init`] → `READY=1` → watchdog task → [`Daemon::run`]; on SIGTERM/SIGINT
/// `STOPPING=1` and the shutdown flag, then the daemon saves its state and we exit 0.
/// A second signal during shutdown exits 1 at once.
pub fn run_daemon<D: Daemon>(args: &DaemonArgs) -> ExitCode {
    let cfg = match args
        .load_config()
        .map_err(anyhow::Error::from)
        .and_then(|c| {
            D::check(&c)?;
            Ok(c)
        }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.check_config {
        println!("{}: ok", cfg.path.display());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = D::preflight(&cfg) {
        eprintln!("{}: refusing to start: {e:#}", D::NAME);
        return ExitCode::from(EXIT_CONFIG);
    }
    init_logging(&cfg.main.log, None);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the tokio runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = rt.block_on(run_async::<D>(cfg));
    // Do not wait for blocking tasks stuck on I/O: state is already saved.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

async fn run_async<D: Daemon>(cfg: Config) -> ExitCode {
    let notifier = Notifier::from_env();
    let heartbeat = Heartbeat::new();
    let shutdown = Shutdown::new();
    let signal = shutdown_signal();
    let ctx = Ctx {
        name: D::NAME,
        config: Arc::new(cfg),
        notifier: notifier.clone(),
        heartbeat: heartbeat.clone(),
        shutdown: shutdown.clone(),
    };
    tracing::info!(
        "{} {} STARTING pid={} config={}",
        D::NAME,
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        ctx.config.path.display()
    );
    notifier.status("initializing");
    // A signal during init aborts init: nothing to save yet.
    let mut signal = Box::pin(signal);
    let daemon = tokio::select! {
        r = D::init(&ctx) => match r {
            Ok(d) => d,
            Err(e) => {
                if e.downcast_ref::<Fatal>().is_some() {
                    tracing::error!("{} refusing to run: {e:#}", D::NAME);
                    return ExitCode::from(EXIT_CONFIG);
                }
                tracing::error!("{} init failed: {e:#}", D::NAME);
                return ExitCode::from(EXIT_FAILURE);
            }
        },
        name = &mut signal => {
            notifier.stopping();
            tracing::info!("{} stopped during init ({name})", D::NAME);
            return ExitCode::SUCCESS;
        }
    };
    notifier.ready("running");
    tracing::info!("{} READY", D::NAME);
    let watchdog = spawn_watchdog(&notifier, &heartbeat);

    let n2 = notifier.clone();
    let signals = tokio::spawn(async move {
        let first = signal.await;
        n2.stopping();
        shutdown.trigger();
        // A second signal while we save state: give up at once.
        let again = shutdown_signal().await;
        tracing::error!("second signal ({again}) after {first}: exiting without waiting");
        std::process::exit(EXIT_FAILURE as i32);
    });
    let res = D::run(daemon, ctx).await;
    if let Some(w) = watchdog {
        w.abort();
    }
    signals.abort();
    match res {
        Ok(()) => {
            tracing::info!("{} STOPPED cleanly", D::NAME);
            ExitCode::SUCCESS
        }
        Err(e) => {
            notifier.stopping();
            if e.downcast_ref::<Fatal>().is_some() {
                tracing::error!("{} halted: {e:#}", D::NAME);
                return ExitCode::from(EXIT_CONFIG);
            }
            tracing::error!("{} failed: {e:#}", D::NAME);
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
