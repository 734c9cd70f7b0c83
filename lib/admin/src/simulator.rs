//! scalp-simulator from the admin's side: its state file (`state/simulator.json`, written only by
//! the simulator) for `scalpctl arena` and `status`, and its control requests
//! (`control/simulator-scalpctl.json`, written only by scalpctl) for `scalpctl reset`.
//!
//! A reset is declarative: scalpctl writes a [`ControlRequest`] with a new `request_id`
//! atomically, then watches the state file's `control_acks` for that id. A simulator that is not
//! running applies the request at its next start, so no answer is not an error ("queued").

use crate::{AdminError, fmt_age};
use scalp_paper::control::{Action, CONTROL_VERSION, ControlRequest};
use scalp_paper::state::{STATE_FILE, STATE_VERSION, SimulatorState};
use scalp_statefile::{Envelope, ReadOutcome};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The control file scalpctl owns.
pub const SCALPCTL_CONTROL_FILE: &str = "simulator-scalpctl.json";

/// `<state_dir>/simulator.json`.
pub fn state_path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_FILE)
}

/// Why there is no usable simulator state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateProblem {
    #[error(
        "scalp-simulator has not written {0} yet (is it running? `systemctl status scalp-simulator`)"
    )]
    Missing(String),
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
}

/// The simulator's state file as read: envelope, payload and age.
#[derive(Debug, Clone)]
pub struct SimState {
    pub path: PathBuf,
    pub env: Envelope<SimulatorState>,
    pub written_at_ms: Option<i64>,
    /// `now - written_at`.
    pub age_ms: Option<i64>,
}

/// Reads `state/simulator.json` (never writes it).
pub fn read_state(state_dir: &Path, now_ms: i64) -> Result<SimState, StateProblem> {
    let path = state_path(state_dir);
    match scalp_statefile::try_read::<SimulatorState>(&path, STATE_VERSION) {
        ReadOutcome::Ok(env) => {
            let written_at_ms = crate::statefiles::parse_written_at(&serde_json::Value::String(
                env.written_at.clone(),
            ));
            Ok(SimState {
                path,
                written_at_ms,
                age_ms: written_at_ms.map(|w| now_ms - w),
                env,
            })
        }
        ReadOutcome::Missing => Err(StateProblem::Missing(path.display().to_string())),
        ReadOutcome::Invalid(reason) => Err(StateProblem::Corrupt {
            path: path.display().to_string(),
            reason,
        }),
    }
}

