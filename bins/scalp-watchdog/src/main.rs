//! `scalp-watchdog`: Scalp Radar's watchdog daemon (systemd `Type=notify`). Thin: the arguments
//! are the shared daemon ones; everything else is in `scalp_ops::daemon`. See `docs/WATCHDOG.md`.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    use clap::{CommandFactory, Parser};

    /// Scalp Radar watchdog: checks candle freshness, the daemons, kill switches, disk and WAL
    /// every `[watchdog].check_interval_s`; sends paper-trade alerts, a heartbeat and anomaly
    /// alerts to Telegram through a durable outbox; answers read-only commands; checkpoints the
    /// WAL; writes state/watchdog.json. The bot token only from SCALP_TELEGRAM_TOKEN.
    #[derive(Parser)]
    #[command(name = "scalp-watchdog", version)]
    struct Cli {
        #[command(flatten)]
        daemon: scalp_runtime::DaemonArgs,
    }

    scalp_core::clidocs::generate_if_requested(Cli::command());
    let cli = Cli::parse();
    scalp_ops::daemon::main(&cli.daemon)
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("scalp-watchdog runs on Linux only (systemd daemon)");
    std::process::ExitCode::FAILURE
}
