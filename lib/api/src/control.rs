//! Control requests written by the API — its only writes besides `state/api.json`:
//! `control/simulator-api.json` (read by scalp-simulator, acknowledged in `state/simulator.json`
//! `control_acks`) and `control/executor-<strategy>-api.json` (for the live executor, which
//! acknowledges in `state/executor-<strategy>.json` `control_acks`, same shape).
//!
//! A control file holds one request. A request is never lost: when the file's current request
//! is not acknowledged yet, the new request carries its actions first (an identical action is
//! not repeated) under a new id, and the old id is marked `carried_by` the new one (docs/API.md
//! "Control").

use crate::files;
use scalp_paper::control::{Action, CONTROL_VERSION, ControlRequest};
use scalp_paper::state::{
    ControlAck, STATE_FILE as SIM_STATE_FILE, STATE_VERSION as SIM_STATE_VERSION, SimulatorState,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// The simulator control file the API owns.
pub const SIMULATOR_FILE: &str = "simulator-api.json";
/// Requests remembered (answers of `GET /api/control/{id}`; also in `state/api.json`).
pub const HISTORY: usize = 200;

/// `control/executor-<strategy>-api.json`.
pub fn executor_file(strategy: &str) -> String {
    format!("executor-{strategy}-api.json")
}

/// One request the API wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRecord {
    pub request_id: String,
    /// Control file name (in the control directory).
    pub file: String,
    pub actions: Vec<Action>,
    pub requested_at: String,
    /// The newer request that carried this one's actions (it was not acknowledged in time).
    #[serde(default)]
    pub carried_by: Option<String>,
    /// The acknowledgement, once seen.
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub applied_at: Option<String>,
}

/// What a POST answers.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub request_id: String,
    pub file: String,
    pub actions: Vec<Action>,
    /// Ids of the unacknowledged requests whose actions this one carries.
    pub merged: Vec<String>,
    pub status: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot write {path}: {msg}")]
    Write { path: String, msg: String },
}

pub struct Controller {
    control_dir: PathBuf,
    state_dir: PathBuf,
    inner: tokio::sync::Mutex<Inner>,
}

struct Inner {
    history: VecDeque<ControlRecord>,
    counter: u64,
}

impl Controller {
    /// `history`: the records of `state/api.json` from the previous run (oldest first).
    pub fn new(control_dir: &Path, state_dir: &Path, history: Vec<ControlRecord>) -> Controller {
        Controller {
            control_dir: control_dir.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            inner: tokio::sync::Mutex::new(Inner {
                history: history.into_iter().rev().take(HISTORY).rev().collect(),
                counter: 0,
            }),
        }
    }

    /// The acknowledgement of `file` in its reader's state file.
    fn ack(&self, file: &str) -> Option<ControlAck> {
        if file == SIMULATOR_FILE {
            let env = scalp_statefile::try_read::<SimulatorState>(
                &self.state_dir.join(SIM_STATE_FILE),
                SIM_STATE_VERSION,
            )
            .ok()?;
            return env
                .payload
                .control_acks
                .into_iter()
                .find(|a| a.file == file);
        }
        let strategy = file.strip_prefix("executor-")?.strip_suffix("-api.json")?;
        let m = files::read_json(&self.state_dir.join(format!("executor-{strategy}.json"))).ok()?;
        m.get("control_acks")?
            .as_array()?
            .iter()
            .filter_map(|a| serde_json::from_value::<ControlAck>(a.clone()).ok())
            .find(|a| a.file == file)
    }

    fn current(&self, file: &str) -> Option<ControlRequest> {
        scalp_statefile::try_read::<ControlRequest>(&self.control_dir.join(file), CONTROL_VERSION)
            .ok()
            .map(|e| e.payload)
    }

