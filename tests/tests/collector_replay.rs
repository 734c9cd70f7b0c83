//! The real `scalp-collector` binary on the bundled replay file: every candle stored exactly
//! as in the CSV, clean SIGTERM mid-way, restart resumes after the last stored candle with no
//! duplicate and no loss.

use crate::support;

use scalp_core::{Exchange, Timeframe};
use support::Env;

fn config(cps: f64) -> String {
    format!(
        "[collector]\nsources = [\"replay\"]\nstate_interval_s = 1\n\n[replay]\nfile = \"coinbase_btcusd_1h.csv\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1h\"\ncandles_per_second = {cps:.1}\n"
    )
}

fn set_rate(env: &Env, cps: f64) {
    std::fs::write(
        env.config(),
        std::fs::read_to_string(env.config())
            .unwrap()
            .lines()
            .map(|l| {
                if l.starts_with("candles_per_second") {
                    format!("candles_per_second = {cps:.1}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
}

fn stored(env: &Env) -> Vec<scalp_core::Candle> {
    let conn = scalp_store::open(&env.db()).unwrap();
    let key = scalp_store::SeriesKey {
        exchange: Exchange::Replay,
        symbol: "BTCUSDT",
        timeframe: Timeframe::H1,
    };
    scalp_store::candles::load(&conn, &key, i64::MIN, i64::MAX).unwrap()
}

#[test]
fn replay_stores_the_bundled_file_exactly_and_resumes_after_restart() {
    let csv = scalp_core::csvdata::read_candles_csv(
        &scalp_e2e::repo_root().join("data/coinbase_btcusd_1h.csv"),
    )
    .unwrap();
    assert_eq!(csv.len(), 20_111);
    let env = Env::new(&config(300.0), &["BTC"], &["1h"]);

    // 1. Paced run, stopped by SIGTERM part-way.
    let mut c = env.start("run1.log", &[]);
    env.wait_state(120, "≥ 600 candles stored", |s| {
        s["candles_stored_total"].as_u64().unwrap_or(0) >= 600
    });
    assert_eq!(c.terminate().code(), Some(0), "{}", c.log_text());
    let st1 = env.state().unwrap();
    let n1 = st1["candles_stored_total"].as_u64().unwrap() as usize;
    assert!(n1 < csv.len(), "stopped part-way: {n1}");
    assert_eq!(st1["streams"][0]["finished"], false);
    let got = stored(&env);
    assert_eq!(
        got.len(),
        n1,
        "final state file counts exactly what is in the DB"
    );
    assert_eq!(
        got[..],
        csv[..n1],
        "a prefix of the file, in order, values identical"
    );
    assert_eq!(
        st1["streams"][0]["last_closed_open_time"].as_i64(),
        Some(csv[n1 - 1].open_time)
    );

    // 2. Restart at max speed: resumes after the last stored candle.
    set_rate(&env, 0.0);
    let mut c = env.start("run2.log", &[]);
    let st2 = env.wait_state(300, "replay finished", |s| {
        s["streams"][0]["finished"] == true
    });
    let log2 = c.log_text();
    assert!(log2.contains(&format!("at index {n1} (pass 0)")), "{log2}");
    assert_eq!(
        st2["candles_stored_total"].as_u64().unwrap() as usize,
        csv.len() - n1
    );
    assert_eq!(c.terminate().code(), Some(0), "{}", c.log_text());
    let got = stored(&env);
    assert_eq!(got.len(), csv.len(), "no duplicate, no loss");
    assert_eq!(got, csv, "every stored candle equals the CSV exactly");

    // 3. Third start: nothing left to replay, nothing written.
    let mut c = env.start("run3.log", &[]);
    c.wait_log(60, "all 20111 candles already stored");
    let st3 = env.wait_state(60, "fresh state of run 3", |s| {
        s["pid"].as_u64() == Some(c.pid() as u64)
    });
    assert_eq!(st3["candles_stored_total"], 0);
    assert_eq!(st3["healthy"], true);
    assert_eq!(c.terminate().code(), Some(0));
    assert_eq!(stored(&env).len(), csv.len());
}
