//! Quick throughput probe of the sma_cross kernel: `cargo run --release -p scalp-optimizer --example kernel_speed -- data/coinbase_btcusd_1h.csv`
use scalp_optimizer::grid::Grid;
use scalp_optimizer::kernels::sma_cross::{KSizing, KernelCost};
use scalp_optimizer::series::Series;
use std::time::Instant;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "data/coinbase_btcusd_1h.csv".into());
    let c = scalp_core::csvdata::read_candles_csv(std::path::Path::new(&path)).unwrap();
    let s = Series::from_candles(&c);
    let g = Grid::parse("fast=2..40:2,slow=50..430:20").unwrap();
    let base = scalp_strategy::Params::defaults(scalp_strategy::spec("sma_cross").unwrap().params);
    let cost = KernelCost {
        capital: 10000.0,
        taker_fee: 0.001,
        slippage: 0.0,
        lot_step: 1e-8,
        next_open: true,
        sizing: KSizing::AllCash,
        end_at_close: false,
        periods_per_year: 8760.0,
    };
    let t = Instant::now();
    let periods: Vec<usize> = (2..=40).step_by(2).chain((50..=430).step_by(20)).collect();
    let tab = scalp_optimizer::sweep::SmaTable::build(&s.close, &periods);
    println!("sma table {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let mut acc = 0.0;
    for f in (2..=40).step_by(2) {
        for sl in (50..=430).step_by(20) {
            let inp = scalp_optimizer::kernels::sma_cross::Inputs {
                open: &s.open,
                close: &s.close,
                fast: tab.get(f),
                slow: tab.get(sl),
            };
            acc += scalp_optimizer::kernels::sma_cross::run::<false>(inp, &cost, 1.0, None)
                .final_equity;
        }
    }
    let e = t.elapsed().as_secs_f64();
    println!(
        "single-thread kernels {:.3} ms {:.3e} cc/s ({acc})",
        e * 1e3,
        (400 * s.len()) as f64 / e
    );
    for full in [false, true] {
        for _ in 0..3 {
            let t = Instant::now();
            let r = scalp_optimizer::sweep::sma_cross_grid(&s, &g, &base, &cost, full);
            let e = t.elapsed().as_secs_f64();
            println!(
                "full={full} {} combos {:.3} ms {:.3e} cc/s",
                r.len(),
                e * 1e3,
                (r.len() * s.len()) as f64 / e
            );
        }
    }
}

#[allow(dead_code)]
fn unused() {}