    /// Writes a request for `action` into `file` (carrying an unacknowledged previous request).
    pub async fn submit(&self, file: &str, action: Action) -> Result<Submitted, ControlError> {
        let mut inner = self.inner.lock().await;
        let current = self.current(file);
        let ack = self.ack(file);
        let mut actions = Vec::new();
        let mut merged = Vec::new();
        if let Some(cur) = &current {
            match &ack {
                Some(a) if a.request_id == cur.request_id => {
                    if let Some(r) = inner
                        .history
                        .iter_mut()
                        .find(|r| r.request_id == cur.request_id)
                    {
                        r.result = Some(a.result.clone());
                        r.applied_at = Some(a.applied_at.clone());
                    }
                }
                _ => {
                    actions.extend(cur.actions.iter().cloned());
                    merged.push(cur.request_id.clone());
                }
            }
        }
        if !actions.contains(&action) {
            actions.push(action);
        }
        inner.counter += 1;
        let now = scalp_core::types::now_ms();
        let request_id = format!("{now}-{}-{}", std::process::id(), inner.counter);
        let req = ControlRequest {
            request_id: request_id.clone(),
            requested_at: scalp_statefile::now_rfc3339_ms(),
            actions: actions.clone(),
        };
        let path = self.control_dir.join(file);
        let werr = |msg: String| ControlError::Write {
            path: path.display().to_string(),
            msg,
        };
        std::fs::create_dir_all(&self.control_dir).map_err(|e| werr(e.to_string()))?;
        scalp_statefile::write_atomic(&path, CONTROL_VERSION, &req)
            .map_err(|e| werr(e.to_string()))?;
        tracing::info!("CONTROL {file} request {request_id}: {actions:?} (carrying {merged:?})");
        for old in &merged {
            match inner.history.iter_mut().find(|r| &r.request_id == old) {
                Some(r) => r.carried_by = Some(request_id.clone()),
                None => {
                    // Written before this process started and not in state/api.json.
                    let cur = current.as_ref().expect("merged implies a current request");
                    inner.history.push_back(ControlRecord {
                        request_id: old.clone(),
                        file: file.to_string(),
                        actions: cur.actions.clone(),
                        requested_at: cur.requested_at.clone(),
                        carried_by: Some(request_id.clone()),
                        result: None,
                        applied_at: None,
                    });
                }
            }
        }
        inner.history.push_back(ControlRecord {
            request_id: request_id.clone(),
            file: file.to_string(),
            actions: actions.clone(),
            requested_at: req.requested_at.clone(),
            carried_by: None,
            result: None,
            applied_at: None,
        });
        while inner.history.len() > HISTORY {
            inner.history.pop_front();
        }
        Ok(Submitted {
            request_id,
            file: file.to_string(),
            actions,
            merged,
            status: "pending",
        })
    }

    /// `GET /api/control/{id}`: `None` for an id this API did not write (or forgot).
    pub async fn status(&self, id: &str) -> Option<serde_json::Value> {
        let mut inner = self.inner.lock().await;
        let start = inner.history.iter().position(|r| r.request_id == id)?;
        // Follow carried_by to the request that holds the actions now.
        let mut k = start;
        for _ in 0..HISTORY {
            match inner.history[k].carried_by.clone() {
                Some(next) => match inner.history.iter().position(|r| r.request_id == next) {
                    Some(n) => k = n,
                    None => break,
                },
                None => break,
            }
        }
        let file = inner.history[k].file.clone();
        if inner.history[k].result.is_none() {
            let fid = inner.history[k].request_id.clone();
            if let Some(a) = self.ack(&file).filter(|a| a.request_id == fid) {
                inner.history[k].result = Some(a.result);
                inner.history[k].applied_at = Some(a.applied_at);
            }
        }
        let last = &inner.history[k];
        let status = if last.result.is_some() {
            "applied"
        } else if self
            .current(&file)
            .is_some_and(|c| c.request_id == last.request_id)
        {
            "pending"
        } else {
            // Replaced in the file by a request of another writer of the same name — cannot
            // happen with one writer per file; reported rather than guessed.
            "unknown"
        };
        let first = &inner.history[start];
        Some(serde_json::json!({
            "request_id": first.request_id,
            "file": first.file,
            "actions": first.actions,
            "requested_at": first.requested_at,
            "status": status,
            "result": last.result,
            "applied_at": last.applied_at,
            "carried_by": (k != start).then(|| last.request_id.clone()),
        }))
    }

    /// The remembered requests, oldest first (for `state/api.json`).
    pub async fn history(&self) -> Vec<ControlRecord> {
        self.inner.lock().await.history.iter().cloned().collect()
    }
}
