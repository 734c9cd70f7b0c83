//! Real SQLite files in temp directories, real bundled market data.

use scalp_core::csvdata::read_candles_csv;
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_store::{
    FundingRate, LATEST_VERSION, OpenInterest, SeriesKey, StoreError, backup, candles, checkpoint,
    funding, open, open_interest, open_readonly, schema_version,
};
use std::path::{Path, PathBuf};

fn data(name: &str) -> Vec<Candle> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name);
    read_candles_csv(&path).unwrap()
}

fn key(symbol: &str, timeframe: Timeframe) -> SeriesKey<'_> {
    SeriesKey {
        exchange: Exchange::Replay,
        symbol,
        timeframe,
    }
}

fn tables(conn: &rusqlite::Connection) -> Vec<String> {
    let mut st = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn assert_same_bits(a: &[Candle], b: &[Candle]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.open_time, y.open_time);
        for (u, v) in [
            (x.open, y.open),
            (x.high, y.high),
            (x.low, y.low),
            (x.close, y.close),
            (x.volume, y.volume),
        ] {
            assert_eq!(u.to_bits(), v.to_bits(), "at {}: {u} vs {v}", x.open_time);
        }
    }
}

#[test]
fn open_sets_pragmas_and_migrates_to_latest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/scalp.db");
    let conn = open(&path).unwrap();
    assert!(path.is_file());
    let jm: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(jm, "wal");
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 1, "NORMAL");
    let fk: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    let bt: i64 = conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bt, 10_000);
    assert_eq!(schema_version(&conn).unwrap(), LATEST_VERSION);
    assert_eq!(
        LATEST_VERSION as usize,
        scalp_store::migration_names().len()
    );
    let t = tables(&conn);
    for want in [
        "series",
        "candles",
        "candles_v",
        "funding_rates",
        "open_interest",
    ] {
        assert!(t.iter().any(|n| n == want), "{want} missing from {t:?}");
    }
    drop(conn);
    // Re-opening is a no-op migration-wise; pragmas are per connection again.
    let conn = open(&path).unwrap();
    assert_eq!(schema_version(&conn).unwrap(), LATEST_VERSION);
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 1);
    // Foreign keys are enforced: a candle of a series that does not exist is refused.
    let err = conn
        .execute("INSERT INTO candles VALUES (999, 0, 1, 1, 1, 1, 1)", [])
        .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
}

#[test]
fn newer_schema_is_refused_never_downgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scalp.db");
    drop(open(&path).unwrap());
    let newer = LATEST_VERSION + 3;
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", newer).unwrap();
    }
    let err = open(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "database schema v{newer} is newer than this binary (v{LATEST_VERSION})"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&path.display().to_string()),
        "names the db: {msg}"
    );
    let c = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(schema_version(&c).unwrap(), newer, "untouched");
}

#[test]
fn failed_migration_names_itself_and_keeps_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scalp.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE series (x)").unwrap(); // collides with 01-market-data
    }
    let err = open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Migration { .. }), "{err:?}");
    assert!(
        msg.contains("scalp.db") && msg.contains("migration 01-market-data failed"),
        "{msg}"
    );
    assert!(
        msg.contains("table series already exists") && !msg.contains("CREATE TABLE"),
        "{msg}"
    );
    let c = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(schema_version(&c).unwrap(), 0);
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'candles'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0, "the failed migration was rolled back as a whole");
}

#[test]
fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // Parent "directory" is a file.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let path = blocker.join("scalp.db");
    let msg = open(&path).unwrap_err().to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    // Not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let msg = open(&junk).unwrap_err().to_string();
    assert!(
        msg.contains("junk.db") && msg.contains("not a database"),
        "{msg}"
    );
}

