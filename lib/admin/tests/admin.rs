//! scalp-admin against real SQLite files and real state files in a temp dir.

use rusqlite::Connection;
use std::path::{Path, PathBuf};

const H: i64 = 3_600_000;

fn wal_db(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    c
}

/// A flat candle table like the collector's (exchange, symbol, timeframe, open_time ...).
fn flat_schema(c: &Connection) {
    c.execute_batch(
        "CREATE TABLE candles (exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
           open_time INTEGER NOT NULL, open REAL, high REAL, low REAL, close REAL, volume REAL,
           PRIMARY KEY (exchange, symbol, timeframe, open_time)) WITHOUT ROWID;
         PRAGMA user_version = 3;",
    )
    .unwrap();
}

fn insert(c: &Connection, ex: &str, sym: &str, tf: &str, from: i64, n: i64) {
    // one transaction per call (one fsync), like the collector's batched writes
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut st = c
        .prepare("INSERT INTO candles VALUES (?1, ?2, ?3, ?4, 1, 2, 0.5, 1.5, 10)")
        .unwrap();
    for i in 0..n {
        st.execute(rusqlite::params![ex, sym, tf, from + i * H])
            .unwrap();
    }
    drop(st);
    c.execute_batch("COMMIT").unwrap();
}

fn count(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM candles", [], |r| r.get(0))
        .unwrap()
}

fn backups_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn status_reports_latest_candle_per_series_and_state_envelope() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("scalp.db");
    let c = wal_db(&db);
    flat_schema(&c);
    let t0 = 1_500_000_000_000 - 1_500_000_000_000 % H;
    insert(&c, "replay", "BTCUSDT", "1h", t0, 50);
    insert(&c, "binance", "ETHUSDT", "1m", t0, 3);
    let state = d.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let now = scalp_core::types::now_ms();
    std::fs::write(
        state.join("collector.json"),
        format!(
            r#"{{"version":1,"seq":41,"written_at":{},"streams":[{{"symbol":"BTCUSDT","lag_ms":250,"last_error":"ws closed"}}]}}"#,
            now - 3000
        ),
    )
    .unwrap();
    std::fs::write(state.join("simulator.json"), "{\"version\":1,\"seq\":").unwrap();

    let r = scalp_admin::status(&state, &db, false);
    assert!(!r.systemd);
    let info = r.db.as_ref().expect("db info");
    assert_eq!(info.schema_version, 3);
    assert_eq!(info.tables, vec![("candles".to_string(), 53)]);
    assert_eq!(info.series.len(), 2);
    let btc = info.series.iter().find(|s| s.symbol == "BTCUSDT").unwrap();
    assert_eq!(btc.exchange.as_deref(), Some("replay"));
    assert_eq!(btc.timeframe.as_deref(), Some("1h"));
    assert_eq!(btc.rows, 50);
    assert_eq!(btc.latest_ms, t0 + 49 * H);
    let col = &r.state_files[0];
    assert_eq!(col.daemon, "scalp-collector");
    assert_eq!(col.seq, Some(41));
    let age = col.heartbeat_age_ms.unwrap();
    assert!((3000..60_000).contains(&age), "heartbeat age {age}");
    assert_eq!(col.max_lag_ms, Some(250));
    let sim = &r.state_files[1];
    assert!(
        sim.problem
            .as_deref()
            .unwrap()
            .starts_with("not valid JSON")
    );
    let probs = r.problems();
    assert!(probs.iter().any(|p| p.contains("ws closed")), "{probs:?}");
    let text = r.to_text();
    assert!(
        text.contains("BTCUSDT") && text.contains("rows=50"),
        "{text}"
    );
}

#[test]
fn status_follows_a_foreign_key_to_a_series_table() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("scalp.db");
    let c = wal_db(&db);
    c.execute_batch(
        "CREATE TABLE series (id INTEGER PRIMARY KEY, exchange TEXT, symbol TEXT, timeframe TEXT);
         CREATE TABLE bars (series_id INTEGER NOT NULL REFERENCES series(id), open_time_ms INTEGER,
           close REAL, PRIMARY KEY (series_id, open_time_ms)) WITHOUT ROWID;
         INSERT INTO series VALUES (1, 'bitget', 'SOLUSDT', '5m'), (2, 'bitget', 'XRPUSDT', '5m');
         INSERT INTO bars VALUES (1, 1000000000000, 1), (1, 1000000300000, 1), (2, 1000000000000, 1);",
    )
    .unwrap();
    let r = scalp_admin::status(&d.path().join("state"), &db, false);
    let s = &r.db.unwrap().series;
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[0].symbol, "SOLUSDT");
    assert_eq!(s[0].rows, 2);
    assert_eq!(s[0].latest_ms, 1_000_000_300_000);
    assert_eq!(s[0].table, "bars");
    assert!(r.state_files.is_empty());
}

#[test]
fn status_without_database_says_so() {
    let d = tempfile::tempdir().unwrap();
    let r = scalp_admin::status(&d.path().join("state"), &d.path().join("scalp.db"), false);
    assert!(r.db.is_none());
    assert!(r.db_error.unwrap().contains("no database yet"));
}

