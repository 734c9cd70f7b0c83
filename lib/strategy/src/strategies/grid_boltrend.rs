//! `grid_boltrend`: Bollinger breakout in the direction of a long SMA trend; the first slice
//! enters at market, further DCA levels rest at fixed steps from the breakout close; exit when
//! the close crosses back over the middle band. Rules in `docs/STRATEGIES.md`.

use super::common::{self, LevelBook, MARGIN_TOTAL, MAX_LEVELS, SIDES, float, int};
use crate::params::Params;
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::{Bands, Bollinger, Sma};
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "grid_boltrend",
    summary: "Bollinger breakout with the trend SMA: market entry + levels at anchor·(1 ∓ i·grid_step); exit on a close back over the middle band",
    needs: &[],
    params: &[
        int("bb_period", 20.0, 2.0, 500.0, "Bollinger period"),
        float(
            "bb_std",
            2.0,
            0.5,
            5.0,
            "band width in population standard deviations",
        ),
        int(
            "trend_period",
            100.0,
            2.0,
            2000.0,
            "SMA period of the trend filter",
        ),
        int(
            "levels",
            3.0,
            1.0,
            MAX_LEVELS,
            "slices: 1 at market + (levels − 1) resting levels",
        ),
        float(
            "grid_step",
            0.01,
            0.001,
            0.5,
            "distance between levels as a fraction of the breakout close",
        ),
        MARGIN_TOTAL,
        float(
            "sl_pct",
            0.1,
            0.01,
            0.99,
            "stop distance from the average entry (fraction)",
        ),
        SIDES,
    ],
    build: |p, tf| Box::new(GridBoltrend::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct GridBoltrend {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    warm: usize,
    bb: Bollinger,
    trend: Sma,
    prev: Option<(f64, Bands)>,
    levels: usize,
    step: f64,
    frac: f64,
    sl: f64,
    sides: Sides,
    /// Side and close of the breakout candle of the current campaign.
    anchor: Option<(Side, f64)>,
    book: LevelBook,
}

impl GridBoltrend {
    pub fn new(p: &Params, tf: Timeframe) -> GridBoltrend {
        let levels = p.usize("levels");
        GridBoltrend {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            warm: p.usize("bb_period").max(p.usize("trend_period")) + 1,
            bb: Bollinger::new(p.usize("bb_period"), p.get("bb_std")),
            trend: Sma::new(p.usize("trend_period")),
            prev: None,
            levels,
            step: p.get("grid_step"),
            frac: p.get("margin_total") / levels as f64,
            sl: p.get("sl_pct"),
            sides: common::sides(p),
            anchor: None,
            book: LevelBook::default(),
        }
    }

    fn place(&mut self, ctx: &Context<'_>, out: &mut Vec<Intent>, side: Side, anchor: f64) {
        let (k, step) = (side.sign(), self.step);
        self.book
            .place(ctx, out, side, 1..self.levels, self.frac, |i| {
                anchor * (1.0 - k * i as f64 * step)
            });
    }
}

impl Strategy for GridBoltrend {
    fn name(&self) -> &'static str {
        "grid_boltrend"
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
        let b = self.bb.update(c.close);
        let t = self.trend.update(c.close);
        let prev = std::mem::replace(&mut self.prev, b.map(|b| (c.close, b)));
        let (Some(b), Some(t), Some((pc, pb))) = (b, t, prev) else {
            return;
        };
        match ctx.position.side {
            Some(side) => {
                let back = match side {
                    Side::Long => c.close < b.mid,
                    Side::Short => c.close > b.mid,
                };
                if back {
                    out.push(Intent::ClosePosition {
                        reason: ExitReason::Signal,
                    });
                    self.book.cancel_all(out);
                    self.anchor = None;
                    return;
                }
                common::set_stop(
                    ctx,
                    out,
                    common::pct_stop(side, ctx.position.avg_entry, self.sl),
                );
                let anchor = match self.anchor {
                    Some((s, a)) if s == side => a,
                    // position without a known campaign (e.g. restored state): anchor at the
                    // average entry
                    _ => {
                        self.anchor = Some((side, ctx.position.avg_entry));
                        ctx.position.avg_entry
                    }
                };
                self.place(ctx, out, side, anchor);
            }
            None => {
                if self.anchor.take().is_some() {
                    // campaign over (stopped out, or the entry did not fill)
                    self.book.cancel_all(out);
                }
                let long =
                    self.sides.allows(Side::Long) && c.close > b.up && pc <= pb.up && c.close > t;
                let short = self.sides.allows(Side::Short)
                    && c.close < b.low
                    && pc >= pb.low
                    && c.close < t;
                let side = if long {
                    Side::Long
                } else if short {
                    Side::Short
                } else {
                    return;
                };
                out.push(Intent::MarketEntry {
                    side,
                    margin_frac: self.frac,
                });
                self.anchor = Some((side, c.close));
                self.place(ctx, out, side, c.close);
            }
        }
    }
}
