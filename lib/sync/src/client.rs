//! The `optimize` side: best-effort push of one result to scalp-syncd.
//!
//! Any failure (sync disabled, empty URL, no key, connection refused, timeout, 4xx/5xx) logs
//! exactly one warning and returns a [`PushOutcome`]; nothing panics and the key is never logged
//! (it only travels in the `X-API-Key` header).
//!
//! The key: `SCALP_SYNC_API_KEY` from the environment; when it is unset or empty and
//! `[sync].key_file` is set, the first line of that file (relative to the config directory) —
//! a Windows convenience.

use scalp_core::config::{Config, SyncConfig};
use scalp_core::secrets::{self, Secret};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Path of results on the server.
pub const RESULTS_PATH: &str = "/api/optimization/results";
/// Path of portfolio backtests on the server.
pub const PORTFOLIO_PATH: &str = "/api/portfolio/results";

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// 201: the server stored a new row.
    Created,
    /// 200: the server already had this result (same strategy/asset/timeframe/created_at).
    AlreadyExists,
    /// Nothing sent: sync disabled or no server URL.
    Skipped(String),
    /// Sent (or tried) and failed: no key, network error, timeout, or an HTTP error status.
    Failed(String),
}

impl PushOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, PushOutcome::Created | PushOutcome::AlreadyExists)
    }
}

/// Where the key comes from (for messages; never the key itself).
#[derive(Debug, Clone)]
enum KeySource {
    Found(Secret),
    Missing(std::sync::Arc<KeyError>),
}

