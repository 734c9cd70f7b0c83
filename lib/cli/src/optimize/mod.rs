//! `optimize`: the trader's CLI (Linux and `optimize.exe` on Windows). One module per group
//! of subcommands; each parses its flags into the domain crates' request types
//! ([`scalp_backtest::resolve`]), runs, and prints. [`args`] holds the flags shared by several
//! subcommands (engine settings, data source), defined once.

pub mod args;
pub mod backtest;
pub mod bench;
pub mod data;
pub mod nulltest;
pub mod run;
pub mod sweep;
pub mod sync;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "optimize",
    version,
    about = "Scalp Radar: data, backtests, optimization, result sync"
)]
pub struct Cli {
    /// Main config file (siblings assets.toml, strategies.toml, param_grids.toml next to it).
    /// Default: `config/scalp.toml` if it exists, else the built-in defaults with the current
    /// directory as the config directory (so a bare `optimize.exe` works on a workstation).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Validate the configuration and exit.
    #[arg(long, global = true)]
    check_config: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Event-driven backtest of one strategy on one asset (stored in backtest_runs).
    Backtest(backtest::BacktestArgs),
    /// Write the indicator table (what the strategies see) of a candle CSV as CSV.
    Indicators(backtest::IndicatorsArgs),
    /// Look-ahead bias check: replay on truncated histories; exits 1 when a decision changes.
    Lookahead(backtest::LookaheadArgs),
    /// List the strategies: timeframes, the inputs each needs besides candles, what each does.
    Strategies(backtest::StrategiesArgs),
    /// Rank a whole parameter grid on one data set (fast parallel engine).
    Sweep(sweep::SweepArgs),
    /// Walk-forward optimization, overfitting statistics, validation and grading.
    Run(run::RunArgs),
    /// Walk-forward and grading re-run on bar-permuted (no-edge) histories: the null
    /// distribution of grades and the real result's permutation p-value (read by --apply).
    NullTest(nulltest::NullTestArgs),
    /// Latest grades from the local database.
    Grades(run::GradesArgs),
    /// Delete older duplicate results (same params and grade as a newer row).
    PurgeDuplicates(run::PurgeArgs),
    /// Benchmark: assets × windows × combos walk-forward of a grid strategy.
    BenchWfo(bench::BenchWfoArgs),
    /// Send every local result to scalp-syncd (idempotent; exit 1 if any row failed).
    Sync(sync::SyncArgs),
    /// fetch-history, fetch-funding, fetch-oi, check-data, import (see docs/COLLECTOR.md).
    #[command(flatten)]
    Data(data::DataCmd),
    /// Serve the API and the dashboard from the local optimize.db: backtest runs, optimization
    /// runs and the live progress of an `optimize run` in another terminal (docs/API.md).
    Dashboard(DashboardArgs),
}

#[derive(clap::Args)]
struct DashboardArgs {
    /// Address to listen on (loopback by default: the API key is the only protection).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: std::net::SocketAddr,
    /// The built dashboard (default: [api].web_dir, else `web/` beside the executable).
    #[arg(long)]
    web_dir: Option<PathBuf>,
}

/// The `optimize` binary: parse, run, report a failure as its error chain (exit 1).
pub fn main() -> std::process::ExitCode {
    {
        use clap::CommandFactory;
        scalp_core::clidocs::generate_if_requested(Cli::command());
    }
    let cli = Cli::parse();
    init_logging();
    // A user error is not a bug: print its chain, never a backtrace (even with RUST_BACKTRACE).
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", scalp_core::cli::error_report(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let (cfg, from_file) = load_config(cli.config.as_deref())?;
    if cli.check_config {
        if from_file {
            println!("{}: ok", cfg.path.display());
        } else {
            println!(
                "no config/scalp.toml in {}: the built-in defaults are used, and they are valid",
                cfg.dir().display()
            );
        }
        return Ok(());
    }
    match cli.cmd {
        Some(Cmd::Backtest(a)) => backtest::run_backtest_cmd(&cfg, &a).map(|_| ()),
        Some(Cmd::Indicators(a)) => backtest::run_indicators_cmd(&a),
        Some(Cmd::Lookahead(a)) => {
            if backtest::run_lookahead_cmd(&cfg, &a)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(Cmd::Strategies(a)) => {
            backtest::strategies_cmd(&cfg, &a, &mut std::io::stdout().lock())
        }
        Some(Cmd::Sweep(a)) => sweep::sweep_cmd(&cfg, &a, &mut std::io::stdout().lock()),
        Some(Cmd::Run(a)) => run::run_cmd(&cfg, &a, &mut std::io::stdout().lock()),
        Some(Cmd::Dashboard(a)) => {
            let web = scalp_api::workstation::find_web_dir(&cfg, a.web_dir.as_deref());
            scalp_api::workstation::serve_workstation(
                &cfg,
                scalp_optimizer::job::db_path(&cfg),
                a.listen,
                web,
                &mut std::io::stdout().lock(),
            )
        }
        Some(Cmd::NullTest(a)) => nulltest::null_test_cmd(&cfg, &a, &mut std::io::stdout().lock()),
        Some(Cmd::Grades(a)) => run::grades_cmd(&cfg, &a, &mut std::io::stdout().lock()),
        Some(Cmd::PurgeDuplicates(a)) => run::purge_cmd(&cfg, &a, &mut std::io::stdout().lock()),
        Some(Cmd::BenchWfo(a)) => bench::bench_wfo_cmd(&cfg, &a, &mut std::io::stdout().lock()),
        Some(Cmd::Sync(a)) => {
            let summary = sync::run(&cfg, &a, &mut std::io::stdout().lock())?;
            std::process::exit(summary.exit_code())
        }
        Some(Cmd::Data(d)) => data::run(&cfg, &d, &mut std::io::stdout().lock()),
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(())
        }
    }
}

/// Diagnostics go to stderr (data goes to stdout); `RUST_LOG` overrides the default `warn`.
/// Colours only when stderr is a terminal.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// The configuration (validated, strategy parameters and grids included) and whether it came
/// from a file (`false`: the built-in defaults).
pub fn load_config(
    explicit: Option<&std::path::Path>,
) -> anyhow::Result<(scalp_core::config::Config, bool)> {
    use scalp_core::config::Config;
    use scalp_strategy::check::{check_config, load_config};
    let default_path = std::path::Path::new("config/scalp.toml");
    match explicit {
        Some(p) => Ok((load_config(p)?, true)),
        None if default_path.exists() => Ok((load_config(default_path)?, true)),
        None => {
            let cfg = Config::defaults(&std::env::current_dir()?)?;
            check_config(&cfg)?;
            Ok((cfg, false))
        }
    }
}
