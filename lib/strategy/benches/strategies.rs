//! Cost of `on_candle` per strategy (default params) over the bundled hourly data with a flat
//! position and synthetic extras (higher timeframes resampled from the data; building those
//! slices is included in the time): the strategy's own share of an engine's per-candle cost.
//! `cargo bench -p scalp-strategy`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scalp_core::Timeframe;
use scalp_strategy::registry::SPECS;
use scalp_strategy::{Context, MarketExtras, Params, PositionView};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/coinbase_btcusd_1h.csv"
    ));
    let cs = scalp_core::csvdata::read_candles_csv(path).unwrap();
    let mut g = c.benchmark_group("on_candle");
    g.throughput(Throughput::Elements(cs.len() as u64));
    for spec in SPECS {
        let probe = scalp_strategy::build(spec.name, &Params::defaults(spec.params), Timeframe::H1)
            .unwrap();
        let htf: Vec<(Timeframe, Vec<scalp_core::Candle>)> = probe
            .timeframes()
            .into_iter()
            .skip(1)
            .map(|h| (h, scalp_indicators::resample(&cs, Timeframe::H1, h)))
            .collect();
        g.bench_function(spec.name, |b| {
            b.iter(|| {
                let mut s =
                    scalp_strategy::build(spec.name, &Params::defaults(spec.params), Timeframe::H1)
                        .unwrap();
                let mut out = Vec::with_capacity(64);
                let mut n = 0usize;
                for i in 0..cs.len() {
                    let close_t = cs[i].open_time + Timeframe::H1.ms();
                    let hs: Vec<(Timeframe, &[scalp_core::Candle])> = htf
                        .iter()
                        .map(|(h, v)| {
                            (
                                *h,
                                &v[..v.partition_point(|x| x.open_time + h.ms() <= close_t)],
                            )
                        })
                        .collect();
                    let ctx = Context {
                        asset: "BTC",
                        candles: &cs[..=i],
                        higher: &hs,
                        position: PositionView::default(),
                        extras: MarketExtras {
                            funding_rate: Some(0.0002),
                            open_interest: Some(1e4),
                        },
                    };
                    out.clear();
                    s.on_candle(&ctx, &mut out);
                    n += out.len();
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
