//! `cargo bench -p scalp-marketdata --bench ingest`:
//! - `replay_ingest/20111`: the bundled file through the replay source and the full pipeline
//!   (closed-candle rules, batching, DB thread, real SQLite file in WAL mode) at
//!   `candles_per_second = 0`;
//! - `backfill_binance/20111`: REST backfill of the same 20,111 hourly candles from the
//!   Binance stand-in on 127.0.0.1 (paginated `/fapi/v1/klines`, parsing, validation) plus the
//!   upserts, i.e. what the collector does at start-up.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use scalp_core::config::Config;
use scalp_core::{Exchange, Timeframe};
use scalp_marketdata::actor::DbActor;
use scalp_marketdata::pipeline::{Pipeline, PipelineOptions};
use scalp_marketdata::replay::ReplaySource;
use scalp_marketdata::{Series, Stop, db};
use std::path::Path;

fn config() -> Config {
    let mut cfg = scalp_core::config::Config::defaults(Path::new("/nonexistent")).unwrap();
    cfg.main.paths.bundled_data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    cfg.main.replay.candles_per_second = 0.0;
    cfg
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cfg = config();
    let src = ReplaySource::load(&cfg).unwrap();
    let n = src.len() as u64;

    let mut g = c.benchmark_group("replay_ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("20111", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                rt.block_on(async {
                    let p = dir.path().join("b.db");
                    let (dba, join) = DbActor::spawn("db", move || db::open(&p)).unwrap();
                    let pipe =
                        Pipeline::new(dba.clone(), PipelineOptions::default(), vec![]).unwrap();
                    let (tx, rx) = tokio::sync::mpsc::channel(1_024);
                    let stop = Stop::new();
                    let h = tokio::spawn(pipe.run(rx, stop.clone(), ()));
                    src.clone().run(Some((0, 0)), tx, stop.clone()).await;
                    stop.trigger();
                    let s = h.await.unwrap();
                    assert_eq!(s.candles_stored, n);
                    drop(dba);
                    join.join().unwrap();
                });
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let standin = rt.block_on(scalp_e2e::standin::StandIn::start(
        scalp_e2e::standin::StandInConfig {
            binance_weight_limit: 10_000_000,
            ..Default::default()
        },
    ));
    let mut ex = standin.exchanges_config();
    ex.binance.weight_limit_per_minute = 10_000_000;
    let rest = scalp_exchange::RestClient::new(Exchange::Binance, &ex).unwrap();
    let hours = standin.series().hours().to_vec();
    let (from, to) = (hours[0].open_time, standin.series().end());
    let mut g = c.benchmark_group("backfill_binance");
    g.sample_size(10);
    g.throughput(Throughput::Elements(hours.len() as u64));
    g.bench_function("20111", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let conn = db::open(&dir.path().join("b.db")).unwrap();
                let got = rt
                    .block_on(rest.fetch_klines("BTCUSDT", Timeframe::H1, from, to))
                    .unwrap();
                assert_eq!(got.len(), hours.len());
                let s = Series::new(Exchange::Binance, "BTCUSDT", Timeframe::H1);
                for chunk in got.chunks(5_000) {
                    db::upsert_candles(&conn, &s, chunk).unwrap();
                }
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
