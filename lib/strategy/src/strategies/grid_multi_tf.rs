//! `grid_multi_tf`: ATR grid around the SMA of the primary timeframe, direction given by a
//! Supertrend on a higher timeframe; close when the higher-timeframe trend turns against the
//! position. Rules in `docs/STRATEGIES.md`.

use super::common::{
    self, HtfCursor, LevelBook, MARGIN_TOTAL, MAX_LEVELS, SIDES, choice, float, int,
};
use crate::params::Params;
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::{Atr, Sma, Supertrend};
use serde::{Deserialize, Serialize};

pub const HTF_CHOICES: &[&str] = &["2h", "4h", "6h", "12h", "1d"];

pub const SPEC: StrategySpec = StrategySpec {
    name: "grid_multi_tf",
    summary: "higher-timeframe Supertrend picks the side; grid at SMA ∓ (atr_start + i·atr_step)·ATR on the primary timeframe; TP at the SMA",
    needs: &[],
    params: &[
        choice(
            "htf",
            1,
            HTF_CHOICES,
            "higher timeframe of the Supertrend filter (must be above the primary timeframe)",
        ),
        int(
            "st_period",
            10.0,
            1.0,
            200.0,
            "Supertrend ATR period (on the higher timeframe)",
        ),
        float("st_mult", 3.0, 0.5, 20.0, "Supertrend ATR multiplier"),
        int(
            "ma_period",
            14.0,
            2.0,
            500.0,
            "SMA period (grid centre and take-profit), primary timeframe",
        ),
        int(
            "atr_period",
            14.0,
            1.0,
            500.0,
            "ATR period, primary timeframe",
        ),
        int("levels", 3.0, 1.0, MAX_LEVELS, "number of grid levels"),
        float(
            "atr_start",
            1.0,
            0.1,
            20.0,
            "distance of level 0 from the SMA, in ATRs",
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
            0.15,
            0.01,
            0.99,
            "stop distance from the average entry (fraction)",
        ),
        SIDES,
    ],
    build: |p, tf| Box::new(GridMultiTf::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct GridMultiTf {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    htf: Timeframe,
    warm: usize,
    st: Supertrend,
    cursor: HtfCursor,
    /// Higher candles the Supertrend is fed at most per call (its warm-up, `st_period + 1`).
    higher_n: usize,
    dir: Option<Side>,
    sma: Sma,
    atr: Atr,
    levels: usize,
    start: f64,
    step: f64,
    frac: f64,
    sl: f64,
    sides: Sides,
    book: LevelBook,
}

impl GridMultiTf {
    pub fn new(p: &Params, tf: Timeframe) -> GridMultiTf {
        let levels = p.usize("levels");
        let htf: Timeframe = HTF_CHOICES[p.usize("htf")]
            .parse()
            .expect("declared timeframe");
        GridMultiTf {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            htf,
            // primary candles covering the Supertrend's warm-up on the higher timeframe too
            warm: p
                .usize("ma_period")
                .max(p.usize("atr_period") + 1)
                .max((p.usize("st_period") + 1) * (htf.ms() / tf.ms()).max(1) as usize),
            st: Supertrend::new(p.usize("st_period"), p.get("st_mult")),
            cursor: HtfCursor::default(),
            higher_n: p.usize("st_period") + 1,
            dir: None,
            sma: Sma::new(p.usize("ma_period")),
            atr: Atr::new(p.usize("atr_period")),
            levels,
            start: p.get("atr_start"),
            step: p.get("atr_step"),
            frac: p.get("margin_total") / levels as f64,
            sl: p.get("sl_pct"),
            sides: common::sides(p),
            book: LevelBook::default(),
        }
    }
}

impl Strategy for GridMultiTf {
    fn name(&self) -> &'static str {
        "grid_multi_tf"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![self.tf, self.htf]
    }
    fn warmup(&self) -> usize {
        self.warm
    }
    fn history_needed(&self) -> usize {
        1
    }
    fn higher_history_needed(&self) -> usize {
        self.higher_n
    }
    crate::persisted_state!();
    fn on_candle(&mut self, ctx: &Context<'_>, out: &mut Vec<Intent>) {
        if let Some(h) = common::higher(ctx, self.htf) {
            for hc in self.cursor.new_closed(h, self.higher_n) {
                if let Some(v) = self.st.update(hc) {
                    self.dir = Some(if v.dir > 0 { Side::Long } else { Side::Short });
                }
            }
        }
        let c = ctx.last();
        let m = self.sma.update(c.close);
        let a = self.atr.update(c);
        let (Some(m), Some(a)) = (m, a) else { return };
        if let Some(side) = ctx.position.side {
            if self.dir == Some(side.opposite()) {
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
        match self.dir {
            Some(side) if self.sides.allows(side) => {
                self.book.cancel_side(out, side.opposite());
                let (k, start, step) = (side.sign(), self.start, self.step);
                self.book
                    .place(ctx, out, side, 0..self.levels, self.frac, |i| {
                        m - k * (start + i as f64 * step) * a
                    });
            }
            _ => self.book.cancel_all(out),
        }
    }
}
