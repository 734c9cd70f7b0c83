//! `envelope_dca` / `envelope_dca_short`: DCA levels on envelopes around an SMA, exit at the
//! SMA. Rules in `docs/STRATEGIES.md`.

use super::common::{self, LevelBook, MARGIN_TOTAL, MAX_LEVELS, float, int};
use crate::params::{ParamSpec, Params};
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, Intent, Side, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::Sma;
use serde::{Deserialize, Serialize};

const PARAMS: &[ParamSpec] = &[
    int(
        "ma_period",
        7.0,
        2.0,
        500.0,
        "SMA period of the envelope centre",
    ),
    int("levels", 3.0, 1.0, MAX_LEVELS, "number of envelope levels"),
    float(
        "env_start",
        0.05,
        0.001,
        0.9,
        "distance of level 0 from the SMA (fraction)",
    ),
    float(
        "env_step",
        0.03,
        0.0,
        0.5,
        "extra distance per further level (fraction)",
    ),
    MARGIN_TOTAL,
    float(
        "sl_pct",
        0.25,
        0.01,
        0.99,
        "stop distance from the average entry (fraction)",
    ),
];

pub const SPEC: StrategySpec = StrategySpec {
    name: "envelope_dca",
    summary: "long DCA levels at SMA·(1 − env_start − i·env_step), take profit at the SMA",
    needs: &[],
    params: PARAMS,
    build: |p, tf| Box::new(EnvelopeDca::new(p, tf, Side::Long)),
};

pub const SPEC_SHORT: StrategySpec = StrategySpec {
    name: "envelope_dca_short",
    summary: "short DCA levels at SMA·(1 + env_start + i·env_step), take profit at the SMA",
    needs: &[],
    params: PARAMS,
    build: |p, tf| Box::new(EnvelopeDca::new(p, tf, Side::Short)),
};

#[derive(Serialize, Deserialize)]
pub struct EnvelopeDca {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    side: Side,
    ma_n: usize,
    sma: Sma,
    levels: usize,
    start: f64,
    step: f64,
    frac: f64,
    sl: f64,
    book: LevelBook,
}

impl EnvelopeDca {
    pub fn new(p: &Params, tf: Timeframe, side: Side) -> EnvelopeDca {
        let levels = p.usize("levels");
        EnvelopeDca {
            fp: Fingerprint::of(
                match side {
                    Side::Long => SPEC.name,
                    Side::Short => SPEC_SHORT.name,
                },
                p,
                tf,
            ),
            tf,
            side,
            ma_n: p.usize("ma_period"),
            sma: Sma::new(p.usize("ma_period")),
            levels,
            start: p.get("env_start"),
            step: p.get("env_step"),
            frac: p.get("margin_total") / levels as f64,
            sl: p.get("sl_pct"),
            book: LevelBook::default(),
        }
    }

    /// Price of level `i` for an SMA value.
    pub fn level_price(side: Side, sma: f64, start: f64, step: f64, i: usize) -> f64 {
        sma * (1.0 - side.sign() * (start + i as f64 * step))
    }
}

impl Strategy for EnvelopeDca {
    fn name(&self) -> &'static str {
        match self.side {
            Side::Long => "envelope_dca",
            Side::Short => "envelope_dca_short",
        }
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
        let side = self.side;
        if ctx.position.side == Some(side) {
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
        let (start, step) = (self.start, self.step);
        self.book
            .place(ctx, out, side, 0..self.levels, self.frac, |i| {
                Self::level_price(side, m, start, step, i)
            });
    }
}
