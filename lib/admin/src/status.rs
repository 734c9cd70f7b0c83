//! `scalpctl status`: units, state files, database — one report, printable as text or JSON.

use crate::dbinfo::{self, DbInfo};
use crate::executor::ExecutorSummary;
use crate::simulator::{self, SimulatorSummary};
use crate::statefiles::{self, StateFileInfo};
use crate::units::{self, UnitState};
use crate::{fmt_age, fmt_ms};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub now_ms: i64,
    pub now: String,
    /// `false` when systemd is not PID 1 (then `units` is empty).
    pub systemd: bool,
    pub units: Vec<UnitState>,
    /// Set when `systemctl` could not be queried.
    pub units_error: Option<String>,
    pub state_dir: String,
    pub state_files: Vec<StateFileInfo>,
    /// Why the state directory could not be read (permissions: run as root or scalp).
    pub state_error: Option<String>,
    /// scalp-simulator's `state/simulator.json` read with its schema (`None`: never written).
    pub simulator: Option<SimulatorSummary>,
    /// Every live executor's `state/executor-<strategy>.json`, by strategy.
    pub executors: Vec<ExecutorSummary>,
    pub db: Option<DbInfo>,
    /// Why there is no database information (not created yet, unreadable...).
    pub db_error: Option<String>,
}

impl StatusReport {
    /// Services that are installed but not active, or failed (the target and timer aside).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(e) = &self.state_error {
            p.push(e.clone());
        }
        for u in &self.units {
            if u.active_state == "failed" {
                p.push(format!("{} failed (result {})", u.unit, u.result));
            }
        }
        for s in &self.state_files {
            if let Some(pr) = &s.problem {
                p.push(format!("state/{}: {pr}", s.file));
            }
            for (e, paths) in group_errors(&s.errors) {
                match paths.as_slice() {
                    [one] => p.push(format!("state/{} {one}: {e}", s.file)),
                    many => p.push(format!(
                        "state/{}: {} places: {e} (first {})",
                        s.file,
                        many.len(),
                        many[0]
                    )),
                }
            }
        }
        if let Some(sim) = &self.simulator {
            // an unparsable file is already reported above with the other state files
            let reported = self
                .state_files
                .iter()
                .any(|s| s.file == scalp_paper::state::STATE_FILE && s.problem.is_some());
            p.extend(
                sim.problems()
                    .into_iter()
                    .filter(|x| !(reported && sim.problem.as_deref() == Some(x.as_str()))),
            );
        }
        for x in &self.executors {
            p.extend(x.problems());
        }
        p
    }

    /// The human-readable rendering.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "Scalp Radar status at {}", self.now);
        let _ = writeln!(o, "\nUnits:");
        if !self.systemd {
            let _ = writeln!(o, "  systemd is not running on this host: no unit states");
        } else if let Some(e) = &self.units_error {
            let _ = writeln!(o, "  {e}");
        } else if self.units.is_empty() {
            let _ = writeln!(o, "  no Scalp Radar unit installed");
        }
        for u in &self.units {
            let wd = if u.watchdog_usec > 0 {
                format!(" watchdog={}s", u.watchdog_usec / 1_000_000)
            } else {
                String::new()
            };
            let pid = if u.main_pid > 0 {
                format!(" pid={}", u.main_pid)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "  {:<28} {:<9} {:<10} {}{}{} restarts={} result={}",
                u.unit,
                u.active_state,
                u.sub_state,
                u.unit_file_state,
                pid,
                wd,
                u.restarts,
                u.result
            );
        }
        let _ = writeln!(o, "\nState files ({}):", self.state_dir);
        if let Some(e) = &self.state_error {
            let _ = writeln!(o, "  {e}");
        } else if self.state_files.is_empty() {
            let _ = writeln!(o, "  none yet");
        }
        for s in &self.state_files {
            let hb = s
                .heartbeat_age_ms
                .map(fmt_age)
                .unwrap_or_else(|| "?".into());
            let lag = s.max_lag_ms.map(fmt_age).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                o,
                "  {:<22} {:<24} seq={} heartbeat {} ago, max lag {}{}",
                s.file,
                s.daemon,
                s.seq.map(|x| x.to_string()).unwrap_or_else(|| "?".into()),
                hb,
                lag,
                s.problem
                    .as_deref()
                    .map(|p| format!(" [{p}]"))
                    .unwrap_or_default()
            );
            for (e, paths) in group_errors(&s.errors) {
                match paths.as_slice() {
                    [one] => {
                        let _ = writeln!(o, "      last error at {one}: {e}");
                    }
                    many => {
                        let _ = writeln!(
                            o,
                            "      last error at {} places ({}): {e}",
                            many.len(),
                            abbreviate(many, 3)
                        );
                    }
                }
            }
        }
        if let Some(sim) = &self.simulator {
            let _ = writeln!(o, "\nSimulator ({}):", sim.state_file);
            o.push_str(&sim.to_text());
        }
        if !self.executors.is_empty() {
            let _ = writeln!(o, "\nLive executors:");
            for x in &self.executors {
                let _ = writeln!(o, "{}", x.to_line());
            }
        }
        let _ = writeln!(o, "\nDatabase:");
        match (&self.db, &self.db_error) {
            (Some(db), _) => {
                let _ = writeln!(
                    o,
                    "  {} {} bytes (WAL {} bytes), schema version {}",
                    db.path, db.size_bytes, db.wal_bytes, db.schema_version
                );
                if db.series.is_empty() {
                    let _ = writeln!(o, "  no series stored yet");
                }
                for s in &db.series {
                    let _ = writeln!(
                        o,
                        "  {:<14} {:<8} {:<12} {:<4} rows={:<8} latest {} ({} ago)",
                        s.table,
                        s.exchange.as_deref().unwrap_or("-"),
                        s.symbol,
                        s.timeframe.as_deref().unwrap_or("-"),
                        s.rows,
                        s.latest,
                        fmt_age(s.age_ms)
                    );
                }
            }
            (None, Some(e)) => {
                let _ = writeln!(o, "  {e}");
            }
            (None, None) => {}
        }
        let probs = self.problems();
        if !probs.is_empty() {
            let _ = writeln!(o, "\nProblems:");
            for p in probs {
                let _ = writeln!(o, "  {p}");
            }
        }
        o
    }
}

