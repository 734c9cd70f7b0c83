//! Foundation issue: "migrations safe when six daemons start at once on a fresh database — test
//! it: N processes start together, all succeed, schema correct".
//!
//! This test binary re-executes itself N = 8 times (`--exact child_open --ignored` + env vars);
//! each child waits on a start barrier (a file the parent creates once every child is ready),
//! then calls `scalp_store::open` on the same fresh database and writes a few candles of its own
//! series. Repeated over several fresh databases.

use scalp_core::{Candle, Exchange, Timeframe};
use scalp_store::{LATEST_VERSION, SeriesKey, candles, open, schema_version};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_DB: &str = "SCALP_STORE_CHILD_DB";
const CHILD_ID: &str = "SCALP_STORE_CHILD_ID";
const CHILDREN: usize = 8;
const ROUNDS: usize = 6;

fn go_file(db: &Path) -> PathBuf {
    db.with_extension("go")
}

fn ready_file(db: &Path, id: &str) -> PathBuf {
    db.with_extension(format!("ready-{id}"))
}

/// Child entry point (ignored in normal runs).
#[test]
#[ignore = "entry point of the child processes of eight_processes_open_a_fresh_db_at_once"]
fn child_open() {
    let db = PathBuf::from(std::env::var_os(CHILD_DB).expect("run by the parent test"));
    let id = std::env::var(CHILD_ID).unwrap();
    std::fs::write(ready_file(&db, &id), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !go_file(&db).exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::sleep(Duration::from_micros(100));
    }
    let conn = open(&db).unwrap_or_else(|e| panic!("child {id}: open failed: {e}"));
    let symbol = format!("C{id}USDT");
    let k = SeriesKey {
        exchange: Exchange::Replay,
        symbol: &symbol,
        timeframe: Timeframe::M1,
    };
    let bars: Vec<Candle> = (0..50)
        .map(|i| Candle {
            open_time: i * 60_000,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.25,
            volume: i as f64,
        })
        .collect();
    let n = candles::upsert(&conn, &k, &bars)
        .unwrap_or_else(|e| panic!("child {id}: upsert failed: {e}"));
    assert_eq!(n, 50);
}

fn run_round(dir: &Path, round: usize) {
    let db = dir.join(format!("round{round}/scalp.db"));
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut children = Vec::new();
    for i in 0..CHILDREN {
        let child = Command::new(&exe)
            .args([
                "--exact",
                "concurrent_open::child_open",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, &db)
            .env(CHILD_ID, i.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(0..CHILDREN).all(|i| ready_file(&db, &i.to_string()).exists()) {
        assert!(Instant::now() < deadline, "children not ready in 120 s");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        !db.exists(),
        "nobody opened the database before the start signal"
    );
    std::fs::write(go_file(&db), b"").unwrap();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "round {round} child {i} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let conn = open(&db).unwrap();
    assert_eq!(schema_version(&conn).unwrap(), LATEST_VERSION);
    let jm: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(jm, "wal");
    let ic: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ic, "ok");
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
    for t in ["series", "candles", "funding_rates", "open_interest"] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [t],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "table {t}");
    }
    // Schema identical to a database migrated alone.
    let reference = scalp_store::open_in_memory().unwrap();
    let schema = |c: &rusqlite::Connection| -> Vec<(String, String)> {
        c.prepare("SELECT name, coalesce(sql, '') FROM sqlite_schema ORDER BY name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(schema(&conn), schema(&reference));
    let series = candles::series(&conn).unwrap();
    assert_eq!(series.len(), CHILDREN);
    assert!(series.iter().all(|s| s.count == 50));
}

#[test]
fn eight_processes_open_a_fresh_db_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        run_round(dir.path(), round);
    }
}
