//! The real `scalp-watchdog`, `scalp-collector` (replay of the bundled BTC 1h file, slowly) and
//! `scalp-simulator` (`start = "first_candle"`, sma_cross on BTC) with the Telegram stand-in:
//! (a) paper trades give Telegram messages with the numbers of their `sim_trades` rows, one
//!     message per exit;
//! (b) the simulator SIGKILLed and not restarted → one daemon_down message; restarted → one
//!     resolved message;
//! (d) `/status` from the configured chat is answered with the real state, from another chat
//!     ignored;
//! (c) Telegram down (connection refused) while the watchdog is restarted → every queued
//!     message delivered once, in queue order, when it is back;
//! (e) the token appears in no log line and no file under the data directory.
//!
//! And without Telegram (no token, no chat id): alerts only logged as `ALERT …`; a disk threshold
//! above the free space → disk_low; the replay SIGSTOPped → one data_stale (and daemon_down for
//! the collector), SIGCONT → one resolved each; READY=1 / WATCHDOG=1 / STOPPING=1, exit 0.

use crate::support;

use scalp_e2e::standin::telegram::{Outage, TelegramStandIn, TgConfig, TgFault};
use scalp_ops::messages::{fmt_num, fmt_pnl};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::Env;

const CHAT: i64 = 424_242_424;

fn body(tg_url: &str) -> String {
    format!(
        "[collector]\nsources = [\"replay\"]\nstate_interval_s = 1\n\n[replay]\nfile = \"coinbase_btcusd_1h.csv\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1h\"\ncandles_per_second = 8.0\n\n[simulator]\ncapital = 3000.0\nstart = \"first_candle\"\nstate_interval_ms = 200\npoll_interval_ms = 200\n\n[watchdog]\ncheck_interval_s = 1\ncooldown_s = 2\nmin_free_disk_pct = 0.0\nheartbeat_interval_s = 3600\ntelegram_chat_id = \"{CHAT}\"\ntelegram_url = \"{tg_url}\"\ncheckpoint_interval_s = 3\n"
    )
}

