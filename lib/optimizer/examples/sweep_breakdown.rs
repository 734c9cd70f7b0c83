//! Time of the sma_cross kernel on the bench grid (400 combinations × the bundled 1h file),
//! warm (in-process, repeated) and its first, cold iteration:
//! `cargo run --release -p scalp-optimizer --example sweep_breakdown [BLOCK]`.
use scalp_optimizer::kernels::sma_cross::{Combo, KSizing, KernelCost};
use std::time::Instant;

fn main() {
    if std::env::var_os("PREINIT").is_some() {
        rayon::spawn(|| ());
    }
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
    let c = scalp_core::csvdata::read_candles_csv(&root).expect("bundled data");
    let cost = KernelCost {
        capital: 10000.0,
        leverage: 1.0,
        taker_fee: 0.001,
        slippage: 0.0,
        lot_step: 1e-8,
        next_open: true,
        sizing: KSizing::AllCash,
        end_at_close: false,
        periods_per_year: 365.0,
    };
    let tf = scalp_core::Timeframe::H1;
    let combos: Vec<Combo> = (0..400)
        .map(|k| Combo {
            fast: 2 + 2 * (k / 20),
            slow: 50 + 20 * (k % 20),
            margin_frac: 1.0,
        })
        .collect();
    let block: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("BLOCK"))
        .unwrap_or(1024);
    let cc = (combos.len() * c.len()) as f64;
    let modes: &[bool] = if std::env::var_os("NOFULL").is_some() {
        &[false]
    } else {
        &[false, true]
    };
    for &full in modes {
        let reps: usize = std::env::var("REPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100);
        let mut times = Vec::new();
        let mut best = 0.0;
        for _ in 0..reps {
            let t = Instant::now();
            let r = scalp_optimizer::sweep::sma_cross_combos(&c, tf, &combos, &cost, full, block);
            times.push(t.elapsed().as_secs_f64());
            best = r.iter().map(|m| m.final_equity).fold(0.0, f64::max);
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        let med = times[reps / 2];
        println!(
            "full={full:<5} block={block}: first {:.3} ms, median {:.3} ms = {:.3e} candle·combos/s, min {:.3} ms; best final equity {best:.2}",
            first * 1e3,
            med * 1e3,
            cc / med,
            times[0] * 1e3
        );
    }
}
