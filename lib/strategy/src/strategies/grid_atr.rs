//! `grid_atr`: long grid below the SMA spaced in ATRs, take profit at the SMA.
//! Rules in `docs/STRATEGIES.md`.

use super::common::{self, LevelBook, MARGIN_TOTAL, MAX_LEVELS, float, int};
use crate::params::Params;
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, Intent, Side, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::{Atr, Sma};
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "grid_atr",
    summary: "long levels at SMA − (atr_start + i·atr_step)·ATR, take profit at the SMA",
    needs: &[],
    params: &[
        int(
            "ma_period",
            14.0,
            2.0,
            500.0,
            "SMA period (grid centre and take-profit)",
        ),
        int("atr_period", 14.0, 1.0, 500.0, "ATR period (Wilder)"),
        int("levels", 3.0, 1.0, MAX_LEVELS, "number of grid levels"),
        float(
            "atr_start",
            2.0,
            0.1,
            20.0,
            "distance of level 0 below the SMA, in ATRs",
        ),
        float(
            "atr_step",
            1.0,
            0.0,
            20.0,
            "extra distance per further level, in ATRs",
        ),
        MARGIN_TOTAL,
        float(
            "sl_pct",
            0.2,
            0.01,
            0.99,
            "stop distance below the average entry (fraction)",
        ),
    ],
    build: |p, tf| Box::new(GridAtr::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct GridAtr {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    warm: usize,
    sma: Sma,
    atr: Atr,
    levels: usize,
    start: f64,
    step: f64,
    frac: f64,
    sl: f64,
    book: LevelBook,
}

impl GridAtr {
    pub fn new(p: &Params, tf: Timeframe) -> GridAtr {
        let levels = p.usize("levels");
        GridAtr {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            warm: p.usize("ma_period").max(p.usize("atr_period") + 1),
            sma: Sma::new(p.usize("ma_period")),
            atr: Atr::new(p.usize("atr_period")),
            levels,
            start: p.get("atr_start"),
            step: p.get("atr_step"),
            frac: p.get("margin_total") / levels as f64,
            sl: p.get("sl_pct"),
            book: LevelBook::default(),
        }
    }
}

impl Strategy for GridAtr {
    fn name(&self) -> &'static str {
        "grid_atr"
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
        let m = self.sma.update(c.close);
        let a = self.atr.update(c);
        let (Some(m), Some(a)) = (m, a) else { return };
        if ctx.position.side == Some(Side::Long) {
            if common::exit_at_target(ctx, out, Side::Long, m) {
                self.book.cancel_all(out);
                return;
            }
            common::set_stop(
                ctx,
                out,
                common::pct_stop(Side::Long, ctx.position.avg_entry, self.sl),
            );
        }
        let (start, step) = (self.start, self.step);
        self.book
            .place(ctx, out, Side::Long, 0..self.levels, self.frac, |i| {
                m - (start + i as f64 * step) * a
            });
    }
}
