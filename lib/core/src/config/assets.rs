use super::ConfigError;
use super::contracts::{self, ContractOverride, ContractSpec};
use crate::Timeframe;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `assets.toml`: the traded universe (USDT-M perpetuals) and the collected timeframes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssetsConfig {
    /// Base coins; the exchange symbol is `<asset><quote>` (e.g. `BTCUSDT`).
    pub assets: Vec<String>,
    pub quote: String,
    pub timeframes: Vec<Timeframe>,
    /// Exchange contract specs per asset, over the built-in values (`[contracts.BTC]`
    /// `lot_step`, `min_qty`, `min_notional`, `price_tick`, `max_leverage`; docs/BACKTEST.md).
    pub contracts: BTreeMap<String, ContractOverride>,
}

impl Default for AssetsConfig {
    fn default() -> Self {
        AssetsConfig {
            assets: vec!["BTC".into()],
            quote: "USDT".into(),
            timeframes: vec![Timeframe::M1, Timeframe::M5, Timeframe::M15, Timeframe::H1],
            contracts: BTreeMap::new(),
        }
    }
}

impl AssetsConfig {
    /// Exchange symbol of an asset (`BTC` → `BTCUSDT`).
    pub fn symbol(&self, asset: &str) -> String {
        format!("{asset}{}", self.quote)
    }

    /// The asset a user means by `s` (`btc`, `BTC`, `BTCUSDT` → `BTC`): trimmed, upper-cased,
    /// the configured quote stripped (unless nothing would remain). The one rule every command
    /// uses for `--symbol`, `--symbols` and `--exclude`.
    pub fn asset_of(&self, s: &str) -> String {
        let u = s.trim().to_ascii_uppercase();
        match u.strip_suffix(&self.quote.to_ascii_uppercase()) {
            Some(b) if !b.is_empty() => b.to_string(),
            _ => u,
        }
    }

    /// The contract spec of `asset` and where it comes from: the built-in values of a default
    /// asset (or [`contracts::GENERIC`] for any other label, e.g. a `--data` file's name) with
    /// the `[contracts.<asset>]` fields of assets.toml over them.
    pub fn contract(&self, asset: &str) -> (ContractSpec, &'static str) {
        let (base, src) = match contracts::builtin(asset) {
            Some(s) => (s, "built-in Bitget USDT-M values"),
            None => (
                contracts::GENERIC,
                "generic: no contract data for this asset",
            ),
        };
        match self.contracts.get(asset) {
            Some(o) => (o.over(base), "assets.toml [contracts]"),
            None => (base, src),
        }
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
        for (a, o) in &self.contracts {
            if !self.assets.contains(a) {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    &format!("contracts.{a}"),
                    format!("`{a}` is not one of `assets`"),
                ));
            }
            if let Some((k, v, rule)) = o.invalid() {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    &format!("contracts.{a}.{k}"),
                    format!("{rule}, got {v}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_of_strips_the_configured_quote() {
        let mut a = AssetsConfig::default();
        assert_eq!(a.asset_of(" btcusdt "), "BTC");
        assert_eq!(a.asset_of("BTC"), "BTC");
        assert_eq!(a.asset_of("USDT"), "USDT");
        a.quote = "USDC".into();
        assert_eq!(a.asset_of("ethusdc"), "ETH");
        assert_eq!(a.asset_of("ETHUSDT"), "ETHUSDT");
        assert_eq!(a.symbol(&a.asset_of("ethusdc")), "ETHUSDC");
    }
}
