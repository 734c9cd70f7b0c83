//! Event-engine throughput (candles/s, one strategy, one core):
//! `cargo bench -p scalp-backtest --bench engine`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scalp_backtest::{BacktestConfig, BacktestInput, run_backtest, synth};
use scalp_core::{Candle, Timeframe};
use scalp_strategy::Params;
use std::hint::black_box;

fn minutes(n: usize) -> Vec<Candle> {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
    let hours = scalp_core::csvdata::read_candles_csv(&p).unwrap();
    synth::minutes_from_hours(&hours, n)
}

fn bench_strategy(c: &mut Criterion, name: &str, candles: &[Candle], overrides: &[(String, f64)]) {
    let spec =
        scalp_strategy::spec(name).unwrap_or_else(|| panic!("strategy {name} not registered"));
    let params = Params::defaults(spec.params)
        .with_overrides(name, spec.params, overrides)
        .unwrap();
    let cfg = BacktestConfig {
        leverage: 3.0,
        ..BacktestConfig::default()
    };
    let tfs = (spec.build)(&params, Timeframe::M1).timeframes();
    let input = BacktestInput::new("BTC", Timeframe::M1, candles).with_aggregated(&tfs);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(candles.len() as u64));
    g.sample_size(10);
    g.bench_function(format!("{name}_1m_{}k", candles.len() / 1000), |b| {
        b.iter(|| {
            let mut s = (spec.build)(&params, Timeframe::M1);
            let r = run_backtest(&input, s.as_mut(), &cfg).unwrap();
            black_box(r.metrics.final_equity)
        })
    });
    g.finish();
}

fn engine(c: &mut Criterion) {
    let candles = minutes(1_000_000);
    bench_strategy(
        c,
        "sma_cross",
        &candles,
        &[("fast".into(), 10.0), ("slow".into(), 30.0)],
    );
    bench_strategy(c, "grid_atr", &candles, &[]);
}

criterion_group!(benches, engine);
criterion_main!(benches);
