//! WS kline streams against the stand-in servers (real WebSockets on 127.0.0.1), with the
//! stand-in clock accelerated so candles close every ~100 ms.

use scalp_core::config::ExchangesConfig;
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_e2e::standin::{Fault, StandIn, StandInConfig};
use scalp_exchange::bitget::BitgetRest;
use scalp_exchange::stream::{
    CloseReason, StreamEvent, StreamHandle, StreamOptions, StreamSpec, spawn_binance_streams,
    spawn_bitget_streams,
};
use scalp_exchange::{RateBudget, Shutdown};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

const MIN: i64 = 60_000;

/// Generous bound for every wait (the machine is shared).
const DEADLINE: Duration = Duration::from_secs(45);

fn start_ms() -> i64 {
    scalp_e2e::standin::market::Series::bundled().hours()[10_000].open_time
}

async fn standin(speed: f64) -> StandIn {
    StandIn::start(StandInConfig {
        start_ms: Some(start_ms()),
        speed,
        binance_push_ms: 20,
        bitget_push_ms: 20,
        binance_ping_ms: 200,
        ..Default::default()
    })
    .await
}

fn opts() -> StreamOptions {
    StreamOptions {
        reconnect_min_ms: 50,
        reconnect_max_ms: 400,
        stall_timeout: Duration::from_secs(5),
        bitget_close_grace_ms: 2_000,
        emit_forming: true,
        ..StreamOptions::default()
    }
}

fn specs() -> Vec<StreamSpec> {
    vec![
        StreamSpec::new("BTCUSDT", Timeframe::M1),
        StreamSpec::new("ethusdt", Timeframe::M1),
    ]
}

struct Run {
    rx: mpsc::Receiver<StreamEvent>,
    stop: Shutdown,
    handle: StreamHandle,
    /// every event seen so far
    events: Vec<StreamEvent>,
}

impl Run {
    fn binance(s: &StandIn, cfg: &ExchangesConfig, o: StreamOptions) -> Run {
        let (tx, rx) = mpsc::channel(10_000);
        let stop = Shutdown::new();
        let handle = spawn_binance_streams(&cfg.binance, o, specs(), tx, stop.clone());
        let _ = s;
        Run {
            rx,
            stop,
            handle,
            events: Vec::new(),
        }
    }

    fn bitget(cfg: &ExchangesConfig, o: StreamOptions) -> Run {
        let (tx, rx) = mpsc::channel(10_000);
        let stop = Shutdown::new();
        let rest = BitgetRest::new(&cfg.bitget, RateBudget::bitget(&cfg.bitget)).unwrap();
        let handle = spawn_bitget_streams(&cfg.bitget, rest, o, specs(), tx, stop.clone());
        Run {
            rx,
            stop,
            handle,
            events: Vec::new(),
        }
    }

    /// Receives until `pred` holds for the events so far (panics after DEADLINE).
    async fn until(&mut self, what: &str, pred: impl Fn(&[StreamEvent]) -> bool) {
        let end = Instant::now() + DEADLINE;
        while !pred(&self.events) {
            match tokio::time::timeout_at(end, self.rx.recv()).await {
                Ok(Some(ev)) => self.events.push(ev),
                Ok(None) => panic!("channel closed while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; events: {:#?}",
                    tail(&self.events)
                ),
            }
        }
    }

    fn closed(&self, sym: &str) -> Vec<(Candle, CloseReason)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Closed {
                    symbol,
                    candle,
                    reason,
                    timeframe,
                    exchange,
                } if symbol == sym => {
                    assert_eq!(*timeframe, Timeframe::M1);
                    assert!(matches!(exchange, Exchange::Binance | Exchange::Bitget));
                    Some((*candle, *reason))
                }
                _ => None,
            })
            .collect()
    }

    async fn stop(self) {
        self.stop.trigger();
        tokio::time::timeout(DEADLINE, self.handle.join())
            .await
            .expect("stream tasks stop on shutdown");
    }
}

