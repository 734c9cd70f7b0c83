//! scalp-syncd under hostile input and concurrency, against the real built daemon:
//! more than 5,000 generated bodies (malformed JSON, NaN tokens, duplicate keys, deep nesting, wrong
//! types, missing fields, huge strings, SQL in strings, unicode, empty/garbage bodies, bad
//! content types, no key) — every answer is the expected status, the daemon never dies, no
//! partial row, `PRAGMA integrity_check` is ok and the row count is exactly the 201s.
//! Then 50 clients push the same result at once: one row, one is_latest.

use crate::syncd_support;

use serde_json::{Value, json};
use std::sync::{Arc, Barrier};
use syncd_support::*;

const RESULTS: &str = "/api/optimization/results";

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const REQUIRED: [&str; 8] = [
    "strategy_name",
    "asset",
    "timeframe",
    "created_at",
    "grade",
    "total_score",
    "n_windows",
    "best_params",
];

const SQL: [&str; 5] = [
    "x'); DROP TABLE optimization_results; --",
    "\" OR 1=1 --",
    "'; UPDATE optimization_results SET is_latest = 1; --",
    "Robert'); DELETE FROM portfolio_backtests;--",
    "1; ATTACH DATABASE '/tmp/pwn.db' AS pwn; --",
];

const UNICODE: [&str; 5] = [
    "БТК-策略",
    "🚀📉 grid",
    "عربى‎ RTL",
    "e\u{301}\u{301}\u{301} combining",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{FEFF}bom",
];

/// One generated request: body, content type, key, expected status, and (422) a field that
/// must be named.
struct Case {
    body: Vec<u8>,
    content_type: Option<&'static str>,
    key: Option<&'static str>,
    expect: u16,
    names: Vec<String>,
    kind: &'static str,
}

/// A distinct instant per case (i < 86,400).
fn created_at(i: usize) -> String {
    format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        i / 3600,
        (i / 60) % 60,
        i % 60
    )
}

fn nested(depth: usize) -> String {
    let mut s = String::new();
    for _ in 0..depth {
        s.push_str("{\"a\":");
    }
    s.push('1');
    for _ in 0..depth {
        s.push('}');
    }
    s
}

