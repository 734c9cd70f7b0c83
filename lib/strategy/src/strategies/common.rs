//! Helpers shared by the strategies: parameter constructors, sides, protective orders, grid
//! level placement, higher-timeframe cursors.

use crate::params::{ParamKind, ParamSpec, Params};
use crate::{Context, ExitReason, Intent, LevelId, Side, Sides};
use scalp_core::{Candle, Timeframe};
use serde::{Deserialize, Serialize};

pub const fn int(
    name: &'static str,
    default: f64,
    min: f64,
    max: f64,
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Int,
        default,
        min,
        max,
        choices: &[],
        doc,
    }
}

pub const fn float(
    name: &'static str,
    default: f64,
    min: f64,
    max: f64,
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Float,
        default,
        min,
        max,
        choices: &[],
        doc,
    }
}

pub const fn choice(
    name: &'static str,
    default: usize,
    choices: &'static [&'static str],
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Choice,
        default: default as f64,
        min: 0.0,
        max: (choices.len() - 1) as f64,
        choices,
        doc,
    }
}

/// The `sides` parameter (`long|short|both`, default both).
pub const SIDES: ParamSpec = choice(
    "sides",
    2,
    &["long", "short", "both"],
    "sides that may be traded",
);

/// Fraction of capital used as margin per market entry.
pub const MARGIN_FRAC: ParamSpec = float(
    "margin_frac",
    0.5,
    0.01,
    1.0,
    "fraction of capital used as margin per entry",
);

/// Total margin fraction of a grid, split equally over its levels.
pub const MARGIN_TOTAL: ParamSpec = float(
    "margin_total",
    0.9,
    0.01,
    1.0,
    "fraction of capital used as margin by all levels together (each level gets margin_total/levels)",
);

pub fn sides(p: &Params) -> Sides {
    match p.usize("sides") {
        0 => Sides::Long,
        1 => Sides::Short,
        _ => Sides::Both,
    }
}

/// Level id of grid level `i` on `side`: long levels `0..`, short levels `100..`.
#[inline]
pub fn level_id(side: Side, i: usize) -> LevelId {
    match side {
        Side::Long => i as LevelId,
        Side::Short => 100 + i as LevelId,
    }
}

/// Maximum number of levels of a grid (ids stay below 100 per side).
pub const MAX_LEVELS: f64 = 20.0;

/// Whole candles the position has been held: `(close time of this candle − opened_at)/tf`,
/// i.e. 1 on the close of the candle in which it was opened.
#[inline]
pub fn bars_held(ctx: &Context<'_>, tf: Timeframe) -> i64 {
    (ctx.last().open_time + tf.ms() - ctx.position.opened_at) / tf.ms()
}

/// Sets the stop to `price` unless the position already has exactly that stop.
#[inline]
pub fn set_stop(ctx: &Context<'_>, out: &mut Vec<Intent>, price: f64) {
    if price.is_finite() && price > 0.0 && ctx.position.stop != Some(price) {
        out.push(Intent::SetStop { price });
    }
}

/// Sets the take-profit to `price` unless the position already has exactly that one.
#[inline]
pub fn set_take_profit(ctx: &Context<'_>, out: &mut Vec<Intent>, price: f64) {
    if price.is_finite() && price > 0.0 && ctx.position.take_profit != Some(price) {
        out.push(Intent::SetTakeProfit { price });
    }
}

/// Exit at a target price: if the close is already at or beyond the target (a resting limit
/// there would be marketable), close at market; otherwise rest the take-profit at the target.
/// Returns true when it closed.
#[inline]
pub fn exit_at_target(ctx: &Context<'_>, out: &mut Vec<Intent>, side: Side, target: f64) -> bool {
    let c = ctx.last().close;
    let reached = match side {
        Side::Long => c >= target,
        Side::Short => c <= target,
    };
    if reached {
        out.push(Intent::ClosePosition {
            reason: ExitReason::TakeProfit,
        });
        true
    } else {
        set_take_profit(ctx, out, target);
        false
    }
}

