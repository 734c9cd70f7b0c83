//! Exchange contract specifications per asset (`[contracts.<ASSET>]` of `assets.toml`): lot
//! step, minimum quantity, minimum notional, price tick and maximum leverage. Used by every
//! fill (backtest, optimizer, later paper and live trading); rules in docs/BACKTEST.md
//! "Exchange minimums and lot steps", sources and dates of the built-in values there too.

use serde::{Deserialize, Serialize};

/// The exchange's order rules for one asset (USDT-M perpetual).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContractSpec {
    /// Quantity step (Bitget `sizeMultiplier`); 0 = not known, quantities are not rounded.
    pub lot_step: f64,
    /// Minimum order quantity in base units (Bitget `minTradeNum`).
    pub min_qty: f64,
    /// Minimum order notional in USDT (Bitget `minTradeUSDT`).
    pub min_notional: f64,
    /// Price tick (Bitget `priceEndStep × 10^−pricePlace`); 0 = not known.
    pub price_tick: f64,
    /// Maximum leverage (Bitget `maxLever`).
    pub max_leverage: f64,
}

/// The spec of an asset with no built-in values and no `[contracts]` entry (and of a `--data`
/// file without `--symbol`): Bitget's minimum notional, which every USDT-M contract seen has
/// (5 USDT), no rounding, 20× leverage (conservative: below every default asset's maximum).
pub const GENERIC: ContractSpec = ContractSpec {
    lot_step: 0.0,
    min_qty: 0.0,
    min_notional: 5.0,
    price_tick: 0.0,
    max_leverage: 20.0,
};

/// Built-in specs of the default assets (docs/BACKTEST.md lists each value's source and date).
/// Values not found in any captured `GET /api/v2/mix/market/contracts` response are those of
/// [`GENERIC`].
const BUILTIN: &[(&str, ContractSpec)] = &[
    (
        "BTC",
        ContractSpec {
            lot_step: 0.0001,
            min_qty: 0.0001,
            min_notional: 5.0,
            price_tick: 0.1,
            max_leverage: 125.0,
        },
    ),
    (
        "ETH",
        ContractSpec {
            lot_step: 0.01,
            min_qty: 0.01,
            min_notional: 5.0,
            price_tick: 0.01,
            max_leverage: 100.0,
        },
    ),
    (
        "SOL",
        ContractSpec {
            lot_step: 0.1,
            min_qty: 0.1,
            min_notional: 5.0,
            price_tick: 0.001,
            max_leverage: 100.0,
        },
    ),
    (
        "XRP",
        ContractSpec {
            lot_step: 1.0,
            min_qty: 1.0,
            min_notional: 5.0,
            price_tick: 0.0001,
            max_leverage: 125.0,
        },
    ),
    (
        "DOGE",
        ContractSpec {
            lot_step: 1.0,
            min_qty: 1.0,
            min_notional: 5.0,
            price_tick: 0.00001,
            max_leverage: 20.0,
        },
    ),
];

/// Built-in spec of `asset`, if it has one.
pub fn builtin(asset: &str) -> Option<ContractSpec> {
    BUILTIN.iter().find(|(a, _)| *a == asset).map(|(_, s)| *s)
}

/// One `[contracts.<ASSET>]` table: any subset of the fields, over the built-in (or generic)
/// values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContractOverride {
    pub lot_step: Option<f64>,
    pub min_qty: Option<f64>,
    pub min_notional: Option<f64>,
    pub price_tick: Option<f64>,
    pub max_leverage: Option<f64>,
}

impl ContractOverride {
    pub fn over(&self, base: ContractSpec) -> ContractSpec {
        ContractSpec {
            lot_step: self.lot_step.unwrap_or(base.lot_step),
            min_qty: self.min_qty.unwrap_or(base.min_qty),
            min_notional: self.min_notional.unwrap_or(base.min_notional),
            price_tick: self.price_tick.unwrap_or(base.price_tick),
            max_leverage: self.max_leverage.unwrap_or(base.max_leverage),
        }
    }

    /// `(field, value, rule)` of the first invalid field.
    pub fn invalid(&self) -> Option<(&'static str, f64, &'static str)> {
        let fields = [
            ("lot_step", self.lot_step, false),
            ("min_qty", self.min_qty, false),
            ("min_notional", self.min_notional, false),
            ("price_tick", self.price_tick, false),
            ("max_leverage", self.max_leverage, true),
        ];
        for (name, v, is_lev) in fields {
            let Some(v) = v else { continue };
            if is_lev {
                if !(v.is_finite() && (1.0..=200.0).contains(&v)) {
                    return Some((name, v, "must be in [1, 200]"));
                }
            } else if !(v.is_finite() && v >= 0.0) {
                return Some((name, v, "must be a finite number >= 0"));
            }
        }
        None
    }
}