#[test]
fn readonly_connection_reads_but_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scalp.db");
    let missing = open_readonly(&path).unwrap_err().to_string();
    assert!(
        missing.contains("scalp.db") && missing.contains("no such database file"),
        "{missing}"
    );

    let w = open(&path).unwrap();
    let bars = data("bitstamp_ethusd_1d.csv");
    let k = SeriesKey {
        exchange: Exchange::Binance,
        symbol: "ETHUSDT",
        timeframe: Timeframe::D1,
    };
    candles::upsert(&w, &k, &bars).unwrap();

    let r = open_readonly(&path).unwrap();
    assert_same_bits(&candles::load(&r, &k, i64::MIN, i64::MAX).unwrap(), &bars);
    let err = candles::upsert(&r, &k, &bars[..1]).unwrap_err().to_string();
    assert!(
        err.contains("readonly") || err.contains("read-only") || err.contains("query_only"),
        "{err}"
    );
    // The writer keeps writing while the reader is open; the reader sees it.
    let mut next = *bars.last().unwrap();
    next.open_time += Timeframe::D1.ms();
    assert_eq!(candles::upsert(&w, &k, &[next]).unwrap(), 1);
    assert_eq!(
        candles::last_open_time(&r, &k).unwrap(),
        Some(next.open_time)
    );
}

