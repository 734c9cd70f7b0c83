//! The errors of scalp-marketdata: [`Error`] for the collector (database, state file, replay
//! file, exchange clients) and `check-data --data FILE`; the `import` timeframe check has its
//! own ([`crate::import::ImportError`]). Reads and writes of rows return
//! [`scalp_store::StoreError`] as it is (it names the database and the series).
//!
//! Every variant keeps the underlying typed error as its `source()`: a command prints the chain
//! (`scalp_core::cli::error_report`), a daemon log line the chain joined by `: `.

use crate::actor::ActorGone;
use scalp_core::Exchange;
use scalp_core::config::ConfigError;
use scalp_core::csvdata::CsvError;
use scalp_core::series::SeriesError;
use scalp_exchange::ExchangeError;
use scalp_statefile::StateError;
use scalp_store::StoreError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory of the database file could not be created.
    #[error("cannot create {}", dir.display())]
    CreateDbDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database at `path` could not be opened, created or migrated (boxed: this variant
    /// would double the size of every `Result`).
    #[error("{}", path.display())]
    OpenDb {
        path: PathBuf,
        #[source]
        source: Box<StoreError>,
    },
    /// A read or write of the store (the error names the database and the series).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database thread stopped before it answered.
    #[error(transparent)]
    DbThread(#[from] ActorGone),
    /// The task opening the database (off the async workers) panicked or was cancelled.
    #[error(transparent)]
    OpenTask(#[from] tokio::task::JoinError),
    /// The directory of `state/collector.json` could not be created.
    #[error("cannot create state dir {}", dir.display())]
    CreateStateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state file's writer (the error names the file).
    #[error(transparent)]
    StateFile(#[from] StateError),
    /// A config value (file, line and key).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The CSV of `[replay].file`, which `config` (the main config file) names.
    #[error("{config}: key `replay.file`")]
    ReplayFile {
        config: String,
        #[source]
        source: CsvError,
    },
    /// `[exchanges.<exchange>]` of the config file `config` does not make a REST client.
    #[error("{}: [exchanges.{exchange}]", config.display())]
    ExchangeConfig {
        config: PathBuf,
        exchange: Exchange,
        #[source]
        source: Box<ExchangeError>,
    },
    /// An exchange client (the error names the exchange and the endpoint).
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// A candle CSV (file, line and field).
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// The timeframe of a candle file (its name, the spacing found).
    #[error(transparent)]
    Series(#[from] SeriesError),
}

/// The one-line text of an error and its causes (`last_error` / `db_error` in the state file,
/// log lines): `scalp_core::cli::error_chain`.
pub(crate) use scalp_core::cli::error_chain as chain;

#[cfg(test)]
mod tests {
    use super::*;

    /// A context variant prints its own text first and keeps the cause as its source.
    #[test]
    fn chain_joins_the_sources() {
        let e = Error::CreateStateDir {
            dir: "/x/state".into(),
            source: std::io::Error::other("denied"),
        };
        assert_eq!(e.to_string(), "cannot create state dir /x/state");
        assert_eq!(chain(&e), "cannot create state dir /x/state: denied");
        assert_eq!(
            scalp_core::cli::error_report(&e),
            "Error: cannot create state dir /x/state\n\nCaused by:\n    0: denied"
        );
    }
}
