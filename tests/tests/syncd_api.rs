//! scalp-syncd over HTTP: every status of the protocol, the is_latest rule, dict/list/string
//! payloads, auth, SIGTERM + sd_notify. Runs the real built daemon (`cargo build --bins` first).

use crate::syncd_support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use syncd_support::*;

const RESULTS: &str = "/api/optimization/results";

#[test]
fn created_then_duplicate_keeps_is_latest() {
    let d = Syncd::start();
    let p = result("sma_cross", "BTCUSDT", "2026-11-21T10:00:00Z");
    assert_eq!(d.post_result(&p), (201, json!({"status": "created"})));
    assert_eq!(
        d.rows("sma_cross", "BTCUSDT", "1h"),
        // stored in the one spelling of created_at (UTC, nanoseconds, Z)
        vec![("2026-11-21T10:00:00.000000000Z".into(), 1, "server".into())]
    );

    // A newer run moves is_latest.
    let p2 = result("sma_cross", "BTCUSDT", "2026-11-21T11:00:00Z");
    assert_eq!(d.post_result(&p2).0, 201);
    // Re-sending the first one (duplicate) must not take the flag back.
    assert_eq!(
        d.post_result(&p),
        (200, json!({"status": "already_exists"}))
    );
    assert_eq!(
        d.rows("sma_cross", "BTCUSDT", "1h"),
        vec![
            ("2026-11-21T10:00:00.000000000Z".into(), 0, "server".into()),
            ("2026-11-21T11:00:00.000000000Z".into(), 1, "server".into()),
        ]
    );
    // A late-arriving OLDER run is stored but steals nothing, even when its text sorts later
    // (a different offset): 11:30+01:00 is 10:30Z.
    let p0 = result("sma_cross", "BTCUSDT", "2026-11-21T11:30:00+01:00");
    assert_eq!(d.post_result(&p0).0, 201);
    let latest: Vec<_> = d
        .rows("sma_cross", "BTCUSDT", "1h")
        .into_iter()
        .filter(|r| r.1 == 1)
        .collect();
    assert_eq!(
        latest,
        vec![("2026-11-21T11:00:00.000000000Z".into(), 1, "server".into())]
    );
    // Other keys are independent.
    assert_eq!(
        d.post_result(&result("sma_cross", "ETHUSDT", "2026-11-21T09:00:00Z"))
            .0,
        201
    );
    assert_eq!(d.rows("sma_cross", "ETHUSDT", "1h")[0].1, 1);
    assert_eq!(
        d.rows("sma_cross", "BTCUSDT", "1h")
            .iter()
            .filter(|r| r.1 == 1)
            .count(),
        1
    );
    // The stored values are the payload's.
    let (score, params, underpowered): (f64, String, i64) = d
        .db()
        .query_row(
            "SELECT total_score, best_params, mc_underpowered FROM optimization_results WHERE asset = 'ETHUSDT'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (score, params.as_str(), underpowered),
        (71.25, r#"{"fast":10,"slow":50}"#, 0)
    );
    d.integrity_ok();
}

#[test]
fn dict_list_and_string_json_fields_store_the_same_text() {
    let d = Syncd::start();
    let as_values = result("s1", "BTCUSDT", "2026-11-21T10:00:00Z");
    let mut as_strings = result("s2", "BTCUSDT", "2026-11-21T10:00:00Z");
    for f in [
        "best_params",
        "wfo_windows",
        "monte_carlo_summary",
        "validation_summary",
        "warnings",
        "regime_analysis",
    ] {
        as_strings[f] = Value::String(as_values[f].to_string());
    }
    let mut plain_text = result("s3", "BTCUSDT", "2026-11-21T10:00:00Z");
    plain_text["warnings"] = json!("low volume: not JSON");
    plain_text["wfo_windows"] = json!([]);
    plain_text["regime_analysis"] = Value::Null;
    for p in [&as_values, &as_strings, &plain_text] {
        assert_eq!(d.post_result(p).0, 201, "{p}");
    }
    let c = d.db();
    let get = |s: &str| -> Vec<Option<String>> {
        c.query_row(
            "SELECT best_params, wfo_windows, monte_carlo_summary, validation_summary, warnings, regime_analysis \
             FROM optimization_results WHERE strategy_name = ?1",
            [s],
            |r| (0..6).map(|i| r.get(i)).collect(),
        )
        .unwrap()
    };
    let a = get("s1");
    assert_eq!(a, get("s2"));
    for (text, f) in a.iter().zip([
        "best_params",
        "wfo_windows",
        "monte_carlo_summary",
        "validation_summary",
        "warnings",
        "regime_analysis",
    ]) {
        let v: Value = serde_json::from_str(text.as_deref().unwrap()).unwrap();
        assert_eq!(v, as_values[f]);
    }
    let t = get("s3");
    assert_eq!(t[4].as_deref(), Some("\"low volume: not JSON\""));
    assert_eq!(t[1].as_deref(), Some("[]"));
    assert_eq!(t[5], None);
    // best_params must be an object (or a string holding one).
    let mut bad = result("s4", "BTCUSDT", "2026-11-21T10:00:00Z");
    bad["best_params"] = json!("[1, 2]");
    let (s, b) = d.post_result(&bad);
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["fields"][0]["field"], "best_params");
}

