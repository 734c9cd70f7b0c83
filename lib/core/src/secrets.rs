//! Secrets come only from environment variables (under systemd:
//! `EnvironmentFile=/etc/scalp-radar/secrets.env`). They are never read from the TOML config,
//! never logged, never written to the database or a state file. [`Secret`] enforces the
//! "never logged" part: its `Debug`/`Display` print `***`.

use std::fmt;

/// A secret string that refuses to be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The raw value, for signing or comparing. Never pass it to a log macro.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Reads a secret from the environment; an unset or empty (after trimming) variable is `None`.
pub fn from_env(var: &str) -> Option<Secret> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(Secret)
}

/// Name of the shared sync key variable.
pub const SYNC_API_KEY: &str = "SCALP_SYNC_API_KEY";

/// Name of scalp-api's key variable (dashboard and REST clients send it; docs/API.md).
pub const API_KEY: &str = "SCALP_API_KEY";

/// `SCALP_BITGET_API_KEY_<STRATEGY>` falling back to `SCALP_BITGET_API_KEY` (same for
/// `_SECRET` and `_PASSPHRASE` with `kind` = `API_KEY`, `API_SECRET`, `PASSPHRASE`).
pub fn bitget_secret(kind: &str, strategy: Option<&str>) -> Option<Secret> {
    if let Some(s) = strategy {
        let var = format!("SCALP_BITGET_{kind}_{}", s.to_ascii_uppercase());
        if let Some(v) = from_env(&var) {
            return Some(v);
        }
    }
    from_env(&format!("SCALP_BITGET_{kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
