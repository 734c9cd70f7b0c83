//! In-process benchmark of the sma_cross kernel on the bench grid (fast=2..40:2 ×
//! slow=50..430:20, 400 combinations) over the bundled 1h file, with the bench settings
//! (0.1 % fee, next-open fills, all cash in 1e-8 lots). Prints the first (cold) run and the
//! median and best of the following ones, without and with the full metrics (Sharpe, drawdown):
//!
//!   cargo run --release -p scalp-optimizer --example sweep_bench [-- BLOCK [RUNS]]
//!
//! `bench/sma_cross_vs_python.sh` measures the same grid through `optimize sweep` (one
//! process per run) against vectorbt and backtesting.py.
use scalp_optimizer::kernels::sma_cross::{BLOCK, Combo, KSizing, KernelCost};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let block: usize = args
        .next()
        .map_or(BLOCK, |s| s.parse().expect("BLOCK: a multiple of 64"));
    let runs: usize = args
        .next()
        .map_or(100, |s| s.parse().expect("RUNS: a number"));
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
    let candles = scalp_core::csvdata::read_candles_csv(&path).expect("bundled data");
    let cost = KernelCost {
        capital: 10_000.0,
        leverage: 1.0,
        taker_fee: 0.001,
        slippage: 0.0,
        lot_step: 1e-8,
        min_qty: 0.0,
        min_notional: 0.0,
        next_open: true,
        sizing: KSizing::AllCash,
        end_at_close: false,
        periods_per_year: 365.0,
    };
    let combos: Vec<Combo> = (0..400)
        .map(|k| Combo {
            fast: 2 + 2 * (k / 20),
            slow: 50 + 20 * (k % 20),
            margin_frac: 1.0,
        })
        .collect();
    let cc = (combos.len() * candles.len()) as f64;
    println!(
        "{} candles × {} combos, block {block}, {} threads",
        candles.len(),
        combos.len(),
        rayon::current_num_threads()
    );
    for full in [false, true] {
        let mut times = Vec::with_capacity(runs);
        let mut best_equity = 0.0;
        for _ in 0..runs.max(2) {
            let t = Instant::now();
            let r = scalp_optimizer::sweep::sma_cross_combos(
                &candles,
                scalp_core::Timeframe::H1,
                &combos,
                &cost,
                &scalp_optimizer::kernels::funding::NO_FUNDING,
                full,
                block,
            );
            times.push(t.elapsed().as_secs_f64());
            best_equity = r.iter().map(|m| m.final_equity).fold(0.0, f64::max);
        }
        let first = times.remove(0);
        times.sort_by(f64::total_cmp);
        let (med, min) = (times[times.len() / 2], times[0]);
        println!(
            "full metrics {full:<5}: first {:.3} ms; median {:.3} ms = {:.3e} candle·combos/s; best {:.3} ms = {:.3e}; best final equity {best_equity:.2}",
            first * 1e3,
            med * 1e3,
            cc / med,
            min * 1e3,
            cc / min
        );
    }
}
