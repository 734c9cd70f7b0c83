//! Configuration files (TOML). Unknown keys are rejected; every error names the file, the line
//! and the dotted key (`config/scalp.toml:12:1: key `collector.foo`: unknown field ...`).
//!
//! Files (all in the same directory as the main file given with `--config`):
//! - `scalp.toml`        — daemons, paths, exchanges, sync ([`ScalpConfig`])
//! - `assets.toml`       — traded assets and collected timeframes ([`AssetsConfig`])
//! - `strategies.toml`   — strategies and their parameters ([`StrategiesConfig`])
//! - `param_grids.toml`  — optimizer grids and WFO windows ([`ParamGridsConfig`])
//!
//! Each section has its own module so that each domain owns its part of the schema.

mod api;
mod assets;
mod backtest;
mod collector;
pub mod contracts;
mod exchanges;
pub mod executor;
mod paths;
pub mod simulator;
mod strategies;
mod sync;
pub mod watchdog;

pub use api::{ApiConfig, DEFAULT_WEB_DIR};
pub use assets::AssetsConfig;
pub use backtest::{BacktestConfig, OptimizeConfig};
pub use collector::{CollectorConfig, ReplayConfig};
pub use contracts::{ContractOverride, ContractSpec};
pub use exchanges::{BinanceConfig, BitgetConfig, ExchangesConfig};
pub use executor::{ExecutorConfig, MarginModeSetting, ReconcilePolicy};
pub use paths::{LogConfig, LogFormat, PathsConfig};
pub use simulator::{RiskConfig, SimulatorConfig, StartMode};
pub use strategies::{ParamGridsConfig, StrategiesConfig, StrategyEntry};
pub use sync::{SyncConfig, SyncdConfig};
pub use watchdog::WatchdogConfig;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration error that points at the file, line, column and dotted key.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if let Some(k) = &self.key {
            write!(f, ": key `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about a value that parsed but is invalid (checked after deserialisation).
    /// `text` is the file's content, used to find the line of `key`.
    pub fn invalid(file: &str, text: Option<&str>, key: &str, message: impl Into<String>) -> Self {
        let line = text.and_then(|t| find_key_line(t, key));
        ConfigError {
            file: file.to_string(),
            line,
            column: None,
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

/// Best-effort line of a dotted key (`a.b.c`) in a TOML text: finds the table header for the
/// prefix and then the last segment as a key. Used for post-parse validation errors.
pub fn find_key_line(text: &str, key: &str) -> Option<usize> {
    // A key inside an inline table (`grid = { fast = .. }`) has no line of its own: fall back
    // to the line of the closest enclosing key that has one.
    let mut k = key;
    loop {
        if let Some(l) = find_exact_key_line(text, k) {
            return Some(l);
        }
        k = k.rsplit_once('.')?.0;
    }
}

fn find_exact_key_line(text: &str, key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split('.').collect();
    let last = *parts.last()?;
    let table = parts[..parts.len() - 1].join(".");
    let mut in_table = table.is_empty();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            let name = l.trim_start_matches('[').trim_end_matches(']').trim();
            if name == key {
                return Some(i + 1);
            }
            in_table = name == table;
            continue;
        }
        if in_table {
            let k = l.split('=').next().unwrap_or("").trim().trim_matches('"');
            if k == last {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Parses TOML text into `T`, reporting file:line:column and the dotted key on error.
pub fn parse_toml<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
        ConfigError {
            file: file.to_string(),
            line,
            column,
            key: None,
            message: e.message().trim().to_string(),
        }
    })?;
    let mut track = serde_path_to_error::Track::new();
    let res = T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
    res.map_err(|e| {
        let path = track.path().to_string();
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
        ConfigError {
            file: file.to_string(),
            line,
            column,
            key: (path != "?" && !path.is_empty()).then_some(path),
            message: e.message().trim().to_string(),
        }
    })
}

/// Reads and parses a TOML file (see [`parse_toml`]).
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read: {e}"),
    })?;
    let v = parse_toml(&text, &file)?;
    Ok((v, text))
}

