//! `scalpctl`'s command layer: its arguments, and how each command's report is printed (the
//! reports themselves are built by the other modules of this crate). `bins/scalpctl` is one
//! call to [`main`].

use clap::{CommandFactory, Parser, Subcommand};
use scalp_core::config::{Config, PathsConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "scalpctl",
    version,
    about = "Scalp Radar administration: status, online backup, WAL checkpoint, config check, paper and live trades, arena, simulator and executor resets, live reconciliation and sizing checks",
    long_about = "Scalp Radar administration. Reads the daemons' unit states (systemd), state files and \
database; `backup` is what scalp-backup.timer runs daily. Run as root or as the scalp user."
)]
struct Cli {
    /// Main config file (its [paths] section locates the database and the state files).
    #[arg(
        long,
        global = true,
        env = "SCALP_CONFIG",
        default_value = "/etc/scalp-radar/scalp.toml"
    )]
    config: PathBuf,
    /// The secrets file the units read (KEY=value): Bitget keys for reconcile, check-sizing and
    /// reset executor, when they are not in scalpctl's environment.
    #[arg(
        long,
        global = true,
        env = "SCALP_SECRETS",
        default_value = "/etc/scalp-radar/secrets.env"
    )]
    secrets: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every daemon's unit state, heartbeat age, lag and last error, and database freshness.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Do not ask systemd for unit states.
        #[arg(long)]
        no_units: bool,
    },
    /// Online backup of the database (SQLite backup API), integrity-checked, with retention.
    Backup {
        /// Directory for the copies (default: <data_dir>/backups).
        #[arg(long)]
        dest: Option<PathBuf>,
        /// Number of newest backups to keep in the directory.
        #[arg(long, default_value_t = 7)]
        keep: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// WAL checkpoint (TRUNCATE); reports the WAL size before and after.
    Checkpoint {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Validate every config file (errors name file:line:key).
    CheckConfig {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Closed trades from the database (read-only), newest first.
    Trades {
        /// paper = scalp-simulator's sim_trades; live = the executor's live_trades.
        #[arg(long, value_enum, default_value = "paper")]
        source: Source,
        /// Only this strategy.
        #[arg(long)]
        strategy: Option<String>,
        /// Only this asset (e.g. BTCUSDT).
        #[arg(long)]
        asset: Option<String>,
        /// Trades closed at or after this time: YYYY-MM-DD (UTC) or RFC 3339.
        #[arg(long, value_parser = crate::trades::parse_since)]
        since: Option<i64>,
        /// At most this many trades.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        /// Paper: also the trades of the epochs before each runner's last reset.
        #[arg(long)]
        all_epochs: bool,
        /// Machine-readable output (an array of trades).
        #[arg(long)]
        json: bool,
    },
    /// The paper-trading ranking from state/simulator.json.
    Arena {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// A live executor's stored state against the exchange (positions, open orders, stops,
    /// requests whose answer was lost), read-only: nothing is changed. Exit 1 on findings.
    Reconcile {
        /// The live strategy (its executor's instance name).
        #[arg(long)]
        strategy: String,
        /// Machine-readable output (the report the executor keeps in its state file).
        #[arg(long)]
        json: bool,
    },
    /// Every order a live strategy would send, replayed on the stored candles, against the
    /// exchange's contract minimums and maximum leverage, with the worst-case margin. Exit 1
    /// when a live order would be rejected.
    CheckSizing {
        /// Only this strategy (default: every strategy with enabled and live_eligible).
        #[arg(long)]
        strategy: Option<String>,
        /// Days of stored candles to replay.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Fees the exchange charged on the closed live trades against the backtest's fee model,
    /// per symbol (read-only).
    AuditFees {
        /// Only trades closed in the last N days.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        days: Option<u32>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Ask scalp-simulator or an executor for a reset (control files) and wait for its answer.
    Reset {
        #[command(subcommand)]
        what: ResetWhat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Source {
    Paper,
    Live,
}

#[derive(Subcommand)]
enum ResetWhat {
    /// A fresh start at the initial capital (a new epoch) for the runners of a strategy, or all.
    /// Refused while a concerned runner holds a position, unless --force (the position is then
    /// dropped from paper accounting, not closed at a price).
    Simulator {
        /// Only the runners of this strategy (default: every runner).
        #[arg(long)]
        strategy: Option<String>,
        /// Reset even runners that hold a position.
        #[arg(long)]
        force: bool,
        /// Seconds to wait for scalp-simulator's acknowledgement.
        #[arg(long, default_value_t = 10.0)]
        wait: f64,
    },
    /// Clear the global kill switch, or with --strategy the kill switch of that strategy's runners;
    /// with --live the kill switch of that strategy's live executor.
    KillSwitch {
        /// The strategy whose runners' kill switch is cleared (default: the global kill switch).
        #[arg(long)]
        strategy: Option<String>,
        /// The live executor's kill switch (scalp-executor@<strategy>), not the paper runners'.
        #[arg(long, requires = "strategy")]
        live: bool,
        /// Seconds to wait for scalp-simulator's acknowledgement.
        #[arg(long, default_value_t = 10.0)]
        wait: f64,
    },
    /// Last resort for a corrupt executor state: clears the local state of a live strategy
    /// (kill switch, session PnL, book, positions; its trades and order log stay), keeping a
    /// copy. Refused while scalp-executor@<strategy> runs, and while the exchange shows
    /// positions or orders on its symbols unless --force. Applied when the executor next starts.
    Executor {
        #[arg(long)]
        strategy: String,
        /// Reset even though the exchange shows positions or orders (the executor then treats
        /// them by its reconcile policy).
        #[arg(long)]
        force: bool,
    },
}

/// Exit status for a refused or invalid request given by the admin (like clap's usage errors).
const EXIT_USAGE: u8 = 2;

fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("serialisable report")
    );
}

/// Data paths from the config. `status` still works with a broken config: it falls back to the
/// default paths and says so.
fn paths(cfg: &std::path::Path) -> Result<(PathBuf, PathBuf), String> {
    let c = Config::load(cfg).map_err(|e| e.to_string())?;
    Ok((c.state_dir(), c.db_path()))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.cmd {
        Cmd::Status { json, no_units } => {
            let (state_dir, db, cfg_err) = match paths(&cli.config) {
                Ok((s, d)) => (s, d, None),
                Err(e) => {
                    let p = PathsConfig::default();
                    (
                        p.data_dir.join(&p.state_dir),
                        p.data_dir.join(&p.db),
                        Some(e),
                    )
                }
            };
            let r = crate::status(&state_dir, &db, !no_units);
            if json {
                let mut v = serde_json::to_value(&r).expect("serialisable report");
                v["config_error"] = serde_json::json!(cfg_err);
                v["problems"] = serde_json::json!(r.problems());
                print_json(&v);
            } else {
                if let Some(e) = &cfg_err {
                    println!("config error (default paths used): {e}\n");
                }
                print!("{}", r.to_text());
            }
            // The report is still printed (default paths), but a missing or broken config is
            // not a healthy status.
            Ok(if cfg_err.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Backup { dest, keep, json } => {
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            let dest = dest.unwrap_or_else(|| c.data_dir().join(&c.main.paths.backups_dir));
            let r = crate::backup(&c.db_path(), &dest, keep).map_err(|e| e.to_string())?;
            if json {
                print_json(&r);
            } else {
                println!(
                    "backup {} ({} bytes, {} pages, integrity {}) in {} ms; kept {}, removed {}",
                    r.backup,
                    r.bytes,
                    r.pages,
                    r.integrity,
                    r.duration_ms,
                    r.kept,
                    r.removed.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Checkpoint { json } => {
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            let r = crate::checkpoint(&c.db_path()).map_err(|e| e.to_string())?;
            if json {
                print_json(&r);
            } else {
                println!(
                    "checkpoint {}: WAL {} -> {} bytes ({} of {} frames checkpointed{})",
                    r.db,
                    r.wal_bytes_before,
                    r.wal_bytes_after,
                    r.checkpointed_frames,
                    r.log_frames,
                    if r.busy {
                        ", busy: a reader kept an old snapshot"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CheckConfig { json } => {
            let r = crate::check_config(&cli.config).map_err(|e| e.to_string())?;
            if json {
                print_json(&r);
            } else {
                for f in &r.files {
                    println!("{f}: ok");
                }
                println!(
                    "{} assets, {} strategies, sources [{}], database {}",
                    r.assets,
                    r.strategies,
                    r.sources.join(", "),
                    r.db
                );
                for n in &r.notes {
                    println!("note: {n}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Trades {
            source,
            strategy,
            asset,
            since,
            limit,
            all_epochs,
            json,
        } => {
            use crate::trades::{TradeQuery, TradeSource};
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            let q = TradeQuery {
                source: match source {
                    Source::Paper => TradeSource::Paper,
                    Source::Live => TradeSource::Live,
                },
                strategy,
                asset,
                since_ms: since,
                limit,
                all_epochs,
            };
            let r = crate::trades::trades(&c.db_path(), &q).map_err(|e| e.to_string())?;
            if json {
                if let Some(n) = &r.note {
                    eprintln!("scalpctl: {n}");
                }
                print_json(&r.to_json());
            } else {
                print!("{}", r.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Arena { json } => {
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            let s = crate::simulator::read_state(&c.state_dir(), scalp_core::types::now_ms())
                .map_err(|e| e.to_string())?;
            let a = crate::simulator::arena(&s);
            if json {
                print_json(&a);
            } else {
                print!("{}", a.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Reset {
            what: ResetWhat::Executor { strategy, force },
        } => {
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            match crate::executor::reset_executor(&c, &strategy, force, &cli.secrets)
                .map_err(|e| e.to_string())?
            {
                crate::executor::Outcome::Refused(why) => {
                    eprintln!("scalpctl: reset of executor {strategy} refused: {why}");
                    Ok(ExitCode::FAILURE)
                }
                crate::executor::Outcome::Queued { request_id, path } => {
                    println!(
                        "reset of executor {strategy}: request {request_id} written to {}",
                        path.display()
                    );
                    println!(
                        "applied when it starts (systemctl start scalp-executor@{strategy}); the old state is kept in {}/executor-{strategy}.reset-<ms>.json",
                        c.state_dir().display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                crate::executor::Outcome::Acknowledged { .. } => Ok(ExitCode::SUCCESS),
            }
        }
        Cmd::Reset {
            what:
                ResetWhat::KillSwitch {
                    strategy: Some(strategy),
                    live: true,
                    wait,
                },
        } => {
            if !(wait.is_finite() && wait >= 0.0) {
                eprintln!("scalpctl: --wait must be a number of seconds >= 0");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            match crate::executor::reset_kill_switch(
                &c,
                &strategy,
                std::time::Duration::from_secs_f64(wait),
            )
            .map_err(|e| e.to_string())?
            {
                crate::executor::Outcome::Acknowledged { request_id, result } => {
                    println!(
                        "kill-switch reset of executor {strategy}: scalp-executor@{strategy} answered request {request_id}: {result}"
                    );
                    Ok(if result.starts_with("ok") {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    })
                }
                crate::executor::Outcome::Queued { request_id, path } => {
                    println!(
                        "kill-switch reset of executor {strategy}: request {request_id} written to {}; no answer within {wait}s",
                        path.display()
                    );
                    println!("queued: scalp-executor@{strategy} applies it at its next start");
                    Ok(ExitCode::SUCCESS)
                }
                crate::executor::Outcome::Refused(why) => {
                    eprintln!("scalpctl: {why}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Cmd::Reset { what } => reset(&cli.config, what),
        Cmd::AuditFees { days, json } => {
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            let a = crate::fees::audit(&c, &c.db_path(), days).map_err(|e| e.to_string())?;
            if json {
                print_json(&a);
            } else {
                print!("{}", a.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Reconcile { strategy, json } => {
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            let r = crate::executor::reconcile(&c, &strategy, &cli.secrets)
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&r);
            } else {
                print!("{}", crate::executor::reconcile_text(&strategy, &r));
            }
            Ok(if crate::executor::findings(&r) == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::CheckSizing {
            strategy,
            days,
            json,
        } => {
            let c = Config::load(&cli.config).map_err(|e| e.to_string())?;
            let list = match strategy {
                Some(s) => vec![s],
                None => crate::executor::live_strategies(&c),
            };
            if list.is_empty() {
                println!(
                    "no live strategy (enabled = true and live_eligible = true in strategies.toml): nothing to check (--strategy S checks one anyway)"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let rs = crate::executor::check_sizing(&c, &list, &cli.secrets, days)
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&rs);
            } else {
                for r in &rs {
                    print!("{}", r.to_text());
                }
            }
            Ok(if rs.iter().all(|r| r.ok()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn reset(config: &std::path::Path, what: ResetWhat) -> Result<ExitCode, String> {
    use crate::simulator::{ResetKind, ResetOutcome, ResetRequest};
    let (kind, strategy, wait) = match what {
        ResetWhat::Simulator {
            strategy,
            force,
            wait,
        } => (ResetKind::Simulator { force }, strategy, wait),
        ResetWhat::KillSwitch { strategy, wait, .. } => (ResetKind::KillSwitch, strategy, wait),
        ResetWhat::Executor { .. } => unreachable!("handled by run"),
    };
    if !(wait.is_finite() && wait >= 0.0) {
        eprintln!("scalpctl: --wait must be a number of seconds >= 0");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let c = Config::load(config).map_err(|e| e.to_string())?;
    let known: Vec<String> = c.strategies.strategies.keys().cloned().collect();
    if let Err(e) = crate::simulator::check_strategy(strategy.as_deref(), &known) {
        eprintln!("scalpctl: {e}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let what_txt = match (&kind, &strategy) {
        (ResetKind::Simulator { .. }, Some(s)) => format!("reset of the {s} runners"),
        (ResetKind::Simulator { .. }, None) => "reset of every runner".to_string(),
        (ResetKind::KillSwitch, Some(s)) => format!("kill-switch reset of the {s} runners"),
        (ResetKind::KillSwitch, None) => "reset of the global kill switch".to_string(),
    };
    let req = ResetRequest {
        kind,
        strategy,
        wait: std::time::Duration::from_secs_f64(wait),
    };
    let out = crate::simulator::reset(&c.state_dir(), &c.control_dir(), &known, &req)
        .map_err(|e| e.to_string())?;
    match &out {
        ResetOutcome::Refused { positions } => {
            eprintln!(
                "scalpctl: {what_txt} refused: {} runner(s) hold a position: {} (use --force to drop them from paper accounting)",
                positions.len(),
                positions
                    .iter()
                    .map(|(r, p)| format!("{r} {p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        ResetOutcome::Acknowledged {
            request_id,
            applied_at,
            result,
        } => {
            println!(
                "{what_txt}: scalp-simulator answered request {request_id} at {applied_at}: {result}"
            );
        }
        ResetOutcome::Queued { request_id } => {
            println!(
                "{what_txt}: request {request_id} written to {}; no answer within {wait}s",
                c.control_dir()
                    .join(crate::simulator::SCALPCTL_CONTROL_FILE)
                    .display()
            );
            println!("queued: scalp-simulator applies it at its next start");
        }
    }
    Ok(if out.refused() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The `scalpctl` binary.
pub fn main() -> ExitCode {
    scalp_core::clidocs::generate_if_requested(Cli::command());
    let cli = Cli::parse();
    match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("scalpctl: {e}");
            ExitCode::FAILURE
        }
    }
}
