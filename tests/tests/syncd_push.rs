//! The optimize side against the real scalp-syncd: best-effort push (success, duplicate,
//! disabled, empty URL, no key, wrong key, server down, timeout) and `optimize sync` run as the
//! real built binary (dry run, sends all, idempotent re-run, --only, continues after an error).

use crate::syncd_support;

use scalp_core::config::SyncConfig;
use scalp_sync::db::{Source, insert_portfolio, insert_result};
use scalp_sync::{OptimizationResult, PortfolioBacktest, PushOutcome, SyncClient};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use syncd_support::*;

fn client(dir: &Path, url: &str, enabled: bool, key: Option<&str>, timeout_s: u64) -> SyncClient {
    // The key comes from [sync].key_file here (the Windows path), so tests never touch the
    // process environment.
    let key_file = match key {
        Some(k) => {
            std::fs::write(dir.join("sync.key"), format!("{k}\n")).unwrap();
            "sync.key".to_string()
        }
        None => "no-such.key".to_string(),
    };
    assert!(
        std::env::var_os("SCALP_SYNC_API_KEY").is_none(),
        "unset SCALP_SYNC_API_KEY to run these tests"
    );
    SyncClient::new(
        &SyncConfig {
            enabled,
            server_url: url.to_string(),
            timeout_s,
            key_file,
        },
        dir,
    )
}

#[test]
fn push_success_duplicate_and_http_errors() {
    let d = Syncd::start();
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), &format!("{}/", d.url()), true, Some(KEY), 10);
    let p = result("push", "BTCUSDT", "2026-11-21T10:00:00Z");
    assert_eq!(c.push_result(&p), PushOutcome::Created);
    assert_eq!(c.push_result(&p), PushOutcome::AlreadyExists);
    assert_eq!(
        c.push_portfolio(&portfolio("push", "2026-11-21T10:00:00Z")),
        PushOutcome::Created
    );
    assert_eq!(
        d.rows("push", "BTCUSDT", "1h"),
        // stored in the one spelling of created_at (UTC, nanoseconds, Z)
        vec![("2026-11-21T10:00:00.000000000Z".into(), 1, "server".into())]
    );

    // 422 and 401 are failures with the server's message, never a panic.
    let mut bad = p.clone();
    bad.as_object_mut().unwrap().remove("grade");
    match c.push_result(&bad) {
        PushOutcome::Failed(m) => assert!(m.contains("422") && m.contains("grade"), "{m}"),
        o => panic!("{o:?}"),
    }
    let wrong = client(dir.path(), &d.url(), true, Some("not-the-key"), 10);
    match wrong.push_result(&result("push", "BTCUSDT", "2026-11-21T11:00:00Z")) {
        PushOutcome::Failed(m) => {
            assert!(m.contains("401") && m.contains("wrong API key"), "{m}");
            assert!(!m.contains("not-the-key"));
        }
        o => panic!("{o:?}"),
    }
    let nokey = client(dir.path(), &d.url(), true, None, 10);
    match nokey.push_result(&p) {
        PushOutcome::Failed(m) => assert!(
            m.contains("SCALP_SYNC_API_KEY") && m.contains("no-such.key"),
            "{m}"
        ),
        o => panic!("{o:?}"),
    }
    assert_eq!(d.count("optimization_results"), 1);
}

#[test]
fn push_disabled_and_empty_url_send_nothing() {
    let d = Syncd::start();
    let dir = tempfile::tempdir().unwrap();
    let p = result("off", "BTCUSDT", "2026-11-21T10:00:00Z");
    let off = client(dir.path(), &d.url(), false, Some(KEY), 10);
    assert!(matches!(off.push_result(&p), PushOutcome::Skipped(m) if m.contains("disabled")));
    let empty = client(dir.path(), "  ", true, Some(KEY), 10);
    assert!(matches!(empty.push_result(&p), PushOutcome::Skipped(m) if m.contains("server_url")));
    assert_eq!(d.count("optimization_results"), 0);
}

#[test]
fn push_server_down_and_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let p = result("down", "BTCUSDT", "2026-11-21T10:00:00Z");
    // Nothing listens on this port.
    let port = free_port();
    let c = client(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        true,
        Some(KEY),
        10,
    );
    let t = Instant::now();
    match c.push_result(&p) {
        PushOutcome::Failed(m) => assert!(m.contains("cannot connect"), "{m}"),
        o => panic!("{o:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(10));

    // A server that accepts and never answers: the push gives up after timeout_s.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().take(1) {
            held.push(s.unwrap());
        }
        std::thread::sleep(Duration::from_secs(20));
        drop(held);
    });
    let c = client(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        true,
        Some(KEY),
        1,
    );
    let t = Instant::now();
    match c.push_result(&p) {
        PushOutcome::Failed(m) => {
            assert!(m.contains("no answer") && m.contains("within 1 s"), "{m}")
        }
        o => panic!("{o:?}"),
    }
    let e = t.elapsed();
    assert!(
        e >= Duration::from_millis(900) && e < Duration::from_secs(10),
        "{e:?}"
    );
    drop(hold);
}

// ------------------------------------------------------------------------------------------
// optimize sync, as the user runs it

struct Workstation {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Workstation {
    fn new(server_url: &str, enabled: bool) -> Workstation {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &format!(
                "[paths]\ndata_dir = \"data\"\n[sync]\nenabled = {enabled}\nserver_url = \"{server_url}\"\n\
                 timeout_s = 5\n[optimize]\ndb = \"optimize.db\"\n"
            ),
        );
        Workstation { dir, config }
    }

    fn db(&self) -> rusqlite::Connection {
        scalp_store::open(&self.dir.path().join("optimize.db")).unwrap()
    }

