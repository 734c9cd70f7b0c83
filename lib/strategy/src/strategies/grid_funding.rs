//! `grid_funding`: envelope DCA grid on the side that *receives* funding: negative funding →
//! long levels below the SMA, positive → short levels above; close when funding turns against
//! the position. Rules in `docs/STRATEGIES.md`.

use super::common::{self, LevelBook, MARGIN_TOTAL, MAX_LEVELS, SIDES, float, int};
use crate::params::Params;
use crate::spec::{Input, StrategySpec};
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::Sma;
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "grid_funding",
    summary: "funding ≤ −threshold → long levels at SMA·(1 − env_start − i·env_step); ≥ threshold → short levels above; TP at the SMA",
    needs: &[Input::FundingHistory],
    params: &[
        float(
            "fr_threshold",
            0.0001,
            0.0,
            0.01,
            "|funding rate per 8 h| needed to open a grid on the receiving side",
        ),
        int(
            "ma_period",
            14.0,
            2.0,
            500.0,
            "SMA period (grid centre and take-profit)",
        ),
        int("levels", 3.0, 1.0, MAX_LEVELS, "number of grid levels"),
        float(
            "env_start",
            0.01,
            0.001,
            0.9,
            "distance of level 0 from the SMA (fraction)",
        ),
        float(
            "env_step",
            0.01,
            0.0,
            0.5,
            "extra distance per further level (fraction)",
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
    build: |p, tf| Box::new(GridFunding::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct GridFunding {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    ma_n: usize,
    sma: Sma,
    thr: f64,
    levels: usize,
    start: f64,
    step: f64,
    frac: f64,
    sl: f64,
    sides: Sides,
    book: LevelBook,
}

impl GridFunding {
    pub fn new(p: &Params, tf: Timeframe) -> GridFunding {
        let levels = p.usize("levels");
        GridFunding {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            ma_n: p.usize("ma_period"),
            sma: Sma::new(p.usize("ma_period")),
            thr: p.get("fr_threshold"),
            levels,
            start: p.get("env_start"),
            step: p.get("env_step"),
            frac: p.get("margin_total") / levels as f64,
            sl: p.get("sl_pct"),
            sides: common::sides(p),
            book: LevelBook::default(),
        }
    }
}

impl Strategy for GridFunding {
    fn name(&self) -> &'static str {
        "grid_funding"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![self.tf]
    }
    fn warmup(&self) -> usize {
        self.ma_n
    }
    fn history_needed(&self) -> usize {
        1
    }
    fn higher_history_needed(&self) -> usize {
        0
    }
    crate::persisted_state!();
    fn on_candle(&mut self, ctx: &Context<'_>, out: &mut Vec<Intent>) {
        let Some(m) = self.sma.update(ctx.last().close) else {
            return;
        };
        // the side that receives funding; ties (fr exactly ±thr) count, long first
        let want = match ctx.extras.funding_rate {
            Some(fr) if fr <= -self.thr => Some(Side::Long),
            Some(fr) if fr >= self.thr => Some(Side::Short),
            _ => None,
        };
        if let Some(side) = ctx.position.side {
            if want == Some(side.opposite()) {
                out.push(Intent::ClosePosition {
                    reason: ExitReason::Signal,
                });
                self.book.cancel_all(out);
                return;
            }
            if common::exit_at_target(ctx, out, side, m) {
                self.book.cancel_all(out);
                return;
            }
            common::set_stop(
                ctx,
                out,
                common::pct_stop(side, ctx.position.avg_entry, self.sl),
            );
        }
        // in a position keep completing its grid; flat: only on a funding signal
        let side = ctx.position.side.or(want);
        match side {
            Some(side) if self.sides.allows(side) => {
                self.book.cancel_side(out, side.opposite());
                let (k, start, step) = (side.sign(), self.start, self.step);
                self.book
                    .place(ctx, out, side, 0..self.levels, self.frac, |i| {
                        m * (1.0 - k * (start + i as f64 * step))
                    });
            }
            _ => self.book.cancel_all(out),
        }
    }
}
