//! Parity: the sma_cross kernel produces exactly the trades of the event-driven engine
//! (`scalp_backtest::run_backtest` with the real `sma_cross` strategy) for random parameters,
//! engine settings and data (slices of the bundled real candles, hourly and daily, and
//! synthetic series with flat stretches, where fast = slow ties happen), funding included:
//! no funding, a constant rate (positive, negative, random) and random stored funding
//! histories (points on, before and after settlement times, some too old so that the
//! configured rate applies), with trades' funding compared bit for bit.

#![allow(clippy::field_reassign_with_default)]

use proptest::prelude::*;
use scalp_backtest::engine::FUNDING_INTERVAL_MS;
use scalp_backtest::{
    BacktestConfig, BacktestInput, BacktestResult, EndFill, FillMode, FundingPoint, Sizing,
};
use scalp_core::{Candle, Timeframe};
use scalp_optimizer::kernels::funding::{self, FundingSchedule};
use scalp_optimizer::kernels::sma_cross::Combo;
use scalp_optimizer::sweep;
use scalp_strategy::{ExitReason, Params};
use std::sync::LazyLock;

fn bundled(name: &str) -> Vec<Candle> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name);
    scalp_core::csvdata::read_candles_csv(&p).expect("bundled data")
}

static BTC: LazyLock<Vec<Candle>> = LazyLock::new(|| bundled("coinbase_btcusd_1h.csv"));
static BTC_1D: LazyLock<Vec<Candle>> = LazyLock::new(|| bundled("coinbase_btcusd_1d.csv"));

/// A random stored funding history over `candles` (seeded): for each 8 h settlement time of
/// the window, either no point (the configured rate applies), a point at it, one up to 8 h
/// before it (still the settlement's rate), one just after it (the next settlement's), or
/// one 8 h or more before it (too old: the configured rate). Rates of magnitude `scale`,
/// mostly positive (longs pay), some negative.
fn history(candles: &[Candle], seed: u64, scale: f64) -> Vec<FundingPoint> {
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (Some(a), Some(b)) = (candles.first(), candles.last()) else {
        return Vec::new();
    };
    let mut t = a.open_time.div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS;
    let mut out = Vec::new();
    let h = 3_600_000;
    while t < b.open_time + 86_400_000 {
        let off = match next() % 8 {
            0 | 1 => None,
            2 | 3 => Some(0),
            4 => Some(-((next() % (8 * h as u64)) as i64)),
            5 => Some(h),
            6 => Some(-8 * h),
            _ => Some(-8 * h - 1),
        };
        if let Some(off) = off {
            let u = (next() % 10_000) as f64 / 10_000.0;
            let rate = scale * if next() % 4 == 0 { -u } else { u };
            out.push(FundingPoint {
                time: t + off,
                rate,
            });
        }
        t += FUNDING_INTERVAL_MS;
    }
    out.sort_by_key(|p| p.time);
    out.dedup_by_key(|p| p.time);
    out
}

/// The engine's run of sma_cross with a stored funding history (`sweep::event_run` has none).
fn engine_run(
    candles: &[Candle],
    tf: Timeframe,
    p: &Params,
    bt: &BacktestConfig,
    hist: &[FundingPoint],
) -> BacktestResult {
    let mut s = scalp_strategy::build("sma_cross", p, tf).expect("builds");
    let input = BacktestInput::new("TEST", tf, candles)
        .with_aggregated(&s.timeframes())
        .with_funding(hist);
    scalp_backtest::run_backtest(&input, s.as_mut(), bt).expect("engine runs")
}

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
    check_tf(candles, Timeframe::H1, fast, slow, mf, bt, &[]).map(|_| ())
}

