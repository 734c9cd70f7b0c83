//! `optimize sync [--only wfo|portfolio] [--dry-run]`: sends every local row of the optimize
//! database to scalp-syncd. Idempotent (the server answers `already_exists` for rows it has),
//! continues after errors, ends with `X created, Y already existed, Z errors`.

use rusqlite::{Connection, OpenFlags};
use scalp_core::config::Config;
use scalp_sync::client::{PORTFOLIO_PATH, PushOutcome, RESULTS_PATH, SyncClient};
use scalp_sync::db;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// Only `optimization_results` (walk-forward optimization results).
    Wfo,
    /// Only `portfolio_backtests`.
    Portfolio,
}

/// Arguments of `optimize sync`.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// Send only one kind of rows.
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// List what would be sent; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Local optimize database (default: `[optimize].db`, relative to the config directory).
    #[arg(long)]
    pub db_path: Option<PathBuf>,
}

/// Counts printed in the final line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub created: usize,
    pub already_existed: usize,
    pub errors: usize,
    /// Rows listed by `--dry-run`.
    pub would_send: usize,
}

impl SyncSummary {
    /// Process exit code: 0 when no row failed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.errors > 0 { 1 } else { 0 }
    }
}

/// Path of the local optimize database for this configuration.
pub fn local_db_path(cfg: &Config, args: &SyncArgs) -> PathBuf {
    match &args.db_path {
        Some(p) => p.clone(),
        None => cfg.resolve(Path::new(&cfg.main.optimize.db)),
    }
}

/// Runs `optimize sync`, printing one line per row to `out`. Errors are returned only for
/// problems that stop everything (unreadable database, sync disabled).
pub fn run(cfg: &Config, args: &SyncArgs, out: &mut dyn Write) -> anyhow::Result<SyncSummary> {
    let client = SyncClient::from_config(cfg);
    let path = local_db_path(cfg, args);
    let mut sum = SyncSummary::default();
    if !path.exists() {
        writeln!(
            out,
            "no local optimize database at {}: nothing to sync",
            path.display()
        )?;
        writeln!(out, "0 created, 0 already existed, 0 errors")?;
        return Ok(sum);
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| anyhow::anyhow!("{}: cannot open: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let ctx = |e: rusqlite::Error| anyhow::anyhow!("{}: {e}", path.display());
    let results = if args.only != Some(Only::Portfolio) {
        db::read_local_results(&conn).map_err(ctx)?
    } else {
        Vec::new()
    };
    let portfolios = if args.only != Some(Only::Wfo) {
        db::read_local_portfolios(&conn).map_err(ctx)?
    } else {
        Vec::new()
    };
    drop(conn);

    if !args.dry_run
        && let Some(reason) = client.skip_reason()
    {
        anyhow::bail!("{reason} in {}: nothing sent", cfg.path.display());
    }
    let mut rows: Vec<(String, &str, i64, Result<Value, String>)> = Vec::new();
    for (id, r) in &results {
        let label = r
            .as_ref()
            .map(|r| r.label())
            .unwrap_or_else(|_| "optimization result".into());
        rows.push((
            label,
            RESULTS_PATH,
            *id,
            r.as_ref()
                .map(|r| r.to_payload())
                .map_err(|e| e.to_string()),
        ));
    }
    for (id, p) in &portfolios {
        let label = p
            .as_ref()
            .map(|p| p.label())
            .unwrap_or_else(|_| "portfolio backtest".into());
        rows.push((
            label,
            PORTFOLIO_PATH,
            *id,
            p.as_ref()
                .map(|p| p.to_payload())
                .map_err(|e| e.to_string()),
        ));
    }
    let target = if client.base_url().is_empty() {
        "(no server_url)"
    } else {
        client.base_url()
    };
    writeln!(
        out,
        "{} local row(s) in {}{}",
        rows.len(),
        path.display(),
        if args.dry_run {
            format!(" (dry run: nothing is sent to {target})")
        } else {
            format!(" -> {target}")
        }
    )?;
    for (label, route, id, payload) in rows {
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                sum.errors += 1;
                writeln!(
                    out,
                    "error           {label} (local id {id}): unreadable row: {e}"
                )?;
                continue;
            }
        };
        if args.dry_run {
            sum.would_send += 1;
            writeln!(out, "would send      {label}")?;
            continue;
        }
        match client.post(route, &payload) {
            PushOutcome::Created => {
                sum.created += 1;
                writeln!(out, "created         {label}")?;
            }
            PushOutcome::AlreadyExists => {
                sum.already_existed += 1;
                writeln!(out, "already exists  {label}")?;
            }
            PushOutcome::Skipped(m) | PushOutcome::Failed(m) => {
                sum.errors += 1;
                writeln!(out, "error           {label} (local id {id}): {m}")?;
            }
        }
        out.flush()?;
    }
    if args.dry_run {
        writeln!(
            out,
            "dry run: {} row(s) would be sent, 0 sent",
            sum.would_send
        )?;
    } else {
        writeln!(
            out,
            "{} created, {} already existed, {} errors",
            sum.created, sum.already_existed, sum.errors
        )?;
    }
    Ok(sum)
}