/// `scalp.toml`: everything but assets, strategies and grids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalpConfig {
    pub paths: PathsConfig,
    pub log: LogConfig,
    pub collector: CollectorConfig,
    pub replay: ReplayConfig,
    pub exchanges: ExchangesConfig,
    pub sync: SyncConfig,
    pub syncd: SyncdConfig,
    pub backtest: BacktestConfig,
    pub optimize: OptimizeConfig,
    pub simulator: SimulatorConfig,
    pub executor: ExecutorConfig,
    pub risk: RiskConfig,
    pub watchdog: WatchdogConfig,
    pub api: ApiConfig,
}

/// The whole configuration: `scalp.toml` plus its sibling files.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main file given with `--config`.
    pub path: PathBuf,
    pub main: ScalpConfig,
    pub assets: AssetsConfig,
    pub strategies: StrategiesConfig,
    pub param_grids: ParamGridsConfig,
    /// The text of `strategies.toml` and its name, for errors found after parsing (strategy
    /// parameters are validated by scalp-strategy, which names file, line and key).
    pub strategies_source: Source,
    /// The text of `param_grids.toml` and its name (see `strategies_source`).
    pub param_grids_source: Source,
}

/// A config file's name (as shown in errors) and its text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    pub file: String,
    pub text: String,
}

impl Source {
    /// An error about `key` (dotted) in this file, at the key's line when it can be found.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::invalid(&self.file, Some(&self.text), key, message)
    }
}

impl Config {
    /// Directory of the main config file; relative paths in the config resolve against it.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Resolves a path from the config: absolute stays, relative is taken from the config dir.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.resolve(&self.main.paths.data_dir)
    }
    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join(&self.main.paths.db)
    }
    pub fn state_dir(&self) -> PathBuf {
        self.data_dir().join(&self.main.paths.state_dir)
    }
    pub fn control_dir(&self) -> PathBuf {
        self.data_dir().join(&self.main.paths.control_dir)
    }
    pub fn strategies_path(&self) -> PathBuf {
        self.resolve(&self.main.paths.strategies)
    }

    /// Loads `path` and the sibling files named in its `[paths]` section, then validates
    /// everything. A missing sibling file is an error naming it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (main, main_text): (ScalpConfig, String) = load_toml(path)?;
        let file = path.display().to_string();
        main.validate(&file, &main_text)?;
        let mut cfg = Config {
            path: path.to_path_buf(),
            main,
            assets: AssetsConfig::default(),
            strategies: StrategiesConfig::default(),
            param_grids: ParamGridsConfig::default(),
            strategies_source: Source::default(),
            param_grids_source: Source::default(),
        };
        let (assets, atext): (AssetsConfig, String) =
            load_toml(&cfg.resolve(&cfg.main.paths.assets))?;
        let afile = cfg.resolve(&cfg.main.paths.assets).display().to_string();
        assets.validate(&afile, &atext)?;
        validate_sources(&cfg.main, &assets, &afile, &atext)?;
        cfg.assets = assets;
        let spath = cfg.strategies_path();
        let (strategies, stext): (StrategiesConfig, String) = load_toml(&spath)?;
        validate_leverage(
            &cfg.assets,
            &strategies,
            &spath.display().to_string(),
            &stext,
        )?;
        cfg.strategies = strategies;
        cfg.strategies_source = Source {
            file: spath.display().to_string(),
            text: stext,
        };
        let gpath = cfg.resolve(&cfg.main.paths.param_grids);
        let (grids, gtext): (ParamGridsConfig, String) = load_toml(&gpath)?;
        cfg.param_grids = grids;
        cfg.param_grids_source = Source {
            file: gpath.display().to_string(),
            text: gtext,
        };
        Ok(cfg)
    }

    /// The built-in defaults, as shipped in `config/` and embedded in the binaries, with `dir`
    /// as the config directory (`optimize` on a bare workstation, tests).
    pub fn defaults(dir: &Path) -> Result<Config, ConfigError> {
        Config::from_texts(
            dir,
            defaults::SCALP_TOML,
            defaults::ASSETS_TOML,
            defaults::STRATEGIES_TOML,
            defaults::PARAM_GRIDS_TOML,
        )
    }

    /// A config from the texts of its four files (`dir`: the config directory).
    pub fn from_texts(
        dir: &Path,
        scalp: &str,
        assets: &str,
        strategies: &str,
        grids: &str,
    ) -> Result<Config, ConfigError> {
        let main: ScalpConfig = parse_toml(scalp, "scalp.toml")?;
        main.validate("scalp.toml", scalp)?;
        let assets_cfg: AssetsConfig = parse_toml(assets, "assets.toml")?;
        assets_cfg.validate("assets.toml", assets)?;
        validate_sources(&main, &assets_cfg, "assets.toml", assets)?;
        let strategies_cfg: StrategiesConfig = parse_toml(strategies, "strategies.toml")?;
        validate_leverage(&assets_cfg, &strategies_cfg, "strategies.toml", strategies)?;
        Ok(Config {
            path: dir.join("scalp.toml"),
            main,
            assets: assets_cfg,
            strategies: strategies_cfg,
            param_grids: parse_toml(grids, "param_grids.toml")?,
            strategies_source: Source {
                file: "strategies.toml".into(),
                text: strategies.into(),
            },
            param_grids_source: Source {
                file: "param_grids.toml".into(),
                text: grids.into(),
            },
        })
    }
}