/// Stop at `sl_pct` from the average entry, on the losing side.
#[inline]
pub fn pct_stop(side: Side, avg_entry: f64, sl_pct: f64) -> f64 {
    avg_entry * (1.0 - side.sign() * sl_pct)
}

/// Tracks which grid levels (by side) were placed so they can be cancelled, and places the
/// unfilled ones. Levels `i < position.entries` of the position's side count as filled.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LevelBook {
    placed_long: u64,
    placed_short: u64,
}

impl LevelBook {
    fn mask(&mut self, side: Side) -> &mut u64 {
        match side {
            Side::Long => &mut self.placed_long,
            Side::Short => &mut self.placed_short,
        }
    }

    /// Places (or re-prices) the unfilled levels of `range` of a grid on `side`, with price
    /// `price(i)`; skips a level whose price is not strictly on the passive side of the close
    /// (it would be marketable) or not positive. Levels already filled (`i < entries` when the
    /// position is on `side`) are not placed.
    pub fn place<F: Fn(usize) -> f64>(
        &mut self,
        ctx: &Context<'_>,
        out: &mut Vec<Intent>,
        side: Side,
        range: std::ops::Range<usize>,
        margin_frac: f64,
        price: F,
    ) {
        let close = ctx.last().close;
        let filled = if ctx.position.side == Some(side) {
            ctx.position.entries as usize
        } else {
            0
        };
        for i in range.start.max(filled)..range.end {
            let p = price(i);
            let passive = match side {
                Side::Long => p < close,
                Side::Short => p > close,
            };
            if !(p > 0.0 && p.is_finite() && passive) {
                continue;
            }
            *self.mask(side) |= 1 << i;
            out.push(Intent::PlaceLevel {
                id: level_id(side, i),
                side,
                price: p,
                margin_frac,
            });
        }
    }

    /// Cancels every level placed on `side` since the last cancel.
    pub fn cancel_side(&mut self, out: &mut Vec<Intent>, side: Side) {
        let mut m = std::mem::take(self.mask(side));
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            out.push(Intent::CancelLevel {
                id: level_id(side, i),
            });
        }
    }

    pub fn cancel_all(&mut self, out: &mut Vec<Intent>) {
        self.cancel_side(out, Side::Long);
        self.cancel_side(out, Side::Short);
    }

    pub fn any_placed(&self) -> bool {
        self.placed_long != 0 || self.placed_short != 0
    }
}

/// Follows a higher timeframe's closed candles across calls: returns the candles that closed
/// since the previous call (normally zero or one), oldest first, at most `max` of them (the
/// most recent). The cap makes the result independent of how much older history the slice
/// holds: on the first call (nothing seen yet) it takes the last `max` candles, not all of
/// them, so a strategy fed a slice cut to its last `max` candles (bounded history) sees
/// exactly what it sees with the full history. It depends on open times only, never on
/// indices or lengths.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HtfCursor {
    last_open: Option<i64>,
}

impl HtfCursor {
    pub fn new_closed<'a>(&mut self, candles: &'a [Candle], max: usize) -> &'a [Candle] {
        // scan back from the end: usually only the last candle is new
        let mut k = candles.len();
        let floor = candles.len().saturating_sub(max);
        while k > floor && self.last_open.is_none_or(|t| candles[k - 1].open_time > t) {
            k -= 1;
        }
        if let Some(c) = candles.last() {
            self.last_open = Some(c.open_time);
        }
        &candles[k..]
    }
}

/// The closed candles of timeframe `tf` in the context, if the engine supplied them.
pub fn higher<'a>(ctx: &Context<'a>, tf: Timeframe) -> Option<&'a [Candle]> {
    ctx.higher.iter().find(|(t, _)| *t == tf).map(|(_, c)| *c)
}
