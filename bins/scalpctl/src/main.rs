//! `scalpctl`: the admin's command on the server (thin: arguments → `scalp_admin`).

use clap::{CommandFactory, Parser, Subcommand};
use scalp_core::config::{Config, PathsConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "scalpctl",
    version,
    about = "Scalp Radar administration: status, online backup, WAL checkpoint, config check",
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
}

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
            let r = scalp_admin::status(&state_dir, &db, !no_units);
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
            let r = scalp_admin::backup(&c.db_path(), &dest, keep).map_err(|e| e.to_string())?;
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
            let r = scalp_admin::checkpoint(&c.db_path()).map_err(|e| e.to_string())?;
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
            let r = scalp_admin::check_config(&cli.config).map_err(|e| e.to_string())?;
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
    }
}

fn main() -> ExitCode {
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
