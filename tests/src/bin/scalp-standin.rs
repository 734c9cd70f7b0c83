//! Runs the stand-ins for manual tests and the system test:
//! - `scalp-standin [BINANCE_PORT] [BITGET_PORT] [START_MS] [SPEED]`: the public Binance and
//!   Bitget market data (ports default to 0 = random; START_MS defaults to the end of the bundled
//!   data; SPEED defaults to 1);
//! - `scalp-standin bitget-private classic|uta [PRICE]`: the private Bitget account of that mode
//!   with the BTCUSDT contract at PRICE (default 30000) on a random 127.0.0.1 port; prints its
//!   URLs and credentials as `KEY=value` lines (`SCALP_STANDIN_REST`, `_WS`, `_KEY`, `_SECRET`,
//!   `_PASSPHRASE`) on stdout, then serves until SIGINT or SIGTERM.

use scalp_e2e::standin::bitget_private::{AccountMode, PrivateConfig, PrivateStandIn};
use scalp_e2e::standin::{StandIn, StandInConfig};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let port = |i: usize| -> u16 {
        arg(i)
            .map(|p| {
                p.parse()
                    .unwrap_or_else(|_| die(&format!("port `{p}` is not a number")))
            })
            .unwrap_or(0)
    };
    if matches!(arg(0), Some("-h" | "--help")) {
        println!(
            "usage: scalp-standin [BINANCE_PORT] [BITGET_PORT] [START_MS] [SPEED]\n       scalp-standin bitget-private classic|uta [PRICE]"
        );
        return;
    }
    if arg(0) == Some("bitget-private") {
        let mode = match arg(1) {
            Some("classic") => AccountMode::Classic,
            Some("uta") => AccountMode::Uta,
            other => die(&format!(
                "bitget-private: the account mode must be `classic` or `uta`, not {other:?}"
            )),
        };
        let price: f64 = arg(2).map_or(30_000.0, |p| {
            p.parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .unwrap_or_else(|| die(&format!("PRICE `{p}` is not a positive number")))
        });
        let s = PrivateStandIn::start(PrivateConfig {
            account_mode: mode,
            ..PrivateConfig::default()
        });
        s.set_price_silently("BTCUSDT", price);
        let c = s.config();
        println!("SCALP_STANDIN_REST={}", s.rest_url());
        println!("SCALP_STANDIN_WS={}", s.ws_url_v2());
        println!("SCALP_STANDIN_KEY={}", c.api_key);
        println!("SCALP_STANDIN_SECRET={}", c.secret);
        println!("SCALP_STANDIN_PASSPHRASE={}", c.passphrase);
        eprintln!("bitget private stand-in ({mode:?}) running; SIGINT or SIGTERM to stop");
        stop_signal().await;
        return;
    }
    let cfg = StandInConfig {
        start_ms: arg(2).map(|s| {
            s.parse()
                .unwrap_or_else(|_| die(&format!("START_MS `{s}` is not an integer")))
        }),
        speed: arg(3)
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|_| die(&format!("SPEED `{s}` is not a number")))
            })
            .unwrap_or(1.0),
        ..StandInConfig::default()
    };
    let s = StandIn::start_on(cfg, port(0), port(1))
        .await
        .unwrap_or_else(|e| die(&e.to_string()));
    println!("{}", s.config_toml());
    eprintln!("stand-ins running; Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn die(msg: &str) -> ! {
    eprintln!("scalp-standin: {msg}");
    std::process::exit(2)
}