/// The kernel's trades, metrics and equity against the engine's for one parameter set, with
/// the funding of `bt.funding_rate` and the stored history `hist`. Returns the engine's
/// result (for the coverage checks).
fn check_tf(
    candles: &[Candle],
    tf: Timeframe,
    fast: usize,
    slow: usize,
    mf: f64,
    bt: &BacktestConfig,
    hist: &[FundingPoint],
) -> Result<BacktestResult, TestCaseError> {
    let p = params(fast, slow, mf);
    let Some(cost) = sweep::kernel_cost(bt, candles, hist) else {
        return Err(TestCaseError::reject(
            "liquidation reachable: kernel declines",
        ));
    };
    let fs = FundingSchedule::new(candles, tf, bt.funding_rate, hist);
    let (km, kt) = sweep::sma_cross_trades(candles, tf, &p, &cost, &fs);
    let er = engine_run(candles, tf, &p, bt, hist);
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
            k.funding.to_bits(),
            e.funding.to_bits(),
            "funding {} vs {} (trade {}..{})",
            k.funding,
            e.funding,
            e.entry_index,
            e.exit_index
        );
        prop_assert_eq!(
            k.pnl.to_bits(),
            e.net_pnl.to_bits(),
            "pnl {} vs {}",
            k.pnl,
            e.net_pnl
        );
    }
    prop_assert!(er.killed.is_none() && er.metrics.liquidations == 0);
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
    // The kernel's equity reconstruction (what the walk-forward's OOS runs use) equals the
    // engine's equity curve.
    for eq in &[funding::equity_curve(candles, &kt, bt.capital, &fs)] {
        prop_assert_eq!(eq.len(), er.equity.len());
        for (i, (a, b)) in eq.iter().zip(&er.equity).enumerate() {
            prop_assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "equity[{}] {} vs {}",
                i,
                a,
                b
            );
        }
    }
    Ok(er)
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
        // Funding off, zero, the default 0.01 %/8 h, negative (longs receive), random.
        prop_oneof![
            Just(None),
            Just(Some(0.0)),
            Just(Some(0.0001)),
            Just(Some(0.0001)),
            Just(Some(-0.0002)),
            (-0.003..0.003f64).prop_map(Some)
        ],
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

/// A stored funding history or none: (seed, rate scale).
fn hist_choice() -> impl Strategy<Value = Option<(u64, f64)>> {
    prop_oneof![
        Just(None),
        (any::<u64>(), prop_oneof![Just(0.0003), Just(0.003)]).prop_map(Some)
    ]
}

fn hist_of(candles: &[Candle], h: Option<(u64, f64)>) -> Vec<FundingPoint> {
    h.map_or_else(Vec::new, |(seed, scale)| history(candles, seed, scale))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_global_rejects: 5000, ..ProptestConfig::default() })]

    #[test]
    fn kernel_equals_engine_on_real_data(start in 0usize..19_000, len in 50usize..3_000, fast in 1usize..60, slow in 2usize..250, mf in 0.05..1.0f64, bt in settings(), h in hist_choice()) {
        let end = (start + len).min(BTC.len());
        let c = &BTC[start..end];
        check_tf(c, Timeframe::H1, fast, slow, mf, &bt, &hist_of(c, h))?;
    }

    #[test]
    fn kernel_equals_engine_with_ties(seed in any::<u64>(), len in 30usize..1_500, fast in 1usize..20, slow in 2usize..40, mf in 0.05..1.0f64, bt in settings(), h in hist_choice()) {
        let c = synthetic(seed, len);
        check_tf(&c, Timeframe::H1, fast, slow, mf, &bt, &hist_of(&c, h))?;
    }

    /// Daily candles: three settlements in every candle, paid one after the other (each
    /// capped by the cash left).
    #[test]
    fn kernel_equals_engine_on_daily_data(start in 0usize..1_500, len in 40usize..1_200, fast in 1usize..20, slow in 2usize..60, mf in 0.05..1.0f64, bt in settings(), h in hist_choice()) {
        let end = (start + len).min(BTC_1D.len());
        let c = &BTC_1D[start..end];
        check_tf(c, Timeframe::D1, fast, slow, mf, &bt, &hist_of(c, h))?;
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
    hist: &[FundingPoint],
) -> scalp_optimizer::kernels::KMetrics {
    let p = params(k.fast, k.slow, k.margin_frac);
    sweep::kmetrics_of(&engine_run(candles, Timeframe::H1, &p, bt, hist))
}

