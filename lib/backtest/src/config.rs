//! Engine settings. Every choice is documented in `docs/BACKTEST.md`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// When market orders (`MarketEntry`, `ClosePosition`) fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillMode {
    /// At the open of the candle after the signal candle (default).
    #[default]
    NextOpen,
    /// At the close of the signal candle itself (to reproduce tools that trade on close).
    Close,
}

impl FromStr for FillMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next_open" => Ok(FillMode::NextOpen),
            "close" => Ok(FillMode::Close),
            o => Err(format!(
                "unknown fill mode `{o}` (expected next_open or close)"
            )),
        }
    }
}

/// How an entry's quantity is computed.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sizing {
    /// `margin = margin_frac × balance`, `qty = margin × leverage / price` (default).
    #[default]
    MarginFrac,
    /// Every free unit of balance: `qty = free × leverage / (price × (1 + fee))`.
    AllCash,
    /// A fixed base quantity per entry.
    Fixed(f64),
}

impl FromStr for Sizing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "margin_frac" => Ok(Sizing::MarginFrac),
            "all_cash" => Ok(Sizing::AllCash),
            o => match o.strip_prefix("fixed:").map(str::parse::<f64>) {
                Some(Ok(x)) if x.is_finite() && x > 0.0 => Ok(Sizing::Fixed(x)),
                _ => Err(format!(
                    "unknown size `{o}` (expected margin_frac, all_cash or fixed:QTY with QTY > 0)"
                )),
            },
        }
    }
}

impl fmt::Display for Sizing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sizing::MarginFrac => f.write_str("margin_frac"),
            Sizing::AllCash => f.write_str("all_cash"),
            Sizing::Fixed(x) => write!(f, "fixed:{x}"),
        }
    }
}

/// What happens to a position still open after the last candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndFill {
    /// Closed at the last candle's close (taker fee + slippage). Default.
    #[default]
    LastClose,
    /// Closed at the last candle's open (backtesting.py `finalize_trades=True`).
    LastOpen,
}

impl FromStr for EndFill {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "last_close" => Ok(EndFill::LastClose),
            "last_open" => Ok(EndFill::LastOpen),
            o => Err(format!(
                "unknown end fill `{o}` (expected last_close or last_open)"
            )),
        }
    }
}

/// Per-runner kill switch: when tripped the runner goes flat (market, next fill point), cancels
/// its levels and is no longer asked for intents.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct KillSwitch {
    /// Trip when the equity is this many percent below its running peak (at a candle close).
    pub max_drawdown_pct: Option<f64>,
    /// Trip after this many consecutive losing trades (net P&L < 0).
    pub max_consecutive_losses: Option<u32>,
}

/// Regime classification thresholds (see `docs/BACKTEST.md`, "Market regime").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegimeConfig {
    /// Label trades with a regime (false: every trade is `UNKNOWN`; saves ~1 µs per trade,
    /// for callers that do not report per-regime statistics, e.g. walk-forward internals).
    pub enabled: bool,
    /// Candles (ending at the signal candle) the indicators are computed over.
    pub window: usize,
    /// ADX / ATR period (Wilder).
    pub period: usize,
    /// ADX at or above this = trending.
    pub adx_trend: f64,
    /// ATR(period) / mean true range of the window at or above this = volatile.
    pub vol_ratio: f64,
}

impl Default for RegimeConfig {
    fn default() -> Self {
        RegimeConfig {
            enabled: true,
            window: 100,
            period: 14,
            adx_trend: 25.0,
            vol_ratio: 1.5,
        }
    }
}

