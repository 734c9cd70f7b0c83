//! `scalp-api`: the REST API, `/ws/live` and the dashboard (docs/API.md). Thin: arguments here,
//! everything else in `scalp_api::daemon`.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    use clap::{CommandFactory, Parser};

    /// Scalp Radar API and dashboard server (REST, /ws/live, /metrics, static dashboard).
    #[derive(Parser)]
    #[command(name = "scalp-api", version, about, long_about = None)]
    struct Cli {
        #[command(flatten)]
        daemon: scalp_runtime::DaemonArgs,
    }

    scalp_core::clidocs::generate_if_requested(Cli::command());
    let cli = Cli::parse();
    scalp_api::daemon::main(&cli.daemon)
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("scalp-api runs on Linux only (optimize dashboard serves the API on a workstation)");
    std::process::exit(1);
}
