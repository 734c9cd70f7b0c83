//! Properties: the backtest is deterministic, and no trade uses a candle before it closed
//! (results on a truncated history equal the prefix of the results on the full history).

use proptest::prelude::*;
use scalp_backtest::{
    BacktestConfig, BacktestInput, BacktestResult, FillMode, Trade, run_backtest,
};
use scalp_core::{Candle, Timeframe};
use scalp_strategy::{Context, ExitReason, Intent, Params, Side, Strategy};

/// A small grid with stops and take-profits, to exercise every order type.
struct TestGrid {
    d: f64,
    short: bool,
}

impl Strategy for TestGrid {
    fn name(&self) -> &'static str {
        "test_grid"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![Timeframe::H1, Timeframe::H4]
    }
    fn warmup(&self) -> usize {
        0
    }
    fn history_needed(&self) -> usize {
        usize::MAX
    }
    fn higher_history_needed(&self) -> usize {
        usize::MAX
    }
    fn save_state(&self) -> Result<Vec<u8>, scalp_strategy::state::StateError> {
        Err(scalp_strategy::state::StateError::Encode(
            "test strategy".into(),
        ))
    }
    fn load_state(&mut self, _: &[u8]) -> Result<(), scalp_strategy::state::StateError> {
        Err(scalp_strategy::state::StateError::Encode(
            "test strategy".into(),
        ))
    }
    fn on_candle(&mut self, ctx: &Context<'_>, out: &mut Vec<Intent>) {
        let c = ctx.last().close;
        // Uses the higher timeframe too: only trade in the direction of the last closed 4h candle.
        let up = ctx.higher[0].1.last().is_none_or(|h| h.close >= h.open);
        let side = if self.short && !up {
            Side::Short
        } else {
            Side::Long
        };
        let s = side.sign();
        if ctx.position.is_flat() {
            out.push(Intent::CancelAllLevels);
            out.push(Intent::PlaceLevel {
                id: 1,
                side,
                price: c * (1.0 - s * self.d),
                margin_frac: 0.2,
            });
            out.push(Intent::PlaceLevel {
                id: 2,
                side,
                price: c * (1.0 - s * 2.0 * self.d),
                margin_frac: 0.3,
            });
            out.push(Intent::SetStop {
                price: c * (1.0 - s * 4.0 * self.d),
            });
            out.push(Intent::SetTakeProfit {
                price: c * (1.0 + s * self.d),
            });
        } else {
            let avg = ctx.position.avg_entry;
            out.push(Intent::SetTakeProfit {
                price: avg * (1.0 + s * self.d),
            });
            if ctx.position.entries >= 2 && ctx.candles.len().is_multiple_of(7) {
                out.push(Intent::ClosePosition {
                    reason: ExitReason::Signal,
                });
            }
        }
    }
}

fn walk(seed: u64, n: usize) -> Vec<Candle> {
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut p = 100.0;
    (0..n)
        .map(|i| {
            let o = p;
            let c = o * (1.0 + (rnd() - 0.5) * 0.04);
            let h = o.max(c) * (1.0 + rnd() * 0.01);
            let l = o.min(c) * (1.0 - rnd() * 0.01);
            // Occasional gap between candles.
            p = if rnd() < 0.1 {
                c * (1.0 + (rnd() - 0.5) * 0.03)
            } else {
                c
            };
            Candle {
                open_time: 1_600_000_000_000 + i as i64 * 3_600_000,
                open: o,
                high: h,
                low: l,
                close: c,
                volume: 1.0,
            }
        })
        .collect()
}

fn cfg(fill: FillMode, lev: f64) -> BacktestConfig {
    BacktestConfig {
        fill,
        leverage: lev,
        funding_rate: Some(0.0001),
        ..BacktestConfig::default()
    }
}

fn run(
    candles: &[Candle],
    make: &dyn Fn() -> Box<dyn Strategy>,
    cfg: &BacktestConfig,
) -> BacktestResult {
    let mut s = make();
    let input = BacktestInput::new("T", Timeframe::H1, candles).with_aggregated(&s.timeframes());
    run_backtest(&input, s.as_mut(), cfg).unwrap()
}