/// Why the sync key could not be read (never contains the key).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no sync key: set {var} (or [sync].key_file)")]
    Unset { var: &'static str },
    #[error("{var} is unset and the key file {} cannot be read: {source}", path.display())]
    Unreadable {
        var: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the key file {} is empty", path.display())]
    Empty { path: PathBuf },
}

/// A reusable client (keeps connections alive). Build it once per run.
#[derive(Debug, Clone)]
pub struct SyncClient {
    enabled: bool,
    base_url: String,
    timeout: Duration,
    key: KeySource,
    http: Option<reqwest::blocking::Client>,
}

/// Reads the key: env first, then `key_file` (relative to `config_dir`).
pub fn load_key(cfg: &SyncConfig, config_dir: &Path) -> Result<Secret, KeyError> {
    if let Some(k) = secrets::from_env(secrets::SYNC_API_KEY) {
        return Ok(k);
    }
    if cfg.key_file.trim().is_empty() {
        return Err(KeyError::Unset {
            var: secrets::SYNC_API_KEY,
        });
    }
    let p = PathBuf::from(cfg.key_file.trim());
    let path = if p.is_absolute() {
        p
    } else {
        config_dir.join(p)
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(source) => {
            return Err(KeyError::Unreadable {
                var: secrets::SYNC_API_KEY,
                path,
                source,
            });
        }
    };
    let key = text.lines().next().unwrap_or("").trim().to_string();
    if key.is_empty() {
        return Err(KeyError::Empty { path });
    }
    Ok(Secret::new(key))
}

impl SyncClient {
    /// Builds a client from `[sync]`; `config_dir` resolves a relative `key_file`.
    pub fn new(cfg: &SyncConfig, config_dir: &Path) -> SyncClient {
        let base_url = cfg.server_url.trim().trim_end_matches('/').to_string();
        let timeout = Duration::from_secs(cfg.timeout_s.clamp(1, 10));
        let enabled = cfg.enabled && !base_url.is_empty();
        let key = match load_key(cfg, config_dir) {
            Ok(k) => KeySource::Found(k),
            Err(m) => KeySource::Missing(std::sync::Arc::new(m)),
        };
        let http = if enabled {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .user_agent(concat!("scalp-optimize/", env!("CARGO_PKG_VERSION")))
                .build()
                .ok()
        } else {
            None
        };
        SyncClient {
            enabled: cfg.enabled,
            base_url,
            timeout,
            key,
            http,
        }
    }

    /// From the whole configuration (`[sync]` and the config directory).
    pub fn from_config(cfg: &Config) -> SyncClient {
        SyncClient::new(&cfg.main.sync, &cfg.dir())
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Why nothing would be sent, if so.
    pub fn skip_reason(&self) -> Option<String> {
        if !self.enabled {
            Some("sync is disabled ([sync].enabled = false)".into())
        } else if self.base_url.is_empty() {
            Some("no server URL ([sync].server_url is empty)".into())
        } else {
            None
        }
    }

    /// Best-effort push of an optimization result: one warning on any failure.
    pub fn push_result(&self, payload: &Value) -> PushOutcome {
        self.push_logged(RESULTS_PATH, payload)
    }

    /// Best-effort push of a portfolio backtest: one warning on any failure.
    pub fn push_portfolio(&self, payload: &Value) -> PushOutcome {
        self.push_logged(PORTFOLIO_PATH, payload)
    }

    fn push_logged(&self, path: &str, payload: &Value) -> PushOutcome {
        let out = self.post(path, payload);
        let what = label(payload);
        match &out {
            PushOutcome::Created => tracing::info!(result = %what, "sync push: created on server"),
            PushOutcome::AlreadyExists => {
                tracing::info!(result = %what, "sync push: already on server")
            }
            // Not a problem: the caller says once why nothing is pushed.
            PushOutcome::Skipped(m) => {
                tracing::debug!(result = %what, "sync push skipped: {m}")
            }
            PushOutcome::Failed(m) => {
                tracing::warn!(result = %what, "sync push not done: {m} (the run continues; `optimize sync` retries later)")
            }
        }
        out
    }

    /// One POST, no logging (used by `optimize sync`, which prints per row).
    pub fn post(&self, path: &str, payload: &Value) -> PushOutcome {
        if let Some(reason) = self.skip_reason() {
            return PushOutcome::Skipped(reason);
        }
        let key = match &self.key {
            KeySource::Found(k) => k.clone(),
            KeySource::Missing(m) => return PushOutcome::Failed(m.to_string()),
        };
        let Some(http) = self.http.clone() else {
            return PushOutcome::Failed("cannot build the HTTP client".into());
        };
        let url = format!("{}{path}", self.base_url);
        let body = payload.to_string();
        let timeout = self.timeout;
        let send = move || send(&http, &url, &key, body, timeout);
        // reqwest's blocking client must not run on a tokio runtime thread: hop to a plain one.
        if tokio_runtime_present() {
            match std::thread::spawn(send).join() {
                Ok(o) => o,
                Err(_) => PushOutcome::Failed("push thread panicked".into()),
            }
        } else {
            send()
        }
    }
}

fn tokio_runtime_present() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

fn send(
    http: &reqwest::blocking::Client,
    url: &str,
    key: &Secret,
    body: String,
    timeout: Duration,
) -> PushOutcome {
    let res = http
        .post(url)
        .header("X-API-Key", key.expose())
        .header("Content-Type", "application/json")
        .body(body)
        .send();
    let resp = match res {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() {
                format!("no answer from {url} within {} s", timeout.as_secs())
            } else if e.is_connect() {
                format!("cannot connect to {url}: {}", root_cause(&e))
            } else {
                format!("request to {url} failed: {}", root_cause(&e))
            };
            return PushOutcome::Failed(why);
        }
    };
    let status = resp.status();
    let text = resp.text().unwrap_or_default();
    let server_msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect());
    match status.as_u16() {
        201 => PushOutcome::Created,
        200 => PushOutcome::AlreadyExists,
        code => PushOutcome::Failed(format!("server answered {code}: {server_msg}")),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

fn label(payload: &Value) -> String {
    let s = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    if payload.get("asset").is_some() {
        format!(
            "{} {} {} {}",
            s("strategy_name"),
            s("asset"),
            s("timeframe"),
            s("created_at")
        )
    } else {
        format!(
            "portfolio {} {} {}",
            s("strategy_name"),
            s("timeframe"),
            s("created_at")
        )
    }
}

/// Best-effort push of one optimization result (builds a [`SyncClient`]; prefer building one
/// client per run and calling [`SyncClient::push_result`] when pushing many).
pub fn push_result(cfg: &Config, payload: &Value) -> PushOutcome {
    SyncClient::from_config(cfg).push_result(payload)
}

/// Best-effort push of one portfolio backtest.
pub fn push_portfolio(cfg: &Config, payload: &Value) -> PushOutcome {
    SyncClient::from_config(cfg).push_portfolio(payload)
}
