//! A tiny in-test driver (the real engine lives in scalp-backtest, which depends on this
//! crate): feeds closed candles, keeps a simulated `PositionView`, and records intents.
//!
//! Fill model (simple and deterministic, enough to exercise the strategies):
//! market entries/closes fill at the next candle's open; resting levels fill when a later
//! candle trades through their price (long: low ≤ price, short: high ≥ price) at that price,
//! only when flat or on the position's side; then the stop (checked first) and the
//! take-profit of the position are checked on the same candle.
#![allow(dead_code)]

use scalp_core::{Candle, Timeframe};
use scalp_strategy::{
    Context, ExitReason, FillView, Intent, LevelId, MarketExtras, PositionView, Side, Strategy,
};
use std::collections::BTreeMap;

pub fn data() -> Vec<Candle> {
    let p = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/coinbase_btcusd_1h.csv"
    ));
    scalp_core::csvdata::read_candles_csv(p).expect("bundled data")
}

/// Aggregates aligned candles into a higher timeframe; only complete buckets are returned.
pub fn resample(cs: &[Candle], base: Timeframe, tf: Timeframe) -> Vec<Candle> {
    let per = (tf.ms() / base.ms()) as usize;
    let mut out: Vec<Candle> = vec![];
    let mut cur: Option<(Candle, usize)> = None;
    for c in cs {
        let t = tf.align(c.open_time);
        cur = match cur {
            Some((mut h, n)) if h.open_time == t => {
                h.high = h.high.max(c.high);
                h.low = h.low.min(c.low);
                h.close = c.close;
                h.volume += c.volume;
                Some((h, n + 1))
            }
            _ => Some((Candle { open_time: t, ..*c }, 1)),
        };
        if let Some((h, n)) = cur
            && n == per
        {
            out.push(h);
            cur = None;
        }
    }
    out
}

/// Synthetic, deterministic market extras (there is no funding/OI history in the bundled data):
/// funding settles every 8 h at `0.0008·sin(k/7)` (k = index of the 8 h period); open interest
/// is `10 000·(1 + 0.3·sin(i/29))` at candle i. Labelled synthetic: only used to exercise the
/// strategies' logic.
pub fn synthetic_extras(i: usize, c: &Candle) -> MarketExtras {
    let k = (c.open_time / (8 * 3_600_000)) as f64;
    MarketExtras {
        funding_rate: Some(0.0008 * (k / 7.0).sin()),
        open_interest: Some(10_000.0 * (1.0 + 0.3 * (i as f64 / 29.0).sin())),
    }
}

pub fn no_extras(_: usize, _: &Candle) -> MarketExtras {
    MarketExtras::default()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Index of the candle whose close produced the intents.
    pub i: usize,
    pub position: PositionView,
    pub intents: Vec<Intent>,
}

#[derive(Debug, Default)]
pub struct Run {
    pub steps: Vec<Step>,
    pub entries: usize,
    pub exits: BTreeMap<String, usize>,
}

impl Run {
    pub fn all_intents(&self) -> impl Iterator<Item = (usize, &Intent)> {
        self.steps
            .iter()
            .flat_map(|s| s.intents.iter().map(move |x| (s.i, x)))
    }
}

struct Sim {
    pos: PositionView,
    levels: BTreeMap<LevelId, (Side, f64, f64)>,
    market: Option<(Side, f64)>,
    close: bool,
}

impl Sim {
    fn fill(
        &mut self,
        s: &mut dyn Strategy,
        side: Side,
        price: f64,
        frac: f64,
        level: Option<LevelId>,
        t: i64,
    ) {
        let qty = frac * 1000.0 / price;
        if self.pos.side.is_none() {
            self.pos = PositionView {
                side: Some(side),
                opened_at: t,
                ..Default::default()
            };
        }
        let p = &mut self.pos;
        p.avg_entry = (p.avg_entry * p.qty + price * qty) / (p.qty + qty);
        p.qty += qty;
        p.entries += 1;
        s.on_fill(&FillView {
            level,
            side,
            price,
            qty,
            is_exit: false,
            time: t,
        });
    }
    fn exit(&mut self, s: &mut dyn Strategy, price: f64, t: i64, why: ExitReason, run: &mut Run) {
        let side = self.pos.side.expect("in position");
        s.on_fill(&FillView {
            level: None,
            side: side.opposite(),
            price,
            qty: self.pos.qty,
            is_exit: true,
            time: t,
        });
        *run.exits.entry(format!("{why:?}")).or_default() += 1;
        self.pos = PositionView::default();
    }
}

/// Runs `s` over `cs` (primary timeframe `tf`), with `higher` timeframes resampled from `cs`.
pub fn run(
    s: &mut dyn Strategy,
    cs: &[Candle],
    tf: Timeframe,
    extras: fn(usize, &Candle) -> MarketExtras,
) -> Run {
    let mut d = Driver::new(&*s, cs, tf, extras);
    for i in 0..cs.len() {
        d.step(s, i);
    }
    d.run
}

/// The stepping form of [`run`]: one candle at a time, so that a test can swap the strategy
/// instance between two candles (save, rebuild, restore) or cut the history it is shown.
pub struct Driver<'a> {
    cs: &'a [Candle],
    tf: Timeframe,
    highers: Vec<(Timeframe, Vec<Candle>)>,
    extras: fn(usize, &Candle) -> MarketExtras,
    sim: Sim,
    out: Vec<Intent>,
    /// `Some((primary, higher))`: `Context::candles` holds only the last `primary` candles and
    /// every higher slice only its last `higher` candles.
    pub keep: Option<(usize, usize)>,
    pub run: Run,
}

