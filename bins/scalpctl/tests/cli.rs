//! The built `scalpctl` binary against a real config dir, database and state dir.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Copies the shipped config into `d`, pointing data_dir at `d/data` and the bundled data at
/// the checkout's `data/`.
fn config(d: &Path) -> PathBuf {
    for f in [
        "scalp.toml",
        "assets.toml",
        "strategies.toml",
        "param_grids.toml",
    ] {
        std::fs::copy(repo().join("config").join(f), d.join(f)).unwrap();
    }
    let main = std::fs::read_to_string(d.join("scalp.toml"))
        .unwrap()
        .replace(
            "data_dir = \"/var/lib/scalp-radar\"",
            &format!("data_dir = \"{}\"", d.join("data").display()),
        )
        .replace(
            "bundled_data_dir = \"/usr/share/scalp-radar/data\"",
            &format!("bundled_data_dir = \"{}\"", repo().join("data").display()),
        );
    std::fs::write(d.join("scalp.toml"), main).unwrap();
    d.join("scalp.toml")
}

fn scalpctl(cfg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalpctl"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env_remove("SCALP_CONFIG")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

fn make_db(data: &Path, rows: i64) -> Connection {
    std::fs::create_dir_all(data.join("state")).unwrap();
    let c = Connection::open(data.join("scalp.db")).unwrap();
    c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .unwrap();
    c.execute_batch(
        "PRAGMA wal_autocheckpoint=0;
         CREATE TABLE candles (exchange TEXT, symbol TEXT, timeframe TEXT, open_time INTEGER,
           close REAL, PRIMARY KEY (exchange, symbol, timeframe, open_time));",
    )
    .unwrap();
    let mut st = c
        .prepare("INSERT INTO candles VALUES ('replay', 'BTCUSDT', '1h', ?1, 1.0)")
        .unwrap();
    for i in 0..rows {
        st.execute([1_500_000_000_000 + i * 3_600_000]).unwrap();
    }
    drop(st);
    c
}

#[test]
fn status_json_reads_db_and_state_files_without_systemd_units() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path());
    let data = d.path().join("data");
    let _c = make_db(&data, 120);
    std::fs::write(
        data.join("state/collector.json"),
        r#"{"version":1,"seq":9,"written_at":"2026-01-01T00:00:00.000Z","streams":[{"lag_ms":42}]}"#,
    )
    .unwrap();
    let v = ok(&scalpctl(&cfg, &["status", "--json", "--no-units"]));
    assert_eq!(v["systemd"], false);
    assert_eq!(v["config_error"], serde_json::Value::Null);
    let s = &v["db"]["series"][0];
    assert_eq!(s["symbol"], "BTCUSDT");
    assert_eq!(s["rows"], 120);
    assert_eq!(s["latest_ms"], 1_500_000_000_000i64 + 119 * 3_600_000);
    let f = &v["state_files"][0];
    assert_eq!(f["daemon"], "scalp-collector");
    assert_eq!(f["seq"], 9);
    assert_eq!(f["written_at_ms"], 1_767_225_600_000i64);
    assert_eq!(f["max_lag_ms"], 42);

    let text = scalpctl(&cfg, &["status", "--no-units"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("collector.json") && out.contains("rows=120"),
        "{out}"
    );
}

#[test]
fn status_with_a_broken_config_still_reports_and_names_the_error() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path());
    std::fs::write(&cfg, "[collector]\nsourcez = [\"replay\"]\n").unwrap();
    let o = scalpctl(&cfg, &["status", "--json", "--no-units"]);
    // The report is printed, and the exit status says the config is not right (issue 15).
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = v["config_error"].as_str().unwrap();
    assert!(e.contains("scalp.toml:2:") && e.contains("sourcez"), "{e}");
    // A config that does not exist: the same.
    let o = scalpctl(&d.path().join("nope.toml"), &["status", "--no-units"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("config error") && out.contains("nope.toml"),
        "{out}"
    );
}

#[test]
fn backup_checkpoint_and_check_config_commands() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path());
    let data = d.path().join("data");
    let c = make_db(&data, 3000);

    let b = ok(&scalpctl(&cfg, &["backup", "--json", "--keep", "1"]));
    assert_eq!(b["integrity"], "ok");
    let first = PathBuf::from(b["backup"].as_str().unwrap());
    assert_eq!(first.parent().unwrap(), data.join("backups"));
    let n: i64 = Connection::open(&first)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM candles", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3000);
    let b2 = ok(&scalpctl(&cfg, &["backup", "--json", "--keep", "1"]));
    assert_eq!(
        b2["removed"][0],
        first.file_name().unwrap().to_str().unwrap()
    );
    assert!(!first.exists());
    let other = d.path().join("offsite");
    let b3 = ok(&scalpctl(
        &cfg,
        &["backup", "--json", "--dest", other.to_str().unwrap()],
    ));
    assert!(
        b3["backup"]
            .as_str()
            .unwrap()
            .starts_with(other.to_str().unwrap())
    );

    // the writer connection `c` is still open with an un-checkpointed WAL
    let k = ok(&scalpctl(&cfg, &["checkpoint", "--json"]));
    assert!(k["wal_bytes_before"].as_u64().unwrap() > 10_000, "{k}");
    assert_eq!(k["wal_bytes_after"], 0, "{k}");
    drop(c);

    let r = ok(&scalpctl(&cfg, &["check-config", "--json"]));
    assert_eq!(r["sources"][0], "replay");
    let strategies = d.path().join("strategies.toml");
    std::fs::write(&strategies, "[sma_cross]\nenabeld = true\n").unwrap();
    let o = scalpctl(&cfg, &["check-config"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}:2:", strategies.display())) && err.contains("enabeld"),
        "{err}"
    );
}

#[test]
fn backup_without_database_fails_clearly() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path());
    let o = scalpctl(&cfg, &["backup"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("scalp.db") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn generates_man_pages_and_completions() {
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_scalpctl"))
        .arg("--generate-docs")
        .arg(d.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    for f in [
        "man/scalpctl.1",
        "man/scalpctl-backup.1",
        "completions/bash/scalpctl",
        "completions/zsh/_scalpctl",
    ] {
        assert!(d.path().join(f).exists(), "{f}");
    }
}
