use super::ConfigError;
use crate::Timeframe;
use serde::{Deserialize, Serialize};

/// `assets.toml`: the traded universe (USDT-M perpetuals) and the collected timeframes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssetsConfig {
    /// Base coins; the exchange symbol is `<asset><quote>` (e.g. `BTCUSDT`).
    pub assets: Vec<String>,
    pub quote: String,
    pub timeframes: Vec<Timeframe>,
}

impl Default for AssetsConfig {
    fn default() -> Self {
        AssetsConfig {
            assets: vec!["BTC".into()],
            quote: "USDT".into(),
            timeframes: vec![Timeframe::M1, Timeframe::M5, Timeframe::M15, Timeframe::H1],
        }
    }
}

impl AssetsConfig {
    /// Exchange symbol of an asset (`BTC` → `BTCUSDT`).
    pub fn symbol(&self, asset: &str) -> String {
        format!("{asset}{}", self.quote)
    }

    /// All symbols in config order.
    pub fn symbols(&self) -> Vec<String> {
        self.assets.iter().map(|a| self.symbol(a)).collect()
    }

    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for a in &self.assets {
            if a.is_empty()
                || !a
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    "assets",
                    format!("asset `{a}` must be upper-case letters/digits (e.g. BTC)"),
                ));
            }
            if !seen.insert(a) {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    "assets",
                    format!("asset `{a}` listed twice"),
                ));
            }
        }
        if self.timeframes.is_empty() {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "timeframes",
                "at least one timeframe",
            ));
        }
        Ok(())
    }
}