#[test]
fn nan_and_infinity() {
    let d = Syncd::start();
    let mut p = result("nan", "BTCUSDT", "2026-11-21T10:00:00Z");
    p["oos_sharpe"] = json!("NaN");
    p["dsr"] = json!("Infinity");
    p["consistency"] = json!("-Infinity");
    assert_eq!(d.post_result(&p).0, 201);
    let (a, b, c): (Option<f64>, Option<f64>, Option<f64>) = d
        .db()
        .query_row(
            "SELECT oos_sharpe, dsr, consistency FROM optimization_results",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((a, b, c), (None, None, None));
    // A required number cannot be NaN.
    let mut p = result("nan", "BTCUSDT", "2026-11-21T11:00:00Z");
    p["total_score"] = json!("NaN");
    let (s, b) = d.post_result(&p);
    assert_eq!(s, 422);
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("total_score: must be a finite number"),
        "{b}"
    );
    // Python's bare NaN token is not JSON: 400 with line/column.
    let body = p.to_string().replace("\"NaN\"", "NaN");
    let (s, b) = request(
        d.addr(),
        "POST",
        RESULTS,
        &[("X-API-Key", KEY), ("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("line 1 column"), "{b}");
    assert_eq!(d.count("optimization_results"), 1);
}

#[test]
fn auth_statuses() {
    let d = Syncd::start();
    let body = result("auth", "BTCUSDT", "2026-11-21T10:00:00Z").to_string();
    let ct = ("Content-Type", "application/json");
    let (s, b) = request(d.addr(), "POST", RESULTS, &[ct], body.as_bytes());
    assert_eq!(
        (s, b.contains("missing X-API-Key header")),
        (401, true),
        "{b}"
    );
    let (s, b) = request(
        d.addr(),
        "POST",
        RESULTS,
        &[ct, ("X-API-Key", "test-key-5f0c2a9f")],
        body.as_bytes(),
    );
    assert_eq!((s, b.contains("wrong API key")), (401, true), "{b}");
    let (s, _) = request(
        d.addr(),
        "POST",
        RESULTS,
        &[ct, ("X-API-Key", "")],
        body.as_bytes(),
    );
    assert_eq!(s, 401);
    assert_eq!(d.count("optimization_results"), 0);
    let log = d.log();
    assert!(log.contains("auth ko"), "{log}");
    assert!(
        !log.contains(KEY) && !log.contains("test-key-5f0c2a9f"),
        "a key leaked into the log:\n{log}"
    );

    // Without a key the daemon refuses to start (exit 2, the message names the variable)
    // instead of starting and answering 401 to everything.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[paths]\ndata_dir = \"data\"\n[syncd]\nlisten = \"127.0.0.1:0\"\n",
    );
    for key in [None, Some("")] {
        let mut cmd = std::process::Command::new(scalp_e2e::bin("scalp-syncd"));
        cmd.arg("--config").arg(&cfg).env_remove("NOTIFY_SOCKET");
        match key {
            Some(k) => cmd.env("SCALP_SYNC_API_KEY", k),
            None => cmd.env_remove("SCALP_SYNC_API_KEY"),
        };
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("refusing to start") && err.contains("SCALP_SYNC_API_KEY"),
            "{err}"
        );
    }
    assert!(!dir.path().join("data/scalp.db").exists());
}

#[test]
fn missing_and_wrong_fields_are_all_named() {
    let d = Syncd::start();
    let (s, b) =
        d.post_result(&json!({"asset": 5, "total_score": "high", "n_windows": 2.5, "extra": 1}));
    assert_eq!(s, 422, "{b}");
    let fields: Vec<(String, String)> = b["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().into(),
                f["error"].as_str().unwrap().into(),
            )
        })
        .collect();
    let names: Vec<&str> = fields.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "strategy_name",
            "timeframe",
            "created_at",
            "grade",
            "best_params",
            "asset",
            "total_score",
            "n_windows"
        ]
    );
    assert!(b["error"].as_str().unwrap().starts_with(
        "invalid payload: missing required field(s): strategy_name, timeframe, created_at, grade, best_params; asset: expected a string"
    ), "{b}");
    // Every required field, when all are missing.
    let (s, b) = d.post_result(&json!({}));
    assert_eq!(s, 422);
    assert!(b["error"].as_str().unwrap().contains(
        "strategy_name, asset, timeframe, created_at, grade, total_score, n_windows, best_params"
    ), "{b}");
    let mut p = result("x", "BTCUSDT", "yesterday");
    p["grade"] = json!("A+");
    let (s, b) = d.post_result(&p);
    assert_eq!(s, 422);
    let e = b["error"].as_str().unwrap();
    assert!(
        e.contains("created_at: expected an ISO-8601") && e.contains("grade: expected one of"),
        "{e}"
    );
    assert_eq!(d.count("optimization_results"), 0);
}

