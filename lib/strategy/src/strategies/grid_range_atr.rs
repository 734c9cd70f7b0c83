//! `grid_range_atr`: symmetric ATR grid around the SMA for ranging markets (ADX filter), with
//! three take-profit modes and `sides long|short|both`. Rules in `docs/STRATEGIES.md`.

use super::common::{self, LevelBook, MARGIN_TOTAL, MAX_LEVELS, SIDES, choice, float, int};
use crate::params::Params;
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::{Adx, Atr, Sma};
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "grid_range_atr",
    summary: "long levels at SMA − (i+1)·spacing·ATR and short levels at SMA + (i+1)·spacing·ATR while ADX ≤ adx_max",
    needs: &[],
    params: &[
        int("ma_period", 20.0, 2.0, 500.0, "SMA period (grid centre)"),
        int("atr_period", 14.0, 1.0, 500.0, "ATR period (Wilder)"),
        int("levels", 4.0, 1.0, MAX_LEVELS, "levels per side"),
        float(
            "spacing",
            1.0,
            0.1,
            20.0,
            "distance between levels (and from the SMA to level 0), in ATRs",
        ),
        choice(
            "tp_mode",
            0,
            &["sma", "step", "pct"],
            "take-profit: at the SMA; one spacing from the average entry; tp_pct from the average entry",
        ),
        float(
            "tp_pct",
            0.01,
            0.001,
            0.5,
            "take-profit distance for tp_mode = pct (fraction)",
        ),
        float(
            "sl_pct",
            0.1,
            0.01,
            0.99,
            "stop distance from the average entry (fraction)",
        ),
        int(
            "adx_period",
            14.0,
            2.0,
            100.0,
            "ADX period of the range filter",
        ),
        float(
            "adx_max",
            30.0,
            0.0,
            100.0,
            "new grids only while ADX ≤ adx_max (100 disables the filter)",
        ),
        MARGIN_TOTAL,
        SIDES,
    ],
    build: |p, tf| Box::new(GridRangeAtr::new(p, tf)),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum TpMode {
    Sma,
    Step,
    Pct,
}

#[derive(Serialize, Deserialize)]
pub struct GridRangeAtr {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    warm: usize,
    sma: Sma,
    atr: Atr,
    adx: Adx,
    levels: usize,
    spacing: f64,
    tp_mode: TpMode,
    tp_pct: f64,
    sl: f64,
    adx_max: f64,
    frac: f64,
    sides: Sides,
    book: LevelBook,
}

impl GridRangeAtr {
    pub fn new(p: &Params, tf: Timeframe) -> GridRangeAtr {
        let levels = p.usize("levels");
        GridRangeAtr {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            warm: p
                .usize("ma_period")
                .max(p.usize("atr_period") + 1)
                .max(2 * p.usize("adx_period")),
            sma: Sma::new(p.usize("ma_period")),
            atr: Atr::new(p.usize("atr_period")),
            adx: Adx::new(p.usize("adx_period")),
            levels,
            spacing: p.get("spacing"),
            tp_mode: match p.usize("tp_mode") {
                0 => TpMode::Sma,
                1 => TpMode::Step,
                _ => TpMode::Pct,
            },
            tp_pct: p.get("tp_pct"),
            sl: p.get("sl_pct"),
            adx_max: p.get("adx_max"),
            frac: p.get("margin_total") / levels as f64,
            sides: common::sides(p),
            book: LevelBook::default(),
        }
    }
}

impl Strategy for GridRangeAtr {
    fn name(&self) -> &'static str {
        "grid_range_atr"
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
        let d = self.adx.update(c);
        let (Some(m), Some(a), Some(adx)) = (m, a, d.and_then(|d| d.adx)) else {
            return;
        };
        let sp = self.spacing * a;
        let frac = self.frac;
        match ctx.position.side {
            Some(side) => {
                let avg = ctx.position.avg_entry;
                let target = match self.tp_mode {
                    TpMode::Sma => m,
                    TpMode::Step => avg + side.sign() * sp,
                    TpMode::Pct => avg * (1.0 + side.sign() * self.tp_pct),
                };
                if common::exit_at_target(ctx, out, side, target) {
                    self.book.cancel_all(out);
                    return;
                }
                common::set_stop(ctx, out, common::pct_stop(side, avg, self.sl));
                self.book.cancel_side(out, side.opposite());
                let s = side.sign();
                self.book.place(ctx, out, side, 0..self.levels, frac, |i| {
                    m - s * (i as f64 + 1.0) * sp
                });
            }
            None => {
                if adx > self.adx_max {
                    self.book.cancel_all(out);
                    return;
                }
                for side in [Side::Long, Side::Short] {
                    if self.sides.allows(side) {
                        let s = side.sign();
                        self.book.place(ctx, out, side, 0..self.levels, frac, |i| {
                            m - s * (i as f64 + 1.0) * sp
                        });
                    }
                }
            }
        }
    }
}
