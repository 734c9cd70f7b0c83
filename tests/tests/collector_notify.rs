//! sd_notify protocol of the real `scalp-collector` binary against a real unix datagram
//! socket (`NOTIFY_SOCKET`): READY=1 after init, WATCHDOG=1 only while the work loop makes
//! progress, STOPPING=1 on SIGTERM and exit 0.

use crate::support;

use std::time::Duration;
use support::{Env, NotifySocket, count_line};

#[test]
fn ready_watchdog_stopping_with_a_progressing_replay() {
    let env = Env::new(
        "[collector]\nsources = [\"replay\"]\nstate_interval_s = 1\n\n[replay]\nfile = \"coinbase_btcusd_1h.csv\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1h\"\ncandles_per_second = 20.0\n",
        &["BTC"],
        &["1h"],
    );
    let sock = NotifySocket::bind(env.dir.path());
    let path = sock.path.to_str().unwrap().to_string();
    // WatchdogSec=1 → a ping is due every 0.5 s.
    let mut c = env.start(
        "notify.log",
        &[("NOTIFY_SOCKET", &path), ("WATCHDOG_USEC", "1000000")],
    );
    let before_ready = sock.wait_for(60, "READY=1");
    assert_eq!(
        count_line(&before_ready, "WATCHDOG=1"),
        0,
        "no ping before READY: {before_ready:?}"
    );
    // While replaying (and storing) candles, pings keep coming.
    let msgs = sock.collect_for(Duration::from_secs(4));
    let pings = count_line(&msgs, "WATCHDOG=1");
    assert!(
        pings >= 3,
        "expected ≥ 3 WATCHDOG=1 in 4 s at WATCHDOG_USEC=1 s, got {pings}: {msgs:?}"
    );
    let st = env.wait_state(30, "stored candles", |s| {
        s["candles_stored_total"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(st["healthy"], true);

    c.signal("TERM");
    sock.wait_for(30, "STOPPING=1");
    let status = c.wait_exit(60);
    assert_eq!(status.code(), Some(0), "log:\n{}", c.log_text());
    let log = c.log_text();
    assert!(log.contains("SIGNAL SIGTERM received"), "{log}");
    assert!(log.contains("STOPPED cleanly"), "{log}");
}

#[test]
fn no_watchdog_pings_when_the_exchange_is_unreachable_beyond_max_unhealthy() {
    // Binance on a closed port: the WS never connects, so the streams stay unhealthy; after
    // max_unhealthy_s = 2 the collector must stop feeding the watchdog.
    let env = Env::new(
        "[collector]\nsources = [\"binance\"]\nmax_unhealthy_s = 2\nstate_interval_s = 1\nreconnect_min_ms = 200\nreconnect_max_ms = 1000\n\n[exchanges.binance]\nrest_url = \"http://127.0.0.1:9\"\nws_url = \"ws://127.0.0.1:9/market\"\nrequest_timeout_s = 2\n",
        &["BTC"],
        &["1m"],
    );
    let sock = NotifySocket::bind(env.dir.path());
    let path = sock.path.to_str().unwrap().to_string();
    let mut c = env.start(
        "stall.log",
        &[("NOTIFY_SOCKET", &path), ("WATCHDOG_USEC", "1000000")],
    );
    sock.wait_for(60, "READY=1");
    // Past max_unhealthy_s (plus the state interval), the verdict is unhealthy...
    env.wait_state(60, "healthy=false", |s| s["healthy"] == false);
    // ...and from then on no ping at all (10 ping periods).
    let _ = sock.collect_for(Duration::from_millis(600));
    let msgs = sock.collect_for(Duration::from_secs(5));
    assert_eq!(
        count_line(&msgs, "WATCHDOG=1"),
        0,
        "pings while unhealthy: {msgs:?}"
    );
    let st = env.state().unwrap();
    assert_eq!(st["streams"][0]["connected"], false, "{st}");
    assert!(st["streams"][0]["unhealthy_since"].is_i64(), "{st}");
    assert!(
        c.log_text().contains("WATCHDOG WITHHELD"),
        "{}",
        c.log_text()
    );

    c.signal("TERM");
    sock.wait_for(30, "STOPPING=1");
    assert_eq!(c.wait_exit(60).code(), Some(0), "log:\n{}", c.log_text());
}

#[test]
fn without_watchdog_usec_there_are_no_pings_and_check_config_works() {
    let env = Env::new(
        "[collector]\nsources = [\"replay\"]\n\n[replay]\ncandles_per_second = 50.0\n",
        &["BTC"],
        &["1h"],
    );
    let sock = NotifySocket::bind(env.dir.path());
    let path = sock.path.to_str().unwrap().to_string();
    let mut c = env.start("nowd.log", &[("NOTIFY_SOCKET", &path)]);
    sock.wait_for(60, "READY=1");
    let msgs = sock.collect_for(Duration::from_secs(2));
    assert_eq!(count_line(&msgs, "WATCHDOG=1"), 0, "{msgs:?}");
    assert_eq!(c.terminate().code(), Some(0));

    // --check-config: 0 on a valid config...
    let out = std::process::Command::new(scalp_e2e::bin("scalp-collector"))
        .args(["--check-config", "--config"])
        .arg(env.config())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...2 with file:line: key on an invalid one.
    let bad = env.dir.path().join("scalp.toml");
    let text = std::fs::read_to_string(&bad)
        .unwrap()
        .replace("candles_per_second = 50.0", "candles_per_second = -1.0");
    std::fs::write(&bad, text).unwrap();
    let out = std::process::Command::new(scalp_e2e::bin("scalp-collector"))
        .args(["--check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:", bad.display())) && err.contains("replay.candles_per_second"),
        "{err}"
    );
    // A missing replay file is named too.
    let text = std::fs::read_to_string(&bad)
        .unwrap()
        .replace("candles_per_second = -1.0", "file = \"nope.csv\"");
    std::fs::write(&bad, text).unwrap();
    let out = std::process::Command::new(scalp_e2e::bin("scalp-collector"))
        .args(["--check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("replay.file") && err.contains("nope.csv"),
        "{err}"
    );
}

#[test]
fn journal_stream_without_journald_falls_back_to_stderr_and_json_format_works() {
    let env = Env::new(
        "[collector]\nsources = [\"replay\"]\n\n[replay]\ncandles_per_second = 50.0\n",
        &["BTC"],
        &["1h"],
    );
    // JOURNAL_STREAM set but no journald socket here: logs must still reach stderr.
    let mut c = env.start("journal.log", &[("JOURNAL_STREAM", "8:12345")]);
    c.wait_log(60, "CANDLE CLOSED exchange=replay symbol=BTCUSDT tf=1h");
    assert!(
        c.log_text().contains("journald is unreachable"),
        "{}",
        c.log_text()
    );
    assert_eq!(c.terminate().code(), Some(0));

    let f = std::fs::File::create(env.log("json.log")).unwrap();
    let mut child = std::process::Command::new(scalp_e2e::bin("scalp-collector"))
        .args(["--log-format", "json", "--config"])
        .arg(env.config())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .stderr(f)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let line = loop {
        let t = std::fs::read_to_string(env.log("json.log")).unwrap();
        if let Some(l) = t.lines().find(|l| l.contains("CANDLE CLOSED")) {
            break l.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no JSON candle line: {t}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("each log line is JSON");
    assert_eq!(v["level"], "INFO");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("CANDLE CLOSED exchange=replay")
    );
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
