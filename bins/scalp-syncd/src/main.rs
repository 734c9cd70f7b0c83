//! `scalp-syncd`: receives optimize results over HTTP and stores them insert-only
//! (docs/SYNC.md). Thin: arguments here, everything else in `scalp_sync::daemon`.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    use clap::{CommandFactory, Parser};

    /// Scalp Radar result receiver (POST /api/optimization/results, /api/portfolio/results).
    #[derive(Parser)]
    #[command(name = "scalp-syncd", version, about, long_about = None)]
    struct Cli {
        #[command(flatten)]
        daemon: scalp_runtime::DaemonArgs,
    }

    scalp_core::clidocs::generate_if_requested(Cli::command());
    let cli = Cli::parse();
    scalp_sync::daemon::main(&cli.daemon)
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("scalp-syncd runs on Linux only");
    std::process::exit(1);
}
