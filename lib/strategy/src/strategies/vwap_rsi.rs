//! `vwap_rsi`: intraday mean-reversion scalp to the session VWAP (reset at 00:00 UTC),
//! triggered by an RSI extreme. Rules in `docs/STRATEGIES.md`.

use super::common::{self, MARGIN_FRAC, SIDES, float, int};
use crate::params::Params;
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::{Rsi, Vwap};
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "vwap_rsi",
    summary: "fade RSI extremes stretched away from the UTC-day VWAP, take profit at the VWAP",
    needs: &[],
    params: &[
        int("rsi_period", 14.0, 2.0, 100.0, "RSI period (Wilder)"),
        float("rsi_long", 30.0, 1.0, 50.0, "long when RSI is below this"),
        float(
            "rsi_short",
            70.0,
            50.0,
            99.0,
            "short when RSI is above this",
        ),
        float(
            "vwap_dev",
            0.003,
            0.0,
            0.1,
            "minimum distance of the close from the VWAP, as a fraction of the VWAP",
        ),
        float(
            "sl_pct",
            0.01,
            0.001,
            0.2,
            "stop distance from the average entry (fraction)",
        ),
        int(
            "max_hold",
            48.0,
            1.0,
            10000.0,
            "close at market after this many candles",
        ),
        MARGIN_FRAC,
        SIDES,
    ],
    build: |p, tf| Box::new(VwapRsi::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct VwapRsi {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    rsi_n: usize,
    rsi: Rsi,
    vwap: Vwap,
    rsi_long: f64,
    rsi_short: f64,
    dev: f64,
    sl: f64,
    max_hold: i64,
    margin: f64,
    sides: Sides,
}

impl VwapRsi {
    pub fn new(p: &Params, tf: Timeframe) -> VwapRsi {
        VwapRsi {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            rsi_n: p.usize("rsi_period"),
            rsi: Rsi::new(p.usize("rsi_period")),
            vwap: Vwap::utc_day(),
            rsi_long: p.get("rsi_long"),
            rsi_short: p.get("rsi_short"),
            dev: p.get("vwap_dev"),
            sl: p.get("sl_pct"),
            max_hold: p.get("max_hold") as i64,
            margin: p.get("margin_frac"),
            sides: common::sides(p),
        }
    }
}

impl Strategy for VwapRsi {
    fn name(&self) -> &'static str {
        "vwap_rsi"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![self.tf]
    }
    fn warmup(&self) -> usize {
        self.rsi_n + 1
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
        let r = self.rsi.update(c.close);
        let v = self.vwap.update(c);
        let (Some(r), Some(v)) = (r, v) else { return };
        match ctx.position.side {
            None => {
                if self.sides.allows(Side::Long)
                    && c.close <= v * (1.0 - self.dev)
                    && r < self.rsi_long
                {
                    out.push(Intent::MarketEntry {
                        side: Side::Long,
                        margin_frac: self.margin,
                    });
                } else if self.sides.allows(Side::Short)
                    && c.close >= v * (1.0 + self.dev)
                    && r > self.rsi_short
                {
                    out.push(Intent::MarketEntry {
                        side: Side::Short,
                        margin_frac: self.margin,
                    });
                }
            }
            Some(side) => {
                if common::bars_held(ctx, self.tf) >= self.max_hold {
                    out.push(Intent::ClosePosition {
                        reason: ExitReason::Signal,
                    });
                    return;
                }
                if common::exit_at_target(ctx, out, side, v) {
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
