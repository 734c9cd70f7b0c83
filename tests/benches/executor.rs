//! Whole-process figures of `scalp-executor` fed by a running `scalp-collector`, against the
//! stand-ins (a bench command, not criterion, and not a timed test):
//!
//! `cargo build --release -p scalp-executor -p scalp-collector && cargo bench -p scalp-e2e --bench executor`
//! (`-- STRATEGY CANDLES`, default `grid_atr 1000`; orders on the UTA dialect of the Bitget
//! stand-in, market data from the Binance stand-in's WebSocket).
//!
//! Each bundled BTC 1h candle is played on the Bitget stand-in (fills on its path); then the
//! Binance stand-in's clock (held still) moves past the candle's close and its WebSocket sends
//! the closed kline to the collector, which commits it; the executor steps on it. Measured, per
//! candle, from the moment the stand-in hands that closed kline to its socket: the first signed
//! request the executor sends (its reaction) and the first order request (place / cancel /
//! batch / plan) at the Bitget stand-in, p50 / p99 / max. Because the stand-in's clock jumps an
//! hour per candle, the collector's clock estimate is an hour behind at every closed kline and
//! it measures the exchange clock again first (a server-time request a real exchange's steady
//! clock does not cause): its share is reported. Also the executor's resident memory when idle
//! after start, at the end and its peak; CPU seconds per candle over the whole run (protection
//! checks included). The harness waits for the executor to be quiescent between steps (a
//! protection check that found nothing to do), so `check_interval_ms` is 300 here (5000 by
//! default) and the state file is written every 20 ms; CPU per candle includes these. A close
//! follows the executor's last request by at least the rate budgets' 250 ms window, as an
//! hour-long candle's close does unless a fill came in its last quarter second (the count of
//! closes that had to wait for it is printed).

use scalp_e2e::standin::bitget_private::{
    AccountMode, ContractFixture, PrivateConfig, PrivateStandIn,
};
use scalp_e2e::standin::{StandIn, StandInConfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The broker's budget windows (k requests per k / rate s, 250 ms for every endpoint of 4/s
/// and more at the shipped share) and a margin.
const BUDGET_WINDOW: Duration = Duration::from_millis(260);

/// An order request (place / cancel / batch / plan), not a read or an account setting.
fn is_order(r: &scalp_e2e::standin::bitget_private::PrivRequest) -> bool {
    !r.body.is_empty() && !r.path.contains("set-")
}

fn release_bin(name: &str, var: &str) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    let root = scalp_e2e::repo_root();
    for p in [
        format!("target/release/{name}"),
        format!("target/debug/{name}"),
    ] {
        if root.join(&p).exists() {
            return root.join(p);
        }
    }
    panic!("build it first: cargo build --release -p scalp-executor -p scalp-collector");
}

