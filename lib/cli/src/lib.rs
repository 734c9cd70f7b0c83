//! Scalp Radar's command layer: every `optimize` subcommand — its arguments (clap), how it
//! resolves what it runs (through the domain crates' resolvers: `scalp_backtest::resolve`,
//! `scalp_optimizer::job`), and what it prints. The domain crates (backtest, optimizer,
//! marketdata, sync) hold no argument parsing and print nothing; `bins/optimize` is one call
//! to [`optimize::main`]. Portable: Linux and Windows `optimize.exe`.

pub mod optimize;