    fn sync(&self, args: &[&str], key: Option<&str>) -> (i32, String) {
        let mut cmd = Command::new(scalp_e2e::bin("optimize"));
        cmd.arg("--config").arg(&self.config).arg("sync").args(args);
        match key {
            Some(k) => cmd.env("SCALP_SYNC_API_KEY", k),
            None => cmd.env_remove("SCALP_SYNC_API_KEY"),
        };
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            key.is_none_or(|k| !text.contains(k)),
            "the key was printed:\n{text}"
        );
        (out.status.code().unwrap_or(-1), text)
    }
}

fn local_rows(w: &Workstation) {
    let mut c = w.db();
    for (i, asset) in ["BTCUSDT", "ETHUSDT", "SOLUSDT"].iter().enumerate() {
        for h in 10..12 {
            let r = OptimizationResult::from_payload(&result(
                "wfo",
                asset,
                &format!("2026-11-2{i}T{h}:00:00Z"),
            ))
            .unwrap();
            insert_result(&mut c, &r, Source::Local).unwrap();
        }
    }
    for h in 10..12 {
        let p =
            PortfolioBacktest::from_payload(&portfolio("pf", &format!("2026-11-21T{h}:00:00Z")))
                .unwrap();
        insert_portfolio(&mut c, &p, Source::Local).unwrap();
    }
}

#[test]
fn optimize_sync_end_to_end() {
    let d = Syncd::start();
    let w = Workstation::new(&d.url(), true);
    local_rows(&w);

    // Dry run: lists, sends nothing.
    let (code, out) = w.sync(&["--dry-run"], Some(KEY));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("would send").count(), 8, "{out}");
    assert!(
        out.contains("dry run: 8 row(s) would be sent, 0 sent"),
        "{out}"
    );
    assert_eq!(
        d.count("optimization_results") + d.count("portfolio_backtests"),
        0
    );

    // --only wfo, then everything: the portfolio rows are the only new ones.
    let (code, out) = w.sync(&["--only", "wfo"], Some(KEY));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.ends_with("6 created, 0 already existed, 0 errors\n"),
        "{out}"
    );
    assert_eq!(d.count("portfolio_backtests"), 0);
    let (code, out) = w.sync(&[], Some(KEY));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.ends_with("2 created, 6 already existed, 0 errors\n"),
        "{out}"
    );
    assert_eq!(
        (
            d.count("optimization_results"),
            d.count("portfolio_backtests")
        ),
        (6, 2)
    );
    for a in ["BTCUSDT", "ETHUSDT", "SOLUSDT"] {
        let rows = d.rows("wfo", a, "1h");
        assert_eq!(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            vec![0, 1],
            "{a}: {rows:?}"
        );
        assert!(rows.iter().all(|r| r.2 == "server"));
    }
    // Re-runnable at will.
    let (code, out) = w.sync(&[], Some(KEY));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.ends_with("0 created, 8 already existed, 0 errors\n"),
        "{out}"
    );

    // The server copies are identical to the local rows.
    let local = scalp_sync::db::read_local_results(&w.db()).unwrap();
    let server = d.db();
    for (_, r) in &local {
        let r = r.as_ref().unwrap();
        let (score, params, windows): (f64, String, Option<String>) = server
            .query_row(
                "SELECT total_score, best_params, wfo_windows FROM optimization_results \
                 WHERE strategy_name = ?1 AND asset = ?2 AND created_at = ?3",
                [&r.strategy_name, &r.asset, &r.created_at],
                |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (score, &params, &windows),
            (r.total_score, &r.best_params, &r.wfo_windows)
        );
    }
}

#[test]
fn optimize_sync_continues_after_one_error() {
    let d = Syncd::start();
    let w = Workstation::new(&d.url(), true);
    local_rows(&w);
    // A local row the server refuses (best_params is not an object): 422 for that row only.
    w.db()
        .execute(
            "UPDATE optimization_results SET best_params = '[1, 2]' WHERE asset = 'ETHUSDT' AND created_at LIKE '%T10:%'",
            [],
        )
        .unwrap();
    let (code, out) = w.sync(&[], Some(KEY));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error           wfo ETHUSDT 1h 2026-11-21T10:00:00.000000000Z"),
        "{out}"
    );
    assert!(out.contains("422"), "{out}");
    assert!(
        out.ends_with("7 created, 0 already existed, 1 errors\n"),
        "{out}"
    );
    assert_eq!(d.count("optimization_results"), 5);

    // Server unreachable: every row is an error, exit 1, nothing panics.
    let down = Workstation::new(&format!("http://127.0.0.1:{}", free_port()), true);
    local_rows(&down);
    let (code, out) = down.sync(&[], Some(KEY));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.ends_with("0 created, 0 already existed, 8 errors\n"),
        "{out}"
    );

    // No key at all (env unset, no key_file): clear error per row.
    let (code, out) = w.sync(&["--only", "portfolio"], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no sync key: set SCALP_SYNC_API_KEY"), "{out}");

    // Sync disabled: refused with a clear message, nothing sent.
    let off = Workstation::new(&d.url(), false);
    local_rows(&off);
    let (code, out) = off.sync(&[], Some(KEY));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("sync is disabled ([sync].enabled = false)"),
        "{out}"
    );
}

#[test]
fn push_from_inside_a_tokio_runtime_does_not_panic() {
    // reqwest's blocking client panics on a runtime thread; push hops to a plain thread.
    let d = Syncd::start();
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), &d.url(), true, Some(KEY), 10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out =
        rt.block_on(async { c.push_result(&result("rt", "BTCUSDT", "2026-11-21T10:00:00Z")) });
    assert_eq!(out, PushOutcome::Created);
    assert_eq!(d.count("optimization_results"), 1);
}