fn closed_before(trades: &[Trade], k: usize) -> Vec<Trade> {
    trades
        .iter()
        .filter(|t| t.exit_index < k && t.exit_reason != ExitReason::EndOfData)
        .cloned()
        .collect()
}

fn check_prefix(
    candles: &[Candle],
    make: &dyn Fn() -> Box<dyn Strategy>,
    cfg: &BacktestConfig,
    k: usize,
) {
    let full = run(candles, make, cfg);
    let again = run(candles, make, cfg);
    assert_eq!(
        serde_json::to_string(&full).unwrap(),
        serde_json::to_string(&again).unwrap(),
        "not deterministic"
    );
    let part = run(&candles[..k], make, cfg);
    assert_eq!(
        closed_before(&part.trades, k),
        closed_before(&full.trades, k),
        "trades closed before {k} differ"
    );
    // Equity up to the candle before the cut (the last one may include an end-of-data close).
    assert_eq!(
        &part.equity[..k - 1],
        &full.equity[..k - 1],
        "equity before {k} differs"
    );
}

fn sma(fast: usize, slow: usize) -> impl Fn() -> Box<dyn Strategy> {
    move || {
        let spec = scalp_strategy::spec("sma_cross").unwrap();
        let p = Params::defaults(spec.params)
            .with_overrides(
                "sma_cross",
                spec.params,
                &[("fast".into(), fast as f64), ("slow".into(), slow as f64)],
            )
            .unwrap();
        (spec.build)(&p, Timeframe::H1)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn grid_is_deterministic_and_causal(seed in 1u64..u64::MAX, n in 30usize..400, cut in 0.1f64..0.95,
                                        d in 0.002f64..0.03, short: bool, close_fill: bool, lev in 1.0f64..20.0) {
        let candles = walk(seed, n);
        let k = ((n as f64 * cut) as usize).max(2);
        let fill = if close_fill { FillMode::Close } else { FillMode::NextOpen };
        check_prefix(&candles, &move || Box::new(TestGrid { d, short }), &cfg(fill, lev), k);
    }

    #[test]
    fn sma_cross_is_deterministic_and_causal(seed in 1u64..u64::MAX, n in 40usize..400, cut in 0.1f64..0.95,
                                             fast in 1usize..10, extra in 1usize..20, close_fill: bool) {
        let candles = walk(seed, n);
        let k = ((n as f64 * cut) as usize).max(2);
        let fill = if close_fill { FillMode::Close } else { FillMode::NextOpen };
        check_prefix(&candles, &sma(fast, fast + extra), &cfg(fill, 1.0), k);
    }
}

/// Every registered strategy, default parameters, on real data: deterministic and causal.
#[test]
fn registered_strategies_are_deterministic_and_causal_on_real_data() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
    let all = scalp_core::csvdata::read_candles_csv(&path).unwrap();
    let candles = &all[..3000];
    let mut total = 0;
    for name in scalp_strategy::STRATEGY_NAMES.iter() {
        let spec = scalp_strategy::spec(name).unwrap();
        let params = Params::defaults(spec.params);
        let make = || (spec.build)(&params, Timeframe::H1);
        let n = run(candles, &make, &cfg(FillMode::NextOpen, 3.0))
            .trades
            .len();
        eprintln!("{name}: {n} trades");
        total += n;
        for &k in &[700usize, 1777, 2999] {
            check_prefix(candles, &make, &cfg(FillMode::NextOpen, 3.0), k);
        }
    }
    assert!(
        total > 100,
        "the strategies must trade for this test to mean anything ({total})"
    );
}

/// The grid used by the properties does trade (all order types), so the properties bite.
#[test]
fn test_grid_exercises_every_exit() {
    let candles = walk(42, 2000);
    let r = run(
        &candles,
        &|| {
            Box::new(TestGrid {
                d: 0.01,
                short: true,
            })
        },
        &cfg(FillMode::NextOpen, 5.0),
    );
    for reason in [
        ExitReason::TakeProfit,
        ExitReason::StopLoss,
        ExitReason::Signal,
    ] {
        assert!(
            r.trades.iter().any(|t| t.exit_reason == reason),
            "no {reason:?} exit"
        );
    }
    assert!(
        r.trades.iter().any(|t| t.side == Side::Short) && r.trades.iter().any(|t| t.entries >= 2)
    );
}
