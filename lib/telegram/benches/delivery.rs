//! Delivery throughput of the outbox through the Telegram stand-in (real HTTP on 127.0.0.1):
//! `cargo bench -p scalp-telegram --bench delivery`. Prints messages per second for
//!   1. one chat under the shipped limits (1 s per chat: Telegram's own rule for one chat);
//!   2. the same with the stand-in answering 429 `retry_after = 2` to the first 3 requests;
//!   3. no client-side limit (what the client and the outbox's durable queue can do at most).
//!
//! Every message must arrive once and in order; the bench fails otherwise.

use scalp_core::secrets::Secret;
use scalp_e2e::standin::telegram::{TelegramStandIn, TgConfig, TgFault};
use scalp_telegram::{Bot, BotConfig, ChatId, OutMessage, Outbox, OutboxConfig, RateLimits};
use std::time::{Duration, Instant};

const CHAT: i64 = 4242;

async fn run(name: &str, n: usize, limits: RateLimits, fault_at: bool) {
    let tg = TelegramStandIn::start(TgConfig::default());
    let cfg = BotConfig {
        base_url: tg.url(),
        limits,
        ..BotConfig::default()
    };
    let bot = Bot::new(cfg, Secret::new(tg.token())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path().join("outbox"), OutboxConfig::default()).unwrap();
    for i in 0..n {
        ob.push(OutMessage::low(
            ChatId::Id(CHAT),
            format!("<b>alert</b> {i}"),
        ))
        .unwrap();
    }
    let t0 = Instant::now();
    if fault_at {
        // the stand-in answers the next 3 requests 429 `retry_after = 2`
        tg.inject(TgFault::RateLimit {
            retry_after_s: 2,
            count: 3,
        });
    }
    loop {
        match ob.deliver(&bot).await {
            Ok(_) if ob.is_empty() => break,
            Ok(_) => {}
            Err(e) => {
                // the bot gave up after its retries: the outbox keeps the rest, deliver again
                eprintln!("  ({name}: {e}; delivering the rest)");
            }
        }
    }
    let el = t0.elapsed().as_secs_f64();
    let want: Vec<String> = (0..n).map(|i| format!("alert {i}")).collect();
    let plain: Vec<String> = tg.messages().iter().map(|m| m.plain.clone()).collect();
    assert_eq!(plain, want, "{name}: every message once, in order");
    println!(
        "{name:<52} {n:>4} messages in {el:>6.2} s = {:>7.1} msg/s",
        n as f64 / el
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        run(
            "one chat, shipped limits (1/s per chat, 30/s)",
            12,
            RateLimits::default(),
            false,
        )
        .await;
        run(
            "one chat, shipped limits, 3 × 429 retry_after=2 s",
            12,
            RateLimits::default(),
            true,
        )
        .await;
        run(
            "no client-side limit (client + durable outbox)",
            500,
            RateLimits {
                per_chat_interval: Duration::ZERO,
                global_per_second: 0,
            },
            false,
        )
        .await;
    });
}
