//! `/stop`, `/start` and `/reset_killswitch` act through scalp-api's authenticated control
//! endpoint (docs/API.md): the API is the one writer of `control/simulator-api.json`, the
//! watchdog never writes a control file. The key is `SCALP_API_KEY` from the environment; it is
//! sent as `X-API-Key` and never logged. The answer to the chat comes in two steps: "requested"
//! when the API accepted the request (202 and its `request_id`), then "applied" once
//! `state/simulator.json` acknowledges that id (`control_acks`).

use scalp_telegram::Command;
use std::time::Duration;

/// Environment variable holding the API key (the same one scalp-api checks).
pub const API_KEY_ENV: &str = "SCALP_API_KEY";

/// The control request a command maps to: (HTTP path with query, what it does in words).
pub fn route(cmd: &Command) -> Option<(String, String)> {
    match cmd {
        Command::Stop { strategy } => Some((
            format!("/api/simulator/strategies/{}/stop", enc(strategy)),
            format!("stop paper entries of {strategy}"),
        )),
        Command::Start { strategy } => Some((
            format!("/api/simulator/strategies/{}/start", enc(strategy)),
            format!("start paper entries of {strategy} again"),
        )),
        Command::ResetKillswitch { strategy: None } => Some((
            "/api/simulator/kill-switch/reset".into(),
            "reset the global paper kill switch".into(),
        )),
        Command::ResetKillswitch { strategy: Some(s) } => Some((
            format!("/api/simulator/kill-switch/reset?strategy={}", enc(s)),
            format!("reset the paper kill switch of {s}"),
        )),
        _ => None,
    }
}

/// Percent-encodes everything but unreserved characters (a strategy name is `[a-z0-9_]`, but
/// a typo must not build another path).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends one control request. Ok: the request id the API answered with. Err: a sentence for
/// the chat (the key never appears in it).
pub async fn send(api_url: &str, key: Option<&str>, path: &str) -> Result<String, String> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Err(format!(
            "{API_KEY_ENV} is not set in the watchdog's environment (/etc/scalp-radar/secrets.env)"
        ));
    };
    let url = format!("{}{path}", api_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let resp = client
        .post(&url)
        .header("X-API-Key", key)
        .send()
        .await
        .map_err(|e| {
            let why = if e.is_connect() {
                "connection refused or unreachable".to_string()
            } else if e.is_timeout() {
                "no answer within 10 s".to_string()
            } else {
                "request failed".to_string()
            };
            format!("scalp-api at {api_url} did not take the request: {why}")
        })?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if status.is_success() {
        return body["request_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("scalp-api answered {status} without a request_id"));
    }
    let msg = body["error"].as_str().unwrap_or("").to_string();
    Err(match status.as_u16() {
        401 => format!("scalp-api refused the key ({API_KEY_ENV}): {msg}"),
        _ => format!("scalp-api answered {status}: {msg}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_encoded() {
        let (p, _) = route(&Command::Stop {
            strategy: "grid_atr".into(),
        })
        .unwrap();
        assert_eq!(p, "/api/simulator/strategies/grid_atr/stop");
        let (p, _) = route(&Command::ResetKillswitch {
            strategy: Some("../x y".into()),
        })
        .unwrap();
        assert_eq!(p, "/api/simulator/kill-switch/reset?strategy=..%2Fx%20y");
        assert!(route(&Command::Status).is_none());
    }
}
