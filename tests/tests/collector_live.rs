//! The real `scalp-collector` (and `optimize` data commands) against the Binance and Bitget
//! stand-ins on 127.0.0.1: backfill equals the source exactly, gaps are repaired, reconnect
//! after a dropped connection, 418 Retry-After respected, clean SIGTERM with a final state file.

use crate::support;

use scalp_core::{Candle, Exchange, Timeframe};
use scalp_e2e::standin::{Fault, StandIn, StandInConfig};
use std::time::Duration;
use support::Env;

const H: i64 = 3_600_000;

fn live_env(s: &StandIn, sources: &str, extra: &str) -> Env {
    live_env_assets(s, sources, extra, &["BTC"])
}

fn live_env_assets(s: &StandIn, sources: &str, extra: &str, assets: &[&str]) -> Env {
    Env::new(
        &format!(
            "[collector]\nsources = [{sources}]\nstate_interval_s = 1\nreconnect_min_ms = 200\nreconnect_max_ms = 2000\n{extra}\n{}",
            s.config_toml()
        ),
        assets,
        &["1h"],
    )
}

fn stored(env: &Env, ex: Exchange) -> Vec<Candle> {
    stored_sym(env, ex, "BTCUSDT")
}

fn stored_sym(env: &Env, ex: Exchange, symbol: &str) -> Vec<Candle> {
    let conn = scalp_store::open(&env.db()).unwrap();
    let key = scalp_store::SeriesKey {
        exchange: ex,
        symbol,
        timeframe: Timeframe::H1,
    };
    scalp_store::candles::load(&conn, &key, i64::MIN, i64::MAX).unwrap()
}