// ------------------------------------------------------------------ arena ---

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ArenaRow {
    /// `None` for a runner the simulator has not ranked (yet).
    pub rank: Option<u32>,
    pub id: String,
    pub strategy: String,
    pub asset: String,
    pub score: Option<f64>,
    pub return_pct: Option<f64>,
    pub max_drawdown_pct: Option<f64>,
    pub win_rate: Option<f64>,
    pub trades: u64,
    pub equity: Option<f64>,
    pub net_pnl: Option<f64>,
    pub epoch: Option<i64>,
    /// `long` / `short` while a position is open.
    pub position: Option<String>,
    /// The runner's kill switch kind (`kill_switch`, `stopped`) when tripped.
    pub kill_switch: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ArenaReport {
    pub state_file: String,
    pub seq: u64,
    pub written_at: String,
    pub age_ms: Option<i64>,
    pub healthy: bool,
    pub capital: f64,
    pub equity: f64,
    pub global_kill_switch: bool,
    pub global_kill_switch_reason: Option<String>,
    pub runners: usize,
    pub ranking: Vec<ArenaRow>,
}

/// The ranking from the state file, each entry completed with its runner's equity, net P&L and
/// trades; runners without a rank come last.
pub fn arena(s: &SimState) -> ArenaReport {
    let st = &s.env.payload;
    let mut rows: Vec<ArenaRow> = Vec::new();
    for e in &st.ranking {
        let r = st.runners.iter().find(|r| r.id == e.id);
        rows.push(ArenaRow {
            rank: Some(e.rank),
            id: e.id.clone(),
            strategy: e.strategy.clone(),
            asset: e.asset.clone(),
            score: Some(e.score),
            return_pct: Some(e.return_pct),
            max_drawdown_pct: Some(e.max_drawdown_pct),
            win_rate: Some(e.win_rate),
            trades: r.map_or(e.trades, |r| r.trades),
            equity: r.map(|r| r.equity),
            net_pnl: r.map(|r| r.net_pnl),
            epoch: r.map(|r| r.epoch),
            position: r.and_then(|r| r.position.as_ref().map(|p| p.side.clone())),
            kill_switch: r.and_then(|r| r.kill_switch.as_ref().map(|k| k.kind.clone())),
        });
    }
    for r in &st.runners {
        if rows.iter().any(|x| x.id == r.id) {
            continue;
        }
        rows.push(ArenaRow {
            rank: None,
            id: r.id.clone(),
            strategy: r.strategy.clone(),
            asset: r.asset.clone(),
            score: None,
            return_pct: None,
            max_drawdown_pct: None,
            win_rate: None,
            trades: r.trades,
            equity: Some(r.equity),
            net_pnl: Some(r.net_pnl),
            epoch: Some(r.epoch),
            position: r.position.as_ref().map(|p| p.side.clone()),
            kill_switch: r.kill_switch.as_ref().map(|k| k.kind.clone()),
        });
    }
    ArenaReport {
        state_file: s.path.display().to_string(),
        seq: s.env.seq,
        written_at: s.env.written_at.clone(),
        age_ms: s.age_ms,
        healthy: st.healthy,
        capital: st.capital,
        equity: st.equity,
        global_kill_switch: st.global_kill_switch.active,
        global_kill_switch_reason: st.global_kill_switch.reason.clone(),
        runners: st.runners.len(),
        ranking: rows,
    }
}

fn opt(x: Option<f64>, prec: usize) -> String {
    x.map(|v| format!("{v:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

impl ArenaReport {
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Arena from {} (seq {}, written {} ago){}",
            self.state_file,
            self.seq,
            self.age_ms.map(fmt_age).unwrap_or_else(|| "?".into()),
            if self.healthy { "" } else { " [not healthy]" }
        );
        let _ = writeln!(
            o,
            "capital {:.2}, equity {:.2} ({:+.2}), {} runners, global kill switch {}",
            self.capital,
            self.equity,
            self.equity - self.capital,
            self.runners,
            if self.global_kill_switch {
                format!(
                    "ACTIVE ({})",
                    self.global_kill_switch_reason.as_deref().unwrap_or("?")
                )
            } else {
                "off".into()
            }
        );
        if self.ranking.is_empty() {
            let _ = writeln!(o, "no runners yet");
            return o;
        }
        let head = [
            "rank", "runner", "score", "return%", "maxdd%", "win%", "trades", "equity", "net pnl",
            "position", "kill",
        ];
        let rows: Vec<[String; 11]> = self
            .ranking
            .iter()
            .map(|r| {
                [
                    r.rank.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
                    r.id.clone(),
                    opt(r.score, 3),
                    opt(r.return_pct, 2),
                    opt(r.max_drawdown_pct, 2),
                    opt(r.win_rate.map(|w| w * 100.0), 1),
                    r.trades.to_string(),
                    opt(r.equity, 2),
                    r.net_pnl
                        .map(|v| format!("{v:+.2}"))
                        .unwrap_or_else(|| "-".into()),
                    r.position.clone().unwrap_or_else(|| "-".into()),
                    r.kill_switch.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let mut w = head.map(str::len);
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    l.push_str("  ");
                }
                if i == 1 || i >= 9 {
                    let _ = write!(l, "{c:<width$}", width = w[i]);
                } else {
                    let _ = write!(l, "{c:>width$}", width = w[i]);
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(o, "{}", line(&head.map(String::from)));
        for r in &rows {
            let _ = writeln!(o, "{}", line(r));
        }
        o
    }
}

// ----------------------------------------------------------------- status ---

/// What `scalpctl status` shows of the simulator.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SimulatorSummary {
    pub state_file: String,
    pub seq: Option<u64>,
    pub age_ms: Option<i64>,
    pub healthy: Option<bool>,
    pub runners: Option<usize>,
    pub open_positions: Option<usize>,
    pub capital: Option<f64>,
    pub equity: Option<f64>,
    pub global_kill_switch: Option<bool>,
    pub global_kill_switch_reason: Option<String>,
    pub db_error: Option<String>,
    /// The state file exists but cannot be used (corrupt, other schema version).
    pub problem: Option<String>,
}

/// `None` when the simulator never wrote its state file (not installed or never started).
pub fn summary(state_dir: &Path, now_ms: i64) -> Option<SimulatorSummary> {
    let path = state_path(state_dir).display().to_string();
    match read_state(state_dir, now_ms) {
        Ok(s) => {
            let p = &s.env.payload;
            Some(SimulatorSummary {
                state_file: path,
                seq: Some(s.env.seq),
                age_ms: s.age_ms,
                healthy: Some(p.healthy),
                runners: Some(p.runners.len()),
                open_positions: Some(p.runners.iter().filter(|r| r.position.is_some()).count()),
                capital: Some(p.capital),
                equity: Some(p.equity),
                global_kill_switch: Some(p.global_kill_switch.active),
                global_kill_switch_reason: p.global_kill_switch.reason.clone(),
                db_error: p.db_error.clone(),
                problem: None,
            })
        }
        Err(StateProblem::Missing(_)) => None,
        Err(e) => Some(SimulatorSummary {
            state_file: path,
            seq: None,
            age_ms: None,
            healthy: None,
            runners: None,
            open_positions: None,
            capital: None,
            equity: None,
            global_kill_switch: None,
            global_kill_switch_reason: None,
            db_error: None,
            problem: Some(e.to_string()),
        }),
    }
}

impl SimulatorSummary {
    /// Problems for `status` (the JSON problems of the file itself are reported with the other
    /// state files).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(pr) = &self.problem {
            p.push(pr.clone());
        }
        if self.healthy == Some(false) {
            p.push("scalp-simulator is not healthy (a runner lags the stored candles)".into());
        }
        if self.global_kill_switch == Some(true) {
            p.push(format!(
                "scalp-simulator global kill switch is active ({}); `scalpctl reset kill-switch` clears it",
                self.global_kill_switch_reason.as_deref().unwrap_or("?")
            ));
        }
        if let Some(e) = &self.db_error {
            p.push(format!("scalp-simulator database error: {e}"));
        }
        p
    }

    pub fn to_text(&self) -> String {
        if let Some(pr) = &self.problem {
            return format!("  {pr}\n");
        }
        let f = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "?".into());
        format!(
            "  seq={} written {} ago, {}, {} runners ({} with a position), capital {}, equity {}, global kill switch {}\n",
            self.seq
                .map(|s| s.to_string())
                .unwrap_or_else(|| "?".into()),
            self.age_ms.map(fmt_age).unwrap_or_else(|| "?".into()),
            match self.healthy {
                Some(true) => "healthy",
                Some(false) => "NOT healthy",
                None => "?",
            },
            self.runners.unwrap_or(0),
            self.open_positions.unwrap_or(0),
            f(self.capital),
            f(self.equity),
            match self.global_kill_switch {
                Some(true) => format!(
                    "ACTIVE ({})",
                    self.global_kill_switch_reason.as_deref().unwrap_or("?")
                ),
                _ => "off".into(),
            }
        )
    }
}

// ------------------------------------------------------------------ reset ---

/// What to reset.
#[derive(Debug, Clone, PartialEq)]
pub enum ResetKind {
    /// A new epoch at the initial capital.
    Simulator { force: bool },
    /// The runners' kill switch (`strategy`), or the global one (no strategy).
    KillSwitch,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResetRequest {
    pub kind: ResetKind,
    pub strategy: Option<String>,
    /// How long to wait for the acknowledgement.
    pub wait: Duration,
}

/// How a reset ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ResetOutcome {
    /// Not written: concerned runners hold positions (no `--force`). `(runner, side qty @ price)`.
    Refused { positions: Vec<(String, String)> },
    /// Written, acknowledged by the simulator with `result` (`ok`, or `refused: …`).
    Acknowledged {
        request_id: String,
        applied_at: String,
        result: String,
    },
    /// Written, no answer within the wait: applied at the simulator's next start.
    Queued { request_id: String },
}

impl ResetOutcome {
    /// A refusal, by scalpctl or by the simulator.
    pub fn refused(&self) -> bool {
        match self {
            ResetOutcome::Refused { .. } => true,
            ResetOutcome::Acknowledged { result, .. } => result.starts_with("refused"),
            ResetOutcome::Queued { .. } => false,
        }
    }
}

/// Errors of `scalpctl reset` that are the admin's input (exit 2).
pub fn check_strategy(strategy: Option<&str>, known: &[String]) -> Result<(), AdminError> {
    match strategy {
        Some(s) if !known.iter().any(|k| k == s) => Err(AdminError::Other(format!(
            "unknown strategy `{s}`: strategies.toml has {}",
            known.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// `<unix ms>-<pid>`.
pub fn new_request_id(now_ms: i64) -> String {
    format!("{now_ms}-{}", std::process::id())
}

/// The control request for `req`.
pub fn control_request(req: &ResetRequest, request_id: &str) -> ControlRequest {
    let action = match req.kind {
        ResetKind::Simulator { force } => Action::Reset {
            strategy: req.strategy.clone(),
            force,
        },
        ResetKind::KillSwitch => Action::ResetKillSwitch {
            strategy: req.strategy.clone(),
        },
    };
    ControlRequest {
        request_id: request_id.to_string(),
        requested_at: scalp_statefile::now_rfc3339_ms(),
        actions: vec![action],
    }
}

/// Open positions of the runners a reset concerns, from the state file (empty when unknown).
pub fn open_positions(state: &SimulatorState, strategy: Option<&str>) -> Vec<(String, String)> {
    state
        .runners
        .iter()
        .filter(|r| strategy.is_none_or(|s| r.strategy == s))
        .filter_map(|r| {
            r.position.as_ref().map(|p| {
                (
                    r.id.clone(),
                    format!("{} {} @ {}", p.side, p.qty, p.avg_entry),
                )
            })
        })
        .collect()
}

/// Writes the control file atomically (scalp-statefile's writer, version `CONTROL_VERSION`).
/// When scalpctl runs as root, the file is handed to the owner of the data directory (the
/// `scalp` user the simulator runs as) so that the simulator can read it.
pub fn write_control(control_dir: &Path, req: &ControlRequest) -> Result<PathBuf, AdminError> {
    write_control_file(control_dir, SCALPCTL_CONTROL_FILE, req)
}

/// [`write_control`] to any of scalpctl's control files (the executors' ones too).
pub fn write_control_file(
    control_dir: &Path,
    file: &str,
    req: &ControlRequest,
) -> Result<PathBuf, AdminError> {
    let path = control_dir.join(file);
    let fresh_dir = !control_dir.exists();
    scalp_statefile::write_atomic(&path, CONTROL_VERSION, req)
        .map_err(|e| AdminError::Other(e.to_string()))?;
    hand_over(control_dir, &path, fresh_dir);
    Ok(path)
}

/// chown the control dir (if scalpctl created it) and the file to the data dir's owner. Only
/// root can do it, and only root needs it (a scalp-user scalpctl already writes as scalp).
fn hand_over(control_dir: &Path, file: &Path, fresh_dir: bool) {
    use std::os::unix::fs::MetadataExt;
    let Some(data_dir) = control_dir.parent() else {
        return;
    };
    let (Ok(owner), Ok(me)) = (std::fs::metadata(data_dir), std::fs::metadata("/proc/self")) else {
        return;
    };
    if me.uid() != 0 || owner.uid() == 0 {
        return;
    }
    let ids = (Some(owner.uid()), Some(owner.gid()));
    if fresh_dir {
        let _ = std::os::unix::fs::chown(control_dir, ids.0, ids.1);
    }
    let _ = std::os::unix::fs::chown(file, ids.0, ids.1);
}

/// Polls the state file every 100 ms until it acknowledges `request_id` from scalpctl's control
/// file, or `wait` has passed.
pub fn wait_for_ack(
    state_dir: &Path,
    request_id: &str,
    wait: Duration,
) -> Option<scalp_paper::state::ControlAck> {
    let path = state_path(state_dir);
    let end = Instant::now() + wait;
    loop {
        if let ReadOutcome::Ok(env) =
            scalp_statefile::try_read::<SimulatorState>(&path, STATE_VERSION)
            && let Some(a) = env
                .payload
                .control_acks
                .into_iter()
                .find(|a| a.file == SCALPCTL_CONTROL_FILE && a.request_id == request_id)
        {
            return Some(a);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The whole `scalpctl reset`: checks positions (unless forced or a kill-switch reset), writes
/// the request, waits for the acknowledgement. `known` are the strategies of strategies.toml.
pub fn reset(
    state_dir: &Path,
    control_dir: &Path,
    known: &[String],
    req: &ResetRequest,
) -> Result<ResetOutcome, AdminError> {
    check_strategy(req.strategy.as_deref(), known)?;
    let now = scalp_core::types::now_ms();
    if let ResetKind::Simulator { force: false } = req.kind
        && let Ok(s) = read_state(state_dir, now)
    {
        let positions = open_positions(&s.env.payload, req.strategy.as_deref());
        if !positions.is_empty() {
            return Ok(ResetOutcome::Refused { positions });
        }
    }
    let id = new_request_id(now);
    write_control(control_dir, &control_request(req, &id))?;
    Ok(match wait_for_ack(state_dir, &id, req.wait) {
        Some(a) => ResetOutcome::Acknowledged {
            request_id: id,
            applied_at: a.applied_at,
            result: a.result,
        },
        None => ResetOutcome::Queued { request_id: id },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalp_paper::state::{ControlAck, GlobalKillSwitch, PositionState, RankEntry, RunnerState};

    fn runner(id: &str, pos: bool) -> RunnerState {
        let (s, a) = id.split_once(':').unwrap();
        RunnerState {
            id: id.into(),
            strategy: s.into(),
            asset: a.into(),
            exchange: "replay".into(),
            timeframe: "1h".into(),
            epoch: 0,
            params: serde_json::json!({}),
            leverage: 2.0,
            capital: 500.0,
            equity: 510.0,
            net_pnl: 10.0,
            trades: 3,
            wins: 2,
            losses: 1,
            position: pos.then(|| PositionState {
                side: "long".into(),
                qty: 0.01,
                avg_entry: 30000.0,
                entries: 1,
                opened_at: 0,
                stop: None,
                take_profit: None,
                liquidation: None,
                unrealized_pnl: 0.0,
                margin: 150.0,
            }),
            levels: vec![],
            kill_switch: None,
            last_open_time: None,
            origin_open_time: 0,
            halted: false,
        }
    }

    fn state(acks: Vec<ControlAck>) -> SimulatorState {
        SimulatorState {
            pid: 1,
            started_at: "2026-11-21T20:00:00Z".into(),
            healthy: true,
            capital: 1000.0,
            equity: 1020.0,
            global_kill_switch: GlobalKillSwitch::default(),
            runners: vec![runner("a:BTC", true), runner("b:ETH", false)],
            ranking: vec![RankEntry {
                rank: 1,
                id: "b:ETH".into(),
                strategy: "b".into(),
                asset: "ETH".into(),
                score: 1.5,
                return_pct: 2.0,
                max_drawdown_pct: 1.0,
                trades: 3,
                win_rate: 0.66,
            }],
            control_acks: acks,
            halted_strategies: Vec::new(),
            db_error: None,
            rss_kb: None,
        }
    }

    #[test]
    fn arena_ranks_then_unranked() {
        let d = tempfile::tempdir().unwrap();
        scalp_statefile::write_atomic(&state_path(d.path()), STATE_VERSION, &state(vec![]))
            .unwrap();
        let s = read_state(d.path(), scalp_core::types::now_ms()).unwrap();
        let a = arena(&s);
        assert_eq!(a.ranking.len(), 2);
        assert_eq!(a.ranking[0].id, "b:ETH");
        assert_eq!(a.ranking[0].equity, Some(510.0));
        assert_eq!(a.ranking[1].rank, None);
        assert_eq!(a.ranking[1].position.as_deref(), Some("long"));
        let t = a.to_text();
        assert!(t.contains("2 runners"), "{t}");
    }

    #[test]
    fn missing_and_corrupt_state() {
        let d = tempfile::tempdir().unwrap();
        let e = read_state(d.path(), 0).unwrap_err().to_string();
        assert!(e.contains("has not written"), "{e}");
        std::fs::write(state_path(d.path()), "{\"version\":1,").unwrap();
        let e = read_state(d.path(), 0).unwrap_err().to_string();
        assert!(e.contains("is corrupt: "), "{e}");
        assert!(summary(d.path(), 0).unwrap().problem.is_some());
    }

    #[test]
    fn reset_refused_queued_acknowledged() {
        let d = tempfile::tempdir().unwrap();
        let (st, ctl) = (d.path().join("state"), d.path().join("control"));
        let known = vec!["a".to_string(), "b".to_string()];
        scalp_statefile::write_atomic(&state_path(&st), STATE_VERSION, &state(vec![])).unwrap();
        let req = |kind, strategy: Option<&str>| ResetRequest {
            kind,
            strategy: strategy.map(str::to_string),
            wait: Duration::from_millis(300),
        };
        let r = reset(
            &st,
            &ctl,
            &known,
            &req(ResetKind::Simulator { force: false }, None),
        )
        .unwrap();
        assert!(matches!(&r, ResetOutcome::Refused { positions } if positions[0].0 == "a:BTC"));
        assert!(!ctl.join(SCALPCTL_CONTROL_FILE).exists());
        let r = reset(
            &st,
            &ctl,
            &known,
            &req(ResetKind::Simulator { force: false }, Some("b")),
        )
        .unwrap();
        let ResetOutcome::Queued { request_id } = &r else {
            panic!("{r:?}")
        };
        let env = scalp_statefile::try_read::<ControlRequest>(
            &ctl.join(SCALPCTL_CONTROL_FILE),
            CONTROL_VERSION,
        )
        .ok()
        .unwrap();
        assert_eq!(&env.payload.request_id, request_id);
        assert_eq!(
            env.payload.actions,
            vec![Action::Reset {
                strategy: Some("b".into()),
                force: false
            }]
        );
        assert!(
            reset(&st, &ctl, &known, &req(ResetKind::KillSwitch, Some("zz")))
                .unwrap_err()
                .to_string()
                .contains("unknown strategy `zz`")
        );
    }
}