#[test]
fn candles_round_trip_exactly_and_upsert_counts_changes() {
    let conn = scalp_store::open_in_memory().unwrap();
    let bars = data("coinbase_btcusd_1h.csv");
    assert_eq!(bars.len(), 20_111);
    let k = key("BTCUSDT", Timeframe::H1);
    assert_eq!(candles::upsert(&conn, &k, &bars).unwrap(), bars.len());
    let back = candles::load(&conn, &k, i64::MIN, i64::MAX).unwrap();
    assert_same_bits(&back, &bars);
    // Identical re-send: nothing changes.
    assert_eq!(candles::upsert(&conn, &k, &bars[100..200]).unwrap(), 0);
    // One corrected candle: one change.
    let mut fix = bars[150];
    fix.volume += 1.0;
    assert_eq!(candles::upsert(&conn, &k, &[fix]).unwrap(), 1);
    assert_eq!(
        candles::load(&conn, &k, fix.open_time, fix.open_time + 1).unwrap(),
        vec![fix]
    );
    assert_eq!(candles::count(&conn, &k).unwrap(), 20_111);
    // [from, to) ranges.
    let (t0, t1) = (bars[10].open_time, bars[20].open_time);
    let slice = candles::load(&conn, &k, t0, t1).unwrap();
    assert_eq!(slice.len(), 10);
    assert_eq!(slice[0].open_time, t0);
    assert_same_bits(
        &candles::load(&conn, &k, t0 + 1, t1 + 1).unwrap(),
        &bars[11..21],
    );
    // Other series are separate: same times on another timeframe/exchange/symbol.
    let other = SeriesKey {
        exchange: Exchange::Bitget,
        ..k
    };
    assert!(
        candles::load(&conn, &other, i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
    assert_eq!(candles::count(&conn, &other).unwrap(), 0);
    assert_eq!(candles::last_open_time(&conn, &other).unwrap(), None);
    assert_eq!(
        candles::first_open_time(&conn, &k).unwrap(),
        Some(bars[0].open_time)
    );
    assert_eq!(
        candles::last_open_time(&conn, &k).unwrap(),
        Some(bars.last().unwrap().open_time)
    );
    // The decoded view agrees with the API bit for bit.
    let mut st = conn
        .prepare("SELECT open_time, open, high, low, close, volume FROM candles_v WHERE symbol = 'BTCUSDT' ORDER BY open_time")
        .unwrap();
    let via_view: Vec<Candle> = st
        .query_map([], |r| {
            Ok(Candle {
                open_time: r.get(0)?,
                open: r.get(1)?,
                high: r.get(2)?,
                low: r.get(3)?,
                close: r.get(4)?,
                volume: r.get(5)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected = bars.clone();
    expected[150] = fix;
    assert_same_bits(&via_view, &expected);
}

#[test]
fn bad_candles_are_rejected_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scalp.db");
    let conn = open(&path).unwrap();
    let k = SeriesKey {
        exchange: Exchange::Binance,
        symbol: "SOLUSDT",
        timeframe: Timeframe::M5,
    };
    let good = Candle {
        open_time: 1_700_000_100_000,
        open: 50.0,
        high: 51.0,
        low: 49.5,
        close: 50.5,
        volume: 10.0,
    };
    let misaligned = Candle {
        open_time: good.open_time + 300_000 + 60_000,
        ..good
    };
    let err = candles::upsert(&conn, &k, &[good, misaligned]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("scalp.db")
            && msg.contains("binance SOLUSDT 5m")
            && msg.contains("not aligned to 5m"),
        "{msg}"
    );
    assert_eq!(candles::count(&conn, &k).unwrap(), 0, "nothing written");
    let nan = Candle {
        open_time: good.open_time + 300_000,
        close: f64::NAN,
        ..good
    };
    let msg = candles::upsert(&conn, &k, &[good, nan])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("non-finite"), "{msg}");
    let inverted = Candle {
        open_time: good.open_time + 300_000,
        high: 40.0,
        ..good
    };
    assert!(candles::upsert(&conn, &k, &[inverted]).is_err());
    assert_eq!(candles::count(&conn, &k).unwrap(), 0);
    assert_eq!(candles::upsert(&conn, &k, &[]).unwrap(), 0);
}

#[test]
fn scales_grow_and_odd_values_stay_exact() {
    let conn = scalp_store::open_in_memory().unwrap();
    let k = SeriesKey {
        exchange: Exchange::Bitget,
        symbol: "DOGEUSDT",
        timeframe: Timeframe::M1,
    };
    let t = 1_700_000_040_000;
    let c = |i: i64, o: f64, v: f64| Candle {
        open_time: t + i * 60_000,
        open: o,
        high: o,
        low: o,
        close: o,
        volume: v,
    };
    // Integers first (scale 0), then more decimals, then a float that is no short decimal.
    let batches = [
        vec![c(0, 65000.0, 3.0), c(1, 65001.0, 12.0)],
        vec![c(2, 65000.5, 0.25)],
        vec![c(3, 0.00001234, 1234.56789)],
        vec![c(4, 0.1 + 0.2, 0.1 + 0.7)],
        vec![c(5, 1e15 + 1.0, 123456789012.5)],
    ];
    let mut all = Vec::new();
    for b in &batches {
        candles::upsert(&conn, &k, b).unwrap();
        all.extend_from_slice(b);
        assert_same_bits(&candles::load(&conn, &k, 0, i64::MAX).unwrap(), &all);
    }
    let (ps, vs): (i64, i64) = conn
        .query_row("SELECT price_scale, volume_scale FROM series", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((ps, vs), (8, 5), "grew to the decimals seen, where exact");
    let types: Vec<String> = conn
        .prepare("SELECT typeof(o) FROM candles ORDER BY open_time")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        types,
        ["integer", "integer", "integer", "integer", "real", "real"]
    );
    // Re-sending exactly the same values changes nothing, whatever their encoding.
    assert_eq!(candles::upsert(&conn, &k, &all).unwrap(), 0);
}

fn brute_gaps(present: &[i64], from: i64, to: i64, tf: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut t = from.div_euclid(tf) * tf;
    if t < from {
        t += tf;
    }
    while t < to {
        if !present.contains(&t) {
            match out.last_mut() {
                Some(last) if last.1 == t => last.1 = t + tf,
                _ => out.push((t, t + tf)),
            }
        }
        t += tf;
    }
    out
}

#[test]
fn gaps_match_brute_force() {
    let conn = scalp_store::open_in_memory().unwrap();
    let k = key("ETHUSDT", Timeframe::M15);
    let tf = Timeframe::M15.ms();
    let base = 1_600_000_200_000i64 / tf * tf;
    let all: Vec<i64> = (0..400).map(|i| base + i * tf).collect();
    // Remove a pattern: singles, runs, the first and the last.
    let present: Vec<i64> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| !(*i == 0 || *i == 399 || *i == 7 || (50..80).contains(i) || i % 97 == 3))
        .map(|(_, t)| *t)
        .collect();
    let bars: Vec<Candle> = present
        .iter()
        .map(|&t| Candle {
            open_time: t,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 3.0,
        })
        .collect();
    candles::upsert(&conn, &k, &bars).unwrap();
    let ranges = [
        (base, base + 400 * tf),
        (base - 5 * tf, base + 405 * tf),
        (base + 3, base + 100 * tf - 7),
        (base + 55 * tf, base + 60 * tf),
        (base + 10 * tf, base + 10 * tf),
        (base + 10 * tf + 1, base + 10 * tf + 2),
        (base + 200 * tf, base + 100 * tf),
    ];
    for (from, to) in ranges {
        assert_eq!(
            candles::gaps(&conn, &k, from, to).unwrap(),
            brute_gaps(&present, from, to, tf),
            "[{from}, {to})"
        );
    }
    // Unbounded ranges do not overflow; the missing first/last candles merge into the edge gaps.
    let all_gaps = candles::gaps(&conn, &k, i64::MIN, i64::MAX).unwrap();
    let inner = brute_gaps(&present, base, base + 400 * tf, tf);
    assert_eq!(all_gaps.len(), inner.len());
    assert_eq!(all_gaps[1..all_gaps.len() - 1], inner[1..inner.len() - 1]);
    assert_eq!(all_gaps[0].1, base + tf);
    assert_eq!(all_gaps.last().unwrap().0, base + 399 * tf);
    let unknown = key("NOPE", Timeframe::M15);
    assert_eq!(
        candles::gaps(&conn, &unknown, base, base + 4 * tf).unwrap(),
        vec![(base, base + 4 * tf)]
    );
    // Bundled hourly data has no gaps; its daily file has one missing day.
    let h = data("coinbase_btcusd_1h.csv");
    let kh = key("BTCUSD", Timeframe::H1);
    candles::upsert(&conn, &kh, &h).unwrap();
    let end = h.last().unwrap().open_time + 3_600_000;
    assert!(
        candles::gaps(&conn, &kh, h[0].open_time, end)
            .unwrap()
            .is_empty()
    );
    let d = data("coinbase_btcusd_1d.csv");
    let kd = key("BTCUSD", Timeframe::D1);
    candles::upsert(&conn, &kd, &d).unwrap();
    let g = candles::gaps(
        &conn,
        &kd,
        d[0].open_time,
        d.last().unwrap().open_time + 86_400_000,
    )
    .unwrap();
    let times: Vec<i64> = d.iter().map(|c| c.open_time).collect();
    assert_eq!(
        g,
        brute_gaps(
            &times,
            d[0].open_time,
            d.last().unwrap().open_time + 86_400_000,
            86_400_000
        )
    );
    assert_eq!(g.len(), 1, "NOTICE.md: one day missing");

    let listed = candles::series(&conn).unwrap();
    let names: Vec<(String, Timeframe, u64)> = listed
        .iter()
        .map(|s| (s.symbol.clone(), s.timeframe, s.count))
        .collect();
    assert_eq!(
        names,
        vec![
            ("BTCUSD".to_string(), Timeframe::H1, 20_111),
            ("BTCUSD".to_string(), Timeframe::D1, 1_770),
            ("ETHUSDT".to_string(), Timeframe::M15, present.len() as u64),
        ]
    );
    assert_eq!(listed[0].first, Some(h[0].open_time));
    assert_eq!(listed[0].last, Some(h.last().unwrap().open_time));
    assert_eq!(listed[0].exchange, Exchange::Replay);
}

#[test]
fn funding_and_open_interest_round_trip() {
    let conn = scalp_store::open_in_memory().unwrap();
    let t0 = 1_700_000_000_000 / 28_800_000 * 28_800_000;
    let rates: Vec<FundingRate> = (0..30)
        .map(|i| FundingRate {
            time: t0 + i * 28_800_000,
            rate: 0.0001 * (i as f64 - 10.0) / 3.0,
        })
        .collect();
    assert_eq!(
        funding::upsert(&conn, Exchange::Binance, "BTCUSDT", &rates).unwrap(),
        30
    );
    assert_eq!(
        funding::upsert(&conn, Exchange::Binance, "BTCUSDT", &rates).unwrap(),
        0
    );
    assert_eq!(
        funding::load(&conn, Exchange::Binance, "BTCUSDT", i64::MIN, i64::MAX).unwrap(),
        rates
    );
    assert_eq!(
        funding::load(
            &conn,
            Exchange::Binance,
            "BTCUSDT",
            rates[3].time,
            rates[5].time
        )
        .unwrap(),
        rates[3..5]
    );
    assert!(
        funding::load(&conn, Exchange::Bitget, "BTCUSDT", i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        funding::last_time(&conn, Exchange::Binance, "BTCUSDT").unwrap(),
        Some(rates[29].time)
    );
    assert_eq!(
        funding::first_time(&conn, Exchange::Binance, "BTCUSDT").unwrap(),
        Some(t0)
    );
    assert_eq!(
        funding::last_time(&conn, Exchange::Binance, "ETHUSDT").unwrap(),
        None
    );
    let bad = [FundingRate {
        time: t0,
        rate: f64::INFINITY,
    }];
    assert!(
        funding::upsert(&conn, Exchange::Binance, "BTCUSDT", &bad)
            .unwrap_err()
            .to_string()
            .contains("non-finite")
    );

    let oi: Vec<OpenInterest> = (0..10)
        .map(|i| OpenInterest {
            time: t0 + i * 300_000,
            oi: 81234.567 + i as f64,
        })
        .collect();
    assert_eq!(
        open_interest::upsert(&conn, Exchange::Bitget, "ETHUSDT", &oi).unwrap(),
        10
    );
    assert_eq!(
        open_interest::load(&conn, Exchange::Bitget, "ETHUSDT", i64::MIN, i64::MAX).unwrap(),
        oi
    );
    let with_value = [(oi[2], Some(2.5e8))];
    assert_eq!(
        open_interest::upsert_with_value(&conn, Exchange::Bitget, "ETHUSDT", &with_value).unwrap(),
        1
    );
    // A plain upsert of the same snapshot keeps the value.
    assert_eq!(
        open_interest::upsert(&conn, Exchange::Bitget, "ETHUSDT", &oi[2..3]).unwrap(),
        0
    );
    let loaded =
        open_interest::load_with_value(&conn, Exchange::Bitget, "ETHUSDT", oi[2].time, oi[3].time)
            .unwrap();
    assert_eq!(loaded, vec![(oi[2], Some(2.5e8))]);
    assert_eq!(
        open_interest::last_time(&conn, Exchange::Bitget, "ETHUSDT").unwrap(),
        Some(oi[9].time)
    );
    assert!(
        open_interest::upsert(
            &conn,
            Exchange::Bitget,
            "ETHUSDT",
            &[OpenInterest { time: t0, oi: -1.0 }]
        )
        .is_err()
    );
}

#[test]
fn upsert_joins_the_callers_transaction() {
    let mut conn = scalp_store::open_in_memory().unwrap();
    let k = key("ADAUSDT", Timeframe::H1);
    let c = Candle {
        open_time: 3_600_000 * 500_000,
        open: 0.5,
        high: 0.6,
        low: 0.4,
        close: 0.55,
        volume: 1e6,
    };
    {
        let tx = conn.transaction().unwrap();
        assert_eq!(candles::upsert(&tx, &k, &[c]).unwrap(), 1);
        funding::upsert(
            &tx,
            Exchange::Binance,
            "ADAUSDT",
            &[FundingRate {
                time: 0,
                rate: 0.0001,
            }],
        )
        .unwrap();
        // Failing call inside the caller's transaction rolls back only its own savepoint.
        assert!(candles::upsert(&tx, &k, &[Candle { open_time: 1, ..c }]).is_err());
        tx.rollback().unwrap();
    }
    assert_eq!(candles::count(&conn, &k).unwrap(), 0);
    {
        let tx = conn.transaction().unwrap();
        assert_eq!(candles::upsert(&tx, &k, &[c]).unwrap(), 1);
        tx.commit().unwrap();
    }
    assert_eq!(candles::count(&conn, &k).unwrap(), 1);
}

#[test]
fn backup_is_consistent_checked_and_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scalp.db");
    let conn = open(&path).unwrap();
    let bars = data("coinbase_btcusd_1h.csv");
    let k = key("BTCUSDT", Timeframe::H1);
    candles::upsert(&conn, &k, &bars).unwrap();
    funding::upsert(
        &conn,
        Exchange::Binance,
        "BTCUSDT",
        &[FundingRate {
            time: 0,
            rate: 1e-4,
        }],
    )
    .unwrap();

    let dest: PathBuf = dir.path().join("backups/scalp-1.db");
    backup(&conn, &dest).unwrap();
    assert!(!dir.path().join("backups/scalp-1.db.partial").exists());
    let copy = rusqlite::Connection::open(&dest).unwrap();
    let jm: String = copy
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(jm, "delete", "self-contained copy");
    scalp_store::integrity_check(&copy).unwrap();
    assert_eq!(schema_version(&copy).unwrap(), LATEST_VERSION);
    assert_same_bits(
        &candles::load(&copy, &k, i64::MIN, i64::MAX).unwrap(),
        &bars,
    );
    drop(copy);
    // Overwriting an existing backup works; backing up onto the live file is refused.
    backup(&conn, &dest).unwrap();
    let msg = backup(&conn, &path).unwrap_err().to_string();
    assert!(msg.contains("is the database itself"), "{msg}");
    // The copy opens as a normal store (back to WAL).
    let reopened = open(&dest).unwrap();
    assert_eq!(candles::count(&reopened, &k).unwrap(), 20_111);
}

#[test]
fn checkpoint_truncates_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scalp.db");
    let conn = open(&path).unwrap();
    candles::upsert(
        &conn,
        &key("BTCUSDT", Timeframe::D1),
        &data("bitstamp_btcusd_1d.csv"),
    )
    .unwrap();
    let c = checkpoint(&conn).unwrap();
    assert!(c.wal_bytes_before > 0, "WAL had the inserts: {c:?}");
    assert_eq!(c.wal_bytes_after, 0);
    assert!(!c.busy);
    assert!(
        c.log_frames > 0 && c.checkpointed_frames == c.log_frames,
        "{c:?}"
    );
    let again = checkpoint(&conn).unwrap();
    assert_eq!((again.wal_bytes_before, again.wal_bytes_after), (0, 0));
    let mem = checkpoint(&scalp_store::open_in_memory().unwrap()).unwrap();
    assert_eq!((mem.wal_bytes_before, mem.wal_bytes_after), (0, 0));
}

/// Goal from the foundation issue: ≤ 64 bytes per stored candle. Measured on the real bundled
/// data (20,111 hourly + 5,348 daily candles in 5 series), written in collector-sized batches,
/// after a WAL checkpoint: whole database file size / candles, and the candles b-tree alone
/// (dbstat).
#[test]
fn bytes_per_candle_within_goal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scalp.db");
    let conn = open(&path).unwrap();
    let sets = [
        ("coinbase_btcusd_1h.csv", "BTCUSD", Timeframe::H1),
        ("coinbase_btcusd_1d.csv", "BTCUSD", Timeframe::D1),
        ("bitstamp_btcusd_1d.csv", "BTCUSDT", Timeframe::D1),
        ("bitstamp_ethusd_1d.csv", "ETHUSDT", Timeframe::D1),
        ("bitstamp_ltcusd_1d.csv", "LTCUSDT", Timeframe::D1),
    ];
    let mut n = 0usize;
    for (file, sym, tf) in sets {
        let bars = data(file);
        for chunk in bars.chunks(500) {
            candles::upsert(&conn, &key(sym, tf), chunk).unwrap();
        }
        n += bars.len();
    }
    // The live path: one closed candle per upsert (as the collector does).
    let live = data("coinbase_btcusd_1h.csv");
    let k = SeriesKey {
        exchange: Exchange::Binance,
        symbol: "BTCUSDT",
        timeframe: Timeframe::H1,
    };
    for c in &live[..5_000] {
        candles::upsert(&conn, &k, std::slice::from_ref(c)).unwrap();
    }
    n += 5_000;
    checkpoint(&conn).unwrap();
    let file = std::fs::metadata(&path).unwrap().len() as f64;
    let tree: i64 = conn
        .query_row(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'candles'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let payload: i64 = conn
        .query_row(
            "SELECT sum(payload) FROM dbstat WHERE name = 'candles'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let per_file = file / n as f64;
    let per_tree = tree as f64 / n as f64;
    println!(
        "bytes per candle: {per_file:.1} (db file {file} B / {n} candles), candles b-tree {per_tree:.1}, record payload {:.1}",
        payload as f64 / n as f64
    );
    assert!(per_file <= 64.0, "{per_file:.1} bytes per candle > 64");
}
