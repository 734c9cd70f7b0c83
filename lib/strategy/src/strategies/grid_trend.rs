//! `grid_trend`: trend-following pullback grid: with EMA(fast) above EMA(slow), long levels
//! below EMA(fast) spaced in ATRs (short levels above in a downtrend); close on a trend flip.
//! Rules in `docs/STRATEGIES.md`.

use super::common::{self, LevelBook, MARGIN_TOTAL, MAX_LEVELS, SIDES, float, int};
use crate::params::Params;
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::{Atr, Ema};
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "grid_trend",
    summary: "EMA(fast)/EMA(slow) trend filter; pullback levels at EMA(fast) ∓ (i+1)·spacing·ATR; TP avg ± tp_atr·ATR; close on a trend flip",
    needs: &[],
    params: &[
        int(
            "ema_fast",
            20.0,
            2.0,
            500.0,
            "fast EMA period (grid anchor)",
        ),
        int(
            "ema_slow",
            50.0,
            3.0,
            1000.0,
            "slow EMA period (trend filter)",
        ),
        int("atr_period", 14.0, 1.0, 500.0, "ATR period (Wilder)"),
        int("levels", 3.0, 1.0, MAX_LEVELS, "number of grid levels"),
        float(
            "spacing",
            1.0,
            0.1,
            20.0,
            "distance between levels (and from EMA(fast) to level 0), in ATRs",
        ),
        float(
            "tp_atr",
            2.0,
            0.1,
            50.0,
            "take-profit distance from the average entry, in ATRs",
        ),
        float(
            "sl_pct",
            0.1,
            0.01,
            0.99,
            "stop distance from the average entry (fraction)",
        ),
        MARGIN_TOTAL,
        SIDES,
    ],
    build: |p, tf| Box::new(GridTrend::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct GridTrend {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    warm: usize,
    fast: Ema,
    slow: Ema,
    atr: Atr,
    levels: usize,
    spacing: f64,
    tp_atr: f64,
    sl: f64,
    frac: f64,
    sides: Sides,
    book: LevelBook,
}

impl GridTrend {
    pub fn new(p: &Params, tf: Timeframe) -> GridTrend {
        let levels = p.usize("levels");
        GridTrend {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            warm: p
                .usize("ema_fast")
                .max(p.usize("ema_slow"))
                .max(p.usize("atr_period") + 1),
            fast: Ema::new(p.usize("ema_fast")),
            slow: Ema::new(p.usize("ema_slow")),
            atr: Atr::new(p.usize("atr_period")),
            levels,
            spacing: p.get("spacing"),
            tp_atr: p.get("tp_atr"),
            sl: p.get("sl_pct"),
            frac: p.get("margin_total") / levels as f64,
            sides: common::sides(p),
            book: LevelBook::default(),
        }
    }
}

impl Strategy for GridTrend {
    fn name(&self) -> &'static str {
        "grid_trend"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![self.tf]
    }
    fn warmup(&self) -> usize {
        self.warm
    }
    fn history_needed(&self) -> usize {
        1
    }
    fn higher_history_needed(&self) -> usize {
        0
    }
    crate::persisted_state!();
    fn on_candle(&mut self, ctx: &Context<'_>, out: &mut Vec<Intent>) {
        let c = ctx.last();
        let f = self.fast.update(c.close);
        let s = self.slow.update(c.close);
        let a = self.atr.update(c);
        let (Some(f), Some(s), Some(a)) = (f, s, a) else {
            return;
        };
        // trend: strict comparison; equal EMAs mean no trend
        let trend = if f > s {
            Some(Side::Long)
        } else if f < s {
            Some(Side::Short)
        } else {
            None
        };
        let sp = self.spacing * a;
        if let Some(side) = ctx.position.side {
            if trend == Some(side.opposite()) {
                out.push(Intent::ClosePosition {
                    reason: ExitReason::Signal,
                });
                self.book.cancel_all(out);
                return;
            }
            let avg = ctx.position.avg_entry;
            if common::exit_at_target(ctx, out, side, avg + side.sign() * self.tp_atr * a) {
                self.book.cancel_all(out);
                return;
            }
            common::set_stop(ctx, out, common::pct_stop(side, avg, self.sl));
        }
        match trend {
            Some(side)
                if self.sides.allows(side) && ctx.position.side.is_none_or(|p| p == side) =>
            {
                self.book.cancel_side(out, side.opposite());
                let k = side.sign();
                self.book
                    .place(ctx, out, side, 0..self.levels, self.frac, |i| {
                        f - k * (i as f64 + 1.0) * sp
                    });
            }
            _ => self.book.cancel_all(out),
        }
    }
}
