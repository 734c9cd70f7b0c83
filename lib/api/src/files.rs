//! State files read by the API: typed for `simulator.json` (scalp-paper's schema), generic JSON
//! for the others (collector, watchdog, syncd, executors), so the API does not depend on every
//! daemon's crate. Envelope times are turned into ages.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// ms since the epoch of an RFC 3339 time (`written_at`), `None` if it does not parse.
pub fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Seconds since `written_at` (0 if it is in the future), `None` if it does not parse.
pub fn age_s(written_at: &str, now_ms: i64) -> Option<f64> {
    rfc3339_ms(written_at).map(|t| ((now_ms - t).max(0)) as f64 / 1000.0)
}

/// A state file read as raw JSON (envelope fields kept): `Err(reason)` when absent or invalid.
pub fn read_json(path: &Path) -> Result<serde_json::Map<String, Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("absent".into()),
        Err(e) => return Err(format!("read error: {e}")),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// Every `*.json` of the state directory (sorted), hidden temp files excluded.
pub fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    out.sort();
    out
}

/// `state/executor-<strategy>.json` files: `(strategy, path)`.
pub fn executor_files(dir: &Path) -> Vec<(String, PathBuf)> {
    state_files(dir)
        .into_iter()
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            let s = stem.strip_prefix("executor-")?.to_string();
            (!s.is_empty()).then_some((s, p))
        })
        .collect()
}

/// The executors' state files as JSON objects plus `strategy` and `age_s`.
pub fn executors(dir: &Path, only: Option<&str>, now_ms: i64) -> Vec<Value> {
    executor_files(dir)
        .into_iter()
        .filter(|(s, _)| only.is_none_or(|o| o == s))
        .map(|(s, p)| {
            let mut m = read_json(&p).unwrap_or_else(|why| {
                let mut m = serde_json::Map::new();
                m.insert(
                    "error".into(),
                    Value::String(format!("{}: {why}", p.display())),
                );
                m
            });
            let age = m
                .get("written_at")
                .and_then(Value::as_str)
                .and_then(|w| age_s(w, now_ms));
            m.insert("strategy".into(), Value::String(s));
            m.insert("age_s".into(), age.map_or(Value::Null, Value::from));
            Value::Object(m)
        })
        .collect()
}

/// Free space of the file system holding `path`: `(free_pct, free_bytes)`; `None` where it is
/// not measured (not Unix) or on error.
#[cfg(unix)]
pub fn disk_free(path: &Path) -> Option<(f64, u64)> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let frsize = s.fragment_size() as u64;
    let total = s.blocks() as u64 * frsize;
    let avail = s.blocks_available() as u64 * frsize;
    if total == 0 {
        return None;
    }
    Some((avail as f64 * 100.0 / total as f64, avail))
}

#[cfg(not(unix))]
pub fn disk_free(_path: &Path) -> Option<(f64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages() {
        let t = super::rfc3339_ms("2026-11-21T20:41:07.318Z").unwrap();
        assert_eq!(
            super::age_s("2026-11-21T20:41:07.318Z", t + 1500),
            Some(1.5)
        );
        assert_eq!(super::rfc3339_ms("yesterday"), None);
    }
}
