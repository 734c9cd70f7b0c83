//! `[watchdog]`: what `scalp-watchdog` checks and how it alerts. Conventions: docs/WATCHDOG.md.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// `[watchdog]`. Every key has a default. The bot token is never here: only the environment
/// variable `SCALP_TELEGRAM_TOKEN` (`/etc/scalp-radar/secrets.env`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchdogConfig {
    /// Seconds between two rounds of checks (and reads of `sim_events`).
    pub check_interval_s: u64,
    /// An anomaly (kind, subject) that clears and comes back within this many seconds of its
    /// last alert is not alerted again (nor its resolution).
    pub cooldown_s: u64,
    /// Seconds between two heartbeat messages (equity, P&L since the last one, positions,
    /// trades). 0 = no heartbeat.
    pub heartbeat_interval_s: u64,
    /// `disk_low` when the data directory's file system has less free space than this percent.
    pub min_free_disk_pct: f64,
    /// `wal_growing` when `scalp.db-wal` is larger than this many MiB.
    pub max_wal_mb: u64,
    /// A daemon whose state file is older than this many times its write interval is down
    /// (collector: `[collector].state_interval_s`; syncd: its 5 s self-check).
    pub state_stale_factor: f64,
    /// Telegram chat id (integer, or `@channel`); empty: alerts are only logged (`ALERT …`).
    pub telegram_chat_id: String,
    /// Bot API base URL (tests point it at a stand-in).
    pub telegram_url: String,
    /// Seconds between two WAL checkpoints (the watchdog is the one checkpointer). 0 = none.
    pub checkpoint_interval_s: u64,
    /// `strategy_silent` when no runner of a strategy entered or exited for this many hours of
    /// market time (halted and kill-switched strategies excepted). 0 = not checked.
    pub silent_after_h: f64,
    /// `backup_failed` when the newest `scalp-*.db` in `[paths].backups_dir` is older than this
    /// many hours (the timer runs daily). 0 = not checked. Not judged before a first backup
    /// exists; a failed `scalp-backup.service` run is reported at once under systemd.
    pub max_backup_age_h: f64,
    /// scalp-api's base URL, for `/stop` and `/reset_killswitch` (its control endpoint, with
    /// `SCALP_API_KEY` from the environment).
    pub api_url: String,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            check_interval_s: 30,
            cooldown_s: 300,
            heartbeat_interval_s: 3600,
            min_free_disk_pct: 10.0,
            max_wal_mb: 512,
            state_stale_factor: 6.0,
            telegram_chat_id: String::new(),
            telegram_url: "https://api.telegram.org".into(),
            checkpoint_interval_s: 3600,
            silent_after_h: 168.0,
            max_backup_age_h: 26.0,
            api_url: "http://127.0.0.1:8000".into(),
        }
    }
}

impl WatchdogConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: String| {
            Err(ConfigError::invalid(
                file,
                Some(text),
                &format!("watchdog.{key}"),
                msg,
            ))
        };
        if self.check_interval_s == 0 {
            return bad("check_interval_s", "must be > 0".into());
        }
        if !(self.min_free_disk_pct.is_finite() && (0.0..=100.0).contains(&self.min_free_disk_pct))
        {
            return bad(
                "min_free_disk_pct",
                format!("must be in [0, 100], got {}", self.min_free_disk_pct),
            );
        }
        if !(self.state_stale_factor.is_finite() && self.state_stale_factor >= 1.0) {
            return bad(
                "state_stale_factor",
                format!("must be >= 1, got {}", self.state_stale_factor),
            );
        }
        for (key, v) in [
            ("silent_after_h", self.silent_after_h),
            ("max_backup_age_h", self.max_backup_age_h),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(
                    key,
                    format!("must be a number of hours >= 0 (0 = off), got {v}"),
                );
            }
        }
        let a = self.api_url.trim();
        if !(a.starts_with("https://") || a.starts_with("http://")) {
            return bad("api_url", format!("must be an http(s) URL, got `{a}`"));
        }
        let c = self.telegram_chat_id.trim();
        if !c.is_empty()
            && c.parse::<i64>().is_err()
            && !(c.starts_with('@') && c.len() > 1 && !c.contains(char::is_whitespace))
        {
            return bad(
                "telegram_chat_id",
                format!("must be an integer chat id or `@channel`, got `{c}`"),
            );
        }
        let u = self.telegram_url.trim();
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return bad("telegram_url", format!("must be an http(s) URL, got `{u}`"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_chat_id_is_refused() {
        let c = WatchdogConfig::default();
        c.validate("scalp.toml", "").unwrap();
        let c = WatchdogConfig {
            telegram_chat_id: "12 34".into(),
            ..WatchdogConfig::default()
        };
        let e = c.validate("scalp.toml", "").unwrap_err();
        assert!(e.to_string().contains("watchdog.telegram_chat_id"), "{e}");
        for ok in ["123456789", "-1001234567890", "@ops_channel"] {
            WatchdogConfig {
                telegram_chat_id: ok.into(),
                ..WatchdogConfig::default()
            }
            .validate("scalp.toml", "")
            .unwrap();
        }
    }
}
