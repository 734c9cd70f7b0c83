//! `momentum`: Donchian breakout confirmed by ADX/DI, ATR trailing stop (chandelier) and an
//! exit on the opposite breakout of a shorter channel. Rules in `docs/STRATEGIES.md`.

use super::common::{self, MARGIN_FRAC, SIDES, float, int};
use crate::params::Params;
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::{Adx, Atr, Channel, Donchian};
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "momentum",
    summary: "Donchian breakout with ADX/DI confirmation, ATR trailing stop, exit on the opposite exit-channel break",
    needs: &[],
    params: &[
        int(
            "channel",
            20.0,
            2.0,
            500.0,
            "entry channel length (bars before the current one)",
        ),
        int("exit_channel", 10.0, 2.0, 500.0, "exit channel length"),
        int("adx_period", 14.0, 2.0, 100.0, "ADX/DI period"),
        float("adx_min", 20.0, 0.0, 100.0, "minimum ADX to enter"),
        int(
            "atr_period",
            14.0,
            1.0,
            200.0,
            "ATR period of the trailing stop",
        ),
        float(
            "atr_stop",
            3.0,
            0.1,
            20.0,
            "trailing stop distance in ATRs from the close",
        ),
        MARGIN_FRAC,
        SIDES,
    ],
    build: |p, tf| Box::new(Momentum::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct Momentum {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    warm: usize,
    entry: Donchian,
    exit: Donchian,
    adx: Adx,
    atr: Atr,
    prev_entry: Option<Channel>,
    prev_exit: Option<Channel>,
    /// Trailing stop of the current position (own state, so it never loosens even if the
    /// engine does not report `position.stop`); reset when flat.
    trail: Option<f64>,
    adx_min: f64,
    k: f64,
    margin: f64,
    sides: Sides,
}

impl Momentum {
    pub fn new(p: &Params, tf: Timeframe) -> Momentum {
        let (ch, ex, an, tn) = (
            p.usize("channel"),
            p.usize("exit_channel"),
            p.usize("adx_period"),
            p.usize("atr_period"),
        );
        Momentum {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            warm: ch.max(ex).max(2 * an).max(tn + 1),
            entry: Donchian::new(ch),
            exit: Donchian::new(ex),
            adx: Adx::new(an),
            atr: Atr::new(tn),
            prev_entry: None,
            prev_exit: None,
            trail: None,
            adx_min: p.get("adx_min"),
            k: p.get("atr_stop"),
            margin: p.get("margin_frac"),
            sides: common::sides(p),
        }
    }
}

impl Strategy for Momentum {
    fn name(&self) -> &'static str {
        "momentum"
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
        // channels of the bars *before* this one
        let (pe, px) = (self.prev_entry, self.prev_exit);
        self.prev_entry = self.entry.update(c);
        self.prev_exit = self.exit.update(c);
        let dmi = self.adx.update(c);
        let atr = self.atr.update(c);
        let (Some(pe), Some(px), Some(dmi), Some(atr)) = (pe, px, dmi, atr) else {
            return;
        };
        let Some(adx) = dmi.adx else { return };
        if ctx.position.is_flat() {
            self.trail = None;
        }
        match ctx.position.side {
            None => {
                if adx < self.adx_min {
                    return;
                }
                if self.sides.allows(Side::Long) && c.close > pe.up && dmi.plus_di > dmi.minus_di {
                    out.push(Intent::MarketEntry {
                        side: Side::Long,
                        margin_frac: self.margin,
                    });
                } else if self.sides.allows(Side::Short)
                    && c.close < pe.low
                    && dmi.minus_di > dmi.plus_di
                {
                    out.push(Intent::MarketEntry {
                        side: Side::Short,
                        margin_frac: self.margin,
                    });
                }
            }
            Some(Side::Long) => {
                if c.close < px.low {
                    out.push(Intent::ClosePosition {
                        reason: ExitReason::Signal,
                    });
                    return;
                }
                let t = c.close - self.k * atr;
                let stop = self.trail.map_or(t, |s| s.max(t));
                self.trail = Some(stop);
                common::set_stop(ctx, out, stop);
            }
            Some(Side::Short) => {
                if c.close > px.up {
                    out.push(Intent::ClosePosition {
                        reason: ExitReason::Signal,
                    });
                    return;
                }
                let t = c.close + self.k * atr;
                let stop = self.trail.map_or(t, |s| s.min(t));
                self.trail = Some(stop);
                common::set_stop(ctx, out, stop);
            }
        }
    }
}
