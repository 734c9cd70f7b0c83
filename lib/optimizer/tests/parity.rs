//! Parity: the sma_cross kernel produces exactly the trades of the event-driven engine
//! (`scalp_backtest::run_backtest` with the real `sma_cross` strategy) for random parameters,
//! engine settings and data (slices of the bundled real candles, and synthetic series with
//! flat stretches, where fast = slow ties happen).

#![allow(clippy::field_reassign_with_default)]

use proptest::prelude::*;
use scalp_backtest::{BacktestConfig, EndFill, FillMode, Sizing};
use scalp_core::{Candle, Timeframe};
use scalp_optimizer::kernels::sma_cross::Combo;
use scalp_optimizer::sweep;
use scalp_strategy::Params;
use std::sync::LazyLock;

static BTC: LazyLock<Vec<Candle>> = LazyLock::new(|| {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
    scalp_core::csvdata::read_candles_csv(&p).expect("bundled data")
});

fn params(fast: usize, slow: usize, mf: f64) -> Params {
    let spec = scalp_strategy::spec("sma_cross").unwrap();
    Params::defaults(spec.params)
        .with_overrides(
            "sma_cross",
            spec.params,
            &[
                ("fast".into(), fast as f64),
                ("slow".into(), slow as f64),
                ("margin_frac".into(), mf),
            ],
        )
        .unwrap()
}

/// Synthetic hourly candles: a random walk on a coarse price grid with flat stretches.
fn synthetic(seed: u64, n: usize) -> Vec<Candle> {
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut px = 100.0f64;
    (0..n)
        .map(|i| {
            let r = next() % 10;
            let open = px;
            if r < 4 {
                // flat
            } else if r < 7 {
                px += 1.0;
            } else {
                px = (px - 1.0).max(60.0);
            }
            Candle {
                open_time: 1_600_000_000_000 + i as i64 * 3_600_000,
                open,
                high: open.max(px) + 0.5,
                low: open.min(px) - 0.5,
                close: px,
                volume: 1.0,
            }
        })
        .collect()
}

fn check(
    candles: &[Candle],
    fast: usize,
    slow: usize,
    mf: f64,
    bt: &BacktestConfig,
) -> Result<(), TestCaseError> {
    let tf = Timeframe::H1;
    let p = params(fast, slow, mf);
    let Some(cost) = sweep::kernel_cost(bt, candles) else {
        return Err(TestCaseError::reject(
            "liquidation reachable: kernel declines",
        ));
    };
    let (km, kt) = sweep::sma_cross_trades(candles, tf, &p, &cost);
    let er = sweep::event_run("sma_cross", "TEST", candles, tf, &p, bt).expect("engine runs");
    prop_assert_eq!(
        kt.len(),
        er.trades.len(),
        "trade count (kernel {:?})",
        kt.iter()
            .map(|t| (t.entry_idx, t.exit_idx))
            .collect::<Vec<_>>()
    );
    for (k, e) in kt.iter().zip(&er.trades) {
        prop_assert_eq!(k.entry_idx as usize, e.entry_index);
        prop_assert_eq!(k.exit_idx as usize, e.exit_index);
        prop_assert_eq!(
            k.entry_price.to_bits(),
            e.entry_price.to_bits(),
            "entry price {} vs {}",
            k.entry_price,
            e.entry_price
        );
        prop_assert_eq!(
            k.exit_price.to_bits(),
            e.exit_price.to_bits(),
            "exit price {} vs {}",
            k.exit_price,
            e.exit_price
        );
        prop_assert_eq!(
            k.qty.to_bits(),
            e.qty.to_bits(),
            "qty {} vs {}",
            k.qty,
            e.qty
        );
        prop_assert_eq!(
            k.fees.to_bits(),
            e.fees.to_bits(),
            "fees {} vs {}",
            k.fees,
            e.fees
        );
        prop_assert_eq!(
            k.pnl.to_bits(),
            e.net_pnl.to_bits(),
            "pnl {} vs {}",
            k.pnl,
            e.net_pnl
        );
    }
    prop_assert_eq!(
        km.final_equity.to_bits(),
        er.metrics.final_equity.to_bits(),
        "final equity {} vs {}",
        km.final_equity,
        er.metrics.final_equity
    );
    let es = er.metrics.sharpe.unwrap_or(0.0);
    prop_assert!(
        (km.sharpe - es).abs() <= 1e-9 * es.abs().max(1.0),
        "sharpe {} vs {}",
        km.sharpe,
        es
    );
    let edd = er.metrics.max_drawdown_pct / 100.0;
    prop_assert!(
        (km.max_dd - edd).abs() <= 1e-12,
        "max dd {} vs {}",
        km.max_dd,
        edd
    );
    // The kernel's equity reconstruction equals the engine's equity curve.
    let eq = scalp_optimizer::wfo::kernel_equity(candles, &kt, bt.capital);
    for (i, (a, b)) in eq.iter().zip(&er.equity).enumerate() {
        prop_assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "equity[{}] {} vs {}",
            i,
            a,
            b
        );
    }
    Ok(())
}

