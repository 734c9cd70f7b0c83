//! Streaming update cost per indicator over the bundled hourly data (20 111 candles).
//! `cargo bench -p scalp-indicators`; divide the time per iteration by 20 111 for ns/update.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scalp_indicators::*;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/coinbase_btcusd_1h.csv"
    ));
    let cs = scalp_core::csvdata::read_candles_csv(path).unwrap();
    let mut g = c.benchmark_group("streaming");
    g.throughput(Throughput::Elements(cs.len() as u64));
    macro_rules! b {
        ($name:expr, $new:expr, |$s:ident, $c:ident| $upd:expr) => {
            g.bench_function($name, |bn| {
                bn.iter(|| {
                    let mut $s = $new;
                    let mut acc = 0.0;
                    for $c in &cs {
                        if let Some(v) = $upd {
                            acc += v;
                        }
                    }
                    black_box(acc)
                })
            });
        };
    }
    b!("sma20", Sma::new(20), |s, c| s.update(c.close));
    b!("ema20", Ema::new(20), |s, c| s.update(c.close));
    b!("rsi14", Rsi::new(14), |s, c| s.update(c.close));
    b!("atr14", Atr::new(14), |s, c| s.update(c));
    b!("bollinger20", Bollinger::new(20, 2.0), |s, c| s
        .update(c.close)
        .map(|b| b.up));
    b!("adx14", Adx::new(14), |s, c| s
        .update(c)
        .and_then(|d| d.adx));
    b!("vwap_day", Vwap::utc_day(), |s, c| s.update(c));
    b!("supertrend10", Supertrend::new(10, 3.0), |s, c| s
        .update(c)
        .map(|v| v.value));
    b!("donchian20", Donchian::new(20), |s, c| s
        .update(c)
        .map(|v| v.mid));
    b!("keltner20", Keltner::new(20, 10, 2.0), |s, c| s
        .update(c)
        .map(|v| v.up));
    b!("roc10", Roc::new(10), |s, c| s.update(c.close));
    b!("zscore20", ZScore::new(20), |s, c| s.update(c.close));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
