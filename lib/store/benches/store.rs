//! `cargo bench -p scalp-store`: insert rate, load rate, gap scan on the bundled 20,111 hourly
//! candles in a real file database (WAL, synchronous=NORMAL); prints bytes per stored candle.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use scalp_core::csvdata::read_candles_csv;
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_store::{SeriesKey, candles, checkpoint, open};
use std::hint::black_box;
use std::path::Path;

fn bundled() -> Vec<Candle> {
    read_candles_csv(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv"),
    )
    .unwrap()
}

const KEY: SeriesKey<'static> = SeriesKey {
    exchange: Exchange::Binance,
    symbol: "BTCUSDT",
    timeframe: Timeframe::H1,
};

fn bench(c: &mut Criterion) {
    let bars = bundled();
    let n = bars.len() as u64;
    let dir = tempfile::tempdir().unwrap();

    // Bytes per candle (printed once).
    {
        let path = dir.path().join("size.db");
        let conn = open(&path).unwrap();
        for chunk in bars.chunks(1000) {
            candles::upsert(&conn, &KEY, chunk).unwrap();
        }
        checkpoint(&conn).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        println!(
            "bytes per candle: {:.1} ({size} B / {n} candles, whole file)",
            size as f64 / n as f64
        );
    }

    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    let mut round = 0;
    g.bench_function("upsert_20111_in_batches_of_1000", |b| {
        b.iter_batched(
            || {
                round += 1;
                open(&dir.path().join(format!("ins{round}.db"))).unwrap()
            },
            |conn| {
                for chunk in bars.chunks(1000) {
                    candles::upsert(&conn, &KEY, chunk).unwrap();
                }
                conn
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("upsert_20111_one_per_transaction", |b| {
        b.iter_batched(
            || {
                round += 1;
                open(&dir.path().join(format!("one{round}.db"))).unwrap()
            },
            |conn| {
                for c in &bars {
                    candles::upsert(&conn, &KEY, std::slice::from_ref(c)).unwrap();
                }
                conn
            },
            BatchSize::PerIteration,
        )
    });

    let conn = open(&dir.path().join("read.db")).unwrap();
    candles::upsert(&conn, &KEY, &bars).unwrap();
    g.bench_function("load_20111", |b| {
        b.iter(|| black_box(candles::load(&conn, &KEY, i64::MIN, i64::MAX).unwrap()))
    });
    // Reference: the same range scan in plain rusqlite, no decoding (SQLite's own cost).
    g.bench_function("raw_select_20111_reference", |b| {
        b.iter(|| {
            let mut st = conn
                .prepare_cached("SELECT open_time, o, h, l, c, v FROM candles WHERE series_id = 1 ORDER BY open_time")
                .unwrap();
            let mut rows = st.query([]).unwrap();
            let mut acc = 0i64;
            while let Some(r) = rows.next().unwrap() {
                acc = acc.wrapping_add(r.get::<_, i64>(0).unwrap());
                for i in 1..6 {
                    black_box(r.get_ref(i).unwrap());
                }
            }
            black_box(acc)
        })
    });
    let (from, to) = (
        bars[0].open_time,
        bars.last().unwrap().open_time + 3_600_000,
    );
    g.bench_function("gaps_over_20111_complete", |b| {
        b.iter(|| black_box(candles::gaps(&conn, &KEY, from, to).unwrap()))
    });
    // Same series with every 100th candle missing (201 holes): the LAG window scan.
    let holes: Vec<Candle> = bars
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 100 != 50)
        .map(|(_, c)| *c)
        .collect();
    let hkey = SeriesKey {
        symbol: "HOLES",
        ..KEY
    };
    candles::upsert(&conn, &hkey, &holes).unwrap();
    assert_eq!(candles::gaps(&conn, &hkey, from, to).unwrap().len(), 201);
    g.bench_function("gaps_over_20111_with_201_holes", |b| {
        b.iter(|| black_box(candles::gaps(&conn, &hkey, from, to).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