fn settings() -> impl Strategy<Value = BacktestConfig> {
    (
        prop_oneof![Just(0.0), Just(0.0006), Just(0.001), 0.0..0.003f64],
        prop_oneof![Just(0.0), 0.0..0.001f64],
        prop_oneof![Just(FillMode::NextOpen), Just(FillMode::Close)],
        prop_oneof![
            Just(Sizing::AllCash),
            Just(Sizing::MarginFrac),
            Just(Sizing::Fixed(0.05)),
            Just(Sizing::Fixed(3.0))
        ],
        prop_oneof![Just(0.0), Just(1e-8), Just(0.001), Just(0.01)],
        prop_oneof![Just(EndFill::LastClose), Just(EndFill::LastOpen)],
        prop_oneof![Just(1.0), Just(1.0), Just(2.0), Just(3.0)],
        prop_oneof![Just(1000.0), Just(10_000.0), 100.0..100_000.0f64],
        prop_oneof![Just(None), Just(Some(0.0))],
        // Exchange minimum order: (min qty, min notional as a fraction of the capital), so it
        // binds at the start, part-way through a losing run, or never.
        prop_oneof![
            Just((0.0, 0.0)),
            Just((0.0, 0.005)),
            Just((0.001, 0.005)),
            Just((0.1, 0.0)),
            (0.0..0.2f64, 0.0..1.5f64)
        ],
    )
        .prop_map(
            |(fee, slip, fill, sizing, lot, end, lev, cap, funding, (mq, mn))| {
                let mut c = BacktestConfig::default();
                c.maker_fee = fee;
                c.taker_fee = fee;
                c.slippage = slip;
                c.fill = fill;
                c.sizing = sizing;
                c.lot_step = lot;
                c.end_fill = end;
                c.leverage = lev;
                c.capital = cap;
                c.funding_rate = funding;
                c.min_qty = mq;
                c.min_notional = mn * cap;
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_global_rejects: 5000, ..ProptestConfig::default() })]

    #[test]
    fn kernel_equals_engine_on_real_data(start in 0usize..19_000, len in 50usize..3_000, fast in 1usize..60, slow in 2usize..250, mf in 0.05..1.0f64, bt in settings()) {
        let end = (start + len).min(BTC.len());
        check(&BTC[start..end], fast, slow, mf, &bt)?;
    }

    #[test]
    fn kernel_equals_engine_with_ties(seed in any::<u64>(), len in 30usize..1_500, fast in 1usize..20, slow in 2usize..40, mf in 0.05..1.0f64, bt in settings()) {
        let c = synthetic(seed, len);
        check(&c, fast, slow, mf, &bt)?;
    }
}

/// The bench settings (backtesting.py's): whole file, 0.1 % fee, all cash in 1e-8 lots.
#[test]
fn kernel_equals_engine_bench_settings_full_file() {
    let mut bt = BacktestConfig::default();
    bt.maker_fee = 0.001;
    bt.taker_fee = 0.001;
    bt.slippage = 0.0;
    bt.leverage = 1.0;
    bt.funding_rate = None;
    bt.sizing = Sizing::AllCash;
    bt.lot_step = 1e-8;
    bt.end_fill = EndFill::LastOpen;
    bt.capital = 10_000.0;
    for (f, s) in [(10, 30), (12, 370), (2, 50), (40, 430)] {
        check(&BTC, f, s, 1.0, &bt).unwrap();
    }
}

/// Engine metrics of one combination, for the grid checks below.
fn engine_metrics(
    candles: &[Candle],
    k: &Combo,
    bt: &BacktestConfig,
) -> scalp_optimizer::kernels::KMetrics {
    let p = params(k.fast, k.slow, k.margin_frac);
    let r = sweep::event_run("sma_cross", "TEST", candles, Timeframe::H1, &p, bt).expect("runs");
    sweep::kmetrics_of(&r)
}

