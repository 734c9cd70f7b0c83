//! Contract specifications and the rounding of every order to them (docs/BROKER.md
//! "Rounding"). All exact ([`Dec`]); a quantity is an integer number of lot steps, a price an
//! integer number of ticks.

use crate::model::{PositionSide, Side};
use crate::{BrokerError, Dec};

/// What the exchange allows for one symbol, from `market/contracts` (v2) or
/// `market/instruments` (v3).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContractSpec {
    pub symbol: String,
    /// Quantity step (v2 `sizeMultiplier`, v3 `quantityMultiplier`), in base coin.
    pub lot_step: Dec,
    /// Smallest quantity (v2 `minTradeNum`, v3 `minOrderQty`).
    pub min_qty: Dec,
    /// Price tick (v2 `priceEndStep × 10^-pricePlace`, v3 `priceMultiplier`).
    pub tick: Dec,
    /// Decimals of a price (v2 `pricePlace`, v3 `pricePrecision`).
    pub price_places: u32,
    /// Decimals of a quantity (v2 `volumePlace`, v3 `quantityPrecision`).
    pub qty_places: u32,
    /// Smallest notional in USDT (v2 `minTradeUSDT`, v3 `minOrderAmount`).
    pub min_notional: Dec,
    pub max_leverage: u32,
    pub min_leverage: u32,
    pub maker_fee_rate: Dec,
    pub taker_fee_rate: Dec,
    /// Whether the exchange lets it trade now (v2 `symbolStatus == normal`, v3
    /// `status == online`).
    pub tradable: bool,
    /// The raw status string.
    pub status: String,
}

/// How a price is rounded to the tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceRounding {
    /// Toward −∞ (a buy never pays more than asked).
    Down,
    /// Toward +∞ (a sell never receives less than asked).
    Up,
}

impl PriceRounding {
    /// A limit order: buys round down, sells round up.
    pub fn for_limit(side: Side) -> PriceRounding {
        match side {
            Side::Buy => PriceRounding::Down,
            Side::Sell => PriceRounding::Up,
        }
    }
    /// A position stop-loss: moved toward the position's entry (tighter, never looser): a long's
    /// stop (below the market) rounds up, a short's (above) rounds down.
    pub fn for_stop_loss(pos: PositionSide) -> PriceRounding {
        match pos {
            PositionSide::Long => PriceRounding::Up,
            PositionSide::Short => PriceRounding::Down,
        }
    }
    /// A position take-profit: moved toward the market (reached no later): a long's rounds
    /// down, a short's rounds up.
    pub fn for_take_profit(pos: PositionSide) -> PriceRounding {
        match pos {
            PositionSide::Long => PriceRounding::Down,
            PositionSide::Short => PriceRounding::Up,
        }
    }
}

/// An order's quantity and price after rounding.
#[derive(Debug, Clone, PartialEq)]
pub struct Rounded {
    pub qty: Dec,
    pub price: Option<Dec>,
}

impl ContractSpec {
    fn invalid(&self, why: String) -> BrokerError {
        BrokerError::InvalidOrder {
            symbol: self.symbol.clone(),
            why,
        }
    }

    /// A quantity floored to the lot step (never more than asked).
    pub fn floor_qty(&self, qty: &Dec) -> Result<Dec, BrokerError> {
        if !qty.is_positive() {
            return Err(self.invalid(format!("quantity {qty} is not positive")));
        }
        let q = Dec::times(&self.lot_step, qty.floor_steps(&self.lot_step));
        if q.scale() > self.qty_places {
            return Err(self.invalid(format!(
                "lot step {} has more decimals than volumePlace {}: contract data inconsistent",
                self.lot_step, self.qty_places
            )));
        }
        Ok(q)
    }

    /// A price rounded to the tick in the given direction.
    pub fn round_price(&self, price: &Dec, how: PriceRounding) -> Result<Dec, BrokerError> {
        if !price.is_positive() {
            return Err(self.invalid(format!("price {price} is not positive")));
        }
        let n = match how {
            PriceRounding::Down => price.floor_steps(&self.tick),
            PriceRounding::Up => price.ceil_steps(&self.tick),
        };
        if n <= 0 {
            return Err(self.invalid(format!(
                "price {price} rounds to zero at tick {}",
                self.tick
            )));
        }
        Ok(Dec::times(&self.tick, n))
    }