fn stream<'a>(st: &'a serde_json::Value, ex: &str) -> &'a serde_json::Value {
    st["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["exchange"] == ex)
        .unwrap_or_else(|| panic!("no {ex} stream in {st}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_equals_source_reconnects_and_stops_cleanly() {
    let s = StandIn::start(StandInConfig::default()).await;
    let hours = s.series().hours().to_vec();
    let last_open = hours.last().unwrap().open_time;
    // 840 days cover the whole bundled file (20,111 hourly candles). Two symbols: the Bitget
    // subscribe snapshot stores recent candles of the second one before its backfill runs, which
    // must not shorten that backfill.
    let env = live_env_assets(
        &s,
        "\"binance\", \"bitget\"",
        "backfill_days = 840\ngap_check_interval_s = 300",
        &["BTC", "ETH"],
    );
    let mut c = env.start("live.log", &[]);
    let st = env.wait_state(300, "both exchanges backfilled and connected", |st| {
        ["binance", "bitget"].iter().all(|ex| {
            st["streams"].as_array().is_some_and(|v| {
                v.iter().any(|x| {
                    x["exchange"] == *ex
                        && x["last_closed_open_time"].as_i64() == Some(last_open)
                        && x["connected"] == true
                })
            })
        })
    });
    assert_eq!(st["healthy"], true, "{st}");
    c.wait_log(300, "BACKFILL DONE exchange=binance");
    c.wait_log(300, "BACKFILL DONE exchange=bitget");
    // The pipeline flushes every 200 ms: wait until everything fetched is stored.
    env.wait_state(60, "all candles stored", |st| {
        st["candles_stored_total"].as_u64() == Some(4 * hours.len() as u64)
    });
    let log = c.log_text();
    for ex in ["binance", "bitget"] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("BACKFILL DONE exchange={ex}")))
            .unwrap_or_else(|| panic!("no BACKFILL DONE for {ex}:\n{log}"));
        println!("{ex}: {}", &line[line.find("BACKFILL DONE").unwrap()..]);
    }
    for ex in [Exchange::Binance, Exchange::Bitget] {
        for sym in ["BTCUSDT", "ETHUSDT"] {
            let got = stored_sym(&env, ex, sym);
            assert_eq!(
                got.len(),
                hours.len(),
                "{ex} {sym}: every candle of the source"
            );
            assert_eq!(
                got, hours,
                "{ex} {sym}: stored candles equal the source exactly"
            );
        }
    }

    // Dropped connection (no close frame): the collector reconnects by itself.
    let before = s.binance.ws_connections_total();
    s.binance.inject(Fault::Disconnect);
    env.wait_state(120, "binance reconnected", |st| {
        let b = stream(st, "binance");
        b["reconnects"].as_u64().unwrap_or(0) >= 1 && b["connected"] == true
    });
    assert!(s.binance.ws_connections_total() > before);
    // The 24 h forced close (close frame) on Bitget: same.
    s.bitget.inject(Fault::ForcedClose);
    env.wait_state(120, "bitget reconnected", |st| {
        let b = stream(st, "bitget");
        b["reconnects"].as_u64().unwrap_or(0) >= 1 && b["connected"] == true
    });

    let pid = c.pid();
    assert_eq!(c.terminate().code(), Some(0), "{}", c.log_text());
    let fin = env.state().unwrap();
    assert_eq!(fin["pid"].as_u64(), Some(pid as u64));
    assert_eq!(
        fin["candles_stored_total"].as_u64(),
        Some(4 * hours.len() as u64),
        "{fin}"
    );
    assert!(c.log_text().contains("COLLECTOR FLUSHED"));
    // Nothing changed by the reconnects: still exactly the source.
    assert_eq!(stored(&env, Exchange::Binance), hours);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_in_the_store_is_found_and_repaired_by_rest() {
    let s = StandIn::start(StandInConfig::default()).await;
    let hours = s.series().hours().to_vec();
    let env = live_env(
        &s,
        "\"binance\"",
        "backfill_days = 30\ngap_check_interval_s = 1",
    );
    let mut c = env.start("gap1.log", &[]);
    let last_open = hours.last().unwrap().open_time;
    env.wait_state(180, "backfill", |st| {
        stream(st, "binance")["last_closed_open_time"].as_i64() == Some(last_open)
    });
    assert_eq!(c.terminate().code(), Some(0));
    let before = stored(&env, Exchange::Binance);
    assert!(before.len() >= 700, "30 days of 1h: {}", before.len());
    assert_eq!(before[..], hours[hours.len() - before.len()..]);

    // Punch two holes (5 candles and 1 candle) into the stored series.
    let mid = before[before.len() / 2].open_time;
    let lone = before[before.len() / 4].open_time;
    {
        let db = rusqlite::Connection::open(env.db()).unwrap();
        let n = db
            .execute(
                "DELETE FROM candles WHERE (open_time >= ?1 AND open_time < ?2) OR open_time = ?3",
                rusqlite::params![mid, mid + 5 * H, lone],
            )
            .unwrap();
        assert_eq!(n, 6);
    }
    assert_eq!(stored(&env, Exchange::Binance).len(), before.len() - 6);

    let mut c = env.start("gap2.log", &[]);
    let st = env.wait_state(120, "6 candles repaired", |st| {
        stream(st, "binance")["gaps_repaired"].as_u64() >= Some(6)
    });
    assert_eq!(
        stream(&st, "binance")["gaps_repaired"].as_u64(),
        Some(6),
        "{st}"
    );
    assert!(
        c.log_text()
            .contains("GAPS REPAIRED exchange=binance symbol=BTCUSDT tf=1h missing=6 repaired=6"),
        "{}",
        c.log_text()
    );
    assert_eq!(c.terminate().code(), Some(0));
    assert_eq!(
        stored(&env, Exchange::Binance),
        before,
        "holes filled with the exchange's values"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_418_retry_after_is_respected() {
    let s = StandIn::start(StandInConfig::default()).await;
    let hours = s.series().hours().to_vec();
    let env = live_env(
        &s,
        "\"binance\"",
        "backfill_days = 60\ngap_check_interval_s = 300",
    );
    // The very first REST request gets a 418 IP ban with Retry-After: 3.
    s.binance.inject(Fault::Http {
        status: 418,
        retry_after_s: Some(3),
        count: 1,
    });
    let mut c = env.start("418.log", &[]);
    let last_open = hours.last().unwrap().open_time;
    env.wait_state(180, "backfill despite the ban", |st| {
        stream(st, "binance")["last_closed_open_time"].as_i64() == Some(last_open)
    });
    assert_eq!(c.terminate().code(), Some(0));
    let reqs = s.binance.requests();
    let ban = reqs
        .iter()
        .position(|r| r.status == 418)
        .expect("the 418 was served");
    let after = &reqs[ban + 1..];
    assert!(!after.is_empty(), "requests resumed after the ban");
    // Requests already in flight when the ban arrived may land just after it (the polls run
    // concurrently); nothing may be *sent* during the ban.
    for r in after
        .iter()
        .filter(|r| r.at.duration_since(reqs[ban].at) > Duration::from_millis(100))
    {
        let waited = r.at.duration_since(reqs[ban].at);
        assert!(
            waited >= Duration::from_millis(2_950),
            "request {} {} only {waited:?} after the 418 (Retry-After: 3)",
            r.path,
            r.query
        );
    }
    assert_eq!(
        stored(&env, Exchange::Binance)[..],
        hours[hours.len() - 60 * 24..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_fetch_history_and_check_data_against_the_standin() {
    let s = StandIn::start(StandInConfig::default()).await;
    let hours = s.series().hours().to_vec();
    let env = live_env(&s, "\"binance\"", "");
    // A 429 with Retry-After: 1 on the first request: the command waits and carries on.
    s.bitget.inject(Fault::Http {
        status: 429,
        retry_after_s: Some(1),
        count: 1,
    });
    let run = |args: &[&str]| {
        let out = std::process::Command::new(scalp_e2e::bin("optimize"))
            .arg("--config")
            .arg(env.config())
            .args(args)
            .output()
            .unwrap();
        let so = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "optimize {args:?} failed:\n{so}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        so
    };
    let out = run(&[
        "fetch-history",
        "--exchange",
        "bitget",
        "--symbols",
        "BTC",
        "--timeframe",
        "1h",
        "--days",
        "100",
    ]);
    assert!(
        out.contains("bitget BTCUSDT 1h: 2400 closed candles"),
        "{out}"
    );
    let db = env.dir.path().join("optimize.db");
    let conn = scalp_store::open(&db).unwrap();
    let key = scalp_store::SeriesKey {
        exchange: Exchange::Bitget,
        symbol: "BTCUSDT",
        timeframe: Timeframe::H1,
    };
    let got = scalp_store::candles::load(&conn, &key, i64::MIN, i64::MAX).unwrap();
    assert_eq!(got[..], hours[hours.len() - 2400..]);
    let reqs = s.bitget.requests();
    let i = reqs
        .iter()
        .position(|r| r.status == 429)
        .expect("429 served");
    assert!(
        reqs[i + 1..]
            .iter()
            .all(|r| r.at.duration_since(reqs[i].at) >= Duration::from_millis(950))
    );

    // Since a date, on Binance; then the coverage report.
    let out = run(&[
        "fetch-history",
        "--exchange",
        "binance",
        "--symbols",
        "BTCUSDT",
        "--since",
        "2019-10-01",
    ]);
    assert!(out.contains("binance BTCUSDT 1h:"), "{out}");
    let out = run(&["check-data", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    for r in rows {
        assert_eq!(r["missing"], 0, "{r}");
        assert_eq!(r["coverage_pct"], 100.0, "{r}");
    }
    // Punch a hole: check-data reports it.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "DELETE FROM candles WHERE open_time = ?1",
            [hours[hours.len() - 10].open_time],
        )
        .unwrap();
    let out = run(&["check-data", "--exchange", "binance"]);
    assert!(out.contains("gap ") && out.contains("(1 candles)"), "{out}");

    let out = run(&[
        "fetch-funding",
        "--exchange",
        "binance",
        "--symbols",
        "BTC",
        "--days",
        "30",
    ]);
    assert!(out.contains("binance BTCUSDT: 90 funding rates"), "{out}");
    let out = run(&["fetch-oi", "--exchange", "bitget", "--symbols", "BTC"]);
    assert!(out.contains("bitget BTCUSDT: open interest"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_forming_candle_is_never_stored() {
    // Real-time clock inside the data, 1m stream: a candle closes every minute.
    let base = StandIn::start(StandInConfig::default())
        .await
        .series()
        .first_open()
        + 200 * 24 * H;
    let s = StandIn::start(StandInConfig {
        start_ms: Some(base + 20_000),
        ..StandInConfig::default()
    })
    .await;
    let env = Env::new(
        &format!(
            "[collector]\nsources = [\"binance\"]\nbackfill_days = 1\ngap_check_interval_s = 3600\nstate_interval_s = 1\nstall_timeout_s = 300\n{}",
            s.config_toml()
        ),
        &["BTC"],
        &["1m"],
    );
    let mut c = env.start("stall.log", &[]);
    c.wait_log(120, "BACKFILL DONE exchange=binance");
    env.wait_state(60, "connected", |st| {
        stream(st, "binance")["connected"] == true
    });
    // Freeze the forming candle for 75 s: pushed unchanged, never closed, even past its end.
    let m0 = Timeframe::M1.align(s.clock().now_ms());
    s.binance.inject(Fault::StallForming { ms: 75_000 });
    let key = scalp_store::SeriesKey {
        exchange: Exchange::Binance,
        symbol: "BTCUSDT",
        timeframe: Timeframe::M1,
    };
    let rows_from_m0 = || {
        let conn = scalp_store::open(&env.db()).unwrap();
        scalp_store::candles::load(&conn, &key, m0, i64::MAX).unwrap()
    };
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(70) {
        let rows = rows_from_m0();
        assert!(
            rows.is_empty(),
            "a candle from the stalled (forming) one on was stored: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // After the stall the exchange closes it: stored with its final values.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let row = loop {
        if let Some(r) = rows_from_m0().into_iter().find(|r| r.open_time == m0) {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the candle never got stored after the stall"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        Some(row),
        s.series().candle(Timeframe::M1, m0),
        "final (closed) values"
    );
    let st = env.state().unwrap();
    assert_eq!(stream(&st, "binance")["rejected"], 0, "{st}");
    assert_eq!(c.terminate().code(), Some(0));
}

/// Against a Bitget stand-in that reads `startTime`/`endTime` as exclusive (what connectors
/// report from live use): the backfill is complete and a single missing candle is repaired
/// (before the windows were widened, the one-candle query `[t, t + 1h]` returned nothing and the
/// gap was asked for again every gap-check interval). The state file carries the Bitget REST
/// corrections count and no failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitget_one_candle_gap_is_repaired_under_exclusive_bounds() {
    let s = StandIn::start(StandInConfig {
        bitget_bounds: scalp_e2e::standin::Bounds::Exclusive,
        ..Default::default()
    })
    .await;
    let hours = s.series().hours().to_vec();
    let env = live_env(
        &s,
        "\"bitget\"",
        "backfill_days = 30\ngap_check_interval_s = 1",
    );
    let mut c = env.start("bg1.log", &[]);
    let last_open = hours.last().unwrap().open_time;
    env.wait_state(180, "backfill", |st| {
        stream(st, "bitget")["last_closed_open_time"].as_i64() == Some(last_open)
    });
    assert_eq!(c.terminate().code(), Some(0));
    let before = stored(&env, Exchange::Bitget);
    let days30 = (30 * 24) as usize;
    assert!(before.len() >= days30, "30 days of 1h: {}", before.len());
    assert_eq!(
        before[..],
        hours[hours.len() - before.len()..],
        "the backfill is complete: no candle lost at page edges"
    );
    let lone = before[before.len() / 3].open_time;
    {
        let db = rusqlite::Connection::open(env.db()).unwrap();
        let n = db
            .execute(
                "DELETE FROM candles WHERE open_time = ?1",
                rusqlite::params![lone],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let mut c = env.start("bg2.log", &[]);
    let st = env.wait_state(120, "1 candle repaired", |st| {
        stream(st, "bitget")["gaps_repaired"].as_u64() >= Some(1)
    });
    let b = stream(&st, "bitget");
    assert_eq!(b["gaps_repaired"].as_u64(), Some(1), "{st}");
    assert_eq!(b["failed"], serde_json::Value::Null, "{st}");
    assert!(b["corrections"].is_u64(), "{st}");
    assert!(
        c.log_text()
            .contains("GAPS REPAIRED exchange=bitget symbol=BTCUSDT tf=1h missing=1 repaired=1"),
        "{}",
        c.log_text()
    );
    assert_eq!(c.terminate().code(), Some(0));
    assert_eq!(stored(&env, Exchange::Bitget), before, "hole filled");
}

/// `--check-config` refuses timeframes a Bitget source cannot stream and a Binance `ws_url`
/// without the `/market` route, naming file, line and key.
#[test]
fn check_config_refuses_what_the_real_exchanges_would_not_serve() {
    let env = Env::new(
        "[collector]\nsources = [\"bitget\"]\n",
        &["BTC"],
        &["1m", "3m"],
    );
    let out = std::process::Command::new(scalp_e2e::bin("scalp-collector"))
        .args(["--config", env.config().to_str().unwrap(), "--check-config"])
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("assets.toml:3") && err.contains("timeframes") && err.contains("3m"),
        "{err}"
    );
    let env = Env::new(
        "[collector]\nsources = [\"binance\"]\n[exchanges.binance]\nws_url = \"wss://fstream.binance.com\"\n",
        &["BTC"],
        &["1m"],
    );
    let out = std::process::Command::new(scalp_e2e::bin("scalp-collector"))
        .args(["--config", env.config().to_str().unwrap(), "--check-config"])
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("exchanges.binance.ws_url") && err.contains("/market"),
        "{err}"
    );
}

/// The real collector through TLS stand-ins (`https://localhost`, `wss://localhost`) whose
/// certificate comes from a local CA named by `ca_file` in scalp.toml: rustls, SNI and the
/// certificate checks are exercised once end to end (REST backfill and the WebSocket stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_over_tls_with_a_local_ca() {
    let ca_dir = tempfile::tempdir().unwrap();
    let s = StandIn::start(StandInConfig {
        tls: Some(scalp_e2e::standin::tls::TestCa::new(ca_dir.path())),
        ..Default::default()
    })
    .await;
    assert!(
        s.config_toml().contains("ca_file = "),
        "{}",
        s.config_toml()
    );
    let hours = s.series().hours().to_vec();
    let env = live_env(&s, "\"bitget\"", "backfill_days = 10");
    let mut c = env.start("tls.log", &[]);
    let last_open = hours.last().unwrap().open_time;
    env.wait_state(120, "backfill and stream over TLS", |st| {
        let b = stream(st, "bitget");
        b["last_closed_open_time"].as_i64() == Some(last_open) && b["connected"] == true
    });
    assert_eq!(c.terminate().code(), Some(0));
    let got = stored(&env, Exchange::Bitget);
    assert!(got.len() >= 240, "{}", got.len());
    assert_eq!(got[..], hours[hours.len() - got.len()..]);
    let names = s.bitget.tls_server_names();
    assert!(names.len() >= 2, "REST and WS handshakes: {names:?}");
    assert!(
        names.iter().all(|n| n.as_deref() == Some("localhost")),
        "{names:?}"
    );
    assert_eq!(s.bitget.tls_failed_handshakes(), 0);
}

/// A channel Bitget refuses (error 30001 naming it) is marked `failed` in the state file and
/// makes the collector unhealthy at once; the other stream keeps storing candles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitget_refused_channel_is_failed_in_the_state_file_and_unhealthy() {
    let s = StandIn::start(StandInConfig {
        symbols: vec!["BTCUSDT".into()],
        ..Default::default()
    })
    .await;
    let env = live_env_assets(&s, "\"bitget\"", "backfill_days = 5", &["BTC", "ETH"]);
    let mut c = env.start("refused.log", &[]);
    let st = env.wait_state(120, "ETH failed, collector unhealthy", |st| {
        let eth = st["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["symbol"] == "ETHUSDT");
        eth.is_some_and(|e| e["failed"].is_string()) && st["healthy"] == false
    });
    let streams = st["streams"].as_array().unwrap();
    let eth = streams.iter().find(|x| x["symbol"] == "ETHUSDT").unwrap();
    assert!(eth["failed"].as_str().unwrap().contains("30001"), "{st}");
    let btc = streams.iter().find(|x| x["symbol"] == "BTCUSDT").unwrap();
    assert_eq!(btc["failed"], serde_json::Value::Null, "{st}");
    assert!(btc["candles_stored"].as_u64().unwrap() > 0, "{st}");
    c.wait_log(30, "STREAM FAILED");
    assert_eq!(c.terminate().code(), Some(0));
}