#[test]
fn transport_statuses_and_routes() {
    let d = Syncd::start_with(Opts {
        max_body_bytes: 4096,
        ..Opts::default()
    });
    let body = result("t", "BTCUSDT", "2026-11-21T10:00:00Z").to_string();
    let key = ("X-API-Key", KEY);
    // 415: no or wrong content type.
    let (s, b) = request(d.addr(), "POST", RESULTS, &[key], body.as_bytes());
    assert_eq!(
        (s, b.contains("Content-Type must be application/json")),
        (415, true),
        "{b}"
    );
    let (s, _) = request(
        d.addr(),
        "POST",
        RESULTS,
        &[key, ("Content-Type", "text/plain")],
        body.as_bytes(),
    );
    assert_eq!(s, 415);
    // charset parameter is fine
    let (s, _) = request(
        d.addr(),
        "POST",
        RESULTS,
        &[key, ("Content-Type", "application/json; charset=utf-8")],
        body.as_bytes(),
    );
    assert_eq!(s, 201);
    // 413 over the limit.
    let mut big = result("t", "BTCUSDT", "2026-11-21T11:00:00Z");
    big["warnings"] = json!("x".repeat(5000));
    let (s, b) = d.post_result(&big);
    assert_eq!(s, 413, "{b}");
    assert!(b["error"].as_str().unwrap().contains("4096"), "{b}");
    // 400 malformed, with position.
    let (s, b) = request(
        d.addr(),
        "POST",
        RESULTS,
        &[key, ("Content-Type", "application/json")],
        b"{\"a\": 1,\n \"b\": }",
    );
    assert_eq!(s, 400);
    assert!(b.contains("line 2 column"), "{b}");
    // 405 other methods, 404 other paths; no update/delete route exists.
    for m in ["GET", "PUT", "DELETE", "PATCH"] {
        assert_eq!(request(d.addr(), m, RESULTS, &[key], b"").0, 405, "{m}");
    }
    assert_eq!(request(d.addr(), "POST", "/health", &[key], b"").0, 405);
    assert_eq!(
        request(
            d.addr(),
            "DELETE",
            "/api/optimization/results/1",
            &[key],
            b""
        )
        .0,
        404
    );
    // Health.
    let (s, h) = request(d.addr(), "GET", "/health", &[], b"");
    assert_eq!(s, 200);
    let h: Value = serde_json::from_str(&h).unwrap();
    assert_eq!(h["ok"], true);
    assert_eq!(h["db"], true);
    assert_eq!(h["rows"]["optimization_results"], 1);
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(d.count("optimization_results"), 1);
}

