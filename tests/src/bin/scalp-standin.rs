//! Runs the Binance and Bitget stand-ins for manual tests:
//! `scalp-standin [BINANCE_PORT] [BITGET_PORT] [START_MS] [SPEED]` (ports default to 0 =
//! random; START_MS defaults to the end of the bundled data; SPEED defaults to 1).

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
        println!("usage: scalp-standin [BINANCE_PORT] [BITGET_PORT] [START_MS] [SPEED]");
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

fn die(msg: &str) -> ! {
    eprintln!("scalp-standin: {msg}");
    std::process::exit(2)
}