#[test]
fn backup_while_writing_is_consistent_and_retention_keeps_newest() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("scalp.db");
    let c = wal_db(&db);
    flat_schema(&c);
    insert(&c, "replay", "BTCUSDT", "1h", 0, 5000);
    drop(c);
    // a concurrent writer keeps inserting while the backups run
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let c = wal_db(&db);
            c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                insert(&c, "binance", "ETHUSDT", "1h", i * H, 1);
                i += 1;
            }
            i
        })
    };
    let dest = d.path().join("backups");
    let mut made = Vec::new();
    for _ in 0..4 {
        let r = scalp_admin::backup(&db, &dest, 2).unwrap();
        assert_eq!(r.integrity, "ok");
        assert!(r.pages > 0 && r.bytes > 0);
        let rows = count(Path::new(&r.backup));
        assert!(rows >= 5000, "backup has {rows} rows");
        made.push(
            PathBuf::from(&r.backup)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    // only the 2 newest remain, no partial file left behind
    assert_eq!(backups_in(&dest), made[2..].to_vec());
    // the copy is a self-contained file (journal_mode=DELETE, no -wal needed)
    let last = dest.join(&made[3]);
    let mode: String = Connection::open(&last)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    assert!(scalp_admin::backup(&db, &dest, 0).is_err());
}

#[test]
fn backup_of_a_corrupt_database_fails_and_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("scalp.db");
    {
        let c = Connection::open(&db).unwrap();
        flat_schema(&c);
        insert(&c, "replay", "BTCUSDT", "1h", 0, 3000);
    }
    // overwrite the middle of the file (b-tree pages) with garbage
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 16384);
    for b in &mut bytes[8192..16384] {
        *b = 0x5a;
    }
    std::fs::write(&db, bytes).unwrap();
    let dest = d.path().join("backups");
    let e = scalp_admin::backup(&db, &dest, 3).unwrap_err().to_string();
    assert!(e.contains("integrity") || e.contains("malformed"), "{e}");
    assert!(backups_in(&dest).is_empty(), "{:?}", backups_in(&dest));
}

#[test]
fn checkpoint_truncates_the_wal() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("scalp.db");
    let c = wal_db(&db);
    c.execute_batch("PRAGMA wal_autocheckpoint=0").unwrap();
    flat_schema(&c);
    insert(&c, "replay", "BTCUSDT", "1h", 0, 2000);
    let r = scalp_admin::checkpoint(&db).unwrap();
    assert!(r.wal_bytes_before > 50_000, "{r:?}");
    assert_eq!(r.wal_bytes_after, 0, "{r:?}");
    assert!(!r.busy);
    assert!(r.log_frames > 0, "{r:?}");
    assert_eq!(r.log_frames, r.checkpointed_frames);
    // the data is in the database file now
    drop(c);
    assert_eq!(count(&db), 2000);
    assert!(scalp_admin::checkpoint(&d.path().join("missing.db")).is_err());
}

fn config_dir(d: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for f in [
        "scalp.toml",
        "assets.toml",
        "strategies.toml",
        "param_grids.toml",
    ] {
        std::fs::copy(root.join("config").join(f), d.join(f)).unwrap();
    }
    let main = std::fs::read_to_string(d.join("scalp.toml")).unwrap();
    let main = main
        .replace(
            "data_dir = \"/var/lib/scalp-radar\"",
            &format!("data_dir = \"{}\"", d.join("data").display()),
        )
        .replace(
            "bundled_data_dir = \"/usr/share/scalp-radar/data\"",
            &format!("bundled_data_dir = \"{}\"", root.join("data").display()),
        );
    std::fs::write(d.join("scalp.toml"), main).unwrap();
    d.join("scalp.toml")
}

#[test]
fn check_config_accepts_defaults_and_names_file_line_key() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let cfg = config_dir(d.path());
    let r = scalp_admin::check_config(&cfg).unwrap();
    assert_eq!(r.files.len(), 4);
    assert_eq!(r.sources, vec!["replay"]);
    assert!(r.notes.iter().any(|n| n.contains("secrets.env")));

    // world-readable secrets are refused
    let sec = d.path().join("secrets.env");
    std::fs::write(&sec, "SCALP_SYNC_API_KEY=x\n").unwrap();
    std::fs::set_permissions(&sec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = scalp_admin::check_config(&cfg).unwrap_err().to_string();
    assert!(e.contains("secrets.env") && e.contains("0644"), "{e}");
    std::fs::set_permissions(&sec, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(scalp_admin::check_config(&cfg).unwrap().notes.is_empty());

    // a typo'd key in a sibling file: file:line and the key
    let assets = d.path().join("assets.toml");
    let text = std::fs::read_to_string(&assets).unwrap();
    std::fs::write(&assets, format!("{text}\nbogus_key = 1\n")).unwrap();
    let line = text.lines().count() + 2;
    let e = scalp_admin::check_config(&cfg).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:{line}:", assets.display())),
        "{e}"
    );
    assert!(e.contains("bogus_key"), "{e}");
    std::fs::write(&assets, text).unwrap();

    // a replay file that does not exist
    let main = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, main.replace("coinbase_btcusd_1h.csv", "nope.csv")).unwrap();
    let e = scalp_admin::check_config(&cfg).unwrap_err().to_string();
    assert!(e.contains("replay.file") && e.contains("nope.csv"), "{e}");
}