#[test]
fn portfolio_results() {
    let d = Syncd::start();
    let p = portfolio("grid_atr", "2026-11-21T10:00:00Z");
    assert_eq!(
        d.post("/api/portfolio/results", &p),
        (201, json!({"status": "created"}))
    );
    assert_eq!(
        d.post("/api/portfolio/results", &p),
        (200, json!({"status": "already_exists"}))
    );
    let (assets, source, n): (String, String, i64) = d
        .db()
        .query_row(
            "SELECT assets, source, n_trades FROM portfolio_backtests",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (assets.as_str(), source.as_str(), n),
        (r#"["BTCUSDT","ETHUSDT"]"#, "server", 57)
    );
    let (s, b) = d.post(
        "/api/portfolio/results",
        &json!({"strategy_name": "x", "assets": "BTCUSDT"}),
    );
    assert_eq!(s, 422);
    assert!(b["error"].as_str().unwrap().contains("missing required field(s): timeframe, created_at, initial_capital, total_return, n_trades; assets: "), "{b}");
    assert_eq!(d.count("portfolio_backtests"), 1);
}

#[test]
fn sigterm_and_sd_notify() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut d = Syncd::start_with(Opts {
        env: vec![
            ("NOTIFY_SOCKET".into(), sock_path.display().to_string()),
            ("WATCHDOG_USEC".into(), "1000000".into()),
        ],
        ..Opts::default()
    });
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    let mut recv_until = |needle: &str, got: &mut String| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !got.contains(needle) {
            assert!(Instant::now() < deadline, "no {needle} in {got:?}");
            if let Ok(n) = sock.recv(&mut buf) {
                got.push_str(&String::from_utf8_lossy(&buf[..n]));
                got.push('\n');
            }
        }
    };
    recv_until("READY=1", &mut got);
    recv_until("WATCHDOG=1", &mut got);
    assert_eq!(
        d.post_result(&result("sig", "BTCUSDT", "2026-11-21T10:00:00Z"))
            .0,
        201
    );
    // state/syncd.json: written by the daemon, seen by scalpctl status.
    let state_path = d.dir.path().join("data/state/syncd.json");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert_eq!(state["healthy"], true, "{state}");
    assert_eq!(state["listen"], d.addr().to_string(), "{state}");
    assert_eq!(state["stopped"], false, "{state}");
    assert!(
        state["written_at"].is_string() || state["written_at"].is_number(),
        "{state}"
    );
    let st = d.terminate();
    recv_until("STOPPING=1", &mut got);
    assert_eq!(st.code(), Some(0), "{}", d.log());
    assert!(d.log().contains("STOPPED cleanly"), "{}", d.log());
    d.integrity_ok();
    assert_eq!(d.count("optimization_results"), 1);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert_eq!(state["stopped"], true, "{state}");
    assert_eq!(state["optimization_results"], 1, "{state}");
}

#[test]
fn check_config_and_bad_listen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[paths]\ndata_dir = \"data\"\n[syncd]\nlisten = \"127.0.0.1:8787\"\n",
    );
    let out = std::process::Command::new(scalp_e2e::bin("scalp-syncd"))
        .args(["--check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let cfg = write_config(
        dir.path(),
        "[paths]\ndata_dir = \"data\"\n[syncd]\nlisten = \"localhost:x\"\n",
    );
    let out = std::process::Command::new(scalp_e2e::bin("scalp-syncd"))
        .args(["--check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("scalp.toml:4") && err.contains("syncd.listen"),
        "{err}"
    );
}