/// Errors grouped by their text, in order of first appearance, each with the paths that report
/// it: a collector offline reports the same error on every stream (168 of them by default), which
/// is one line to read, not 168.
pub fn group_errors(errors: &[(String, String)]) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for (path, e) in errors {
        match out.iter_mut().find(|(x, _)| *x == e.as_str()) {
            Some((_, paths)) => paths.push(path),
            None => out.push((e, vec![path])),
        }
    }
    out
}

/// `a, b, c and 5 more`.
fn abbreviate(items: &[&str], keep: usize) -> String {
    let shown = items[..items.len().min(keep)].join(", ");
    if items.len() > keep {
        format!("{shown} and {} more", items.len() - keep)
    } else {
        shown
    }
}

/// Collects the status. `units` false skips systemd (tests, `--no-units`).
pub fn status(state_dir: &Path, db: &Path, query_units: bool) -> StatusReport {
    let now_ms = scalp_core::types::now_ms();
    let systemd = query_units && units::systemd_running();
    let (units, units_error) = if systemd {
        match units::query() {
            Ok(u) => (u.unwrap_or_default(), None),
            Err(e) => (Vec::new(), Some(e)),
        }
    } else {
        (Vec::new(), None)
    };
    let (state_files, state_error) = match statefiles::read_dir(state_dir, now_ms) {
        Ok(s) => (s, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let simulator = simulator::summary(state_dir, now_ms);
    let executors = crate::executor::summaries(state_dir, now_ms);
    let mut db_error = None;
    let db_info = match std::fs::metadata(db) {
        Ok(_) => match dbinfo::inspect(db, now_ms) {
            Ok(i) => Some(i),
            Err(e) => {
                db_error = Some(e.to_string());
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            db_error = Some(format!(
                "{}: no database yet (no daemon has started)",
                db.display()
            ));
            None
        }
        Err(e) => {
            db_error = Some(format!(
                "{}: {e} (run as root or as the scalp user)",
                db.display()
            ));
            None
        }
    };
    StatusReport {
        now_ms,
        now: fmt_ms(now_ms),
        systemd,
        units,
        units_error,
        state_dir: state_dir.display().to_string(),
        state_files,
        state_error,
        simulator,
        executors,
        db: db_info,
        db_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_errors_are_one_line() {
        let errors: Vec<(String, String)> = (0..168)
            .map(|i| {
                (
                    format!("streams[{i}].last_error"),
                    "transport: error sending request".to_string(),
                )
            })
            .chain([("rest.last_error".into(), "429".into())])
            .collect();
        let g = group_errors(&errors);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0, "transport: error sending request");
        assert_eq!(g[0].1.len(), 168);
        assert_eq!(g[1], ("429", vec!["rest.last_error"]));
        let r = StatusReport {
            now_ms: 0,
            now: String::new(),
            systemd: false,
            units: Vec::new(),
            units_error: None,
            state_dir: "state".into(),
            state_files: vec![StateFileInfo {
                errors,
                ..statefiles::inspect("collector.json", "{}", 0)
            }],
            state_error: None,
            simulator: None,
            executors: Vec::new(),
            db: None,
            db_error: None,
        };
        let text = r.to_text();
        assert_eq!(
            text.matches("transport: error sending request").count(),
            2,
            "{text}"
        );
        assert!(
            text.contains("last error at 168 places (streams[0].last_error, streams[1].last_error, streams[2].last_error and 165 more): transport"),
            "{text}"
        );
        assert_eq!(
            r.problems().len(),
            2 + usize::from(r.state_files[0].problem.is_some())
        );
    }
}
