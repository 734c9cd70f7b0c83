//! `scalp-simulator`: Scalp Radar's paper-trading daemon (systemd `Type=notify`). Thin: the
//! arguments are the shared daemon ones; everything else is in `scalp_paper::daemon`.
//! See `docs/SIMULATOR.md`.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    use clap::{CommandFactory, Parser};

    /// Scalp Radar paper trading: runs every enabled strategy on every asset it trades, on the
    /// closed candles the collector stores, with the backtest's fill rules; crash-safe
    /// (snapshots committed with the trades); writes sim_trades, sim_events and
    /// state/simulator.json.
    #[derive(Parser)]
    #[command(name = "scalp-simulator", version)]
    struct Cli {
        #[command(flatten)]
        daemon: scalp_runtime::DaemonArgs,
    }

    scalp_core::clidocs::generate_if_requested(Cli::command());
    let cli = Cli::parse();
    scalp_paper::daemon::main(&cli.daemon)
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("scalp-simulator runs on Linux only (systemd daemon)");
    std::process::ExitCode::FAILURE
}
