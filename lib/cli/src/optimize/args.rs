//! Flags shared by several subcommands, defined once: the engine settings ([`EngineArgs`],
//! flattened into `backtest`, `sweep` and `bench-wfo`) and the data source ([`DataArgs`],
//! flattened into `backtest`, `lookahead` and `sweep`). Each maps onto the domain's request
//! types, `scalp_backtest::resolve::{Overrides, Request}`.

use scalp_backtest::resolve::{Overrides, Request};
use scalp_backtest::{EndFill, FillMode, Sizing};
use scalp_core::{Exchange, Timeframe};
use std::path::PathBuf;

/// `--fee` / `--slippage`: a fraction of the notional in `[0, 0.5)`. The flags are declared
/// with `allow_negative_numbers` so that `--fee -0.01` reaches this check (instead of being
/// read as an unknown flag) and is refused with its reason.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !x.is_finite() || x < 0.0 {
        return Err(format!(
            "{x} is negative: a fee or slippage is a fraction of the notional >= 0 (e.g. 0.001 = 0.1 %); rebates are not modelled"
        ));
    }
    if x >= 0.5 {
        return Err(format!(
            "{x} is a fraction of the notional and must be below 0.5 (0.001 = 0.1 %)"
        ));
    }
    Ok(x)
}

/// Engine settings of every command that backtests (defaults: `[backtest]` of scalp.toml, the
/// strategy's leverage, the asset's contract; `optimize backtest` also `[risk]`'s kill switch).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EngineArgs {
    /// Initial capital (default `[backtest].initial_capital`).
    #[arg(long, allow_negative_numbers = true)]
    pub capital: Option<f64>,
    /// Leverage (default: the strategy's in strategies.toml, else `[backtest].leverage`).
    #[arg(long, allow_negative_numbers = true)]
    pub leverage: Option<f64>,
    /// One fee rate for maker and taker fills (e.g. 0.001 = 0.1 %), overriding `[backtest]`; >= 0.
    #[arg(long, allow_negative_numbers = true, value_parser = parse_fraction)]
    pub fee: Option<f64>,
    /// Slippage of taker fills, fraction of price (default `[backtest].slippage`).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_fraction)]
    pub slippage: Option<f64>,
    /// Market orders fill at the next candle's open (`next_open`, the default) or at the
    /// signal candle's close (`close`).
    #[arg(long)]
    pub fill: Option<FillMode>,
    /// Position sizing: margin_frac (the strategy's fractions, the default), all_cash, or
    /// fixed:QTY.
    #[arg(long)]
    pub size: Option<Sizing>,
    /// Lot step override: quantities are rounded down to a multiple of it (0 = no rounding).
    /// Default: the asset's contract lot step (assets.toml [contracts], docs/BACKTEST.md).
    #[arg(long, allow_negative_numbers = true)]
    pub lot: Option<f64>,
    /// Where a position still open at the end is closed: last_close (the default) or
    /// last_open.
    #[arg(long)]
    pub end: Option<EndFill>,
    /// Funding rate per 8 h when no history covers a settlement (default
    /// `[backtest].default_funding_rate`; may be negative).
    #[arg(long, allow_negative_numbers = true)]
    pub funding_rate: Option<f64>,
    /// No funding payments at all.
    #[arg(long)]
    pub no_funding: bool,
    /// Kill switch: stop trading after this drawdown in percent.
    #[arg(long, allow_negative_numbers = true)]
    pub kill_dd: Option<f64>,
    /// Kill switch: stop trading after this many consecutive losing trades.
    #[arg(long)]
    pub kill_losses: Option<u32>,
}

impl EngineArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            capital: self.capital,
            leverage: self.leverage,
            fee: self.fee,
            slippage: self.slippage,
            fill: self.fill,
            size: self.size,
            lot: self.lot,
            end: self.end,
            funding_rate: self.funding_rate,
            no_funding: self.no_funding,
            kill_dd: self.kill_dd,
            kill_losses: self.kill_losses,
        }
    }
}

/// Where candles come from: the optimize database (`--symbol`) or a CSV (`--data`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Asset or symbol (BTC or BTCUSDT): read from the store, or with --data only the asset the
    /// file is of (its per-asset params and contract spec apply; default: the file name).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Candle CSV (`ts_ms,open,high,low,close,volume`) instead of the optimize database.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Primary timeframe (default: the strategy's in strategies.toml; with --data: inferred,
    /// and a coarser one is resampled from the file's).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Exchange of the stored history (default `[optimize].exchange`).
    #[arg(long)]
    pub exchange: Option<Exchange>,
    /// Days of history ending at the last candle (default: all).
    #[arg(long)]
    pub days: Option<u32>,
    /// Data-quality findings (gaps, duplicates, disorder, bad OHLC, outlier wicks) are errors
    /// instead of warnings.
    #[arg(long)]
    pub strict: bool,
}

impl DataArgs {
    /// The request of `strategy` on this source, with `params` overrides.
    pub fn request(&self, strategy: &str, params: Option<&str>) -> Request {
        Request {
            strategy: strategy.to_string(),
            symbol: self.symbol.clone(),
            exchange: self.exchange,
            days: self.days,
            timeframe: self.timeframe,
            params: params.map(str::to_string),
            data: self.data.clone(),
            strict: self.strict,
        }
    }
}
