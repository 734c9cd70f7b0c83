//! Memory of a 5-year 1m backtest (2.6 M candles synthesized deterministically from the bundled
//! hourly data): `cargo run --release -p scalp-backtest --example mem5y [-- STRATEGY [WINDOW|off]]`.
//! Prints the time and the peak resident set size (Linux: VmHWM from /proc/self/status).
//! Optional second argument: regime window, or `off`.

use scalp_backtest::{BacktestConfig, BacktestInput, run_backtest, synth};
use scalp_core::Timeframe;
use scalp_strategy::Params;

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of this thread in ns (Linux schedstat), so that a loaded machine does not distort
/// the throughput figure as much as wall time does.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sma_cross".into());
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
    let hours = scalp_core::csvdata::read_candles_csv(&p).unwrap();
    let n = 5 * 365 * 1440 + 1440; // 5 years of minutes (incl. a leap day)
    let candles = synth::minutes_from_hours(&hours, n);
    drop(hours);
    let before = peak_rss_kib();
    let spec = scalp_strategy::spec(&name).expect("unknown strategy");
    let params = Params::defaults(spec.params);
    let mut s = (spec.build)(&params, Timeframe::M1);
    let input = BacktestInput::new("BTC", Timeframe::M1, &candles).with_aggregated(&s.timeframes());
    let t = std::time::Instant::now();
    let cpu0 = cpu_ns();
    let mut cfg = BacktestConfig::default();
    // Second argument: regime window, or `off` to disable regime labelling.
    match std::env::args().nth(2).as_deref() {
        None => {}
        Some("off") => cfg.regime.enabled = false,
        Some(w) => cfg.regime.window = w.parse().expect("regime window or `off`"),
    }
    let r = run_backtest(&input, s.as_mut(), &cfg).unwrap();
    let el = t.elapsed();
    let cpu = cpu_ns().zip(cpu0).map(|(b, a)| (b - a) as f64 / 1e9);
    println!(
        "{name}: {} candles ({} MiB of candles), {} trades, {:.3} s, {:.1} M candles/s",
        n,
        n * std::mem::size_of::<scalp_core::Candle>() / (1 << 20),
        r.trades.len(),
        el.as_secs_f64(),
        n as f64 / el.as_secs_f64() / 1e6
    );
    if let Some(cpu) = cpu {
        println!(
            "CPU time {cpu:.3} s → {:.1} M candles/s per core",
            n as f64 / cpu / 1e6
        );
    }
    println!(
        "peak RSS: {} MiB after loading candles, {} MiB after the backtest",
        before.map_or("?".into(), |k| (k / 1024).to_string()),
        peak_rss_kib().map_or("?".into(), |k| (k / 1024).to_string())
    );
}
