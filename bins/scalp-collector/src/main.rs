//! `scalp-collector`: Scalp Radar's market-data daemon (systemd `Type=notify`). Thin: the
//! arguments are the shared daemon ones; everything else is in `scalp_marketdata::collector`.
//! See `docs/COLLECTOR.md`.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    use clap::{CommandFactory, Parser};

    /// Scalp Radar market-data collector: replays bundled candles or streams Binance / Bitget
    /// klines, repairs gaps by REST, stores closed candles, funding rates and open interest in
    /// SQLite, and reports in state/collector.json.
    #[derive(Parser)]
    #[command(name = "scalp-collector", version)]
    struct Cli {
        #[command(flatten)]
        daemon: scalp_runtime::DaemonArgs,
    }

    scalp_core::clidocs::generate_if_requested(Cli::command());
    let cli = Cli::parse();
    scalp_marketdata::collector::main(&cli.daemon)
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("scalp-collector runs on Linux only (systemd daemon)");
    std::process::ExitCode::FAILURE
}