fn tail(v: &[StreamEvent]) -> &[StreamEvent] {
    &v[v.len().saturating_sub(8)..]
}

fn count_closed(sym: &'static str) -> impl Fn(&[StreamEvent]) -> usize {
    move |ev| {
        ev.iter()
            .filter(|e| matches!(e, StreamEvent::Closed { symbol, .. } if symbol == sym))
            .count()
    }
}

fn count_connected(ev: &[StreamEvent]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, StreamEvent::Connected { .. }))
        .count()
}

/// Every closed candle equals the stand-in's final candle exactly (a forming one would differ:
/// partial volume), open times strictly increase, and every Forming event differs from the final.
fn check_closed(s: &StandIn, run: &Run, sym: &str) -> Vec<i64> {
    let closed = run.closed(sym);
    let mut opens = Vec::new();
    for (c, _) in &closed {
        let truth = s
            .series()
            .candle(Timeframe::M1, c.open_time)
            .expect("in data");
        assert_eq!(
            *c, truth,
            "closed candle {} differs from the final one",
            c.open_time
        );
        if let Some(&last) = opens.last() {
            assert!(
                c.open_time > last,
                "closed candles out of order / duplicated"
            );
        }
        opens.push(c.open_time);
    }
    let finals: HashMap<i64, Candle> = closed.iter().map(|(c, _)| (c.open_time, *c)).collect();
    for e in &run.events {
        if let StreamEvent::Forming { symbol, candle, .. } = e
            && symbol == sym
            && let Some(f) = finals.get(&candle.open_time)
        {
            assert!(
                candle.volume <= f.volume,
                "a forming update is never beyond the final candle"
            );
        }
    }
    opens
}

#[tokio::test]
async fn binance_closed_candles_exact_and_never_forming() {
    let s = standin(600.0).await;
    let cfg = s.exchanges_config();
    let mut run = Run::binance(&s, &cfg, opts());
    run.until("12 closed candles per stream", |ev| {
        count_closed("BTCUSDT")(ev) >= 12 && count_closed("ETHUSDT")(ev) >= 12
    })
    .await;
    for sym in ["BTCUSDT", "ETHUSDT"] {
        let opens = check_closed(&s, &run, sym);
        // one connection, no disconnect: contiguous minutes
        for w in opens.windows(2) {
            assert_eq!(w[1] - w[0], MIN, "{sym}: gap without a disconnect");
        }
        assert!(
            run.closed(sym)
                .iter()
                .all(|(_, r)| *r == CloseReason::ClosedFlag)
        );
    }
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, StreamEvent::Forming { .. }))
    );
    assert_eq!(
        run.handle.connections(),
        1,
        "both streams on one combined connection"
    );
    // the stand-in pings every 200 ms; the client answers
    let t = Instant::now() + DEADLINE;
    while s.binance.client_pongs() == 0 {
        assert!(Instant::now() < t, "client never answered a ping");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = run
        .handle
        .stats
        .get(&StreamSpec::new("BTCUSDT", Timeframe::M1))
        .unwrap();
    assert!(st.connected && st.last_message_ms.is_some() && st.last_closed_open_time.is_some());
    assert_eq!(st.reconnects, 0);
    run.stop().await;
    assert!(!run_stats_connected(&s).await);
}

