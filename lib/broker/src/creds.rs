//! API credentials: key, secret, passphrase. Never printed: `Debug` redacts everything but the
//! first four characters of the key, and nothing in this crate logs or formats the secret or the
//! passphrase.

use crate::BrokerError;

/// A Bitget API key set. The secret and the passphrase are readable only by the signer.
#[derive(Clone)]
pub struct Credentials {
    key: String,
    secret: String,
    passphrase: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &redact(&self.key))
            .field("secret", &"<redacted>")
            .field("passphrase", &"<redacted>")
            .finish()
    }
}

/// The first four characters then `…` (enough to tell two keys apart in a log, not to use one).
pub fn redact(key: &str) -> String {
    let head: String = key.chars().take(4).collect();
    format!("{head}…")
}

/// Which environment variables a [`Credentials`] came from (names only, never values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `SCALP_BITGET_API_KEY_<SUFFIX>` / `_SECRET_<SUFFIX>` / `_PASSPHRASE_<SUFFIX>`.
    Strategy { suffix: String },
    /// The unsuffixed `SCALP_BITGET_API_KEY` / `_SECRET` / `_PASSPHRASE`.
    Shared,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Strategy { suffix } => write!(
                f,
                "SCALP_BITGET_API_KEY_{suffix} / SCALP_BITGET_API_SECRET_{suffix} / SCALP_BITGET_API_PASSPHRASE_{suffix}"
            ),
            CredentialSource::Shared => f.write_str(
                "SCALP_BITGET_API_KEY / SCALP_BITGET_API_SECRET / SCALP_BITGET_API_PASSPHRASE",
            ),
        }
    }
}

/// The environment-variable suffix of a strategy: upper case, every character outside
/// `[A-Z0-9]` turned into `_` (`grid_atr` → `GRID_ATR`, `sma-cross` → `SMA_CROSS`).
pub fn env_suffix(strategy: &str) -> String {
    strategy
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl Credentials {
    pub fn new(
        key: impl Into<String>,
        secret: impl Into<String>,
        passphrase: impl Into<String>,
    ) -> Result<Self, BrokerError> {
        let c = Credentials {
            key: key.into(),
            secret: secret.into(),
            passphrase: passphrase.into(),
        };
        for (what, v) in [
            ("API key", &c.key),
            ("secret", &c.secret),
            ("passphrase", &c.passphrase),
        ] {
            if v.trim().is_empty() {
                return Err(BrokerError::Credentials(format!("the {what} is empty")));
            }
            if v.chars().any(|ch| ch.is_control()) {
                return Err(BrokerError::Credentials(format!(
                    "the {what} contains a control character (a stray newline in the environment file?)"
                )));
            }
        }
        Ok(c)
    }

    /// From the process environment: the strategy's suffixed set if its key variable is set,
    /// else the unsuffixed set. See [`Credentials::from_lookup`].
    pub fn from_env(strategy: &str) -> Result<(Self, CredentialSource), BrokerError> {
        Self::from_lookup(strategy, |name| std::env::var(name).ok())
    }

    /// From any name → value lookup. The suffixed set is used when
    /// `SCALP_BITGET_API_KEY_<STRATEGY>` is set; then its secret and passphrase must be set too
    /// (a set is never mixed with the shared one). Errors name the missing variables, never
    /// values.
    pub fn from_lookup(
        strategy: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, CredentialSource), BrokerError> {
        let suffix = env_suffix(strategy);
        let names = |sfx: Option<&str>| {
            let t = |base: &str| match sfx {
                Some(s) => format!("{base}_{s}"),
                None => base.to_string(),
            };
            [
                t("SCALP_BITGET_API_KEY"),
                t("SCALP_BITGET_API_SECRET"),
                t("SCALP_BITGET_API_PASSPHRASE"),
            ]
        };
        let nonempty = |n: &str| get(n).filter(|v| !v.is_empty());
        let (set, source) = if !suffix.is_empty()
            && nonempty(&format!("SCALP_BITGET_API_KEY_{suffix}")).is_some()
        {
            (
                names(Some(&suffix)),
                CredentialSource::Strategy {
                    suffix: suffix.clone(),
                },
            )
        } else {
            (names(None), CredentialSource::Shared)
        };
        let missing: Vec<&str> = set
            .iter()
            .filter(|n| nonempty(n).is_none())
            .map(|n| n.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(BrokerError::Credentials(format!(
                "strategy `{strategy}`: environment variable(s) {} not set (looked for SCALP_BITGET_API_KEY_{suffix} first, then SCALP_BITGET_API_KEY)",
                missing.join(", ")
            )));
        }
        let c = Credentials::new(
            nonempty(&set[0]).unwrap(),
            nonempty(&set[1]).unwrap(),
            nonempty(&set[2]).unwrap(),
        )
        .map_err(|e| BrokerError::Credentials(format!("{source}: {e}")))?;
        Ok((c, source))
    }

    pub fn key(&self) -> &str {
        &self.key
    }
    pub(crate) fn passphrase(&self) -> &str {
        &self.passphrase
    }
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |n| m.get(n).cloned()
    }

    #[test]
    fn suffixed_then_shared() {
        let e = env(&[
            ("SCALP_BITGET_API_KEY_GRID_ATR", "bg_grid"),
            ("SCALP_BITGET_API_SECRET_GRID_ATR", "s1"),
            ("SCALP_BITGET_API_PASSPHRASE_GRID_ATR", "p1"),
            ("SCALP_BITGET_API_KEY", "bg_shared"),
            ("SCALP_BITGET_API_SECRET", "s2"),
            ("SCALP_BITGET_API_PASSPHRASE", "p2"),
        ]);
        let (c, src) = Credentials::from_lookup("grid_atr", &e).unwrap();
        assert_eq!(c.key(), "bg_grid");
        assert_eq!(
            src,
            CredentialSource::Strategy {
                suffix: "GRID_ATR".into()
            }
        );
        let (c, src) = Credentials::from_lookup("sma_cross", &e).unwrap();
        assert_eq!(c.key(), "bg_shared");
        assert_eq!(src, CredentialSource::Shared);
        assert!(src.to_string().contains("SCALP_BITGET_API_KEY"));
    }

    #[test]
    fn incomplete_suffixed_set_is_refused_not_mixed() {
        let e = env(&[
            ("SCALP_BITGET_API_KEY_GRID_ATR", "bg_grid"),
            ("SCALP_BITGET_API_KEY", "bg_shared"),
            ("SCALP_BITGET_API_SECRET", "s2"),
            ("SCALP_BITGET_API_PASSPHRASE", "p2"),
        ]);
        let err = Credentials::from_lookup("grid_atr", &e)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SCALP_BITGET_API_SECRET_GRID_ATR"), "{err}");
        assert!(
            err.contains("SCALP_BITGET_API_PASSPHRASE_GRID_ATR"),
            "{err}"
        );
        assert!(!err.contains("s2") && !err.contains("p2"), "{err}");
        let err = Credentials::from_lookup("x", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SCALP_BITGET_API_KEY,"), "{err}");
    }

    #[test]
    fn debug_redacts() {
        let c = Credentials::new("bg_0123456789", "very-secret-value", "my-pass-phrase").unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("bg_0…"), "{d}");
        assert!(!d.contains("very-secret-value") && !d.contains("my-pass-phrase"));
        assert!(!d.contains("0123456789"));
        assert!(Credentials::new("k", "s\n", "p").is_err());
        assert!(Credentials::new("k", "", "p").is_err());
    }
}