fn strategies(dir: &Path, strategy: &str) {
    let text =
        std::fs::read_to_string(scalp_e2e::repo_root().join("config/strategies.toml")).unwrap();
    let mut out = String::new();
    let mut section = String::new();
    for l in text.lines() {
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
        }
        if l.starts_with("enabled") {
            let on = section == strategy;
            out.push_str(&format!("enabled = {on}\n"));
            if on {
                out.push_str("assets = [\"BTC\"]\n");
            }
            continue;
        }
        if l.starts_with("live_eligible") {
            out.push_str(&format!("live_eligible = {}\n", section == strategy));
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

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn state(dir: &Path, strategy: &str) -> Option<serde_json::Value> {
    let t =
        std::fs::read_to_string(dir.join(format!("data/state/executor-{strategy}.json"))).ok()?;
    serde_json::from_str(&t).ok()
}

fn wait_quiet(dir: &Path, strategy: &str, p: &mut Child, open_time: Option<i64>, since: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = state(dir, strategy) {
            let stepped =
                open_time.is_none_or(|t| s["runners"][0]["last_open_time"].as_i64() == Some(t));
            if stepped && s["counters"]["quiet_since_ms"].as_i64().unwrap_or(0) > since {
                return;
            }
        }
        if let Ok(Some(st)) = p.try_wait() {
            panic!(
                "the executor exited ({st}): {}",
                std::fs::read_to_string(dir.join("executor.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "the executor did not settle");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let strategy = args.first().cloned().unwrap_or_else(|| "grid_atr".into());
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let s = PrivateStandIn::start(PrivateConfig {
        account_mode: AccountMode::Uta,
        contracts: vec![ContractFixture {
            symbol: "BTCUSDT".into(),
            min_qty: 0.0001,
            lot: 0.0001,
            volume_place: 4,
            price_place: 1,
            price_end_step: 1,
            min_notional: 5.0,
            max_leverage: 125,
        }],
        balance: 5_000.0,
        maker_fee: 0.0002,
        taker_fee: 0.0006,
        slippage: 0.0005,
        ..PrivateConfig::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = scalp_e2e::repo_root();
    std::fs::copy(
        root.join("config/param_grids.toml"),
        dir.join("param_grids.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("assets.toml"),
        "quote = \"USDT\"\nassets = [\"BTC\"]\ntimeframes = [\"1h\"]\n",
    )
    .unwrap();
    strategies(dir, &strategy);
    let all =
        scalp_core::csvdata::read_candles_csv(&root.join("data/coinbase_btcusd_1h.csv")).unwrap();
    let warm = 300;
    assert!(all.len() > warm + n + 1, "not enough bundled candles");
    const H: i64 = 3_600_000;
    // the market: its clock held just after the close of the last warm-up candle
    let market = StandIn::start_blocking(StandInConfig::held_at(all[warm - 1].open_time + H + 1));
    std::fs::write(
        dir.join("scalp.toml"),
        format!(
            "[paths]\ndata_dir = \"data\"\nbundled_data_dir = \"{}\"\n\n\
             [collector]\nsources = [\"binance\"]\nbackfill_days = 14\ngap_check_interval_s = 3600\nstall_timeout_s = 3600\nstate_interval_s = 1\n\n\
             [exchanges.binance]\nrest_url = \"{}\"\nws_url = \"{}\"\n\n\
             [exchanges.bitget]\nrest_url = \"{}\"\nws_private_url = \"{}\"\n\n\
             [executor]\ncapital = 1000.0\nstate_interval_ms = 20\ncheck_interval_ms = 300\nkill_loss_pct = 0.0\n",
            root.join("data").display(),
            market.binance.rest_url(),
            market.binance.ws_url(),
            s.rest_url(),
            s.ws_url_v2()
        ),
    )
    .unwrap();
    let db = dir.join("data/scalp.db");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let collector_log = dir.join("collector.log");
    let mut collector = Proc(
        Command::new(release_bin("scalp-collector", "SCALP_COLLECTOR_BIN"))
            .arg("--config")
            .arg(dir.join("scalp.toml"))
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&collector_log).unwrap())
            .spawn()
            .unwrap(),
    );
    // the warm-up history comes from the collector's REST backfill; then its stream is up
    let deadline = Instant::now() + Duration::from_secs(120);
    let connected = || {
        std::fs::read_to_string(dir.join("data/state/collector.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|st| {
                st["streams"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x["connected"] == true))
            })
    };
    while !(std::fs::read_to_string(&collector_log)
        .unwrap_or_default()
        .contains("BACKFILL DONE exchange=binance")
        && connected())
    {
        assert!(
            Instant::now() < deadline,
            "the collector did not backfill and connect"
        );
        assert!(
            collector.0.try_wait().unwrap().is_none(),
            "the collector exited"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let conn = scalp_store::open(&db).unwrap();
    s.set_price_silently("BTCUSDT", all[warm - 1].close);
    let log = std::fs::File::create(dir.join("executor.log")).unwrap();
    let cfg = &s.config();
    let bin = release_bin("scalp-executor", "SCALP_EXECUTOR_BIN");
    let mut p = Command::new(&bin)
        .args(["--strategy", &strategy, "--config"])
        .arg(dir.join("scalp.toml"))
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "warn")
        .env("SCALP_BITGET_API_KEY", &cfg.api_key)
        .env("SCALP_BITGET_API_SECRET", &cfg.secret)
        .env("SCALP_BITGET_API_PASSPHRASE", &cfg.passphrase)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = p.id();
    wait_quiet(dir, &strategy, &mut p, Some(all[warm - 1].open_time), 0);
    std::thread::sleep(Duration::from_secs(3));
    let idle_rss = kb(pid, "VmRSS:");
    let cpu0 = scalp_e2e::cpu_s(pid);
    let t_run = Instant::now();
    let mut react = Vec::new();
    let mut resync = Vec::new();
    let mut order = Vec::new();
    let mut gapped = 0usize;
    let mut slow = Vec::new();
    for i in warm..warm + n {
        let c = &all[i];
        s.play_candle("BTCUSDT", c.open, c.high, c.low, c.close);
        s.set_price_silently("BTCUSDT", all[i + 1].open);
        // what the fills of the candle's path caused is not the candle's latency
        wait_quiet(dir, &strategy, &mut p, None, scalp_core::types::now_ms());
        // An hour of a real market lies between a candle's fills and its close; here they are
        // milliseconds apart. The close comes once the rate budgets' windows (250 ms: at most
        // k requests per k / rate seconds) have emptied since the executor's last request, as
        // they have at any close not preceded by a fill in its last 250 ms.
        let now = Instant::now();
        let reqs = s.requests();
        if reqs
            .iter()
            .any(|r| is_order(r) && r.at + BUDGET_WINDOW > now)
        {
            gapped += 1;
        }
        if let Some(idle) = reqs
            .last()
            .map(|r| r.at + BUDGET_WINDOW)
            .filter(|t| *t > now)
        {
            std::thread::sleep(idle - now);
        }
        s.clear_requests();
        market.binance.clear_requests();
        let since = scalp_core::types::now_ms();
        market.clock().set_ms(c.open_time + H + 1);
        wait_quiet(dir, &strategy, &mut p, Some(c.open_time), since);
        let t0 = market
            .binance
            .closed_sent_at(c.open_time)
            .expect("the closed kline went out on the WebSocket");
        if let Some(r) = market
            .binance
            .requests()
            .iter()
            .find(|r| r.path.ends_with("/time") && r.at >= t0)
        {
            resync.push(r.at.duration_since(t0).as_secs_f64() * 1000.0);
        }
        let reqs = s.requests();
        let after = |f: &dyn Fn(&scalp_e2e::standin::bitget_private::PrivRequest) -> bool| {
            reqs.iter()
                .filter(|r| r.at >= t0 && f(r))
                .map(|r| r.at.duration_since(t0).as_secs_f64() * 1000.0)
                .reduce(f64::min)
        };
        if let Some(ms) = after(&|_| true) {
            react.push(ms);
            if ms > 5.0 {
                // what a slow reaction looked like: the requests after the closed kline
                let seq: Vec<String> = reqs
                    .iter()
                    .filter(|r| r.at >= t0)
                    .take(6)
                    .map(|r| {
                        format!(
                            "{} +{:.2}",
                            r.path.rsplit('/').next().unwrap_or(""),
                            r.at.duration_since(t0).as_secs_f64() * 1000.0
                        )
                    })
                    .collect();
                slow.push(format!(
                    "candle {} at {:.0} s: {}",
                    i - warm,
                    t_run.elapsed().as_secs_f64(),
                    seq.join(", ")
                ));
            }
        }
        if let Some(ms) = after(&is_order) {
            order.push(ms);
        }
    }
    let wall = t_run.elapsed().as_secs_f64();
    let cpu = scalp_e2e::cpu_s(pid) - cpu0;
    let end_rss = kb(pid, "VmRSS:");
    let hwm = kb(pid, "VmHWM:");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = p.wait();
    drop(collector);
    let trades: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM live_trades WHERE strategy = ?1",
            [&strategy],
            |r| r.get(0),
        )
        .unwrap_or(0);
    println!(
        "scalp-executor ({}) {strategy} on {n} BTC 1h candles (UTA stand-in), fed by scalp-collector: {trades} live trades",
        bin.display()
    );
    let hist = |v: &[f64]| {
        let b = [1.0, 2.0, 5.0, 10.0, 100.0, 500.0, f64::INFINITY];
        let mut out = Vec::new();
        let mut lo = 0.0;
        for hi in b {
            let c = v.iter().filter(|x| **x >= lo && **x < hi).count();
            out.push(format!("<{hi}: {c}"));
            lo = hi;
        }
        out.join(", ")
    };
    println!(
        "  {gapped} candles' fills re-armed orders within {} ms of the moment the close could have come (it waited for the budgets)",
        BUDGET_WINDOW.as_millis()
    );
    println!("  first request (ms buckets): {}", hist(&react));
    for l in &slow {
        println!("    slow first request: {l}");
    }
    println!("  order request (ms buckets): {}", hist(&order));
    let n_react = react.len();
    let n_order = order.len();
    println!(
        "  WS closed kline -> first signed request: n={n_react} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(&mut react, 0.5),
        pct(&mut react, 0.99),
        pct(&mut react, 1.0)
    );
    println!(
        "  WS closed kline -> first order request:  n={n_order} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(&mut order, 0.5),
        pct(&mut order, 0.99),
        pct(&mut order, 1.0)
    );
    let n_resync = resync.len();
    println!(
        "  the collector's server-time request (the stand-in's clock jumps an hour per candle) went out after the WS message: n={n_resync} p50 {:.2} ms  p99 {:.2} ms",
        pct(&mut resync, 0.5),
        pct(&mut resync, 0.99)
    );
    println!(
        "  RSS idle {idle_rss} kB, at the end {end_rss} kB, peak {hwm} kB; CPU {:.2} ms per candle ({cpu:.2} s over {wall:.1} s)",
        cpu * 1000.0 / n as f64
    );
}