impl ScalpConfig {
    /// Cross-field checks that serde cannot express.
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        self.collector.validate(file, text)?;
        self.replay.validate(file, text)?;
        self.exchanges.validate(file, text)?;
        self.sync.validate(file, text)?;
        self.simulator.validate(file, text)?;
        self.executor.validate(file, text)?;
        self.risk.validate(file, text)?;
        self.watchdog.validate(file, text)?;
        self.backtest.validate(file, text)?;
        self.api.validate(file, text)?;
        Ok(())
    }
}

/// Checks across `scalp.toml` and `assets.toml`: a Bitget source streams every configured
/// timeframe, and Bitget has no `candle3m` channel and no 2h candles at all.
fn validate_sources(
    main: &ScalpConfig,
    assets: &AssetsConfig,
    assets_file: &str,
    assets_text: &str,
) -> Result<(), ConfigError> {
    if main.collector.sources.contains(&crate::Exchange::Bitget) {
        let bad: Vec<&str> = assets
            .timeframes
            .iter()
            .filter(|tf| tf.bitget_channel().is_none())
            .map(|tf| tf.as_str())
            .collect();
        if !bad.is_empty() {
            return Err(ConfigError::invalid(
                assets_file,
                Some(assets_text),
                "timeframes",
                format!(
                    "[collector].sources has `bitget`, which streams no {} candles (its WebSocket timeframes: {}); remove {} or the bitget source",
                    bad.join(", "),
                    crate::Timeframe::bitget_ws_list(),
                    if bad.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
    }
    Ok(())
}

/// A strategy's leverage must not exceed the contract's maximum leverage of any asset it trades
/// (its `assets`, or all of assets.toml when empty).
fn validate_leverage(
    assets: &AssetsConfig,
    strategies: &StrategiesConfig,
    file: &str,
    text: &str,
) -> Result<(), ConfigError> {
    for (name, e) in &strategies.strategies {
        let list = if e.assets.is_empty() {
            &assets.assets
        } else {
            &e.assets
        };
        for a in list {
            let (spec, src) = assets.contract(a);
            if e.leverage > spec.max_leverage {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    &format!("{name}.leverage"),
                    format!(
                        "leverage {} exceeds {a}'s maximum leverage {} ({src}; assets.toml [contracts.{a}].max_leverage)",
                        e.leverage, spec.max_leverage
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The default config files shipped in `config/`, embedded so tests and `optimize` on a bare
/// Windows workstation can start from them.
pub mod defaults {
    pub const SCALP_TOML: &str = include_str!("../../../../config/scalp.toml");
    pub const ASSETS_TOML: &str = include_str!("../../../../config/assets.toml");
    pub const STRATEGIES_TOML: &str = include_str!("../../../../config/strategies.toml");
    pub const PARAM_GRIDS_TOML: &str = include_str!("../../../../config/param_grids.toml");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_parse() {
        let c = Config::from_texts(
            Path::new("/etc/scalp-radar"),
            defaults::SCALP_TOML,
            defaults::ASSETS_TOML,
            defaults::STRATEGIES_TOML,
            defaults::PARAM_GRIDS_TOML,
        )
        .unwrap();
        assert_eq!(c.assets.assets.len(), 21);
        assert_eq!(c.db_path(), Path::new("/var/lib/scalp-radar/scalp.db"));
    }

    #[test]
    fn unknown_key_names_file_line_key() {
        let text = "[collector]\nsources = [\"replay\"]\nbogus = 3\n";
        let e = parse_toml::<ScalpConfig>(text, "scalp.toml").unwrap_err();
        assert_eq!(e.file, "scalp.toml");
        assert_eq!(e.line, Some(3));
        assert_eq!(
            e.key.as_deref(),
            Some("collector.bogus").or(e.key.as_deref())
        );
        let s = e.to_string();
        assert!(s.starts_with("scalp.toml:3:"), "{s}");
        assert!(s.contains("bogus"), "{s}");
    }

    #[test]
    fn wrong_type_names_key() {
        let text = "[sync]\nenabled = \"yes\"\n";
        let e = parse_toml::<ScalpConfig>(text, "scalp.toml").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("sync.enabled"));
    }

    #[test]
    fn syntax_error_has_line() {
        let e = parse_toml::<ScalpConfig>("[sync\n", "x.toml").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn find_key_line_works() {
        let t = "# c\n[a]\nx = 1\n[b]\nx = 2\ny = 3\n";
        assert_eq!(find_key_line(t, "b.x"), Some(5));
        assert_eq!(find_key_line(t, "a.x"), Some(3));
        assert_eq!(find_key_line(t, "b.z"), Some(4), "falls back to the table");
        assert_eq!(find_key_line(t, "c.z"), None);
        let t = "[s]\ngrid = { fast = \"2..4:1\" }\n";
        assert_eq!(find_key_line(t, "s.grid.fast"), Some(2));
    }

    fn load_main(text: &str) -> Result<ScalpConfig, ConfigError> {
        let c: ScalpConfig = parse_toml(text, "scalp.toml")?;
        c.validate("scalp.toml", text)?;
        Ok(c)
    }

    #[test]
    fn binance_ws_url_must_route_through_market() {
        for bad in [
            "wss://fstream.binance.com",
            "wss://fstream.binance.com/",
            "wss://fstream.binance.com/stream",
            "wss://fstream.binance.com/ws",
            "ws://127.0.0.1:9000/public",
        ] {
            let text = format!("[exchanges.binance]\nws_url = \"{bad}\"\n");
            let e = load_main(&text).unwrap_err();
            assert_eq!(e.line, Some(2), "{bad}: {e}");
            assert_eq!(e.key.as_deref(), Some("exchanges.binance.ws_url"));
            assert!(e.to_string().contains("/market"), "{e}");
        }
        for good in [
            "wss://fstream.binance.com/market",
            "ws://127.0.0.1:9000/market/",
        ] {
            load_main(&format!("[exchanges.binance]\nws_url = \"{good}\"\n")).unwrap();
        }
    }

    /// `[optimize].exchange` is an exchange, checked when the config is read (it used to be a
    /// string parsed only when a command needed it).
    #[test]
    fn optimize_exchange_is_checked_at_load() {
        let e = load_main("[optimize]\nexchange = \"binanse\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("optimize.exchange"), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        let c = load_main("[optimize]\nexchange = \"bitget\"\n").unwrap();
        assert_eq!(c.optimize.exchange, crate::Exchange::Bitget);
    }

    #[test]
    fn bitget_demo_product_needs_the_demo_host() {
        let e = load_main("[exchanges.bitget]\nproduct_type = \"SUSDT-FUTURES\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("exchanges.bitget.ws_public_url"));
        assert!(e.to_string().contains("wspap.bitget.com"), "{e}");
        let e = load_main(
            "[exchanges.bitget]\nws_public_url = \"wss://wspap.bitget.com/v2/ws/public\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("demo host"), "{e}");
        load_main(
            "[exchanges.bitget]\nproduct_type = \"SUSDT-FUTURES\"\nws_public_url = \"wss://wspap.bitget.com/v2/ws/public\"\nws_private_url = \"wss://wspap.bitget.com/v2/ws/private\"\n",
        )
        .unwrap();
    }

    #[test]
    fn contracts_are_built_in_overridable_and_validated() {
        let base = "assets = [\"BTC\", \"FOO\"]\nquote = \"USDT\"\ntimeframes = [\"1h\"]\n";
        let c = Config::from_texts(Path::new("/x"), "", base, "", "").unwrap();
        let (btc, _) = c.assets.contract("BTC");
        assert_eq!(
            (btc.lot_step, btc.min_qty, btc.min_notional),
            (0.0001, 0.0001, 5.0)
        );
        assert_eq!(c.assets.contract("FOO").0, contracts::GENERIC);
        let t = format!("{base}[contracts.BTC]\nmin_notional = 10.0\n");
        let c = Config::from_texts(Path::new("/x"), "", &t, "", "").unwrap();
        let (btc, src) = c.assets.contract("BTC");
        assert_eq!((btc.lot_step, btc.min_notional), (0.0001, 10.0));
        assert!(src.contains("assets.toml"), "{src}");
        // unknown key, negative value, unknown asset: errors naming file, line and key
        let e = Config::from_texts(
            Path::new("/x"),
            "",
            &format!("{base}[contracts.BTC]\nlot = 1.0\n"),
            "",
            "",
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("assets.toml", Some(5)), "{e}");
        assert!(e.to_string().contains("lot"), "{e}");
        let e = Config::from_texts(
            Path::new("/x"),
            "",
            &format!("{base}[contracts.BTC]\nmin_qty = -1.0\n"),
            "",
            "",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert_eq!(e.key.as_deref(), Some("contracts.BTC.min_qty"));
        let e = Config::from_texts(
            Path::new("/x"),
            "",
            &format!("{base}[contracts.ETH]\nmin_qty = 1.0\n"),
            "",
            "",
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("contracts.ETH"), "{e}");
        // a strategy's leverage above an asset's maximum
        let t = format!("{base}[contracts.FOO]\nmax_leverage = 2.0\n");
        let s = "[grid_atr]\nleverage = 3.0\ntimeframe = \"1h\"\n";
        let e = Config::from_texts(Path::new("/x"), "", &t, s, "").unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line),
            ("strategies.toml", Some(2)),
            "{e}"
        );
        assert!(e.to_string().contains("FOO's maximum leverage 2"), "{e}");
    }

    #[test]
    fn bitget_source_refuses_timeframes_it_cannot_stream() {
        let scalp = "[collector]\nsources = [\"bitget\"]\n";
        let assets =
            "assets = [\"BTC\"]\nquote = \"USDT\"\ntimeframes = [\"1m\", \"3m\", \"2h\"]\n";
        let e = Config::from_texts(Path::new("/x"), scalp, assets, "", "").unwrap_err();
        assert_eq!(e.file, "assets.toml");
        assert_eq!(e.line, Some(3));
        let m = e.to_string();
        assert!(m.contains("3m, 2h") && m.contains("bitget"), "{m}");
        // the same timeframes are fine for Binance
        let scalp = "[collector]\nsources = [\"binance\"]\n";
        Config::from_texts(Path::new("/x"), scalp, assets, "", "").unwrap();
    }
}
