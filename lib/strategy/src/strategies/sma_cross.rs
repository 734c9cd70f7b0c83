//! `sma_cross`: the plain reference strategy (long-only by default).
//! Enter long at market when SMA(fast) crosses above SMA(slow); exit at market when it crosses
//! below. Tie rule: a cross needs a strict change of sign of (fast − slow) between the
//! previous and the current closed candle; equality (0) keeps the previous sign.

use crate::params::{ParamKind, ParamSpec, Params};
use crate::spec::StrategySpec;
use crate::state::Fingerprint;
use crate::{Context, ExitReason, Intent, Side, Strategy};
use scalp_core::Timeframe;
use scalp_indicators::Sma;
use serde::{Deserialize, Serialize};

pub const SPEC: StrategySpec = StrategySpec {
    name: "sma_cross",
    summary: "SMA(fast)/SMA(slow) crossover, long-only reference strategy",
    needs: &[],
    params: &[
        ParamSpec {
            name: "fast",
            kind: ParamKind::Int,
            default: 10.0,
            min: 1.0,
            max: 1000.0,
            choices: &[],
            doc: "fast SMA period",
        },
        ParamSpec {
            name: "slow",
            kind: ParamKind::Int,
            default: 30.0,
            min: 2.0,
            max: 5000.0,
            choices: &[],
            doc: "slow SMA period",
        },
        ParamSpec {
            name: "margin_frac",
            kind: ParamKind::Float,
            default: 1.0,
            min: 0.0,
            max: 1.0,
            choices: &[],
            doc: "fraction of capital used as margin per entry",
        },
    ],
    build: |p, tf| Box::new(SmaCross::new(p, tf)),
};

#[derive(Serialize, Deserialize)]
pub struct SmaCross {
    /// Name, timeframe and params this instance was built with (checked by `load_state`).
    fp: Fingerprint,
    tf: Timeframe,
    slow_n: usize,
    fast: Sma,
    slow: Sma,
    margin_frac: f64,
    /// Sign of (fast − slow) at the last candle where it was non-zero.
    last_sign: i8,
}

impl SmaCross {
    pub fn new(p: &Params, tf: Timeframe) -> SmaCross {
        SmaCross {
            fp: Fingerprint::of(SPEC.name, p, tf),
            tf,
            slow_n: p.usize("slow"),
            fast: Sma::new(p.usize("fast")),
            slow: Sma::new(p.usize("slow")),
            margin_frac: p.get("margin_frac"),
            last_sign: 0,
        }
    }
}

impl Strategy for SmaCross {
    fn name(&self) -> &'static str {
        "sma_cross"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![self.tf]
    }
    fn warmup(&self) -> usize {
        self.slow_n
    }
    fn history_needed(&self) -> usize {
        1
    }
    fn higher_history_needed(&self) -> usize {
        0
    }
    crate::persisted_state!();
    fn on_candle(&mut self, ctx: &Context<'_>, out: &mut Vec<Intent>) {
        let c = ctx.last().close;
        let (f, s) = (self.fast.update(c), self.slow.update(c));
        let (Some(f), Some(s)) = (f, s) else { return };
        let sign: i8 = if f > s {
            1
        } else if f < s {
            -1
        } else {
            0
        };
        if sign == 0 {
            return;
        }
        let prev = std::mem::replace(&mut self.last_sign, sign);
        if prev == 0 || prev == sign {
            return;
        }
        if sign > 0 && ctx.position.is_flat() {
            out.push(Intent::MarketEntry {
                side: Side::Long,
                margin_frac: self.margin_frac,
            });
        } else if sign < 0 && ctx.position.side == Some(Side::Long) {
            out.push(Intent::ClosePosition {
                reason: ExitReason::Signal,
            });
        }
    }
}
