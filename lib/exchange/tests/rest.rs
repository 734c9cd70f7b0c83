//! REST clients against the stand-in servers (real HTTP on 127.0.0.1).

use scalp_core::{Exchange, Timeframe};
use scalp_e2e::standin::market::{funding_rate_str, open_interest_str};
use scalp_e2e::standin::{Bounds, Fault, StandIn, StandInConfig};
use scalp_exchange::{ExchangeError, RestClient, RetryPolicy};
use std::time::{Duration, Instant};

const H: i64 = 3_600_000;

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        default_ban: Duration::from_secs(2),
        max_pause_wait: Duration::from_secs(30),
    }
}

fn client(s: &StandIn, ex: Exchange) -> RestClient {
    let mut cfg = s.exchanges_config();
    cfg.bitget.public_requests_per_second = 20;
    let c = RestClient::new(ex, &cfg).unwrap();
    c.set_retry_policy(fast_retries());
    c
}

#[tokio::test]
async fn binance_backfills_all_bundled_candles_exactly_in_pages_of_1500() {
    let s = StandIn::start(StandInConfig::default()).await;
    let c = client(&s, Exchange::Binance);
    let src = s.series().hours().to_vec();
    let t0 = Instant::now();
    let got = c
        .fetch_klines("BTCUSDT", Timeframe::H1, src[0].open_time, s.series().end())
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(got.len(), 20_111);
    assert_eq!(got, src, "every candle equals the bundled source exactly");
    eprintln!("figure: Binance backfill of 20,111 1h candles from the stand-in: {took:?}");
    // 20,111 / 1,500 → 14 pages (+1 server time)
    assert_eq!(s.binance.request_count("/fapi/v1/klines"), 14);
    for r in s
        .binance
        .requests()
        .iter()
        .filter(|r| r.path == "/fapi/v1/klines")
    {
        assert!(r.query.contains("limit=1500"), "{}", r.query);
        assert_eq!(r.status, 200);
    }
    // weight: 14 × 10 + 1 — the header fed our budget
    assert!(c.budget().stats().used_weight >= 141);
}

