//! Daemon state files (`<data_dir>/state/*.json`), read without ever writing them.
//!
//! Each file carries the scalp-statefile envelope: `version`, `seq` (incremented on every
//! write) and `written_at` (milliseconds since the epoch, or an RFC 3339 string). The heartbeat
//! age is `now - written_at`. Lag and errors are found by name anywhere in the document, so a
//! daemon can add fields without changing scalpctl: every numeric `*lag_ms` field (the maximum
//! is reported) and every non-empty `last_error` string (with its JSON path).

use serde::Serialize;
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StateFileInfo {
    /// File name (`collector.json`).
    pub file: String,
    /// Daemon that writes it, from the name (`collector.json` → `scalp-collector`,
    /// `executor-foo.json` → `scalp-executor@foo`).
    pub daemon: String,
    pub version: Option<i64>,
    pub seq: Option<i64>,
    pub written_at_ms: Option<i64>,
    /// `now - written_at`.
    pub heartbeat_age_ms: Option<i64>,
    /// Largest `*lag_ms` value found in the file.
    pub max_lag_ms: Option<i64>,
    /// Non-empty `last_error` strings: (JSON path, message).
    pub errors: Vec<(String, String)>,
    /// Set when the file is empty or not valid JSON (a daemon mid-crash; readers tolerate it).
    pub problem: Option<String>,
}

/// Daemon name for a state file name.
pub fn daemon_for(file: &str) -> String {
    let stem = file.strip_suffix(".json").unwrap_or(file);
    match stem.split_once('-') {
        Some(("executor", strategy)) => format!("scalp-executor@{strategy}"),
        _ => format!("scalp-{stem}"),
    }
}

/// Parses `written_at`: integer milliseconds (seconds if it is < 1e11), float seconds, or an
/// RFC 3339 string.
pub fn parse_written_at(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(if i.abs() < 100_000_000_000 {
                    i * 1000
                } else {
                    i
                })
            } else {
                n.as_f64().map(|f| {
                    if f.abs() < 1e11 {
                        (f * 1000.0) as i64
                    } else {
                        f as i64
                    }
                })
            }
        }
        Value::String(s) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        }
        _ => None,
    }
}

fn walk(v: &Value, path: &str, lag: &mut Option<i64>, errors: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.ends_with("lag_ms")
                    && let Some(n) = x.as_i64().or_else(|| x.as_f64().map(|f| f as i64))
                {
                    *lag = Some(lag.map_or(n, |l: i64| l.max(n)));
                }
                if k == "last_error"
                    && let Some(s) = x.as_str().filter(|s| !s.is_empty())
                {
                    errors.push((p.clone(), s.to_string()));
                }
                walk(x, &p, lag, errors);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, &format!("{path}[{i}]"), lag, errors);
            }
        }
        _ => {}
    }
}

/// Reads one state file's text (see the module doc).
pub fn inspect(file: &str, text: &str, now_ms: i64) -> StateFileInfo {
    let mut info = StateFileInfo {
        file: file.to_string(),
        daemon: daemon_for(file),
        version: None,
        seq: None,
        written_at_ms: None,
        heartbeat_age_ms: None,
        max_lag_ms: None,
        errors: Vec::new(),
        problem: None,
    };
    if text.trim().is_empty() {
        info.problem = Some("empty file".into());
        return info;
    }
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            info.problem = Some(format!("not valid JSON: {e}"));
            return info;
        }
    };
    info.version = v.get("version").and_then(Value::as_i64);
    info.seq = v.get("seq").and_then(Value::as_i64);
    info.written_at_ms = v.get("written_at").and_then(parse_written_at);
    info.heartbeat_age_ms = info.written_at_ms.map(|w| now_ms - w);
    if info.written_at_ms.is_none() {
        info.problem = Some("no `written_at` in the envelope".into());
    }
    walk(&v, "", &mut info.max_lag_ms, &mut info.errors);
    info
}

/// Every `*.json` file in `dir`, sorted by name. A missing directory is an empty list (no
/// daemon has run yet).
pub fn read_dir(dir: &Path, now_ms: i64) -> Result<Vec<StateFileInfo>, crate::AdminError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(crate::AdminError::io(dir, e)),
    };
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let p = dir.join(&n);
        match std::fs::read_to_string(&p) {
            Ok(t) => out.push(inspect(&n, &t, now_ms)),
            // renamed away between listing and reading: skip, the next status shows it
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::AdminError::io(&p, e)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_lag_errors() {
        let t = r#"{"version":1,"seq":7,"written_at":1700000000000,
            "streams":[{"symbol":"BTCUSDT","lag_ms":1200,"last_error":null},
                       {"symbol":"ETHUSDT","lag_ms":3400,"last_error":"ws closed: 1006"}]}"#;
        let i = inspect("collector.json", t, 1_700_000_005_000);
        assert_eq!(i.daemon, "scalp-collector");
        assert_eq!(i.seq, Some(7));
        assert_eq!(i.heartbeat_age_ms, Some(5000));
        assert_eq!(i.max_lag_ms, Some(3400));
        assert_eq!(
            i.errors,
            vec![(
                "streams[1].last_error".to_string(),
                "ws closed: 1006".to_string()
            )]
        );
        assert_eq!(i.problem, None);
    }

    #[test]
    fn written_at_forms() {
        assert_eq!(
            parse_written_at(&serde_json::json!(1_700_000_000)),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_written_at(&serde_json::json!("2023-11-14T22:13:20Z")),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_written_at(&serde_json::json!(true)), None);
    }

    #[test]
    fn corrupt_and_empty() {
        assert_eq!(
            inspect("x.json", "", 0).problem.as_deref(),
            Some("empty file")
        );
        assert!(
            inspect("x.json", "{\"seq\":", 0)
                .problem
                .unwrap()
                .starts_with("not valid JSON")
        );
        assert_eq!(
            daemon_for("executor-grid_atr.json"),
            "scalp-executor@grid_atr"
        );
    }
}
