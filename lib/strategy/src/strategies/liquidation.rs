//! `liquidation`: contrarian entry after a liquidation cascade: open interest drops sharply
//! while price flushes (longs liquidated → long; shorts squeezed → short) on a volume spike.
//! Rules in `docs/STRATEGIES.md`.

use super::common::{self, MARGIN_FRAC, SIDES, float, int};
use crate::params::Params;
use crate::spec::{Input, StrategySpec};
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Sides, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::Sma;
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "liquidation",
    summary: "open interest drop + price flush + volume spike → contrarian entry, fixed TP/SL, time stop",
    needs: &[Input::OpenInterest],
    params: &[
        int(
            "lookback",
            4.0,
            1.0,
            100.0,
            "candles over which OI and price changes are measured",
        ),
        float(
            "oi_drop",
            0.03,
            0.001,
            0.9,
            "minimum relative drop of open interest over the lookback",
        ),
        float(
            "flush_pct",
            0.03,
            0.001,
            0.9,
            "minimum relative price move over the lookback",
        ),
        int("vol_period", 20.0, 2.0, 500.0, "volume SMA period"),
        float(
            "vol_mult",
            2.0,
            0.0,
            50.0,
            "volume must be ≥ vol_mult × SMA(volume) (0 disables)",
        ),
        float(
            "tp_pct",
            0.02,
            0.001,
            1.0,
            "take-profit distance from the average entry (fraction)",
        ),
        float(
            "sl_pct",
            0.02,
            0.001,
            0.5,
            "stop distance from the average entry (fraction)",
        ),
        int(
            "max_hold",
            24.0,
            1.0,
            10000.0,
            "close at market after this many candles",
        ),
        MARGIN_FRAC,
        SIDES,
    ],
    build: |p, tf| Box::new(Liquidation::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct Liquidation {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    lookback: usize,
    /// Last `lookback + 1` (close, open interest) pairs; OI is NaN when unknown.
    ring: Box<[(f64, f64)]>,
    pos: usize,
    count: usize,
    vol: Sma,
    vol_n: usize,
    oi_drop: f64,
    flush: f64,
    vol_mult: f64,
    tp: f64,
    sl: f64,
    max_hold: i64,
    margin: f64,
    sides: Sides,
}

impl Liquidation {
    pub fn new(p: &Params, tf: Timeframe) -> Liquidation {
        let lb = p.usize("lookback");
        Liquidation {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            lookback: lb,
            ring: vec![(0.0, f64::NAN); lb + 1].into_boxed_slice(),
            pos: 0,
            count: 0,
            vol: Sma::new(p.usize("vol_period")),
            vol_n: p.usize("vol_period"),
            oi_drop: p.get("oi_drop"),
            flush: p.get("flush_pct"),
            vol_mult: p.get("vol_mult"),
            tp: p.get("tp_pct"),
            sl: p.get("sl_pct"),
            max_hold: p.get("max_hold") as i64,
            margin: p.get("margin_frac"),
            sides: common::sides(p),
        }
    }
}

impl Strategy for Liquidation {
    fn name(&self) -> &'static str {
        "liquidation"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![self.tf]
    }
    fn warmup(&self) -> usize {
        self.vol_n.max(self.lookback + 1)
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
        let oi = ctx.extras.open_interest.unwrap_or(f64::NAN);
        self.ring[self.pos] = (c.close, oi);
        self.pos = (self.pos + 1) % self.ring.len();
        self.count += 1;
        let vol_avg = self.vol.update(c.volume);
        // ring[pos] is now the oldest entry: `lookback` candles before this one
        let (old_close, old_oi) = self.ring[self.pos];
        let Some(vol_avg) = vol_avg else { return };
        if self.count <= self.lookback {
            return;
        }
        match ctx.position.side {
            None => {
                let oi_chg = oi / old_oi - 1.0; // NaN when either OI is unknown → no signal
                let px_chg = c.close / old_close - 1.0;
                let vol_ok = self.vol_mult == 0.0 || c.volume >= self.vol_mult * vol_avg;
                let dropped = oi_chg <= -self.oi_drop;
                if !dropped || !vol_ok {
                    return;
                }
                if self.sides.allows(Side::Long) && px_chg <= -self.flush {
                    out.push(Intent::MarketEntry {
                        side: Side::Long,
                        margin_frac: self.margin,
                    });
                } else if self.sides.allows(Side::Short) && px_chg >= self.flush {
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
                let avg = ctx.position.avg_entry;
                common::set_stop(ctx, out, common::pct_stop(side, avg, self.sl));
                common::set_take_profit(ctx, out, avg * (1.0 + side.sign() * self.tp));
            }
        }
    }
}
