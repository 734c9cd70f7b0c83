//! Anomalies and their life cycle: raised (alerted unless within the cooldown of the last alert
//! of the same kind and subject), kept while observed, resolved when no longer observed (a
//! "resolved" message only for an anomaly that was alerted).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the watchdog can find wrong. `kind()` is the stable snake_case name, `subject()` what
/// it is about; the cooldown is per (kind, subject).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// No closed candle for two timeframes (live), or a replay that stopped progressing.
    DataStale { stream: String },
    /// A daemon's process is gone or its state file is too old.
    DaemonDown { daemon: String },
    /// A paper runner's kill switch (or its stop below the minimum order), or `global`.
    KillSwitch { runner: String },
    /// Every paper runner is stopped.
    AllStrategiesStopped,
    /// Free space on the data directory's file system below `min_free_disk_pct`.
    DiskLow,
    /// `scalp.db-wal` above `max_wal_mb`.
    WalGrowing,
    /// Every live stream of one exchange's connection reported disconnected in two rounds in a
    /// row (one blip between two rounds is not alerted).
    WsDisconnected { exchange: String },
    /// A paper (later: live) daemon is behind the stored candles and not catching up: a runner
    /// whose newest stored candle it has not processed for longer than `[simulator].max_lag_s`.
    Lagging { daemon: String },
    /// No entry and no exit by any runner of the strategy for `[watchdog].silent_after_h`
    /// hours of market time.
    StrategySilent { strategy: String },
    /// The newest backup is older than `[watchdog].max_backup_age_h`, or the last
    /// `scalp-backup.service` run failed.
    BackupFailed,
}

impl Anomaly {
    pub fn kind(&self) -> &'static str {
        match self {
            Anomaly::DataStale { .. } => "data_stale",
            Anomaly::DaemonDown { .. } => "daemon_down",
            Anomaly::KillSwitch { .. } => "kill_switch",
            Anomaly::AllStrategiesStopped => "all_strategies_stopped",
            Anomaly::DiskLow => "disk_low",
            Anomaly::WalGrowing => "wal_growing",
            Anomaly::WsDisconnected { .. } => "ws_disconnected",
            Anomaly::Lagging { .. } => "lagging",
            Anomaly::StrategySilent { .. } => "strategy_silent",
            Anomaly::BackupFailed => "backup_failed",
        }
    }
    pub fn subject(&self) -> &str {
        match self {
            Anomaly::DataStale { stream } => stream,
            Anomaly::DaemonDown { daemon } => daemon,
            Anomaly::KillSwitch { runner } => runner,
            Anomaly::AllStrategiesStopped => "simulator",
            Anomaly::DiskLow => "data_dir",
            Anomaly::WalGrowing => "scalp.db-wal",
            Anomaly::WsDisconnected { exchange } => exchange,
            Anomaly::Lagging { daemon } => daemon,
            Anomaly::StrategySilent { strategy } => strategy,
            Anomaly::BackupFailed => "backups",
        }
    }
    /// `kind:subject`, the cooldown key.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind(), self.subject())
    }
    /// Paper-only and resource anomalies are less urgent than a daemon or data outage.
    pub fn is_high(&self) -> bool {
        matches!(
            self,
            Anomaly::DataStale { .. }
                | Anomaly::DaemonDown { .. }
                | Anomaly::KillSwitch { .. }
                | Anomaly::AllStrategiesStopped
                | Anomaly::DiskLow
                | Anomaly::WsDisconnected { .. }
                | Anomaly::Lagging { .. }
                | Anomaly::BackupFailed
        )
    }
}

/// One current anomaly (as kept in `state/watchdog.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Active {
    pub anomaly: Anomaly,
    pub detail: String,
    /// Wall time (ms) it was first observed.
    pub since_ms: i64,
    /// Whether its onset was alerted (false: suppressed by the cooldown).
    pub alerted: bool,
}

/// A change found by [`Tracker::update`].
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Raised { anomaly: Anomaly, detail: String },
    Resolved { anomaly: Anomaly, since_ms: i64 },
}

/// The anomalies currently active and the last alert time per key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub active: BTreeMap<String, Active>,
    pub last_alert_ms: BTreeMap<String, i64>,
}

impl Tracker {
    /// Applies one round of observations at `now_ms`: new keys are raised (alerted unless the
    /// same key was alerted less than `cooldown_ms` ago), keys no longer observed are resolved
    /// (reported only if alerted), the detail of kept ones is refreshed.
    pub fn update(
        &mut self,
        now_ms: i64,
        observed: Vec<(Anomaly, String)>,
        cooldown_ms: i64,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let mut seen = BTreeMap::new();
        for (a, d) in observed {
            seen.insert(a.key(), (a, d));
        }
        let gone: Vec<String> = self
            .active
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(a) = self.active.remove(&k) {
                if a.alerted {
                    out.push(Transition::Resolved {
                        anomaly: a.anomaly,
                        since_ms: a.since_ms,
                    });
                } else {
                    tracing::info!("ANOMALY CLEARED {k} (its onset was within the cooldown)");
                }
            }
        }
        for (k, (a, d)) in seen {
            if let Some(cur) = self.active.get_mut(&k) {
                cur.detail = d;
                continue;
            }
            let quiet = self
                .last_alert_ms
                .get(&k)
                .is_some_and(|t| now_ms - t < cooldown_ms);
            if quiet {
                tracing::info!("ANOMALY {k} within the cooldown, not alerted: {d}");
            } else {
                self.last_alert_ms.insert(k.clone(), now_ms);
                out.push(Transition::Raised {
                    anomaly: a.clone(),
                    detail: d.clone(),
                });
            }
            self.active.insert(
                k,
                Active {
                    anomaly: a,
                    detail: d,
                    since_ms: now_ms,
                    alerted: !quiet,
                },
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(d: &str) -> (Anomaly, String) {
        (
            Anomaly::DaemonDown { daemon: d.into() },
            "process gone".into(),
        )
    }

    #[test]
    fn raised_once_resolved_once_and_cooldown_suppresses_flapping() {
        let mut t = Tracker::default();
        let r = t.update(0, vec![down("scalp-simulator")], 10_000);
        assert!(matches!(&r[..], [Transition::Raised { .. }]));
        assert!(
            t.update(1_000, vec![down("scalp-simulator")], 10_000)
                .is_empty()
        );
        let r = t.update(2_000, vec![], 10_000);
        assert!(matches!(&r[..], [Transition::Resolved { since_ms: 0, .. }]));
        // back within the cooldown: neither the onset nor its end is alerted
        assert!(
            t.update(3_000, vec![down("scalp-simulator")], 10_000)
                .is_empty()
        );
        assert!(!t.active["daemon_down:scalp-simulator"].alerted);
        assert!(t.update(4_000, vec![], 10_000).is_empty());
        // after the cooldown it is alerted again; another subject is independent
        let r = t.update(
            20_000,
            vec![down("scalp-simulator"), down("scalp-collector")],
            10_000,
        );
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn serializes_with_kind_tag() {
        let a = Anomaly::KillSwitch {
            runner: "global".into(),
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"kind":"kill_switch","runner":"global"}"#
        );
        assert_eq!(a.key(), "kill_switch:global");
    }
}