/// The grouped, time-blocked grid path (several combinations per group, blocks as small as
/// 64 candles so that crosses, entries and exits straddle block boundaries, groups dealt over
/// the cores) gives every combination exactly the engine's result.
fn check_grid(
    candles: &[Candle],
    combos: &[Combo],
    block: usize,
    bt: &BacktestConfig,
    hist: &[FundingPoint],
) -> Result<(), TestCaseError> {
    let Some(cost) = sweep::kernel_cost(bt, candles, hist) else {
        return Err(TestCaseError::reject(
            "liquidation reachable: kernel declines",
        ));
    };
    let fs = FundingSchedule::new(candles, Timeframe::H1, bt.funding_rate, hist);
    for full in [false, true] {
        let got = sweep::sma_cross_combos(candles, Timeframe::H1, combos, &cost, &fs, full, block);
        prop_assert_eq!(got.len(), combos.len());
        for (k, m) in combos.iter().zip(&got) {
            let e = engine_metrics(candles, k, bt, hist);
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
            prop_assert_eq!(m.gross_profit.to_bits(), e.gross_profit.to_bits());
            prop_assert_eq!(m.gross_loss.to_bits(), e.gross_loss.to_bits());
            prop_assert_eq!(m.fees.to_bits(), e.fees.to_bits());
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
    fn grid_groups_equal_engine_on_real_data(start in 0usize..18_000, len in 50usize..2_500, combos in combos_strategy(60, 300), block in prop_oneof![Just(64usize), Just(128), Just(1024)], bt in settings(), h in hist_choice()) {
        let end = (start + len).min(BTC.len());
        let c = &BTC[start..end];
        check_grid(c, &combos, block, &bt, &hist_of(c, h))?;
    }

    #[test]
    fn grid_groups_equal_engine_with_ties(seed in any::<u64>(), len in 30usize..1_200, combos in combos_strategy(20, 40), block in prop_oneof![Just(64usize), Just(128)], bt in settings(), h in hist_choice()) {
        let c = synthetic(seed, len);
        check_grid(&c, &combos, block, &bt, &hist_of(&c, h))?;
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
    bt.funding_rate = Some(0.0001);
    let cost = sweep::kernel_cost(&bt, &BTC, &[]).expect("kernel applies");
    let fs = FundingSchedule::new(&BTC, Timeframe::H1, bt.funding_rate, &[]);
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
        funding: &fs,
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

/// The engine's funding convention, written out independently of the kernel (docs/BACKTEST.md
/// "Funding"): a long pays `qty × close_c × rate` for every settlement time `T` (a multiple of
/// 8 h) in a candle `c` with `entry < c ≤ exit` — the entry candle's settlement came before the
/// fill, the exit candle's before the exit — summed in time order from 0.0 (the cash is never
/// short here, so no payment is capped). Checked against the engine's trades, with the kernel
/// at parity on the same runs, over slices shifted hour by hour so that settlements fall
/// inside positions, on entry bars and on exit bars (each case is required to occur).
#[test]
fn funding_inside_positions_and_on_entry_and_exit_bars() {
    let tf = Timeframe::H1;
    let (mut inside, mut on_entry, mut on_exit, mut trades) = (0, 0, 0, 0);
    for fill in [FillMode::NextOpen, FillMode::Close] {
        for (rate, hist_seed) in [(0.0001, None), (0.0001, Some(7u64)), (-0.0002, Some(11))] {
            for shift in 0..16 {
                let c = &BTC[4_000 + shift..6_000 + shift];
                let hist = hist_of(c, hist_seed.map(|s| (s + shift as u64, 0.001)));
                let mut bt = BacktestConfig::default();
                bt.leverage = 1.0;
                bt.fill = fill;
                bt.funding_rate = Some(rate);
                let (fast, slow) = (3 + shift % 5, 20 + 3 * shift);
                let er = check_tf(c, tf, fast, slow, 0.5, &bt, &hist)
                    .unwrap_or_else(|e| panic!("fill {fill:?} shift {shift}: {e}"));
                for t in &er.trades {
                    trades += 1;
                    let settlements = |i: usize| {
                        let o = c[i].open_time;
                        let first = o.div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS;
                        (0..)
                            .map(move |k| first + k * FUNDING_INTERVAL_MS)
                            .skip_while(move |&s| s < o)
                            .take_while(move |&s| s < o + tf.ms())
                    };
                    let mut want = 0.0;
                    let held = t.entry_index + 1..=t.exit_index;
                    for (i, ci) in c
                        .iter()
                        .enumerate()
                        .take(t.exit_index + 1)
                        .skip(*held.start())
                    {
                        for s in settlements(i) {
                            want += t.qty * ci.close * funding::rate_at(&hist, s, rate);
                            if i < t.exit_index {
                                inside += 1;
                            } else {
                                on_exit += 1;
                            }
                        }
                    }
                    on_entry += settlements(t.entry_index).count();
                    assert_eq!(
                        t.funding.to_bits(),
                        want.to_bits(),
                        "fill {fill:?} shift {shift}: trade {}..{} funding {} vs {want}",
                        t.entry_index,
                        t.exit_index,
                        t.funding
                    );
                }
            }
        }
    }
    assert!(
        trades > 200 && inside > 1_000 && on_entry > 20 && on_exit > 20,
        "coverage: {trades} trades, {inside} settlements inside, {on_entry} on entry bars, {on_exit} on exit bars"
    );
}

/// A long rally with a high funding rate and all the cash in the position: the funding drains
/// the cash to 0 and the engine then caps every payment at what is left (`min(cash.max(0))`)
/// without a liquidation (the price is far above the liquidation price). The kernel accepts it
/// and pays the same capped amounts.
#[test]
fn capped_funding_in_a_rally_equals_engine() {
    let mut px = 100.0f64;
    let c: Vec<Candle> = (0..900)
        .map(|i| {
            let open = px;
            px = if i < 100 { px - 0.1 } else { px * 1.005 };
            Candle {
                open_time: 1_600_000_000_000 + i as i64 * 3_600_000,
                open,
                high: open.max(px) * 1.001,
                low: open.min(px) * 0.999,
                close: px,
                volume: 1.0,
            }
        })
        .collect();
    for sizing in [Sizing::AllCash, Sizing::MarginFrac] {
        for fill in [FillMode::NextOpen, FillMode::Close] {
            let mut bt = BacktestConfig::default();
            bt.leverage = 1.0;
            bt.sizing = sizing;
            bt.fill = fill;
            bt.funding_rate = Some(0.01);
            let er = check_tf(&c, Timeframe::H1, 2, 5, 1.0, &bt, &[])
                .unwrap_or_else(|e| panic!("{sizing:?} {fill:?}: {e}"));
            let t = &er.trades[0];
            let uncapped: f64 = (t.entry_index + 1..=t.exit_index)
                .filter(|&i| {
                    // A settlement time (a multiple of 8 h) inside the candle.
                    let o = c[i].open_time;
                    (o + FUNDING_INTERVAL_MS - 1).div_euclid(FUNDING_INTERVAL_MS)
                        * FUNDING_INTERVAL_MS
                        < o + 3_600_000
                })
                .map(|i| t.qty * c[i].close * 0.01)
                .sum();
            assert!(
                t.funding < 0.5 * uncapped,
                "{sizing:?}: the cap binds ({} of {uncapped})",
                t.funding
            );
        }
    }
}

/// Funding that drains the isolated margin makes a liquidation reachable: the kernel declines
/// (the engine does liquidate), while without funding the same run takes the kernel.
#[test]
fn declines_when_funding_makes_liquidation_reachable() {
    let c: Vec<Candle> = (0..3_000usize)
        .map(|i| {
            let f = |i: usize| {
                if i < 50 {
                    100.0 - 0.2 * i as f64
                } else {
                    90.0 + 0.0001 * i as f64
                }
            };
            let (open, close) = (f(i.saturating_sub(1)), f(i));
            Candle {
                open_time: 1_600_000_000_000 + i as i64 * 3_600_000,
                open,
                high: open.max(close) + 0.05,
                low: open.min(close) - 0.05,
                close,
                volume: 1.0,
            }
        })
        .collect();
    let mut bt = BacktestConfig::default();
    bt.leverage = 1.0;
    bt.sizing = Sizing::AllCash;
    bt.funding_rate = None;
    assert!(sweep::kernel_cost(&bt, &c, &[]).is_some());
    bt.funding_rate = Some(0.01);
    assert!(sweep::kernel_cost(&bt, &c, &[]).is_none());
    assert!(!sweep::uses_kernel("sma_cross", &bt, &c));
    let er = engine_run(&c, Timeframe::H1, &params(2, 5, 1.0), &bt, &[]);
    assert!(
        er.trades
            .iter()
            .any(|t| t.exit_reason == ExitReason::Liquidation),
        "the engine liquidates: {:?}",
        er.trades.iter().map(|t| t.exit_reason).collect::<Vec<_>>()
    );
    // A stored history of the same rate is the same decision.
    bt.funding_rate = Some(0.0);
    let hist: Vec<FundingPoint> = (0..400)
        .map(|k| FundingPoint {
            time: (c[0].open_time.div_euclid(FUNDING_INTERVAL_MS) + k) * FUNDING_INTERVAL_MS,
            rate: 0.01,
        })
        .collect();
    assert!(sweep::kernel_cost(&bt, &c, &[]).is_some());
    assert!(sweep::kernel_cost(&bt, &c, &hist).is_none());
}

/// The default `optimize sweep` (funding at the default rate, 1× leverage, margin_frac, the
/// generic 5 USDT minimum, the param_grids.toml grid) takes the kernel on the whole bundled
/// file and ranks exactly what the event engine ranks.
#[test]
fn default_sweep_with_funding_takes_the_kernel_and_equals_engine() {
    let mut bt = BacktestConfig::default();
    bt.leverage = 1.0;
    bt.min_notional = 5.0;
    assert_eq!(bt.funding_rate, Some(0.0001));
    assert!(sweep::uses_kernel("sma_cross", &bt, &BTC));
    let grid = scalp_optimizer::grid::Grid::parse("fast=2..40:2,slow=50..430:20").unwrap();
    let base = Params::defaults(scalp_strategy::spec("sma_cross").unwrap().params);
    let want = sweep::event_grid("sma_cross", "BTC", &BTC, Timeframe::H1, &grid, &base, &bt)
        .expect("event grid");
    for full in [false, true] {
        let (got, path) = sweep::evaluate(
            "sma_cross",
            "BTC",
            &BTC,
            Timeframe::H1,
            &grid,
            &base,
            &bt,
            full,
        )
        .expect("kernel grid");
        assert_eq!(path, sweep::EnginePath::Kernel);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            let (a, b) = (&g.metrics, &w.metrics);
            assert_eq!(g.params, w.params);
            assert_eq!(a.n_trades, b.n_trades, "{:?}", g.params);
            assert_eq!(a.wins, b.wins, "{:?}", g.params);
            assert_eq!(
                a.final_equity.to_bits(),
                b.final_equity.to_bits(),
                "{:?}: {} vs {}",
                g.params,
                a.final_equity,
                b.final_equity
            );
            assert_eq!(a.gross_profit.to_bits(), b.gross_profit.to_bits());
            assert_eq!(a.gross_loss.to_bits(), b.gross_loss.to_bits());
            assert_eq!(a.fees.to_bits(), b.fees.to_bits());
            if full {
                assert!((a.sharpe - b.sharpe).abs() <= 1e-9 * b.sharpe.abs().max(1.0));
                assert!((a.max_dd - b.max_dd).abs() <= 1e-12);
            }
        }
    }
}
