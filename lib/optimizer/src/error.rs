//! The errors of scalp-optimizer: [`Error`], for the walk-forward (its `param_grids.toml`
//! section, the job's resolution, the windows, the stress re-run, PBO), the null test (the
//! permutation at fault, a non-positive price), the null-test verdict file, `run --apply`
//! (strategies.toml and the results it writes) and the local database.
//!
//! Every variant names what is at fault (the file, the key, the strategy and asset, the
//! permutation) and keeps the underlying typed error as its `source()`, never flattened into a
//! string: a command prints the chain (`scalp_core::cli::error_report`), a one-line message
//! joins it with `: ` ([`chain`]). The same enum serves the sweep ([`crate::sweep`]: an
//! event-engine run names its strategy and asset), a run's plan, its result row and report
//! ([`crate::run`]) and the local database ([`crate::db`]).

use scalp_backtest::BacktestError;
use scalp_backtest::resolve::ResolveError;
use scalp_core::config::ConfigError;
use scalp_store::StoreError;
use scalp_strategy::ParamError;
use scalp_strategy::grid::SectionError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- the walk-forward's spec and its resolution ---
    /// `param_grids.toml` has no section for `strategy`.
    #[error("param_grids.toml has no [{strategy}] section")]
    NoGridSection { strategy: String },
    /// A key of the strategy's `param_grids.toml` section (the dotted key and what is wrong).
    #[error(transparent)]
    GridSection(#[from] SectionError),
    /// The job's engine settings, base parameters or data (`scalp_backtest::resolve`; boxed:
    /// it would double the size of every `Result`).
    #[error(transparent)]
    Resolve(Box<ResolveError>),
    /// A strategy name that is not one of the registry's.
    #[error("unknown strategy `{name}`")]
    UnknownStrategy { name: String },
    /// A strategy's parameters (building it, or a grid combination's overrides).
    #[error(transparent)]
    Params(#[from] ParamError),
    /// The event engine refused a run of `strategy` on `asset` (boxed, as [`Error::Resolve`]).
    #[error("{strategy} {asset}")]
    Backtest {
        strategy: String,
        asset: String,
        #[source]
        source: Box<BacktestError>,
    },

    // --- the walk-forward ---
    /// The candles do not span one IS + OOS window.
    #[error(
        "not enough history for one walk-forward window ({is_days} IS + {oos_days} OOS days; data spans {span_days:.1} days)"
    )]
    NotEnoughHistory {
        is_days: f64,
        oos_days: f64,
        span_days: f64,
    },
    /// The coarse grid of walk-forward window `window` gave no combination.
    #[error("empty grid")]
    EmptyGrid { window: usize },
    /// The stress re-run found another number of windows than the walk-forward it re-runs.
    #[error("stress: {stress} windows, the walk-forward had {wfo}")]
    StressWindows { stress: usize, wfo: usize },
    /// PBO needs the same combinations in every window.
    #[error("PBO: the grid's combinations differ between windows")]
    PboCombos,

    // --- the null test ---
    /// Candle `index` has a price ≤ 0 (or NaN): the bars' log returns do not exist.
    #[error("candle {index} (open time {open_time}): prices must be > 0 to be permuted")]
    NonPositivePrice { index: usize, open_time: i64 },
    /// Scoring permuted history `k` (seeded `seed`) failed.
    #[error("null test: permutation {k} (seed {seed})")]
    Permutation {
        k: usize,
        seed: u64,
        #[source]
        source: Box<Error>,
    },
    /// A null-test verdict file could not be read.
    #[error("{}", path.display())]
    ReadVerdict {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A null-test verdict file is not a verdict (its JSON error).
    #[error("{}: not a verdict", path.display())]
    NotAVerdict {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A verdict could not be encoded as JSON.
    #[error(transparent)]
    EncodeVerdict(serde_json::Error),

    // --- files (verdicts, strategies.toml) ---
    /// The directory `dir` could not be created.
    #[error("{}: cannot create", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file `path` could not be read.
    #[error("{}: cannot read", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file `path` (a temporary file) could not be written.
    #[error("{}: cannot write", path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file `path` could not be replaced by its freshly written temporary file.
    #[error("{}: cannot replace", path.display())]
    ReplaceFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // --- `run --apply` ---
    /// strategies.toml (`path`) is not TOML that toml_edit can edit.
    #[error("{}", path.display())]
    ParseStrategies {
        path: PathBuf,
        #[source]
        source: Box<toml_edit::TomlError>,
    },
    /// strategies.toml (`path`) has no table for the strategy whose results are applied.
    #[error("{}: no [{strategy}] table to apply to", path.display())]
    NoStrategyTable { path: PathBuf, strategy: String },
    /// The dotted `key` of strategies.toml (`path`) is a value where `--apply` needs a table.
    #[error("{}: key `{key}` is not a table", path.display())]
    NotATable { path: PathBuf, key: String },
    /// The stored `best_params` of the latest result of `strategy` on `asset` is not a JSON
    /// object.
    #[error("result {strategy} {asset}: best_params is not an object")]
    BestParams { strategy: String, asset: String },
    /// Results of `strategy` name assets that are not in assets.toml (`assets`, `count` of them).
    #[error("--apply: {count} result(s) of {strategy} for unknown assets")]
    UnknownAssets {
        strategy: String,
        count: usize,
        assets: Vec<String>,
    },
    /// The results to apply disagree on the timeframe (`outliers` assets off the majority).
    #[error("timeframe conflict for {strategy} ({outliers} outlier(s))")]
    TimeframeConflict { strategy: String, outliers: usize },
    /// A config file's contents (file, line and key): strategies.toml as `--apply` would write
    /// it does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Writing the report of `--apply` (its diff and its per-asset lines) to its output.
    #[error(transparent)]
    Output(#[from] std::io::Error),

    // --- the local database ---
    /// A query of the local database, `op` saying what was being done.
    #[error("{op}")]
    Sqlite {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The store (the error names the database and what was being done; boxed, as
    /// [`Error::Resolve`]).
    #[error(transparent)]
    Store(Box<StoreError>),
    /// The local database's directory cannot be created.
    #[error("{}: cannot create directory", dir.display())]
    CreateDbDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The local database cannot be opened (or migrated).
    #[error("{}", path.display())]
    OpenDb {
        path: PathBuf,
        #[source]
        source: Box<StoreError>,
    },
    #[error(
        "{}: database does not exist (check --db-path or `[optimize].db`; `optimize run` creates it)",
        .0.display()
    )]
    NoDb(PathBuf),

    // --- a run's plan and its result ---
    #[error("give --strategy S or --all")]
    NoStrategy,
    #[error("give --symbol A, --symbols A,B, --all-symbols or --all")]
    NoAssets,
    /// The built result row breaks the rules every stored row meets (a bug, never data).
    #[error("result payload invalid: {0}")]
    InvalidResult(Box<scalp_sync::PayloadError>),
    #[error("{}: cannot create reports dir", dir.display())]
    CreateReportsDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot rename", path.display())]
    RenameFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A report cannot be encoded as JSON.
    #[error(transparent)]
    EncodeReport(serde_json::Error),
}

impl From<ResolveError> for Error {
    fn from(e: ResolveError) -> Self {
        Error::Resolve(Box::new(e))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(Box::new(e))
    }
}

impl Error {
    /// `op` on the local database failed with `source` (what [`Error::Sqlite`] holds).
    pub fn sqlite(op: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
        move |source| Error::Sqlite { op, source }
    }
}

/// The one-line text of an error and its causes (a gate term, a line on stderr):
/// `scalp_core::cli::error_chain`.
pub use scalp_core::cli::error_chain as chain;

#[cfg(test)]
mod tests {
    use super::*;

    /// A context variant prints its own text first and keeps the cause as its source.
    #[test]
    fn context_variants_keep_their_cause() {
        let e = Error::ReplaceFile {
            path: "/x/strategies.toml".into(),
            source: std::io::Error::other("denied"),
        };
        assert_eq!(e.to_string(), "/x/strategies.toml: cannot replace");
        assert_eq!(chain(&e), "/x/strategies.toml: cannot replace: denied");
        assert_eq!(
            scalp_core::cli::error_report(&e),
            "Error: /x/strategies.toml: cannot replace\n\nCaused by:\n    0: denied"
        );
        let p = Error::Permutation {
            k: 3,
            seed: 45,
            source: Box::new(e),
        };
        assert_eq!(
            chain(&p),
            "null test: permutation 3 (seed 45): /x/strategies.toml: cannot replace: denied"
        );
    }

    /// The enum stays small: its big sources are boxed (clippy's `result_large_err`).
    #[test]
    fn the_error_is_small() {
        assert!(
            std::mem::size_of::<Error>() <= 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
