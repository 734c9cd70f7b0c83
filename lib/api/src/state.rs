//! `state/api.json`: scalp-api's state file (written only by scalp-api: at start, after every
//! self-check ≤ 5 s, after every control request, and at stop). Read back at start for the
//! control-request history. Field reference: docs/API.md "state/api.json".

use crate::control::ControlRecord;
use serde::{Deserialize, Serialize};

pub const STATE_VERSION: u32 = 1;
pub const STATE_FILE: &str = "api.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiState {
    pub pid: u32,
    /// RFC 3339 UTC start time of this process.
    pub started_at: String,
    /// The address it listens on (resolved).
    pub listen: String,
    pub web_dir: String,
    /// `web_dir/index.html` exists.
    pub web_dir_ok: bool,
    /// The database answered the last self-check.
    pub healthy: bool,
    pub last_error: Option<String>,
    pub requests_total: u64,
    /// The last control requests written (oldest first).
    pub control_requests: Vec<ControlRecord>,
    /// `true` only in the last write of a clean stop.
    pub stopped: bool,
    pub rss_kb: Option<u64>,
}