    /// Rounds an order: quantity floored to the lot step; a limit price rounded per side
    /// ([`PriceRounding::for_limit`]); then refused when the quantity is below `min_qty` or the
    /// notional (quantity × limit price, or × `ref_price` for a market order) below
    /// `min_notional`. `reduce_only` orders skip the notional check (Bitget lets a close of any
    /// size through; the minimum quantity still applies).
    pub fn round_order(
        &self,
        side: Side,
        qty: &Dec,
        limit_price: Option<&Dec>,
        ref_price: &Dec,
        reduce_only: bool,
    ) -> Result<Rounded, BrokerError> {
        if !self.tradable {
            return Err(self.invalid(format!(
                "the symbol is not tradable now (status `{}`)",
                self.status
            )));
        }
        let q = self.floor_qty(qty)?;
        if q < self.min_qty {
            return Err(self.invalid(format!(
                "quantity {qty} floors to {q} at lot step {}, below the minimum size {}",
                self.lot_step, self.min_qty
            )));
        }
        let price = match limit_price {
            Some(p) => Some(self.round_price(p, PriceRounding::for_limit(side))?),
            None => None,
        };
        let notional_price = price.unwrap_or(*ref_price);
        let notional = q.mul(&notional_price);
        if !reduce_only && notional < self.min_notional {
            return Err(self.invalid(format!(
                "notional {q} × {notional_price} = {notional} USDT is below the minimum {} USDT",
                self.min_notional
            )));
        }
        Ok(Rounded { qty: q, price })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    pub(crate) fn btc() -> ContractSpec {
        ContractSpec {
            symbol: "BTCUSDT".into(),
            lot_step: d("0.001"),
            min_qty: d("0.001"),
            tick: d("0.1"),
            price_places: 1,
            qty_places: 3,
            min_notional: d("5"),
            max_leverage: 125,
            min_leverage: 1,
            maker_fee_rate: d("0.0002"),
            taker_fee_rate: d("0.0006"),
            tradable: true,
            status: "normal".into(),
        }
    }

    #[test]
    fn qty_floors_price_rounds_per_side() {
        let s = btc();
        let r = s
            .round_order(
                Side::Buy,
                &d("0.0129"),
                Some(&d("60000.19")),
                &d("60000"),
                false,
            )
            .unwrap();
        assert_eq!(r.qty.to_string(), "0.012");
        assert_eq!(r.price.unwrap().to_string(), "60000.1");
        let r = s
            .round_order(
                Side::Sell,
                &d("0.0129"),
                Some(&d("60000.11")),
                &d("60000"),
                false,
            )
            .unwrap();
        assert_eq!(r.price.unwrap().to_string(), "60000.2");
        // already on the tick: unchanged both ways
        let r = s
            .round_order(Side::Sell, &d("0.001"), Some(&d("60000.1")), &d("0"), false)
            .unwrap();
        assert_eq!(r.price.unwrap(), d("60000.1"));
    }

    #[test]
    fn minimums_refused_with_reason() {
        let s = btc();
        let e = s
            .round_order(Side::Buy, &d("0.0009"), None, &d("60000"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("below the minimum size 0.001"), "{e}");
        let e = s
            .round_order(Side::Buy, &d("0.001"), Some(&d("4000")), &d("4000"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("4 USDT is below the minimum 5 USDT"), "{e}");
        // a reduce-only close below the notional is let through
        assert!(
            s.round_order(Side::Sell, &d("0.001"), None, &d("4000"), true)
                .is_ok()
        );
        let mut off = btc();
        off.tradable = false;
        off.status = "maintain".into();
        assert!(
            off.round_order(Side::Buy, &d("1"), None, &d("1"), false)
                .unwrap_err()
                .to_string()
                .contains("maintain")
        );
    }

    #[test]
    fn stop_rounding_is_conservative() {
        let s = btc();
        assert_eq!(
            s.round_price(
                &d("59000.04"),
                PriceRounding::for_stop_loss(PositionSide::Long)
            )
            .unwrap(),
            d("59000.1")
        );
        assert_eq!(
            s.round_price(
                &d("61000.06"),
                PriceRounding::for_stop_loss(PositionSide::Short)
            )
            .unwrap(),
            d("61000")
        );
        assert_eq!(
            s.round_price(
                &d("63000.09"),
                PriceRounding::for_take_profit(PositionSide::Long)
            )
            .unwrap(),
            d("63000")
        );
    }
}