fn case(i: usize, rng: &mut Rng) -> Case {
    let valid = result(&format!("hostile_{}", i % 7), "BTCUSDT", &created_at(i));
    let mk = |body: Vec<u8>, expect: u16, kind: &'static str| Case {
        body,
        content_type: Some("application/json"),
        key: Some(KEY),
        expect,
        names: Vec::new(),
        kind,
    };
    let text = valid.to_string();
    match i % 16 {
        0 => {
            let cut = 1 + rng.below(text.len() - 1);
            mk(text.as_bytes()[..cut].to_vec(), 400, "truncated")
        }
        1 => {
            let mut b = vec![0xff];
            for _ in 0..rng.below(200) {
                b.push(rng.next() as u8);
            }
            if rng.below(10) == 0 {
                b.clear(); // empty body
            }
            mk(b, 400, "garbage/empty")
        }
        2 => {
            let field = rng.pick(&["total_score", "oos_sharpe", "dsr", "n_windows"]);
            let token = rng.pick(&["NaN", "Infinity", "-Infinity"]);
            let mut v = valid.clone();
            v[*field] = json!("__TOKEN__");
            mk(
                v.to_string().replace("\"__TOKEN__\"", token).into_bytes(),
                400,
                "bare NaN",
            )
        }
        3 => {
            let body = if rng.below(2) == 0 {
                text.replacen("{", "{\"grade\":\"A\",", 1)
            } else {
                text.replace("\"fast\":10", "\"fast\":10,\"fast\":11")
            };
            mk(body.into_bytes(), 400, "duplicate key")
        }
        4 => {
            let mut body =
                text.replace("{\"fast\":10,\"slow\":50}", &nested(130 + rng.below(2000)));
            if rng.below(4) == 0 {
                body = "[".repeat(10_000 + rng.below(50_000)); // unterminated, very deep
            }
            mk(body.into_bytes(), 400, "deep nesting")
        }
        5 => {
            let field = *rng.pick(&[
                "strategy_name",
                "asset",
                "timeframe",
                "created_at",
                "grade",
                "total_score",
                "n_windows",
                "best_params",
                "oos_sharpe",
                "mc_underpowered",
                "n_distinct_combos",
                "duration_seconds",
            ]);
            let wrong = rng
                .pick(&[
                    json!(true),
                    json!([1, 2]),
                    json!({"x": 1}),
                    json!(-3.5),
                    json!("text"),
                    json!(""),
                    json!(1e300),
                ])
                .clone();
            let mut v = valid.clone();
            v[field] = wrong.clone();
            // Some combinations are valid (a string where a string is expected, ...).
            let ok = OptimizationResultCheck::accepts(&v);
            let mut c = mk(
                v.to_string().into_bytes(),
                if ok { 201 } else { 422 },
                "wrong type",
            );
            if !ok {
                c.names.push(field.to_string());
            }
            c
        }
        6 => {
            let mut v = valid.clone();
            let mut names = Vec::new();
            for f in REQUIRED {
                if rng.below(3) == 0 {
                    v.as_object_mut().unwrap().remove(f);
                    names.push(f.to_string());
                }
            }
            if names.is_empty() {
                v.as_object_mut().unwrap().remove("grade");
                names.push("grade".into());
            }
            let mut c = mk(v.to_string().into_bytes(), 422, "missing fields");
            c.names = names;
            c
        }
        7 => {
            let mut v = valid.clone();
            let field = *rng.pick(&["strategy_name", "asset", "timeframe"]);
            v[field] = json!("x".repeat(129 + rng.below(20_000)));
            let mut c = mk(v.to_string().into_bytes(), 422, "huge name");
            c.names.push(field.to_string());
            c
        }
        8 => {
            let mut v = valid.clone();
            v["strategy_name"] = json!(format!("{} #{i}", rng.pick(&SQL)));
            v["warnings"] = json!([rng.pick(&SQL)]);
            v["best_params"] = json!({*rng.pick(&SQL): 1});
            mk(v.to_string().into_bytes(), 201, "sql in strings")
        }
        9 => {
            let mut v = valid.clone();
            v["asset"] = json!(format!("{} {i}", rng.pick(&UNICODE)));
            v["regime_analysis"] = json!({*rng.pick(&UNICODE): "ok \u{0}"});
            mk(v.to_string().into_bytes(), 201, "unicode")
        }
        10 => {
            let mut v = valid.clone();
            v["warnings"] = json!("w".repeat(10_000 + rng.below(60_000)));
            v["best_params"] = serde_json::from_str(&nested(100)).unwrap();
            mk(v.to_string().into_bytes(), 201, "big but valid")
        }
        11 => {
            let body = rng
                .pick(&["[]", "[1,2]", "3", "\"str\"", "null", "true"])
                .to_string();
            mk(body.into_bytes(), 422, "not an object")
        }
        12 => {
            let mut v = valid.clone();
            let field = *rng.pick(&["strategy_name", "asset", "grade"]);
            v[field] = json!(format!("A\u{0}\n{}", i));
            let mut c = mk(v.to_string().into_bytes(), 422, "control chars");
            c.names.push(field.to_string());
            c
        }
        13 => {
            let mut c = mk(text.into_bytes(), 415, "content type");
            c.content_type = *rng.pick(&[
                None,
                Some("text/plain"),
                Some("application/x-www-form-urlencoded"),
                Some("multipart/form-data"),
            ]);
            c
        }
        14 => {
            let mut c = mk(text.into_bytes(), 401, "auth");
            c.key = *rng.pick(&[
                None,
                Some("wrong"),
                Some(""),
                Some("test-key-5f0c2a9"),
                Some("TEST-KEY-5F0C2A9E"),
            ]);
            c
        }
        _ => {
            // an ordinary valid result; every 50th is over the 1 MiB limit
            if i % 50 == 15 {
                let mut v = valid.clone();
                v["warnings"] = json!("z".repeat(1024 * 1024));
                mk(v.to_string().into_bytes(), 413, "too large")
            } else {
                mk(text.into_bytes(), 201, "valid")
            }
        }
    }
}