/// The shipped strategies.toml with only sma_cross enabled, on BTC.
fn strategies(dir: &Path) {
    let text =
        std::fs::read_to_string(scalp_e2e::repo_root().join("config/strategies.toml")).unwrap();
    let mut out = String::new();
    let mut section = String::new();
    for l in text.lines() {
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
        }
        if l.starts_with("enabled") {
            let on = section == "sma_cross";
            out.push_str(&format!("enabled = {on}\n"));
            if on {
                out.push_str("assets = [\"BTC\"]\n");
            }
            continue;
        }
        if l.starts_with("assets") {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    std::fs::write(dir.join("strategies.toml"), out).unwrap();
}

struct Proc {
    child: Child,
    name: &'static str,
}
impl Proc {
    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }
    fn kill9(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }
    fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(env: &Env, bin: &'static str, token: &str) -> Proc {
    start_with(env, bin, token, &[])
}

fn start_with(env: &Env, bin: &'static str, token: &str, vars: &[(&str, &str)]) -> Proc {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.log(&format!("{bin}.log")))
        .unwrap();
    let mut cmd = Command::new(scalp_e2e::bin(bin));
    cmd.arg("--config")
        .arg(env.config())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("JOURNAL_STREAM")
        .env(
            "RUST_LOG",
            "debug,hyper=info,reqwest=info,rustls=info,h2=info",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(f);
    // every daemon gets the token in its environment, as from secrets.env
    cmd.env("SCALP_TELEGRAM_TOKEN", token);
    cmd.env_remove("SCALP_API_KEY");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Proc {
        child: cmd.spawn().unwrap(),
        name: bin,
    }
}

fn logs(env: &Env) -> String {
    ["scalp-watchdog", "scalp-collector", "scalp-simulator"]
        .iter()
        .map(|b| {
            format!(
                "--- {b}\n{}",
                std::fs::read_to_string(env.log(&format!("{b}.log"))).unwrap_or_default()
            )
        })
        .collect()
}

fn wait_for(env: &Env, secs: u64, what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !pred() {
        if Instant::now() > deadline {
            let tail: String = logs(env)
                .lines()
                .filter(|l| !l.contains("DEBUG"))
                .collect::<Vec<_>>()
                .join("\n");
            panic!("timed out waiting for {what}\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn count(tg: &TelegramStandIn, needle: &str) -> usize {
    tg.texts().iter().filter(|t| t.contains(needle)).count()
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn outbox_texts(env: &Env) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(env.data_dir().join("watchdog/outbox"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "msg"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn watchdog_alerts_trades_outages_commands_and_keeps_the_token_secret() {
    let tg = TelegramStandIn::start(TgConfig::default());
    let token = tg.token().to_string();
    let env = Env::new(&body(&tg.url()), &["BTC"], &["1h"]);
    strategies(env.dir.path());

    let mut wd = start(&env, "scalp-watchdog", &token);
    wait_for(&env, 30, "the start-up message", || {
        count(&tg, "scalp-watchdog started") == 1
    });
    let _collector = start(&env, "scalp-collector", &token);
    let mut sim = start(&env, "scalp-simulator", &token);

    // (a) trade messages carry the sim_trades numbers
    wait_for(&env, 120, "two paper exit messages", || {
        count(&tg, "PAPER EXIT") >= 2
    });
    let msgs = tg.messages();
    assert!(msgs.iter().all(|m| m.chat_id == serde_json::json!(CHAT)));
    assert!(
        msgs.iter()
            .all(|m| m.parse_mode.as_deref() == Some("HTML") && m.preview_disabled)
    );
    let exit = msgs
        .iter()
        .find(|m| m.plain.contains("PAPER EXIT"))
        .unwrap()
        .plain
        .clone();
    let seq: i64 = exit
        .split("trade #")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let c = rusqlite::Connection::open(env.db()).unwrap();
    let (side, entry, exit_p, qty, pnl, fees, reason): (String, f64, f64, f64, f64, f64, String) =
        c.query_row(
            "SELECT side, entry_price, exit_price, qty, net_pnl, fees, exit_reason FROM sim_trades \
             WHERE runner_id = 'sma_cross:BTC' AND epoch = 0 AND seq = ?1",
            [seq],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    for want in [
        format!("PAPER EXIT sma_cross:BTC trade #{seq} {side}"),
        format!("entry {} → exit {}", fmt_num(entry), fmt_num(exit_p)),
        format!("qty {}", fmt_num(qty)),
        format!("P&L {} USDT (fees {}", fmt_pnl(pnl), fmt_pnl(fees)),
        format!("reason: {reason}"),
    ] {
        assert!(
            exit.contains(&want),
            "`{want}` not in the exit message:\n{exit}"
        );
    }
    assert!(count(&tg, "PAPER ENTRY sma_cross:BTC") >= 2);

    // (b) simulator killed → one daemon_down; restarted → one resolved
    sim.kill9();
    wait_for(&env, 20, "daemon_down", || {
        count(&tg, "daemon_down scalp-simulator") == 1
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        count(&tg, "daemon_down scalp-simulator"),
        1,
        "{:#?}",
        tg.texts()
    );
    let mut sim = start(&env, "scalp-simulator", &token);
    wait_for(&env, 30, "resolved", || {
        count(&tg, "resolved: daemon_down scalp-simulator") == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&tg, "resolved: daemon_down scalp-simulator"), 1);
    assert_eq!(count(&tg, "daemon_down scalp-simulator"), 2); // the alert and its resolution

    // (d) /status: another chat is ignored, the configured chat is answered
    tg.push_update(777_000_111, "/status");
    tg.push_update(CHAT, "/status");
    wait_for(&env, 60, "the /status answer", || {
        count(&tg, "status\npaper:") >= 1
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&tg, "status\npaper:"), 1, "{:#?}", tg.texts());
    let status = tg
        .texts()
        .into_iter()
        .find(|t| t.contains("status\npaper:"))
        .unwrap();
    assert!(status.contains("paper: 1 runners (0 stopped)"), "{status}");
    assert!(status.contains("scalp-simulator: up"), "{status}");
    assert!(
        tg.messages()
            .iter()
            .all(|m| m.chat_id == serde_json::json!(CHAT))
    );

    // (c) Telegram refuses connections; the watchdog is restarted meanwhile
    tg.inject(TgFault::Outage(Outage::Refused));
    let before = tg.messages().len();
    sim.kill9();
    let wd_state = || -> serde_json::Value {
        std::fs::read(env.data_dir().join("state/watchdog.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    wait_for(&env, 20, "daemon_down queued", || {
        outbox_texts(&env)
            .iter()
            .any(|t| t.contains("daemon_down</b> scalp-simulator"))
    });
    assert_eq!(wd.terminate().code(), Some(0), "{}", logs(&env));
    let mut wd = start(&env, "scalp-watchdog", &token);
    let _sim = start(&env, "scalp-simulator", &token);
    wait_for(&env, 30, "resolved queued during the outage", || {
        let q = outbox_texts(&env);
        q.iter().any(|t| t.contains("resolved: daemon_down"))
            && q.iter().any(|t| t.contains("scalp-watchdog started"))
            && q.iter().any(|t| t.contains("scalp-watchdog stopping"))
    });
    std::thread::sleep(Duration::from_secs(2));
    let queued = outbox_texts(&env);
    assert_eq!(
        tg.messages().len(),
        before,
        "nothing gets through an outage"
    );
    tg.inject(TgFault::Restore);
    wait_for(&env, 120, "the queue delivered", || {
        tg.messages().len() >= before + queued.len()
    });
    let after: Vec<String> = tg.messages()[before..]
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(
        &after[..queued.len()],
        &queued[..],
        "the queued messages, once each, in order"
    );
    // once: no trade message twice over the whole run
    let mut exits: Vec<String> = tg
        .texts()
        .into_iter()
        .filter(|t| t.contains("PAPER EXIT"))
        .collect();
    let n = exits.len();
    exits.sort();
    exits.dedup();
    assert_eq!(exits.len(), n, "an exit message was sent twice");
    wait_for(&env, 30, "the outbox empty", || {
        outbox_texts(&env).is_empty()
    });

    // the state file (written after the delivery that emptied the outbox returned)
    wait_for(&env, 30, "watchdog.json: telegram ok, queue empty", || {
        let st = wd_state();
        st["telegram"] == "ok" && st["outbox_depth"] == 0
    });
    let st = wd_state();
    assert!(st["last_event_id"].as_i64().unwrap() > 0, "{st}");
    assert_eq!(st["telegram"], "ok", "{st}");
    assert!(st["last_checkpoint"]["result"].is_string(), "{st}");
    assert!(st["last_check_ms"].as_i64().is_some(), "{st}");
    assert!(
        st["seen_daemons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "scalp-simulator"),
        "{st}"
    );
    assert_eq!(wd.terminate().code(), Some(0));

    // (e) the token in no log line and no file under the data directory
    let all = logs(&env);
    assert!(all.contains("ALERT "), "alerts are logged");
    assert!(!all.contains(&token), "the token is in a log");
    let secret_part = token.split(':').nth(1).unwrap();
    assert!(
        !all.contains(secret_part),
        "the token's secret part is in a log"
    );
    let mut files = Vec::new();
    files_under(&env.data_dir(), &mut files);
    assert!(files.len() > 3);
    for f in files {
        let b = std::fs::read(&f).unwrap_or_default();
        assert!(
            !b.windows(secret_part.len())
                .any(|w| w == secret_part.as_bytes()),
            "the token is in {}",
            f.display()
        );
    }
}

#[test]
fn without_telegram_alerts_are_logged_replay_stall_and_disk_low() {
    let body = "[collector]\nsources = [\"replay\"]\nstate_interval_s = 1\n\n[replay]\nfile = \"coinbase_btcusd_1h.csv\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1h\"\ncandles_per_second = 8.0\n\n[watchdog]\ncheck_interval_s = 1\ncooldown_s = 2\nmin_free_disk_pct = 100.0\ncheckpoint_interval_s = 2\n";
    let env = Env::new(body, &["BTC"], &["1h"]);
    let notify = support::NotifySocket::bind(env.dir.path());
    let collector = start(&env, "scalp-collector", "");
    let f = std::fs::File::create(env.log("scalp-watchdog.log")).unwrap();
    let mut wd = Proc {
        child: Command::new(scalp_e2e::bin("scalp-watchdog"))
            .arg("--config")
            .arg(env.config())
            .env("NOTIFY_SOCKET", &notify.path)
            .env("WATCHDOG_USEC", "4000000")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .env_remove("SCALP_TELEGRAM_TOKEN")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .unwrap(),
        name: "scalp-watchdog",
    };
    notify.wait_for(30, "READY=1");
    notify.wait_for(10, "WATCHDOG=1");
    // keep reading the notify socket (a full socket buffer would block the daemon's sends)
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop_reading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (seen, stop) = (seen.clone(), stop_reading.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(m) = notify.recv() {
                    seen.lock().unwrap().push(m);
                }
            }
        })
    };
    let wlog = || std::fs::read_to_string(env.log("scalp-watchdog.log")).unwrap_or_default();
    let n = |needle: &str| {
        wlog()
            .lines()
            .filter(|l| l.contains("ALERT") && l.contains(needle))
            .count()
    };
    wait_for(&env, 20, "disk_low logged", || n("disk_low data_dir") == 1);
    assert!(wlog().contains("telegram disabled"));
    // the collector runs: its state file is fresh, no data_stale
    wait_for(&env, 20, "the collector seen", || {
        wlog().contains("WATCHING scalp-collector")
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(n("data_stale"), 0, "{}", wlog());
    collector.signal("STOP");
    wait_for(&env, 30, "data_stale logged", || {
        n("data_stale replay BTCUSDT 1h") == 1 && n("daemon_down scalp-collector") == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(n("data_stale replay BTCUSDT 1h"), 1);
    collector.signal("CONT");
    wait_for(&env, 30, "resolved logged", || {
        n("resolved: data_stale replay BTCUSDT 1h") == 1
            && n("resolved: daemon_down scalp-collector") == 1
    });
    wait_for(&env, 20, "a checkpoint", || {
        wlog().contains("CHECKPOINT wal_bytes_before=")
    });
    assert!(
        !env.data_dir()
            .join("watchdog/outbox")
            .read_dir()
            .unwrap()
            .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "msg")),
        "nothing queued without Telegram"
    );
    assert_eq!(wd.terminate().code(), Some(0), "{}", wlog());
    std::thread::sleep(Duration::from_millis(500));
    stop_reading.store(true, std::sync::atomic::Ordering::SeqCst);
    reader.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|m| m.lines().any(|l| l == "WATCHDOG=1")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "{seen:?}"
    );
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.data_dir().join("state/watchdog.json")).unwrap())
            .unwrap();
    assert_eq!(st["telegram"], "disabled");
    assert!(
        st["anomalies"]["active"]["disk_low:data_dir"].is_object(),
        "{st}"
    );
    assert!(st["last_checkpoint"]["result"].is_string(), "{st}");
    drop(collector);
}

/// The keeping-up, silent-strategy and backup checks, and a systemd-free run of each: the
/// simulator SIGSTOPped while the replay goes on → one `lagging` (its process is alive, so no
/// daemon_down: only the stored candles it does not process show it), SIGCONT → resolved; a
/// strategy without an entry or exit for 2 h of market time → `strategy_silent`; the newest
/// backup older than `max_backup_age_h` → `backup_failed`, a fresh `scalpctl backup` → resolved.
#[test]
fn watchdog_sees_a_stopped_simulator_a_silent_strategy_and_an_old_backup() {
    let body = "[collector]\nsources = [\"replay\"]\nstate_interval_s = 1\n\n[replay]\nfile = \"coinbase_btcusd_1h.csv\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1h\"\ncandles_per_second = 8.0\n\n[simulator]\ncapital = 3000.0\nstart = \"first_candle\"\nstate_interval_ms = 200\npoll_interval_ms = 200\nmax_lag_s = 3\n\n[watchdog]\ncheck_interval_s = 1\ncooldown_s = 2\nmin_free_disk_pct = 0.0\ncheckpoint_interval_s = 0\nsilent_after_h = 2\nmax_backup_age_h = 1\n";
    let env = Env::new(body, &["BTC"], &["1h"]);
    strategies(env.dir.path());
    // an old backup (its mtime 30 h ago): backup_failed from the first round
    let backups = env.data_dir().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let old = backups.join("scalp-20261101T000000000Z.db");
    std::fs::write(&old, b"").unwrap();
    assert!(
        Command::new("touch")
            .args(["-d", "30 hours ago"])
            .arg(&old)
            .status()
            .unwrap()
            .success()
    );
    let _collector = start(&env, "scalp-collector", "");
    let sim = start(&env, "scalp-simulator", "");
    let mut wd = start(&env, "scalp-watchdog", "");
    let wlog = || std::fs::read_to_string(env.log("scalp-watchdog.log")).unwrap_or_default();
    let n = |needle: &str| {
        wlog()
            .lines()
            .filter(|l| l.contains("ALERT") && l.contains(needle))
            .count()
    };
    wait_for(&env, 30, "backup_failed", || {
        n("backup_failed backups") == 1
    });
    assert!(wlog().contains("is 30.0 h old (maximum 1 h)"), "{}", wlog());

    // the simulator keeps up: no lagging while it runs
    wait_for(&env, 60, "paper trades", || {
        rusqlite::Connection::open(env.db())
            .and_then(|c| {
                c.query_row("SELECT COUNT(*) FROM sim_trades", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .unwrap_or(0)
            >= 2
    });
    assert_eq!(n("lagging"), 0, "{}", wlog());
    sim.signal("STOP");
    wait_for(&env, 30, "lagging", || n("lagging scalp-simulator") == 1);
    assert!(
        wlog().contains("not keeping up (limit 3 s): sma_cross:BTC stuck"),
        "{}",
        wlog()
    );
    assert_eq!(n("daemon_down scalp-simulator"), 0, "{}", wlog());
    sim.signal("CONT");
    wait_for(&env, 30, "lagging resolved", || {
        n("resolved: lagging scalp-simulator") == 1
    });

    // sma_cross on 1h candles goes more than 2 h without a trade at some point
    wait_for(&env, 90, "strategy_silent", || {
        n("strategy_silent sma_cross") >= 1
    });
    assert!(wlog().contains("no entry or exit for"), "{}", wlog());

    // a fresh backup clears backup_failed
    let st = Command::new(scalp_e2e::bin("scalpctl"))
        .arg("--config")
        .arg(env.config())
        .args(["backup", "--keep", "3"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    wait_for(&env, 30, "backup_failed resolved", || {
        n("resolved: backup_failed backups") == 1
    });
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.data_dir().join("state/watchdog.json")).unwrap())
            .unwrap();
    assert!(state["db_bytes"].as_u64().unwrap() > 0, "{state}");
    let newest = state["last_backup"]["name"].as_str().unwrap();
    assert!(
        newest.starts_with("scalp-") && newest != "scalp-20261101T000000000Z.db",
        "{state}"
    );
    assert_eq!(wd.terminate().code(), Some(0), "{}", wlog());
}

/// `/stop`, `/start` and a refused `/stop` from the chat, through the real scalp-api (its control
/// endpoint, the key from the environment) to the real simulator, and the two answers each:
/// requested (with the request id), then applied (from the simulator's ack).
#[test]
fn stop_and_start_from_telegram_act_through_scalp_api() {
    const KEY: &str = "api-key-for-the-watchdog-test-0123456789";
    let tg = TelegramStandIn::start(TgConfig::default());
    let token = tg.token().to_string();
    let text = format!(
        "{}\n[api]\nlisten = \"127.0.0.1:0\"\nweb_dir = \"web\"\n",
        body(&tg.url()).replace("candles_per_second = 8.0", "candles_per_second = 4.0")
    );
    let env = Env::new(&text, &["BTC"], &["1h"]);
    strategies(env.dir.path());
    let _collector = start(&env, "scalp-collector", &token);
    let _sim = start(&env, "scalp-simulator", &token);
    let _api = start_with(&env, "scalp-api", &token, &[("SCALP_API_KEY", KEY)]);
    let api_json = env.data_dir().join("state/api.json");
    let mut port = None;
    wait_for(&env, 60, "state/api.json with the port", || {
        port = std::fs::read(&api_json)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v["listen"]
                    .as_str()?
                    .rsplit(':')
                    .next()?
                    .parse::<u16>()
                    .ok()
            })
            .filter(|p| *p != 0);
        port.is_some()
    });
    // the watchdog is pointed at the API's port (read once at its start)
    let cfg = std::fs::read_to_string(env.config()).unwrap();
    let cfg = cfg.replace(
        "checkpoint_interval_s = 3\n",
        &format!(
            "checkpoint_interval_s = 3\napi_url = \"http://127.0.0.1:{}\"\n",
            port.unwrap()
        ),
    );
    assert!(cfg.contains("api_url"));
    std::fs::write(env.config(), cfg).unwrap();
    let mut wd = start_with(&env, "scalp-watchdog", &token, &[("SCALP_API_KEY", KEY)]);
    wait_for(&env, 30, "the start-up message", || {
        count(&tg, "scalp-watchdog started") == 1
    });
    let sim_json = env.data_dir().join("state/simulator.json");
    let halted = || -> Vec<String> {
        std::fs::read(&sim_json)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v["halted_strategies"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default()
    };

    tg.push_update(CHAT, "/stop sma_cross");
    wait_for(&env, 60, "/stop requested", || {
        count(
            &tg,
            "/stop sma_cross: requested to stop paper entries of sma_cross",
        ) == 1
    });
    wait_for(&env, 60, "/stop applied", || {
        count(&tg, "/stop sma_cross applied by the simulator: ok") == 1
    });
    assert_eq!(halted(), vec!["sma_cross".to_string()]);
    let ctl: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.data_dir().join("control/simulator-api.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ctl["actions"][0]["action"], "stop", "{ctl}");

    tg.push_update(CHAT, "/start sma_cross");
    wait_for(&env, 60, "/start applied", || {
        count(&tg, "/start sma_cross applied by the simulator: ok") == 1
    });
    assert!(halted().is_empty());

    // a strategy the API does not know: refused by the API, nothing written
    tg.push_update(CHAT, "/stop no_such_strategy");
    wait_for(&env, 60, "/stop refused", || {
        count(
            &tg,
            "/stop no_such_strategy not done: scalp-api answered 422",
        ) == 1
    });
    // another chat's command does nothing
    tg.push_update(777_000_111, "/stop sma_cross");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&tg, "/stop sma_cross: requested"), 1);
    assert!(halted().is_empty());
    assert_eq!(wd.terminate().code(), Some(0), "{}", logs(&env));
    let all = logs(&env);
    assert!(!all.contains(KEY), "the API key is in a log");
}