async fn run_stats_connected(s: &StandIn) -> bool {
    // the server sees the connection go away
    let t = Instant::now() + DEADLINE;
    while s.binance.ws_connections_active() > 0 {
        if Instant::now() > t {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn binance_reconnects_after_disconnect_forced_close_and_stall() {
    let s = standin(600.0).await;
    let cfg = s.exchanges_config();
    let mut run = Run::binance(
        &s,
        &cfg,
        StreamOptions {
            stall_timeout: Duration::from_millis(800),
            ..opts()
        },
    );
    run.until("first closes", |ev| count_closed("BTCUSDT")(ev) >= 3)
        .await;

    s.binance.inject(Fault::Disconnect);
    run.until("reconnect after a dropped connection", |ev| {
        count_connected(ev) >= 2
    })
    .await;
    let n = count_closed("BTCUSDT")(&run.events);
    run.until("closes after reconnect", |ev| {
        count_closed("BTCUSDT")(ev) >= n + 3
    })
    .await;

    s.binance.inject(Fault::ForcedClose);
    run.until("reconnect after the 24 h close", |ev| {
        count_connected(ev) >= 3
    })
    .await;
    assert!(run.events.iter().any(|e| matches!(e, StreamEvent::Disconnected { reason, .. } if reason.contains("server closed"))));

    s.binance.inject(Fault::Silence { ms: 2_500 });
    run.until("stall detected", |ev| {
        ev.iter().any(
            |e| matches!(e, StreamEvent::Disconnected { reason, .. } if reason.contains("stalled")),
        )
    })
    .await;
    let n = count_closed("BTCUSDT")(&run.events);
    run.until("closes after the stall", |ev| {
        count_closed("BTCUSDT")(ev) >= n + 3
    })
    .await;
    for e in &run.events {
        if let StreamEvent::Disconnected {
            reconnect_in_ms, ..
        } = e
        {
            assert!((50..=400).contains(reconnect_in_ms), "{reconnect_in_ms}");
        }
    }
    // closed candles are exact and strictly increasing across reconnects (gaps allowed)
    check_closed(&s, &run, "BTCUSDT");
    check_closed(&s, &run, "ETHUSDT");
    let st = run
        .handle
        .stats
        .get(&StreamSpec::new("BTCUSDT", Timeframe::M1))
        .unwrap();
    assert!(st.reconnects >= 3, "{st:?}");
    assert!(s.binance.ws_connections_total() >= 4);
    run.stop().await;
}

#[tokio::test]
async fn binance_malformed_messages_are_skipped_and_gaps_are_not_invented() {
    let s = standin(600.0).await;
    let cfg = s.exchanges_config();
    let mut run = Run::binance(&s, &cfg, opts());
    run.until("first closes", |ev| count_closed("BTCUSDT")(ev) >= 2)
        .await;
    s.binance.inject(Fault::Malformed { count: 8 });
    s.binance.inject(Fault::WsGap { candles: 2 });
    let n = count_closed("BTCUSDT")(&run.events);
    run.until("closes after the faults", |ev| {
        count_closed("BTCUSDT")(ev) >= n + 6
    })
    .await;
    assert_eq!(
        count_connected(&run.events),
        1,
        "malformed messages never drop the connection"
    );
    let st = run
        .handle
        .stats
        .get(&StreamSpec::new("BTCUSDT", Timeframe::M1))
        .unwrap();
    assert_eq!(st.malformed, 8);
    let opens = check_closed(&s, &run, "BTCUSDT");
    let jumps: Vec<i64> = opens
        .windows(2)
        .map(|w| (w[1] - w[0]) / MIN)
        .filter(|&d| d != 1)
        .collect();
    assert_eq!(jumps, vec![3], "exactly the 2 skipped candles are missing");
    run.stop().await;
}

#[tokio::test]
async fn bitget_closes_on_newer_start_and_pings() {
    let s = standin(600.0).await;
    let mut cfg = s.exchanges_config();
    cfg.bitget.ping_interval_s = 1;
    let mut run = Run::bitget(&cfg, opts());
    run.until("12 closed per stream", |ev| {
        count_closed("BTCUSDT")(ev) >= 12 && count_closed("ETHUSDT")(ev) >= 12
    })
    .await;
    for sym in ["BTCUSDT", "ETHUSDT"] {
        let opens = check_closed(&s, &run, sym);
        for w in opens.windows(2) {
            assert_eq!(w[1] - w[0], MIN, "{sym}");
        }
        // the first three came from the subscribe snapshot, the rest from updates
        assert!(
            run.closed(sym)
                .iter()
                .all(|(_, r)| *r == CloseReason::NewerCandle)
        );
        assert_eq!(opens[0], start_ms() - 3 * MIN, "{sym}: snapshot candles");
    }
    assert_eq!(s.bitget.subscriptions(), 2);
    let t = Instant::now() + DEADLINE;
    while s.bitget.client_pings() < 2 {
        assert!(Instant::now() < t, "no text pings");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.stop().await;
}

#[tokio::test]
async fn bitget_confirms_a_stalled_candle_by_rest_after_the_grace_period() {
    // 1 minute per second: a candle ends, the stream keeps pushing it as forming (stall), and
    // after end + 2 s (exchange time) the client asks REST, which says it is closed
    let s = standin(60.0).await;
    let cfg = s.exchanges_config();
    let mut run = Run::bitget(&cfg, opts());
    run.until("first update closes", |ev| count_closed("BTCUSDT")(ev) >= 4)
        .await;
    s.bitget.inject(Fault::StallForming { ms: 3_000 });
    run.until("a REST-confirmed close", |ev| {
        ev.iter().any(|e| matches!(e, StreamEvent::Closed { symbol, reason: CloseReason::RestConfirmed, .. } if symbol == "BTCUSDT"))
    })
    .await;
    assert!(s.bitget.request_count("/api/v2/mix/market/candles") >= 1);
    let n = count_closed("BTCUSDT")(&run.events);
    run.until("updates resume after the stall", |ev| {
        count_closed("BTCUSDT")(ev) >= n + 3
    })
    .await;
    // exact values, no duplicate when the stalled candle's final update arrives afterwards
    let opens = check_closed(&s, &run, "BTCUSDT");
    for w in opens.windows(2) {
        assert_eq!(w[1] - w[0], MIN);
    }
    let confirmed: Vec<_> = run
        .closed("BTCUSDT")
        .into_iter()
        .filter(|(_, r)| *r == CloseReason::RestConfirmed)
        .collect();
    assert_eq!(confirmed.len(), 1, "{confirmed:?}");
    run.stop().await;
}

#[tokio::test]
async fn bitget_reconnects_on_missing_pong_disconnect_and_malformed_is_skipped() {
    let s = standin(600.0).await;
    let mut cfg = s.exchanges_config();
    cfg.bitget.ping_interval_s = 1;
    let mut run = Run::bitget(
        &cfg,
        StreamOptions {
            stall_timeout: Duration::from_secs(20),
            ..opts()
        },
    );
    run.until("first closes", |ev| count_closed("BTCUSDT")(ev) >= 4)
        .await;
    s.bitget.inject(Fault::Malformed { count: 4 });
    let n = count_closed("BTCUSDT")(&run.events);
    run.until("closes after malformed", |ev| {
        count_closed("BTCUSDT")(ev) >= n + 3
    })
    .await;
    assert_eq!(count_connected(&run.events), 1);
    assert_eq!(
        run.handle
            .stats
            .get(&StreamSpec::new("BTCUSDT", Timeframe::M1))
            .unwrap()
            .malformed,
        4
    );

    // silence: no pong to our ping → reconnect (before the 20 s stall timeout)
    s.bitget.inject(Fault::Silence { ms: 2_500 });
    run.until("no-pong reconnect", |ev| {
        ev.iter().any(
            |e| matches!(e, StreamEvent::Disconnected { reason, .. } if reason.contains("pong")),
        )
    })
    .await;
    run.until("reconnected", |ev| count_connected(ev) >= 2)
        .await;
    let n = count_closed("BTCUSDT")(&run.events);
    run.until("closes on the new connection", |ev| {
        count_closed("BTCUSDT")(ev) >= n + 2
    })
    .await;

    s.bitget.inject(Fault::Disconnect);
    run.until("reconnect after drop", |ev| count_connected(ev) >= 3)
        .await;
    let n = count_closed("BTCUSDT")(&run.events);
    run.until("closes after reconnects", |ev| {
        count_closed("BTCUSDT")(ev) >= n + 3
    })
    .await;
    check_closed(&s, &run, "BTCUSDT");
    check_closed(&s, &run, "ETHUSDT");
    let conns = count_connected(&run.events) as u64;
    assert!(
        s.bitget.subscriptions() >= 2 * conns,
        "resubscribed on every connection: {} subscriptions for {conns} connections, {} accepted",
        s.bitget.subscriptions(),
        s.bitget.ws_connections_total()
    );
    run.stop().await;
}

#[tokio::test]
async fn proactive_reconnect_before_the_connection_age_limit_and_clean_shutdown() {
    let s = standin(600.0).await;
    let cfg = s.exchanges_config();
    let o = StreamOptions {
        max_connection_age: Duration::from_millis(700),
        ..opts()
    };
    let mut run = Run::binance(&s, &cfg, o.clone());
    run.until("two proactive reconnects", |ev| {
        ev.iter()
            .filter(|e| matches!(e, StreamEvent::Disconnected { reason, .. } if reason.contains("proactive")))
            .count()
            >= 2
    })
    .await;
    check_closed(&s, &run, "BTCUSDT");
    run.stop().await;
    let mut run = Run::bitget(&cfg, o);
    run.until("bitget proactive reconnect", |ev| count_connected(ev) >= 2)
        .await;
    run.stop().await;
    // after shutdown every connection is closed
    let t = Instant::now() + DEADLINE;
    while s.binance.ws_connections_active() + s.bitget.ws_connections_active() > 0 {
        assert!(Instant::now() < t, "connections left open after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last values Bitget pushed for a candle are not promised to be final: after end + grace
/// each candle closed by a newer one is re-fetched once by REST, and different REST values
/// replace it (`RestCorrected`), counted in the stream's statistics.
#[tokio::test]
async fn bitget_refetches_each_closed_candle_and_corrects_stale_final_values() {
    let s = standin(600.0).await;
    let cfg = s.exchanges_config();
    let mut run = Run::bitget(&cfg, opts());
    run.until("first closes", |ev| count_closed("BTCUSDT")(ev) >= 4)
        .await;
    s.bitget.inject(Fault::StaleFinalPush { candles: 2 });
    let corrected = |ev: &[StreamEvent]| {
        ev.iter()
            .filter(|e| {
                matches!(
                    e,
                    StreamEvent::Closed {
                        reason: CloseReason::RestCorrected,
                        ..
                    }
                )
            })
            .count()
    };
    run.until("two corrections", |ev| corrected(ev) >= 2).await;
    // let every other re-fetch of the candles closed so far come back
    let n = count_closed("BTCUSDT")(&run.events);
    run.until("more closes", |ev| count_closed("BTCUSDT")(ev) >= n + 6)
        .await;
    let mut fixed = 0;
    for (i, e) in run.events.iter().enumerate() {
        let StreamEvent::Closed {
            symbol,
            candle,
            reason: CloseReason::RestCorrected,
            ..
        } = e
        else {
            continue;
        };
        fixed += 1;
        let truth = s.series().candle(Timeframe::M1, candle.open_time).unwrap();
        assert_eq!(*candle, truth, "the correction carries the final values");
        // it replaces an earlier emission of the same candle with other (stale) values
        let earlier = run.events[..i]
            .iter()
            .find_map(|x| match x {
                StreamEvent::Closed {
                    symbol: s2,
                    candle: c2,
                    reason: CloseReason::NewerCandle,
                    ..
                } if s2 == symbol && c2.open_time == candle.open_time => Some(*c2),
                _ => None,
            })
            .expect("emitted before");
        assert_ne!(earlier, truth, "the pushed values were stale");
    }
    assert_eq!(fixed, 2, "exactly the two stale candles are corrected");
    let total: u64 = run
        .handle
        .stats
        .snapshot()
        .iter()
        .map(|st| st.corrections)
        .sum();
    assert_eq!(total, 2, "counted in the stream statistics");
    assert!(
        s.bitget.request_count("/api/v2/mix/market/candles") >= 8,
        "every closed candle is re-fetched"
    );
    run.stop().await;
}

/// 80 channels on one connection: no subscribe message over 4,096 bytes (the stand-in refuses
/// such a message, as Bitget does), at most 10 messages a second, and every channel acked.
#[tokio::test]
async fn bitget_subscriptions_are_split_under_4096_bytes() {
    let s = standin(60.0).await;
    let mut cfg = s.exchanges_config();
    cfg.bitget.max_channels_per_connection = 100;
    let specs: Vec<StreamSpec> = (0..40)
        .flat_map(|i| {
            [Timeframe::M1, Timeframe::M5]
                .map(|tf| StreamSpec::new(&format!("COIN{i:02}LONGNAMEUSDT"), tf))
        })
        .collect();
    let args: Vec<serde_json::Value> = specs
        .iter()
        .map(|s| serde_json::json!({"instType": "USDT-FUTURES", "channel": s.timeframe.bitget_channel(), "instId": s.symbol}))
        .collect();
    assert!(
        serde_json::json!({"op": "subscribe", "args": args})
            .to_string()
            .len()
            > 4_096,
        "one message would exceed the cap"
    );
    let (tx, mut rx) = mpsc::channel(100_000);
    let stop = Shutdown::new();
    let rest = BitgetRest::new(&cfg.bitget, RateBudget::bitget(&cfg.bitget)).unwrap();
    let handle = spawn_bitget_streams(&cfg.bitget, rest, opts(), specs.clone(), tx, stop.clone());
    assert_eq!(handle.connections(), 1);
    let end = Instant::now() + DEADLINE;
    while s.bitget.subscriptions() < 80 {
        assert!(
            Instant::now() < end,
            "subscribed {}",
            s.bitget.subscriptions()
        );
        let _ = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await;
    }
    assert_eq!(s.bitget.refused_messages(), 0);
    assert!(s.bitget.client_message_max_len() <= 4_096);
    assert!(
        scalp_exchange::stream::bitget_subscribe_messages(&args, 4_096)
            .iter()
            .all(|m| m.len() <= 4_096)
    );
    assert_eq!(
        scalp_exchange::stream::bitget_subscribe_messages(&args, 4_096).len(),
        2
    );
    stop.trigger();
    handle.join().await;
}

/// A channel the exchange refuses (unknown symbol → 30001 naming the arg) and one Bitget does not
/// have (candle3m) are marked failed with the reason; the other streams carry on.
#[tokio::test]
async fn bitget_refused_channels_are_marked_failed() {
    let s = standin(600.0).await;
    let cfg = s.exchanges_config();
    let specs = vec![
        StreamSpec::new("BTCUSDT", Timeframe::M1),
        StreamSpec::new("NOPEUSD", Timeframe::M1),
        StreamSpec::new("ETHUSDT", Timeframe::M3),
    ];
    let (tx, mut rx) = mpsc::channel(100_000);
    let stop = Shutdown::new();
    let rest = BitgetRest::new(&cfg.bitget, RateBudget::bitget(&cfg.bitget)).unwrap();
    let handle = spawn_bitget_streams(&cfg.bitget, rest, opts(), specs, tx, stop.clone());
    let mut events = Vec::new();
    let end = Instant::now() + DEADLINE;
    loop {
        let failed: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Failed { stream, reason, .. } => {
                    Some((stream.clone(), reason.clone()))
                }
                _ => None,
            })
            .collect();
        let btc = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Closed { symbol, .. } if symbol == "BTCUSDT"))
            .count();
        if failed.len() >= 2 && btc >= 3 {
            let nope = failed
                .iter()
                .find(|(s, _)| s.symbol == "NOPEUSD")
                .expect("NOPEUSD failed");
            assert!(nope.1.contains("30001"), "{}", nope.1);
            let m3 = failed
                .iter()
                .find(|(s, _)| s.timeframe == Timeframe::M3)
                .expect("3m failed");
            assert!(m3.1.contains("no candle channel for 3m"), "{}", m3.1);
            break;
        }
        assert!(Instant::now() < end, "events: {:#?}", tail(&events));
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            events.push(e);
        }
    }
    let stats = handle.stats.snapshot();
    let get = |sym: &str| stats.iter().find(|s| s.symbol == sym).unwrap().clone();
    assert!(get("NOPEUSD").failed.as_deref().unwrap().contains("30001"));
    assert!(get("ETHUSDT").failed.is_some());
    assert_eq!(get("BTCUSDT").failed, None);
    stop.trigger();
    handle.join().await;
}

/// The retired unrouted Binance URLs accept the connection and send no kline (as the real
/// server does since 2026-04-23): a `ws_url` without `/market` gets nothing but stalls.
#[tokio::test]
async fn binance_retired_unrouted_url_streams_nothing() {
    let s = standin(600.0).await;
    let mut cfg = s.exchanges_config();
    cfg.binance.ws_url = cfg.binance.ws_url.trim_end_matches("/market").to_string();
    let mut o = opts();
    o.stall_timeout = Duration::from_millis(1_500);
    let mut run = Run::binance(&s, &cfg, o);
    run.until("a stall reconnect", |ev| {
        ev.iter().any(
            |e| matches!(e, StreamEvent::Disconnected { reason, .. } if reason.contains("stalled")),
        )
    })
    .await;
    assert!(
        !run.events
            .iter()
            .any(|e| matches!(e, StreamEvent::Closed { .. } | StreamEvent::Forming { .. })),
        "no kline on the retired path"
    );
    assert!(
        s.binance.ws_connections_total() >= 1,
        "the handshake completed"
    );
    run.stop().await;
}

/// WebSocket over real TLS: Bitget candles through `wss://localhost` with the local CA from
/// `ca_file` (SNI `localhost`); without the CA the handshake is refused and nothing streams.
#[tokio::test]
async fn bitget_stream_over_tls_with_a_local_ca() {
    let dir = std::env::temp_dir().join(format!("scalp-tls-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = StandIn::start(StandInConfig {
        start_ms: Some(start_ms()),
        speed: 600.0,
        bitget_push_ms: 20,
        tls: Some(scalp_e2e::standin::tls::TestCa::new(&dir)),
        ..Default::default()
    })
    .await;
    let cfg = s.exchanges_config();
    assert!(cfg.bitget.ws_public_url.starts_with("wss://localhost:"));
    let mut run = Run::bitget(&cfg, opts());
    run.until("closes over TLS", |ev| count_closed("BTCUSDT")(ev) >= 3)
        .await;
    check_closed(&s, &run, "BTCUSDT");
    run.stop().await;
    assert!(
        s.bitget
            .tls_server_names()
            .iter()
            .all(|n| n.as_deref() == Some("localhost"))
    );
    let mut no_ca = cfg.clone();
    no_ca.bitget.ca_file = None;
    let before = s.bitget.tls_failed_handshakes();
    let mut run = Run::bitget(&no_ca, opts());
    run.until("a refused handshake", |ev| {
        ev.iter().any(|e| {
            matches!(e, StreamEvent::Disconnected { reason, .. } if reason.contains("connect failed"))
        })
    })
    .await;
    assert!(
        !run.events
            .iter()
            .any(|e| matches!(e, StreamEvent::Closed { .. })),
        "nothing streams from an untrusted server"
    );
    let t = std::time::Instant::now();
    while s.bitget.tls_failed_handshakes() <= before {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the server saw no refused handshake"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
