//! `bollinger_mr`: Bollinger-band mean reversion: enter on a close outside a band, take profit
//! at the middle (or the opposite) band, fixed stop. Rules in `docs/STRATEGIES.md`.

use super::common::{self, MARGIN_FRAC, SIDES, choice, float, int};
use crate::params::Params;
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::Bollinger;
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "bollinger_mr",
    summary: "close outside a Bollinger band → fade it; take profit at the middle (or opposite) band",
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
        choice(
            "exit",
            0,
            &["mid", "opposite"],
            "take-profit target: the middle band or the opposite band",
        ),
        float(
            "sl_pct",
            0.03,
            0.001,
            0.5,
            "stop distance from the average entry (fraction)",
        ),
        MARGIN_FRAC,
        SIDES,
    ],
    build: |p, tf| Box::new(BollingerMr::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct BollingerMr {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    n: usize,
    bb: Bollinger,
    to_opposite: bool,
    sl: f64,
    margin: f64,
    sides: Sides,
}

impl BollingerMr {
    pub fn new(p: &Params, tf: Timeframe) -> BollingerMr {
        BollingerMr {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            n: p.usize("bb_period"),
            bb: Bollinger::new(p.usize("bb_period"), p.get("bb_std")),
            to_opposite: p.usize("exit") == 1,
            sl: p.get("sl_pct"),
            margin: p.get("margin_frac"),
            sides: common::sides(p),
        }
    }
}

impl Strategy for BollingerMr {
    fn name(&self) -> &'static str {
        "bollinger_mr"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![self.tf]
    }
    fn warmup(&self) -> usize {
        self.n
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
        let Some(b) = self.bb.update(c.close) else {
            return;
        };
        match ctx.position.side {
            None => {
                if self.sides.allows(Side::Long) && c.close < b.low {
                    out.push(Intent::MarketEntry {
                        side: Side::Long,
                        margin_frac: self.margin,
                    });
                } else if self.sides.allows(Side::Short) && c.close > b.up {
                    out.push(Intent::MarketEntry {
                        side: Side::Short,
                        margin_frac: self.margin,
                    });
                }
            }
            Some(side) => {
                let target = match (side, self.to_opposite) {
                    (_, false) => b.mid,
                    (Side::Long, true) => b.up,
                    (Side::Short, true) => b.low,
                };
                if common::exit_at_target(ctx, out, side, target) {
                    return;
                }
                common::set_stop(
                    ctx,
                    out,
                    common::pct_stop(side, ctx.position.avg_entry, self.sl),
                );
            }
        }
    }
}
