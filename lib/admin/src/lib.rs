//! Scalp Radar administration: the logic behind `scalpctl` (the admin's command on the server).
//!
//! - [`status`]: every daemon's systemd unit state (through `systemctl show`, when systemd is
//!   PID 1), the state files' envelope (`version`/`seq`/`written_at` → heartbeat age), lag and
//!   last errors found in them, and the database freshness (latest row per series).
//! - [`backup`]: SQLite online backup API into a temporary file, `PRAGMA integrity_check` of the
//!   copy, atomic rename, retention of the newest N copies. What `scalp-backup.timer` runs.
//! - [`checkpoint`]: `PRAGMA wal_checkpoint(TRUNCATE)` with the WAL size before and after.
//! - [`check_config`]: loads every config file; errors name `file:line:col: key`.
//! - [`trades`]: paper (`sim_trades`) and live (`live_trades`) trades, database opened read-only.
//! - [`simulator`]: `state/simulator.json` (arena, status) and the control requests of
//!   `scalpctl reset` (`control/simulator-scalpctl.json`, scalpctl is its only writer).
//!
//! Everything here only reads the daemons' files, except `backup` (writes into the backups dir),
//! `checkpoint` (which moves WAL pages into the database, like any SQLite writer does) and
//! `reset` (writes scalpctl's own control file).

pub mod backup;
pub mod checkconfig;
pub mod checkpoint;
pub mod cli;
pub mod dbinfo;
pub mod executor;
pub mod fees;
pub mod simulator;
pub mod statefiles;
pub mod status;
pub mod trades;
pub mod units;

pub use backup::{BackupReport, backup};
pub use checkconfig::{ConfigReport, check_config};
pub use checkpoint::{CheckpointReport, checkpoint};
pub use status::{StatusReport, status};

/// Errors of the admin commands. The message always names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: sqlite: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Config(#[from] scalp_core::config::ConfigError),
    #[error("{0}")]
    Other(String),
}

impl AdminError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        AdminError::Io {
            path: path.display().to_string(),
            source,
        }
    }
    pub(crate) fn sql(path: &std::path::Path, source: rusqlite::Error) -> Self {
        AdminError::Sqlite {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Milliseconds since the Unix epoch, formatted as RFC 3339 UTC (`2026-11-21T20:15:00.000Z`).
pub fn fmt_ms(ms: i64) -> String {
    scalp_core::types::fmt_ms(ms)
}

/// Human duration for ages: `850ms`, `12.3s`, `4m05s`, `3h12m`, `2d04h`.
pub fn fmt_age(ms: i64) -> String {
    let neg = ms < 0;
    let a = ms.unsigned_abs();
    let s = if a < 1_000 {
        format!("{a}ms")
    } else if a < 60_000 {
        format!("{:.1}s", a as f64 / 1000.0)
    } else if a < 3_600_000 {
        format!("{}m{:02}s", a / 60_000, (a / 1000) % 60)
    } else if a < 86_400_000 {
        format!("{}h{:02}m", a / 3_600_000, (a / 60_000) % 60)
    } else {
        format!("{}d{:02}h", a / 86_400_000, (a / 3_600_000) % 24)
    };
    if neg { format!("-{s}") } else { s }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages() {
        assert_eq!(super::fmt_age(850), "850ms");
        assert_eq!(super::fmt_age(12_300), "12.3s");
        assert_eq!(super::fmt_age(245_000), "4m05s");
        assert_eq!(super::fmt_age(3 * 3_600_000 + 12 * 60_000), "3h12m");
        assert_eq!(super::fmt_age(2 * 86_400_000 + 4 * 3_600_000), "2d04h");
        assert_eq!(super::fmt_age(-1500), "-1.5s");
    }
}