/// The grouped, time-blocked grid path (several combinations per group, blocks as small as
/// 64 candles so that crosses, entries and exits straddle block boundaries, groups dealt over
/// the cores) gives every combination exactly the engine's result.
fn check_grid(
    candles: &[Candle],
    combos: &[Combo],
    block: usize,
    bt: &BacktestConfig,
) -> Result<(), TestCaseError> {
    let Some(cost) = sweep::kernel_cost(bt, candles) else {
        return Err(TestCaseError::reject(
            "liquidation reachable: kernel declines",
        ));
    };
    for full in [false, true] {
        let got = sweep::sma_cross_combos(candles, Timeframe::H1, combos, &cost, full, block);
        prop_assert_eq!(got.len(), combos.len());
        for (k, m) in combos.iter().zip(&got) {
            let e = engine_metrics(candles, k, bt);
            prop_assert_eq!(
                m.n_trades,
                e.n_trades,
                "{:?} block {} full {}",
                k,
                block,
                full
            );
            prop_assert_eq!(
                m.final_equity.to_bits(),
                e.final_equity.to_bits(),
                "{:?} block {}: final equity {} vs {}",
                k,
                block,
                m.final_equity,
                e.final_equity
            );
            prop_assert_eq!(m.wins, e.wins);
            if full {
                prop_assert!((m.sharpe - e.sharpe).abs() <= 1e-9 * e.sharpe.abs().max(1.0));
                prop_assert!((m.max_dd - e.max_dd).abs() <= 1e-12);
            }
        }
    }
    Ok(())
}

fn combos_strategy(max_fast: usize, max_slow: usize) -> impl Strategy<Value = Vec<Combo>> {
    proptest::collection::vec(
        (1..max_fast, 2..max_slow, 0.05..1.0f64).prop_map(|(fast, slow, margin_frac)| Combo {
            fast,
            slow,
            margin_frac,
        }),
        1..9,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, max_global_rejects: 2000, ..ProptestConfig::default() })]

    #[test]
    fn grid_groups_equal_engine_on_real_data(start in 0usize..18_000, len in 50usize..2_500, combos in combos_strategy(60, 300), block in prop_oneof![Just(64usize), Just(128), Just(1024)], bt in settings()) {
        let end = (start + len).min(BTC.len());
        check_grid(&BTC[start..end], &combos, block, &bt)?;
    }

    #[test]
    fn grid_groups_equal_engine_with_ties(seed in any::<u64>(), len in 30usize..1_200, combos in combos_strategy(20, 40), block in prop_oneof![Just(64usize), Just(128)], bt in settings()) {
        let c = synthetic(seed, len);
        check_grid(&c, &combos, block, &bt)?;
    }
}

/// The AVX2 build and the portable build of the kernel give the same bits (metrics and
/// trades). On a CPU without AVX2 both calls take the portable build.
#[test]
fn avx2_and_portable_builds_agree() {
    use scalp_optimizer::kernels::sma_cross::{Market, run_group, run_group_portable};
    let mut bt = BacktestConfig::default();
    bt.taker_fee = 0.001;
    bt.leverage = 1.0;
    bt.funding_rate = None;
    let cost = sweep::kernel_cost(&bt, &BTC).expect("kernel applies");
    let combos: Vec<Combo> = (0..60)
        .map(|k| Combo {
            fast: 1 + k % 13,
            slow: 5 + 7 * k,
            margin_frac: 0.3 + 0.01 * k as f64,
        })
        .collect();
    let day_cum = scalp_optimizer::series::day_end_cum(&BTC, Timeframe::H1);
    let mk = Market {
        candles: &BTC,
        day_cum: &day_cum,
    };
    for block in [64, 1024] {
        let a = run_group::<true>(mk, &cost, &combos, block, true);
        let b = run_group_portable::<true>(mk, &cost, &combos, block, true);
        assert_eq!(a.len(), b.len());
        for ((ma, ta), (mb, tb)) in a.iter().zip(&b) {
            assert_eq!(format!("{ma:?}"), format!("{mb:?}"));
            assert_eq!(ta, tb);
            assert!(!ta.is_empty());
        }
    }
}