/// Oracle for the "wrong type" cases: mirrors the documented rules independently.
struct OptimizationResultCheck;
impl OptimizationResultCheck {
    fn accepts(v: &Value) -> bool {
        let s_ok = |k: &str| {
            v[k].as_str()
                .is_some_and(|s| !s.trim().is_empty() && s.chars().count() <= 128)
        };
        let n_ok = |k: &str, req: bool| match &v[k] {
            Value::Null => !req,
            Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
            _ => false,
        };
        let int_ok = |k: &str, req: bool| match &v[k] {
            Value::Null => !req,
            Value::Number(n) => {
                n.as_i64().is_some_and(|i| i >= 0)
                    || n.as_f64()
                        .is_some_and(|f| f >= 0.0 && f.fract() == 0.0 && f < 9e15)
            }
            _ => false,
        };
        let flag_ok = matches!(&v["mc_underpowered"], Value::Null | Value::Bool(_))
            || v["mc_underpowered"].as_u64().is_some_and(|u| u <= 1);
        let created_ok = v["created_at"]
            .as_str()
            .is_some_and(|s| s.starts_with("2026-"));
        let grade_ok = v["grade"]
            .as_str()
            .is_some_and(|g| ["A", "B", "C", "D", "E", "F"].contains(&g));
        let params_ok = v["best_params"].is_object()
            || v["best_params"]
                .as_str()
                .is_some_and(|s| serde_json::from_str::<Value>(s).is_ok_and(|p| p.is_object()));
        s_ok("strategy_name")
            && s_ok("asset")
            && s_ok("timeframe")
            && created_ok
            && grade_ok
            && n_ok("total_score", true)
            && n_ok("oos_sharpe", false)
            && n_ok("duration_seconds", false)
            && int_ok("n_windows", true)
            && int_ok("n_distinct_combos", false)
            && flag_ok
            && params_ok
    }
}

