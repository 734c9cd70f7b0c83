//! `funding`: funding-rate contrarian. Extreme positive funding (crowded longs paying) →
//! short when price is already below its EMA; extreme negative → long above the EMA. Exit when
//! funding normalises, on TP/SL, or after `max_hold`. Rules in `docs/STRATEGIES.md`.

use super::common::{self, MARGIN_FRAC, SIDES, float, int};
use crate::params::Params;
use crate::spec::{Input, StrategySpec};
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::Ema;
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "funding",
    summary: "contrarian on extreme funding rates, confirmed by price vs EMA; exit when funding normalises",
    needs: &[Input::FundingHistory],
    params: &[
        float(
            "fr_entry",
            0.0005,
            0.00001,
            0.01,
            "|funding rate per 8 h| at or beyond which to enter against the crowd",
        ),
        float(
            "fr_exit",
            0.0001,
            0.0,
            0.01,
            "close when funding is back inside ±fr_exit (on the crowd's side)",
        ),
        int(
            "ema_period",
            50.0,
            2.0,
            1000.0,
            "EMA period of the price confirmation",
        ),
        float(
            "sl_pct",
            0.03,
            0.001,
            0.5,
            "stop distance from the average entry (fraction)",
        ),
        float(
            "tp_pct",
            0.04,
            0.001,
            1.0,
            "take-profit distance from the average entry (fraction)",
        ),
        int(
            "max_hold",
            72.0,
            1.0,
            10000.0,
            "close at market after this many candles",
        ),
        MARGIN_FRAC,
        SIDES,
    ],
    build: |p, tf| Box::new(Funding::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct Funding {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    ema_n: usize,
    ema: Ema,
    fr_entry: f64,
    fr_exit: f64,
    sl: f64,
    tp: f64,
    max_hold: i64,
    margin: f64,
    sides: Sides,
}

impl Funding {
    pub fn new(p: &Params, tf: Timeframe) -> Funding {
        Funding {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            ema_n: p.usize("ema_period"),
            ema: Ema::new(p.usize("ema_period")),
            fr_entry: p.get("fr_entry"),
            fr_exit: p.get("fr_exit"),
            sl: p.get("sl_pct"),
            tp: p.get("tp_pct"),
            max_hold: p.get("max_hold") as i64,
            margin: p.get("margin_frac"),
            sides: common::sides(p),
        }
    }
}

impl Strategy for Funding {
    fn name(&self) -> &'static str {
        "funding"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![self.tf]
    }
    fn warmup(&self) -> usize {
        self.ema_n
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
        let Some(e) = self.ema.update(c.close) else {
            return;
        };
        let fr = ctx.extras.funding_rate;
        match ctx.position.side {
            None => {
                let Some(fr) = fr else { return };
                if self.sides.allows(Side::Short) && fr >= self.fr_entry && c.close < e {
                    out.push(Intent::MarketEntry {
                        side: Side::Short,
                        margin_frac: self.margin,
                    });
                } else if self.sides.allows(Side::Long) && fr <= -self.fr_entry && c.close > e {
                    out.push(Intent::MarketEntry {
                        side: Side::Long,
                        margin_frac: self.margin,
                    });
                }
            }
            Some(side) => {
                let normalised = match (side, fr) {
                    (Side::Short, Some(fr)) => fr <= self.fr_exit,
                    (Side::Long, Some(fr)) => fr >= -self.fr_exit,
                    (_, None) => false,
                };
                if normalised || common::bars_held(ctx, self.tf) >= self.max_hold {
                    out.push(Intent::ClosePosition {
                        reason: ExitReason::Signal,
                    });
                    return;
                }
                let avg = ctx.position.avg_entry;
                common::set_stop(ctx, out, common::pct_stop(side, avg, self.sl));
                common::set_take_profit(ctx, out, avg * (1.0 + side.sign() * self.tp));
            }
        }
    }
}