#[tokio::test]
async fn bitget_backfills_with_history_candles_then_recent_candles() {
    let s = StandIn::start(StandInConfig::default()).await;
    let c = client(&s, Exchange::Bitget);
    let src = s.series().hours();
    let from = src[src.len() - 3000].open_time;
    let got = c
        .fetch_klines("BTCUSDT", Timeframe::H1, from, s.series().end())
        .await
        .unwrap();
    assert_eq!(got, src[src.len() - 3000..].to_vec());
    // 83 days (1992 h) from `candles` in 1000-candle windows, the rest from history-candles by 200
    let recent = s.bitget.request_count("/api/v2/mix/market/candles");
    let history = s.bitget.request_count("/api/v2/mix/market/history-candles");
    assert!((2..=3).contains(&recent), "recent pages {recent}");
    assert!((5..=7).contains(&history), "history pages {history}");
    assert!(s.bitget.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn only_closed_candles_are_returned_forming_one_is_dropped() {
    // clock in the middle of an hour: REST serves the forming candle, we must drop it
    let src = scalp_e2e::standin::market::Series::bundled();
    let now = src.hours()[20_000].open_time + 30 * 60_000;
    let s = StandIn::start(StandInConfig {
        start_ms: Some(now),
        ..Default::default()
    })
    .await;
    for ex in [Exchange::Binance, Exchange::Bitget] {
        let c = client(&s, ex);
        let got = c
            .fetch_klines(
                "ETHUSDT",
                Timeframe::H1,
                now - 30 * 60_000 - 10 * H,
                now + 5 * H,
            )
            .await
            .unwrap();
        assert_eq!(got.len(), 10, "{ex}");
        assert_eq!(
            got.last().unwrap().open_time,
            src.hours()[19_999].open_time,
            "{ex}"
        );
        assert_eq!(got, src.hours()[19_990..20_000].to_vec(), "{ex}");
        // 1m candles synthesised by the stand-in: only the 30 closed minutes of the hour
        let m = c
            .fetch_klines("ETHUSDT", Timeframe::M1, now - 30 * 60_000, now + H)
            .await
            .unwrap();
        assert_eq!(m.len(), 30, "{ex}");
        assert!(m.iter().all(|k| k.open_time + 60_000 <= now));
    }
}

#[tokio::test]
async fn binance_429_and_418_pause_every_request_for_retry_after() {
    let s = StandIn::start(StandInConfig::default()).await;
    let c = client(&s, Exchange::Binance);
    // backoff ≥ 500 ms: a client ignoring Retry-After would come back within the 2 s window
    c.set_retry_policy(RetryPolicy {
        min_backoff: Duration::from_millis(500),
        ..fast_retries()
    });
    let end = s.series().end();
    s.binance.inject(Fault::Http {
        status: 418,
        retry_after_s: Some(2),
        count: 1,
    });
    let t0 = Instant::now();
    // two concurrent users of the same budget
    let c2 = c.clone();
    let a = tokio::spawn(async move {
        c2.fetch_klines("BTCUSDT", Timeframe::H1, end - 3000 * H, end)
            .await
    });
    let b = c
        .fetch_klines("BTCUSDT", Timeframe::H4, end - 400 * 4 * H, end)
        .await
        .unwrap();
    let a = a.await.unwrap().unwrap();
    assert_eq!(a.len(), 3000);
    // 4h candles aggregated by the stand-in from the bundled 1h ones; the last bucket is partial
    assert_eq!(b.len(), 399);
    assert_eq!(b, s.series().candles(Timeframe::H4, end - 400 * 4 * H, end));
    assert!(t0.elapsed() >= Duration::from_secs(2));
    let log = s.binance.requests();
    let ban = log.iter().find(|r| r.status == 418).expect("one 418");
    // the other user may have had requests in flight (sent before our client saw the 418)
    // during the first few ms; from 300 ms on, nothing until Retry-After has passed (a client
    // ignoring it would retry after its 500 ms backoff)
    let during: Vec<_> = log
        .iter()
        .filter(|r| {
            r.at >= ban.at + Duration::from_millis(300)
                && r.at < ban.at + Duration::from_millis(1990)
        })
        .collect();
    assert!(
        during.is_empty(),
        "requests during the Retry-After window: {during:?}"
    );
    assert_eq!(c.budget().stats().pauses, 1);

    // 429 with Retry-After 1 twice in a row: still completes, with ≥ 1 s between them
    s.binance.clear_requests();
    s.binance.inject(Fault::Http {
        status: 429,
        retry_after_s: Some(1),
        count: 2,
    });
    let got = c
        .fetch_klines("BTCUSDT", Timeframe::H1, end - 10 * H, end)
        .await
        .unwrap();
    assert_eq!(got.len(), 10);
    let log = s.binance.requests();
    let hits: Vec<_> = log.iter().filter(|r| r.status == 429).collect();
    assert_eq!(hits.len(), 2);
    let next = log.iter().find(|r| r.at > hits[1].at).unwrap();
    assert!(next.at.duration_since(hits[0].at) >= Duration::from_millis(1990));
    assert!(next.at.duration_since(hits[1].at) >= Duration::from_millis(990));
}

#[tokio::test]
async fn long_ban_fails_fast_and_keeps_everyone_paused() {
    let s = StandIn::start(StandInConfig::default()).await;
    let c = client(&s, Exchange::Binance);
    s.binance.inject(Fault::Http {
        status: 418,
        retry_after_s: Some(3600),
        count: 1,
    });
    let e = c.server_time().await.unwrap_err();
    assert!(
        matches!(e, ExchangeError::Paused { status: 418, .. }),
        "{e}"
    );
    assert!(c.budget().paused_for().unwrap() > Duration::from_secs(3500));
    // a second call does not reach the server
    let before = s.binance.requests().len();
    assert!(c.server_time().await.is_err());
    assert_eq!(s.binance.requests().len(), before);
}

#[tokio::test]
async fn bitget_429_and_server_errors_are_retried_with_backoff() {
    let s = StandIn::start(StandInConfig::default()).await;
    let c = client(&s, Exchange::Bitget);
    s.bitget.inject(Fault::Http {
        status: 429,
        retry_after_s: None,
        count: 2,
    });
    let t = c.server_time().await.unwrap();
    assert!(
        t >= s.series().end() && t < s.series().end() + 600_000,
        "{t}"
    );
    let log = s.bitget.requests();
    assert_eq!(log.len(), 3);
    assert!(log[1].at.duration_since(log[0].at) >= Duration::from_millis(45));
    s.bitget.inject(Fault::Http {
        status: 500,
        retry_after_s: None,
        count: 100,
    });
    let e = c.server_time().await.unwrap_err();
    assert!(
        matches!(e, ExchangeError::RetriesExhausted { attempts: 6, .. }),
        "{e}"
    );
}

#[tokio::test]
async fn bitget_never_exceeds_its_requests_per_second() {
    // the stand-in answers 429 above 5 req/s; a client allowed 5/s never triggers it
    let s = StandIn::start(StandInConfig {
        bitget_rps: 5,
        ..Default::default()
    })
    .await;
    let mut cfg = s.exchanges_config();
    cfg.bitget.public_requests_per_second = 5;
    let c = RestClient::new(Exchange::Bitget, &cfg).unwrap();
    let t0 = Instant::now();
    let mut hs = Vec::new();
    for _ in 0..3 {
        let c = c.clone();
        hs.push(tokio::spawn(async move {
            for _ in 0..4 {
                c.open_interest("BTCUSDT").await.unwrap();
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(2400),
        "{:?}",
        t0.elapsed()
    );
    assert!(s.bitget.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn funding_and_open_interest_match_the_stand_in() {
    let s = StandIn::start(StandInConfig::default()).await;
    let end = s.series().end();
    for ex in [Exchange::Binance, Exchange::Bitget] {
        let c = client(&s, ex);
        let from = end - 400 * 8 * H - 1;
        let f = c.fetch_funding("BTCUSDT", from, end).await.unwrap();
        assert!((400..=401).contains(&f.len()), "{ex}: {}", f.len());
        for w in f.windows(2) {
            assert_eq!(w[1].funding_time - w[0].funding_time, 8 * H, "{ex}");
        }
        for x in &f {
            assert!(x.funding_time >= from && x.funding_time < end);
            assert_eq!(
                x.rate,
                funding_rate_str(x.funding_time).parse::<f64>().unwrap(),
                "{ex}"
            );
        }
        let oi = c.open_interest("BTCUSDT").await.unwrap();
        assert!(oi.ts >= end);
        assert_eq!(
            oi.open_interest,
            open_interest_str(oi.ts).parse::<f64>().unwrap(),
            "{ex}"
        );
    }
    // Binance funding paged by 1000
    assert_eq!(s.binance.request_count("/fapi/v1/fundingRate"), 1);
    let RestClient::Binance(b) = client(&s, Exchange::Binance) else {
        unreachable!()
    };
    s.binance.clear_requests();
    let f = b
        .fetch_funding("BTCUSDT", end - 2500 * 8 * H, end)
        .await
        .unwrap();
    assert_eq!(f.len(), 2500);
    assert_eq!(s.binance.request_count("/fapi/v1/fundingRate"), 3);
    // every fundingRate request is booked in its own 500 / 5 min budget (besides the weight)
    assert_eq!(b.funding_budget().stats().requests, 3);
    assert_eq!(b.funding_budget().stats().limit, 400);
    let hist = b
        .open_interest_hist("BTCUSDT", Timeframe::M5, end - 86_400_000, end)
        .await
        .unwrap();
    assert_eq!(hist.len(), 288);
    assert!(hist.iter().all(|o| o.value_usdt.is_some()));
}

#[tokio::test]
async fn errors_name_the_endpoint_and_the_exchange_message() {
    let s = StandIn::start(StandInConfig {
        symbols: vec!["BTCUSDT".into()],
        ..Default::default()
    })
    .await;
    let end = s.series().end();
    let e = client(&s, Exchange::Binance)
        .fetch_klines("NOPEUSDT", Timeframe::H1, end - H, end)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/fapi/v1/klines") && e.contains("400") && e.contains("Invalid symbol"),
        "{e}"
    );
    let e = client(&s, Exchange::Bitget)
        .fetch_klines("NOPEUSDT", Timeframe::H1, end - H, end)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("history-candles") || e.contains("market/candles"),
        "{e}"
    );
    assert!(e.contains("40034"), "{e}");
}

/// A complete 20,111-candle backfill whichever way the server reads `startTime`/`endTime`
/// (every page is asked one candle wider on each side and filtered here).
#[tokio::test]
async fn bitget_backfills_all_bundled_candles_within_its_request_rate() {
    for bounds in [Bounds::Exclusive, Bounds::Inclusive] {
        let s = StandIn::start(StandInConfig {
            bitget_bounds: bounds,
            ..Default::default()
        })
        .await;
        let c = client(&s, Exchange::Bitget);
        let src = s.series().hours().to_vec();
        let t0 = Instant::now();
        let got = c
            .fetch_klines("BTCUSDT", Timeframe::H1, src[0].open_time, s.series().end())
            .await
            .unwrap();
        let took = t0.elapsed();
        assert_eq!(got.len(), src.len(), "{bounds:?}: every candle");
        assert_eq!(got, src, "{bounds:?}");
        let n = s.bitget.requests().len();
        // 1 time + 2 recent pages (1992 h in pages of 998) + ⌈18,119 / 198⌉ history pages
        assert_eq!(n, 1 + 2 + 92, "{bounds:?}: requests");
        assert!(
            s.bitget.requests().iter().all(|r| r.status == 200),
            "never over the rate"
        );
        // 95 requests at 18/s need ≥ 94 × 55.5 ms
        assert!(took >= Duration::from_millis(5_200), "{took:?}");
        eprintln!(
            "figure: Bitget backfill of 20,111 1h candles from the stand-in ({bounds:?} bounds): {took:?} ({n} requests)"
        );
    }
}

/// One missing candle (the gap repair asks `[t, t + tf)`) and one close confirmation come back
/// under either bound convention; each query asks one candle wider on both sides.
#[tokio::test]
async fn bitget_single_candle_window_and_confirmation_under_both_bound_conventions() {
    for bounds in [Bounds::Exclusive, Bounds::Inclusive] {
        let s = StandIn::start(StandInConfig {
            bitget_bounds: bounds,
            ..Default::default()
        })
        .await;
        let c = client(&s, Exchange::Bitget);
        let src = s.series().hours().to_vec();
        for want in [&src[src.len() - 5], &src[src.len() - 1500], &src[100]] {
            let got = c
                .fetch_klines("BTCUSDT", Timeframe::H1, want.open_time, want.open_time + H)
                .await
                .unwrap();
            assert_eq!(
                got,
                vec![*want],
                "{bounds:?}: one candle at {}",
                want.open_time
            );
        }
        let scalp_exchange::RestClient::Bitget(b) = &c else {
            panic!()
        };
        let last = src[src.len() - 1];
        assert_eq!(
            b.confirm_closed("BTCUSDT", Timeframe::H1, last.open_time)
                .await
                .unwrap(),
            Some(last),
            "{bounds:?}: confirmation of the newest closed candle"
        );
        let mid = src[src.len() - 40];
        assert_eq!(
            b.confirm_closed("BTCUSDT", Timeframe::H1, mid.open_time)
                .await
                .unwrap(),
            Some(mid),
            "{bounds:?}"
        );
        // the queries asked [t − tf, t + tf] (widened), never the bare [t, t + tf]
        let q = s
            .bitget
            .requests()
            .into_iter()
            .find(|r| {
                r.path.ends_with("/candles")
                    && r.query
                        .contains(&format!("startTime={}", src[src.len() - 5].open_time - H))
            })
            .expect("a widened single-candle query");
        assert!(
            q.query
                .contains(&format!("endTime={}", src[src.len() - 5].open_time + H)),
            "{}",
            q.query
        );
    }
}

/// The windows a backwards walk asks for: wider by one candle on each side, within the
/// endpoint's limit and the 90-day span.
#[test]
fn widened_windows_fit_limits() {
    use scalp_exchange::bitget::{CandleEndpoint, MAX_QUERY_SPAN_MS, widened_window};
    for tf in [Timeframe::M1, Timeframe::H1, Timeframe::H4, Timeframe::D1] {
        for ep in [CandleEndpoint::Recent, CandleEndpoint::History] {
            let newest = tf.align(1_700_000_000_000);
            let (lo, a, b, limit) = widened_window(tf, 0, newest, ep, 0);
            assert_eq!((a, b), (lo - tf.ms(), newest + tf.ms()), "{tf} {ep:?}");
            let inclusive_count = (b - a) / tf.ms() + 1;
            assert_eq!(limit as i64, inclusive_count, "{tf} {ep:?}");
            assert!(limit <= ep.max_limit(), "{tf} {ep:?}");
            assert!(b - a <= MAX_QUERY_SPAN_MS, "{tf} {ep:?}");
            // a single candle
            let (lo, a, b, limit) = widened_window(tf, newest, newest, ep, 0);
            assert_eq!(
                (lo, a, b, limit),
                (newest, newest - tf.ms(), newest + tf.ms(), 3)
            );
        }
    }
}

/// Bitget serves no 2h candles: asking is a clear error, not a request the server refuses.
#[tokio::test]
async fn bitget_refuses_2h_before_asking() {
    let s = StandIn::start(StandInConfig::default()).await;
    let end = s.series().end();
    let e = client(&s, Exchange::Bitget)
        .fetch_klines("BTCUSDT", Timeframe::H2, end - 10 * H, end)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no 2h candles") && e.contains("1m, 3m, 5m"),
        "{e}"
    );
    assert_eq!(s.bitget.request_count("/api/v2/mix/market/candles"), 0);
}

/// REST over real TLS (rustls): a local CA trusted through `ca_file` only, the server name sent
/// as SNI, and the certificate checks refusing an unknown issuer and a wrong host name.
#[tokio::test]
async fn rest_over_tls_trusts_only_the_configured_ca_and_checks_the_name() {
    let dir = std::env::temp_dir().join(format!("scalp-tls-rest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = scalp_e2e::standin::tls::TestCa::new(&dir);
    let s = StandIn::start(StandInConfig {
        tls: Some(ca),
        ..Default::default()
    })
    .await;
    let cfg = s.exchanges_config();
    assert!(cfg.bitget.rest_url.starts_with("https://localhost:"));
    let end = s.series().end();
    let src = s.series().hours();
    for ex in [Exchange::Binance, Exchange::Bitget] {
        let c = RestClient::new(ex, &cfg).unwrap();
        c.set_retry_policy(fast_retries());
        let got = c
            .fetch_klines("BTCUSDT", Timeframe::H1, end - 48 * H, end)
            .await
            .unwrap();
        assert_eq!(got, src[src.len() - 48..].to_vec(), "{ex} over TLS");
    }
    for h in [&s.binance, &s.bitget] {
        let names = h.tls_server_names();
        assert!(!names.is_empty());
        assert!(
            names.iter().all(|n| n.as_deref() == Some("localhost")),
            "SNI: {names:?}"
        );
    }
    // without the CA: the bundled roots do not know it
    let mut no_ca = cfg.clone();
    no_ca.bitget.ca_file = None;
    let c = RestClient::new(Exchange::Bitget, &no_ca).unwrap();
    c.set_retry_policy(RetryPolicy {
        max_attempts: 1,
        ..fast_retries()
    });
    let before = s.bitget.tls_failed_handshakes();
    let e = c
        .fetch_klines("BTCUSDT", Timeframe::H1, end - 2 * H, end)
        .await
        .unwrap_err();
    let chain = format!("{e:?}");
    eprintln!("untrusted CA: {e}");
    assert!(
        e.to_string()
            .contains("invalid peer certificate: UnknownIssuer"),
        "{chain}"
    );
    let t = std::time::Instant::now();
    while s.bitget.tls_failed_handshakes() <= before {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the server saw no refused handshake"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // the CA, but a name the certificate is not for (an IP address)
    let mut wrong_name = cfg.clone();
    wrong_name.bitget.rest_url = format!("https://{}", s.bitget.addr());
    let c = RestClient::new(Exchange::Bitget, &wrong_name).unwrap();
    c.set_retry_policy(RetryPolicy {
        max_attempts: 1,
        ..fast_retries()
    });
    let e = c
        .fetch_klines("BTCUSDT", Timeframe::H1, end - 2 * H, end)
        .await
        .unwrap_err();
    let chain = format!("{e:?}");
    eprintln!("wrong name: {e}");
    assert!(
        e.to_string()
            .contains("certificate not valid for name \"127.0.0.1\""),
        "{chain}"
    );
    // a ca_file that holds no certificate is a clear error naming it
    let bad = dir.join("empty.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let mut bad_cfg = cfg.clone();
    bad_cfg.binance.ca_file = Some(bad.clone());
    let e = RestClient::new(Exchange::Binance, &bad_cfg)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("empty.pem") && e.contains("no PEM certificate"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