impl<'a> Driver<'a> {
    /// Higher timeframes of `s` resampled from `cs`.
    pub fn new(
        s: &dyn Strategy,
        cs: &'a [Candle],
        tf: Timeframe,
        extras: fn(usize, &Candle) -> MarketExtras,
    ) -> Driver<'a> {
        let highers = s
            .timeframes()
            .into_iter()
            .skip(1)
            .map(|h| (h, resample(cs, tf, h)))
            .collect();
        Driver::with_highers(cs, tf, highers, extras)
    }

    /// With the given higher-timeframe candles (they may start before `cs`).
    pub fn with_highers(
        cs: &'a [Candle],
        tf: Timeframe,
        highers: Vec<(Timeframe, Vec<Candle>)>,
        extras: fn(usize, &Candle) -> MarketExtras,
    ) -> Driver<'a> {
        Driver {
            cs,
            tf,
            highers,
            extras,
            sim: Sim {
                pos: PositionView::default(),
                levels: BTreeMap::new(),
                market: None,
                close: false,
            },
            out: Vec::new(),
            keep: None,
            run: Run::default(),
        }
    }

    /// Candle `i`: fills of the resting orders, then `s.on_candle`, then its intents applied.
    pub fn step(&mut self, s: &mut dyn Strategy, i: usize) {
        let (cs, tf) = (self.cs, self.tf);
        let (sim, run, out) = (&mut self.sim, &mut self.run, &mut self.out);
        let c = &cs[i];
        // 1. market orders at the open
        if std::mem::take(&mut sim.close) && sim.pos.side.is_some() {
            sim.exit(s, c.open, c.open_time, ExitReason::Signal, run);
        }
        if let Some((side, frac)) = sim.market.take()
            && sim.pos.side.is_none_or(|p| p == side)
        {
            sim.fill(s, side, c.open, frac, None, c.open_time);
            run.entries += 1;
        }
        // 2. resting levels, in price order from the open
        let mut hit: Vec<(LevelId, Side, f64, f64)> = sim
            .levels
            .iter()
            .filter(|(_, (side, p, _))| match side {
                Side::Long => c.low <= *p,
                Side::Short => c.high >= *p,
            })
            .map(|(id, (side, p, f))| (*id, *side, *p, *f))
            .collect();
        hit.sort_by(|a, b| (a.2 - c.open).abs().total_cmp(&(b.2 - c.open).abs()));
        for (id, side, p, f) in hit {
            if sim.pos.side.is_none_or(|ps| ps == side) {
                sim.levels.remove(&id);
                sim.fill(s, side, p, f, Some(id), c.open_time);
                run.entries += 1;
            }
        }
        // 3. stop, then take-profit
        if let Some(side) = sim.pos.side {
            let stop_hit = sim.pos.stop.filter(|&st| match side {
                Side::Long => c.low <= st,
                Side::Short => c.high >= st,
            });
            let tp_hit = sim.pos.take_profit.filter(|&tp| match side {
                Side::Long => c.high >= tp,
                Side::Short => c.low <= tp,
            });
            if let Some(st) = stop_hit {
                sim.exit(s, st, c.open_time, ExitReason::StopLoss, run);
            } else if let Some(tp) = tp_hit {
                sim.exit(s, tp, c.open_time, ExitReason::TakeProfit, run);
            }
        }
        // 4. the strategy sees the closed candle
        let close_t = c.open_time + tf.ms();
        let (keep, keep_h) = self.keep.unwrap_or((usize::MAX, usize::MAX));
        let hs: Vec<(Timeframe, &[Candle])> = self
            .highers
            .iter()
            .map(|(h, v)| {
                let n = v.partition_point(|x| x.open_time + h.ms() <= close_t);
                (*h, &v[n.saturating_sub(keep_h)..n])
            })
            .collect();
        let ctx = Context {
            asset: "BTC",
            candles: &cs[(i + 1).saturating_sub(keep)..=i],
            higher: &hs,
            position: sim.pos,
            extras: (self.extras)(i, c),
        };
        out.clear();
        s.on_candle(&ctx, out);
        // 5. apply intents in order
        for it in out.iter() {
            match *it {
                Intent::PlaceLevel {
                    id,
                    side,
                    price,
                    margin_frac,
                } => {
                    sim.levels.insert(id, (side, price, margin_frac));
                }
                Intent::CancelLevel { id } => {
                    sim.levels.remove(&id);
                }
                Intent::CancelAllLevels => sim.levels.clear(),
                Intent::MarketEntry { side, margin_frac } => sim.market = Some((side, margin_frac)),
                Intent::ClosePosition { .. } => sim.close = true,
                Intent::SetStop { price } => {
                    if sim.pos.side.is_some() {
                        sim.pos.stop = Some(price)
                    }
                }
                Intent::SetTakeProfit { price } => {
                    if sim.pos.side.is_some() {
                        sim.pos.take_profit = Some(price)
                    }
                }
                Intent::ClearStop => sim.pos.stop = None,
                Intent::ClearTakeProfit => sim.pos.take_profit = None,
            }
        }
        if !out.is_empty() {
            run.steps.push(Step {
                i,
                position: ctx.position,
                intents: out.clone(),
            });
        }
    }
}
