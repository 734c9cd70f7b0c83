//! `scalp-executor`: Scalp Radar's live-trading daemon, one instance per live strategy
//! (`scalp-executor@<strategy>`, systemd `Type=notify`). Thin: everything is in
//! `scalp_live::daemon`. See `docs/EXECUTOR.md`.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    use clap::{CommandFactory, Parser};

    /// Scalp Radar live trading on Bitget: runs one strategy (enabled and live-eligible in
    /// strategies.toml) on the closed candles the collector stores, with the exchange as its
    /// fill model; exchange-side stops, restart reconciliation, session kill switch; writes
    /// live_orders, live_trades, live_events and state/executor-<strategy>.json. Keys from
    /// SCALP_BITGET_API_KEY_<STRATEGY> / _SECRET_ / _PASSPHRASE_ (else the unsuffixed ones).
    #[derive(Parser)]
    #[command(name = "scalp-executor", version)]
    struct Cli {
        /// The strategy to trade (a table of strategies.toml).
        #[arg(long, value_name = "NAME")]
        strategy: String,
        #[command(flatten)]
        daemon: scalp_runtime::DaemonArgs,
    }

    scalp_core::clidocs::generate_if_requested(Cli::command());
    let cli = Cli::parse();
    scalp_live::daemon::main(&cli.strategy, &cli.daemon)
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("scalp-executor runs on Linux only (systemd daemon)");
    std::process::ExitCode::FAILURE
}