#[test]
fn five_thousand_hostile_bodies() {
    const N: usize = 5_600;
    const THREADS: usize = 4;
    let d = Syncd::start();
    let addr = d.addr();
    let results: Vec<(usize, &'static str, u16, u16, usize)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                    for i in (t..N).step_by(THREADS) {
                        let c = case(i, &mut rng);
                        let mut h: Vec<(&str, &str)> = Vec::new();
                        if let Some(ct) = c.content_type {
                            h.push(("Content-Type", ct));
                        }
                        if let Some(k) = c.key {
                            h.push(("X-API-Key", k));
                        }
                        let (status, body) = request(addr, "POST", RESULTS, &h, &c.body);
                        assert_eq!(
                            status,
                            c.expect,
                            "case {i} ({}) body {:?}… answered {body}",
                            c.kind,
                            String::from_utf8_lossy(&c.body[..c.body.len().min(300)])
                        );
                        if status == 422 {
                            let v: Value = serde_json::from_str(&body).unwrap();
                            let named: Vec<&str> = v["fields"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|f| f["field"].as_str().unwrap())
                                .collect();
                            for n in &c.names {
                                assert!(
                                    named.contains(&n.as_str()),
                                    "case {i} ({}): {n} not named in {body}",
                                    c.kind
                                );
                            }
                            if c.kind == "missing fields" {
                                assert_eq!(named.len(), c.names.len(), "case {i}: {body}");
                            }
                        }
                        if status >= 400 {
                            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                            assert!(
                                v["error"].as_str().is_some_and(|e| !e.is_empty()),
                                "case {i}: no error message in {body}"
                            );
                        }
                        out.push((i, c.kind, c.expect, status, c.body.len()));
                    }
                    out
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.len(), N);
    let created = results.iter().filter(|r| r.3 == 201).count();
    let by_status = |s: u16| results.iter().filter(|r| r.3 == s).count();
    eprintln!(
        "hostile: {N} bodies: 201={created} 400={} 401={} 413={} 415={} 422={}",
        by_status(400),
        by_status(401),
        by_status(413),
        by_status(415),
        by_status(422)
    );
    assert!(by_status(400) > 1000 && by_status(422) > 1000 && created > 1000);

    // The daemon is alive and consistent.
    assert_eq!(request(addr, "GET", "/health", &[], b"").0, 200);
    d.integrity_ok();
    assert_eq!(
        d.count("optimization_results"),
        created as i64,
        "no partial or extra row"
    );
    let c = d.db();
    let bad_latest: i64 = c
        .query_row(
            "SELECT count(*) FROM (SELECT sum(is_latest) s FROM optimization_results \
             GROUP BY strategy_name, asset, timeframe) WHERE s <> 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad_latest, 0, "every key has exactly one latest row");
    let server_rows: i64 = c
        .query_row(
            "SELECT count(*) FROM optimization_results WHERE source = 'server'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(server_rows, created as i64);
    // SQL and unicode strings are stored verbatim.
    let n_sql: i64 = c
        .query_row("SELECT count(*) FROM optimization_results WHERE strategy_name LIKE 'x''); DROP TABLE%'", [], |r| r.get(0))
        .unwrap();
    assert!(n_sql > 0);
    let n_uni: i64 = c
        .query_row(
            "SELECT count(*) FROM optimization_results WHERE asset LIKE '🚀📉 grid %'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(n_uni > 0);
    // Sending a valid one again is a duplicate.
    let again = result(&format!("hostile_{}", 31 % 7), "BTCUSDT", &created_at(31));
    assert_eq!(d.post_result(&again).0, 200);
    drop(c);
    let mut d = d;
    assert_eq!(d.terminate().code(), Some(0), "{}", d.log());
}

#[test]
fn fifty_clients_same_result() {
    let d = Syncd::start();
    let addr = d.addr();
    let body = result("conc", "BTCUSDT", "2026-11-21T10:00:00Z").to_string();
    let barrier = Arc::new(Barrier::new(50));
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..50)
            .map(|_| {
                let b = barrier.clone();
                let body = body.clone();
                s.spawn(move || {
                    b.wait();
                    request(
                        addr,
                        "POST",
                        RESULTS,
                        &[("X-API-Key", KEY), ("Content-Type", "application/json")],
                        body.as_bytes(),
                    )
                    .0
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(
        d.rows("conc", "BTCUSDT", "1h"),
        // stored in the one spelling of created_at (UTC, nanoseconds, Z)
        vec![("2026-11-21T10:00:00.000000000Z".into(), 1, "server".into())]
    );

    // 50 different runs of one key at once: 50 rows, one latest, the newest.
    let barrier = Arc::new(Barrier::new(50));
    std::thread::scope(|s| {
        for i in 0..50 {
            let b = barrier.clone();
            s.spawn(move || {
                let p = result("conc2", "ETHUSDT", &format!("2026-11-21T10:{i:02}:00Z"));
                b.wait();
                let (st, _) = request(
                    addr,
                    "POST",
                    RESULTS,
                    &[("X-API-Key", KEY), ("Content-Type", "application/json")],
                    p.to_string().as_bytes(),
                );
                assert_eq!(st, 201);
            });
        }
    });
    let rows = d.rows("conc2", "ETHUSDT", "1h");
    assert_eq!(rows.len(), 50);
    let latest: Vec<_> = rows.iter().filter(|r| r.1 == 1).collect();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].0, "2026-11-21T10:49:00.000000000Z");
    d.integrity_ok();
}