/// Everything the engine needs besides data and strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestConfig {
    /// Initial capital of the runner (quote currency, USDT).
    pub capital: f64,
    /// Leverage (isolated margin): margin = notional / leverage.
    pub leverage: f64,
    /// Fee rate of limit fills (grid levels, take-profit), fraction of notional.
    pub maker_fee: f64,
    /// Fee rate of market fills (market entries/closes, stops, end of data).
    pub taker_fee: f64,
    /// Adverse slippage of taker fills, fraction of price.
    pub slippage: f64,
    /// Maintenance-margin rate used for the liquidation price.
    pub maintenance_margin: f64,
    /// Funding: `None` = no funding; `Some(rate)` = stored history where it covers the funding
    /// time, else `rate` (per 8 h at 00/08/16 UTC).
    pub funding_rate: Option<f64>,
    pub fill: FillMode,
    pub sizing: Sizing,
    /// Quantities are rounded down to a multiple of this (exchange size step). 0 = no rounding.
    pub lot_step: f64,
    /// Exchange minimum order quantity (base units): a smaller order is skipped. 0 = none.
    #[serde(default)]
    pub min_qty: f64,
    /// Exchange minimum order notional (quote, USDT): a smaller order is skipped. 0 = none.
    #[serde(default)]
    pub min_notional: f64,
    pub end_fill: EndFill,
    pub kill_switch: KillSwitch,
    pub regime: RegimeConfig,
    /// Record every intent with its candle index (for `optimize lookahead`).
    pub record_intents: bool,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig::from_core(&scalp_core::config::BacktestConfig::default())
    }
}

impl BacktestConfig {
    /// Defaults from the `[backtest]` section of `scalp.toml`.
    pub fn from_core(c: &scalp_core::config::BacktestConfig) -> BacktestConfig {
        BacktestConfig {
            capital: c.initial_capital,
            leverage: c.leverage,
            maker_fee: c.maker_fee,
            taker_fee: c.taker_fee,
            slippage: c.slippage,
            maintenance_margin: c.maintenance_margin,
            funding_rate: Some(c.default_funding_rate),
            fill: FillMode::NextOpen,
            sizing: Sizing::MarginFrac,
            lot_step: 0.0,
            min_qty: 0.0,
            min_notional: 0.0,
            end_fill: EndFill::LastClose,
            kill_switch: KillSwitch::default(),
            regime: RegimeConfig::default(),
            record_intents: false,
        }
    }

    /// Whether an exchange minimum order applies (`min_qty` or `min_notional` > 0).
    pub fn has_min_order(&self) -> bool {
        self.min_qty > 0.0 || self.min_notional > 0.0
    }

    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        use SettingsError as E;
        let pos = |field: &'static str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(E::NotPositive { field, value })
            }
        };
        let frac = |field: &'static str, value: f64| {
            if value.is_finite() && (0.0..0.5).contains(&value) {
                Ok(())
            } else {
                Err(E::NotAFraction { field, value })
            }
        };
        let non_neg = |field: &'static str, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(E::Negative { field, value })
            }
        };
        pos("capital", self.capital)?;
        pos("leverage", self.leverage)?;
        if self.leverage > 125.0 {
            return Err(E::LeverageAbove125(self.leverage));
        }
        // No fee is negative: rebates are not modelled, and a negative fee turns every trade
        // into a gain.
        frac("maker_fee", self.maker_fee)?;
        frac("taker_fee", self.taker_fee)?;
        frac("slippage", self.slippage)?;
        frac("maintenance_margin", self.maintenance_margin)?;
        if let Some(r) = self.funding_rate
            && !(r.is_finite() && r.abs() < 0.1)
        {
            return Err(E::FundingRate(r));
        }
        non_neg("lot step", self.lot_step)?;
        non_neg("min quantity", self.min_qty)?;
        non_neg("min notional", self.min_notional)?;
        if let Some(d) = self.kill_switch.max_drawdown_pct
            && !(d > 0.0 && d <= 100.0)
        {
            return Err(E::KillDrawdown(d));
        }
        if self.regime.period < 2 || self.regime.window < 2 * self.regime.period + 1 {
            return Err(E::Regime);
        }
        Ok(())
    }
}

/// Why engine settings are out of range ([`BacktestConfig::validate`]); names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("{field} must be > 0, got {value}")]
    NotPositive { field: &'static str, value: f64 },
    #[error("leverage must be <= 125, got {0}")]
    LeverageAbove125(f64),
    #[error("{field} must be in [0, 0.5), got {value}")]
    NotAFraction { field: &'static str, value: f64 },
    #[error("funding rate must be in (-0.1, 0.1), got {0}")]
    FundingRate(f64),
    #[error("{field} must be >= 0, got {value}")]
    Negative { field: &'static str, value: f64 },
    #[error("kill switch drawdown must be in (0, 100], got {0}")]
    KillDrawdown(f64),
    #[error("regime window must be >= 2 × period + 1 and period >= 2")]
    Regime,
}
