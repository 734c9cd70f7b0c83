//! The strategy half of every `--check-config`: `strategies.toml` parameters and every section
//! of `param_grids.toml`, validated against the registry's declarations, with errors that name
//! file, line and dotted key like the rest of the configuration.
//!
//! scalp-core parses the files (it cannot know the strategies); every program that loads a
//! configuration calls [`check_config`] right after [`Config::load`], so that a daemon, `optimize`
//! and `scalpctl check-config` accept exactly the same files.

use crate::grid::WfoSpec;
use crate::params::ParamError;
use crate::registry::{self, spec};
use scalp_core::config::{Config, ConfigError};

/// Validates the strategies and the grids of a loaded configuration: known strategy names, each
/// parameter of `[<s>.params]` and of every `[<s>.per_asset.<ASSET>]` (name, type, range; see
/// [`registry::validate_config`]), and every `[<s>]` section of `param_grids.toml` (known keys,
/// windows, every grid axis against the strategy's parameters).
pub fn check_config(cfg: &Config) -> Result<(), ConfigError> {
    check_strategies(cfg)?;
    check_grids(cfg)
}

/// [`Config::load`] followed by [`check_config`]: what every program calls to read a
/// configuration.
pub fn load_config(path: &std::path::Path) -> Result<Config, ConfigError> {
    let cfg = Config::load(path)?;
    check_config(&cfg)?;
    Ok(cfg)
}

fn check_strategies(cfg: &Config) -> Result<(), ConfigError> {
    let src = &cfg.strategies_source;
    // A per-asset table must be of an asset the system trades: `--apply` once wrote tables
    // named after a CSV file (`[envelope_dca.per_asset.coinbase_btcusd_1h]`).
    for (name, entry) in &cfg.strategies.strategies {
        for asset in entry.per_asset.keys() {
            if !cfg.assets.assets.iter().any(|a| a == asset) {
                return Err(src.error(
                    &format!("{name}.per_asset.{asset}"),
                    format!(
                        "`{asset}` is not an asset of assets.toml ({})",
                        cfg.assets.assets.join(", ")
                    ),
                ));
            }
        }
    }
    if registry::validate_config(&cfg.strategies).is_ok() {
        return Ok(());
    }
    // Find the entry at fault, so that the error can name its key.
    for (name, entry) in &cfg.strategies.strategies {
        let key_of = |prefix: &str, e: &ParamError| match e {
            ParamError::Unknown { name: p, .. } | ParamError::Invalid { name: p, .. } => {
                format!("{prefix}.{p}")
            }
            ParamError::UnknownStrategy(_) => name.clone(),
        };
        if let Err(e) = registry::params_for(name, entry, None) {
            let msg = match &e {
                ParamError::UnknownStrategy(_) => unknown_strategy(name),
                e => e.to_string(),
            };
            return Err(src.error(&key_of(&format!("{name}.params"), &e), msg));
        }
        for asset in entry.per_asset.keys() {
            if let Err(e) = registry::params_for(name, entry, Some(asset)) {
                let key = key_of(&format!("{name}.per_asset.{asset}"), &e);
                return Err(src.error(&key, e.to_string()));
            }
        }
    }
    Ok(())
}

fn unknown_strategy(name: &str) -> String {
    format!(
        "unknown strategy `{name}` (known: {})",
        registry::STRATEGY_NAMES.join(", ")
    )
}

fn check_grids(cfg: &Config) -> Result<(), ConfigError> {
    let src = &cfg.param_grids_source;
    for (name, t) in &cfg.param_grids.grids {
        if spec(name).is_none() {
            return Err(src.error(name, unknown_strategy(name)));
        }
        WfoSpec::from_table(name, t).map_err(|e| src.error(&e.key, e.msg))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalp_core::config::defaults;
    use std::path::Path;

    fn cfg(strategies: &str, grids: &str) -> Result<Config, ConfigError> {
        Config::from_texts(
            Path::new("/etc/scalp-radar"),
            defaults::SCALP_TOML,
            defaults::ASSETS_TOML,
            strategies,
            grids,
        )
    }

    fn err(strategies: &str, grids: &str) -> String {
        check_config(&cfg(strategies, grids).unwrap())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn shipped_defaults_pass() {
        check_config(&cfg(defaults::STRATEGIES_TOML, defaults::PARAM_GRIDS_TOML).unwrap()).unwrap();
    }

    #[test]
    fn per_asset_tables_must_be_known_assets() {
        let e = err(
            "[envelope_dca]\ntimeframe = \"1h\"\n[envelope_dca.per_asset.coinbase_btcusd_1h]\nma_period = 7\n",
            "",
        );
        assert!(
            e.starts_with("strategies.toml:3: key `envelope_dca.per_asset.coinbase_btcusd_1h`: ")
                && e.contains("not an asset of assets.toml"),
            "{e}"
        );
    }

    #[test]
    fn misspelt_parameter_names_file_line_key() {
        let e = err(
            "[grid_atr]\ntimeframe = \"1h\"\n[grid_atr.params]\natr_strat = 2.0\n",
            "",
        );
        assert!(
            e.starts_with("strategies.toml:4: key `grid_atr.params.atr_strat`: "),
            "{e}"
        );
        assert!(e.contains("atr_start"), "lists the known names: {e}");
        let e = err(
            "[grid_atr]\ntimeframe = \"1h\"\n[grid_atr.per_asset.ETH]\nsl_pct = 1.5\n",
            "",
        );
        assert!(
            e.starts_with("strategies.toml:4: key `grid_atr.per_asset.ETH.sl_pct`: "),
            "{e}"
        );
        let e = err(
            "[grid_atr]\ntimeframe = \"1h\"\nparams = { levels = \"3\" }\n",
            "",
        );
        assert!(
            e.starts_with("strategies.toml:3: key `grid_atr.params.levels`: "),
            "{e}"
        );
        let e = err("[grid_atx]\ntimeframe = \"1h\"\n", "");
        assert!(
            e.starts_with("strategies.toml:1: key `grid_atx`: unknown strategy"),
            "{e}"
        );
    }

    #[test]
    fn bad_grids_name_file_line_key() {
        let e = err(
            "",
            "[sma_cross]\nis_days = 10\noos_days = 5\ngrid = { fsat = \"2..4:1\" }\n",
        );
        assert!(
            e.starts_with("param_grids.toml:4: key `sma_cross.grid`: ") && e.contains("fsat"),
            "{e}"
        );
        let e = err(
            "",
            "[sma_cross]\nis_days = 10\noos_days = 5\nbogus = 1\ngrid = { fast = \"2..4:1\" }\n",
        );
        assert!(
            e.starts_with("param_grids.toml:4: key `sma_cross.bogus`: unknown key"),
            "{e}"
        );
        let e = err(
            "",
            "[sma_cros]\nis_days = 10\noos_days = 5\ngrid = { fast = \"2..4:1\" }\n",
        );
        assert!(
            e.starts_with("param_grids.toml:1: key `sma_cros`: unknown strategy"),
            "{e}"
        );
        let e = err(
            "",
            "[sma_cross]\nis_days = 0\noos_days = 5\ngrid = { fast = \"2..4:1\" }\n",
        );
        assert!(
            e.starts_with("param_grids.toml:2: key `sma_cross.is_days`: must be > 0"),
            "{e}"
        );
    }
}
