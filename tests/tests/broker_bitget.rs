//! scalp-broker against the stateful Bitget private stand-in, real HTTP and WS on 127.0.0.1:
//! probe, signing, the trading flow in both account modes, rounding, exactly-once, budgets,
//! retries, clock skew, WS reconnect, and no secret in any log or error.

use scalp_broker::ws::{PrivateStream, WsEvent};
use scalp_broker::*;
use scalp_e2e::standin::bitget_private::{
    AccountMode as SMode, PrivateConfig, PrivateFault, PrivateStandIn,
};
use std::time::Duration;

const SYM: &str = "BTCUSDT";
const PLACE_V2: &str = "/api/v2/mix/order/place-order";
const PLACE_V3: &str = "/api/v3/trade/place-order";

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn standin(mode: SMode) -> PrivateStandIn {
    PrivateStandIn::start(PrivateConfig {
        account_mode: mode,
        ..PrivateConfig::default()
    })
}

fn cfg(s: &PrivateStandIn) -> BrokerConfig {
    BrokerConfig {
        rest_url: s.rest_url(),
        ws_private_url: s.ws_url_v2(),
        ws_private_url_v3: Some(s.ws_url_v3()),
        request_timeout: Duration::from_millis(1000),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        landing_grace: Duration::from_millis(50),
        ..BrokerConfig::default()
    }
}

fn creds(s: &PrivateStandIn) -> Credentials {
    let c = s.config();
    Credentials::new(&c.api_key, &c.secret, &c.passphrase).unwrap()
}

async fn connect_to(s: &PrivateStandIn) -> Bitget {
    connect(cfg(s), creds(s)).await.expect("connect")
}

fn place_path(b: &Bitget) -> &'static str {
    match b.account_mode() {
        AccountMode::Classic => PLACE_V2,
        AccountMode::Uta => PLACE_V3,
    }
}

async fn spec(b: &Bitget) -> ContractSpec {
    b.contracts(Some(SYM)).await.unwrap().remove(0)
}

fn limit(oid: &str, side: Side, qty: &str, price: &str) -> OrderRequest {
    OrderRequest {
        symbol: SYM.into(),
        client_oid: oid.into(),
        side,
        order_type: OrderType::Limit,
        qty: d(qty),
        price: Some(d(price)),
        reduce_only: false,
        post_only: false,
    }
}

fn market(oid: &str, side: Side, qty: &str) -> OrderRequest {
    OrderRequest {
        order_type: OrderType::Market,
        price: None,
        ..limit(oid, side, qty, "1")
    }
}

fn oid(role: OrderRole, candle: i64) -> String {
    client_oid("grid_atr", SYM, role, candle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_detects_classic_and_uta() {
    let c = standin(SMode::Classic);
    let b = connect_to(&c).await;
    assert_eq!(b.account_mode(), AccountMode::Classic);
    assert!(matches!(b, Bitget::Classic(_)));
    let codes: Vec<(String, String)> = c
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.code.clone()))
        .collect();
    assert!(
        codes.contains(&("/api/v3/account/settings".into(), "40084".into())),
        "{codes:?}"
    );
    assert!(codes.contains(&("/api/v2/mix/account/accounts".into(), "00000".into())));

    let u = standin(SMode::Uta);
    let b = connect_to(&u).await;
    assert_eq!(b.account_mode(), AccountMode::Uta);
    // a v2 call with the UTA key is refused with 40085 by the stand-in
    let v2 = ClassicV2::new(cfg(&u), creds(&u)).unwrap();
    let e = v2.positions(None).await.unwrap_err();
    assert!(matches!(e, BrokerError::WrongAccountMode { .. }), "{e}");
    assert_eq!(e.code(), Some("40085"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_calls_accepted_bad_credentials_refused_with_real_codes() {
    let s = standin(SMode::Classic);
    let b = connect_to(&s).await;
    b.balance().await.expect("signed call accepted");
    assert!(s.requests().iter().all(|r| r.code != "40009"));
    let c = s.config();
    for (key, secret, pass, code) in [
        (
            c.api_key.as_str(),
            "wrong-secret",
            c.passphrase.as_str(),
            "40009",
        ),
        (c.api_key.as_str(), c.secret.as_str(), "wrong-pass", "40012"),
        (
            "bg_unknown",
            c.secret.as_str(),
            c.passphrase.as_str(),
            "40006",
        ),
    ] {
        let e = match connect(cfg(&s), Credentials::new(key, secret, pass).unwrap()).await {
            Err(e) => e,
            Ok(_) => panic!("connected with bad credentials ({code})"),
        };
        assert!(matches!(e, BrokerError::Auth { .. }), "{e}");
        assert_eq!(e.code(), Some(code), "{e}");
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains(&c.secret) && !text.contains(&c.passphrase),
            "{text}"
        );
    }
}

async fn trading_flow(mode: SMode) {
    let s = standin(mode);
    let b = connect_to(&s).await;
    let sp = spec(&b).await;
    assert_eq!(
        (
            sp.lot_step,
            sp.tick,
            sp.min_qty,
            sp.min_notional,
            sp.max_leverage
        ),
        (d("0.001"), d("0.1"), d("0.001"), d("5"), 125)
    );
    b.set_position_mode(PositionMode::OneWay).await.unwrap();
    b.set_margin_mode(SYM, MarginMode::Crossed).await.unwrap();
    b.set_leverage(SYM, 10).await.unwrap();
    assert_eq!(
        s.leverage(SYM, "crossed"),
        Some(10),
        "leverage set for the crossed mode"
    );
    s.push_price(SYM, 60_000.0);

    // a resting limit buy, rounded: qty floored, price rounded down
    let r = sp
        .round_order(
            Side::Buy,
            &d("0.0129"),
            Some(&d("59990.07")),
            &d("60000"),
            false,
        )
        .unwrap();
    assert_eq!((r.qty, r.price), (d("0.012"), Some(d("59990"))));
    let o1 = oid(OrderRole::Level(1), 1_735_689_600_000);
    let mut req = limit(&o1, Side::Buy, "0.012", "59990");
    req.qty = r.qty;
    req.price = r.price;
    let ack = b.place_order(&req).await.unwrap();
    assert!(!ack.already_placed && ack.order_id.is_some());
    let open = b.open_orders(Some(SYM)).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].status, open[0].qty, open[0].price),
        (OrderStatus::Open, d("0.012"), Some(d("59990")))
    );

    // the price trades through it: filled at the limit, maker fee
    s.push_price(SYM, 59_980.0);
    let o = b
        .order(SYM, &o1)
        .await
        .unwrap()
        .expect("order by clientOid");
    assert_eq!((o.status, o.filled_qty), (OrderStatus::Filled, d("0.012")));
    assert!(
        b.open_orders(Some(SYM)).await.unwrap().is_empty(),
        "empty list (v2: null) parsed"
    );
    let pos = b.positions(Some(SYM)).await.unwrap();
    assert_eq!(pos.len(), 1);
    // one symbol is read from Classic's per-symbol endpoint (10/s), not all-position (5/s)
    let last = s.requests().last().unwrap().path.clone();
    let want = if mode == SMode::Classic {
        "/api/v2/mix/position/single-position"
    } else {
        "/api/v3/position/current-position"
    };
    assert_eq!(last, want);
    assert_eq!(b.positions(None).await.unwrap(), pos);
    assert_eq!(
        (
            pos[0].side,
            pos[0].size,
            pos[0].entry_price,
            pos[0].leverage
        ),
        (PositionSide::Long, d("0.012"), d("59990"), d("10"))
    );
    let fills = b.fills(SYM, None).await.unwrap();
    assert_eq!(fills.len(), 1);
    // 0.012 × 59990 × 0.0002 = 0.1439760, a positive cost in both dialects
    assert_eq!(fills[0].fee, d("0.143976"));
    assert!(fills[0].maker && fills[0].side == Side::Buy);

    // leverage under the open position: refused, the same value is a no-op
    let e = b.set_leverage(SYM, 20).await.unwrap_err();
    assert!(
        matches!(e, BrokerError::LeverageUnderOpenPosition { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("from 10x to 20x"), "{e}");
    b.set_leverage(SYM, 10).await.unwrap();

    // position stop-loss and take-profit, conservatively rounded
    let sl_px = sp
        .round_price(
            &d("59000.04"),
            PriceRounding::for_stop_loss(PositionSide::Long),
        )
        .unwrap();
    assert_eq!(sl_px, d("59000.1"));
    let sl = PlanRequest {
        symbol: SYM.into(),
        client_oid: oid(OrderRole::StopLoss(1), 1_735_689_600_000),
        kind: PlanKind::StopLoss,
        position_side: PositionSide::Long,
        trigger_price: sl_px,
    };
    b.place_plan(&sl).await.unwrap();
    let tp = PlanRequest {
        client_oid: oid(OrderRole::TakeProfit(1), 1_735_689_600_000),
        kind: PlanKind::TakeProfit,
        trigger_price: d("61000"),
        ..sl.clone()
    };
    b.place_plan(&tp).await.unwrap();
    let plans = b.plan_orders(SYM).await.unwrap();
    assert_eq!(plans.len(), 2, "{plans:?}");
    let slp = plans.iter().find(|p| p.kind == PlanKind::StopLoss).unwrap();
    assert_eq!(
        (slp.trigger_price, slp.position_side),
        (d("59000.1"), PositionSide::Long)
    );
    // cancel the TP, the SL stays
    let tpp = plans
        .iter()
        .find(|p| p.kind == PlanKind::TakeProfit)
        .unwrap()
        .clone();
    assert!(b.cancel_plan(SYM, &tpp).await.unwrap());
    assert!(
        !b.cancel_plan(SYM, &tpp).await.unwrap(),
        "second cancel: already gone"
    );
    assert_eq!(b.plan_orders(SYM).await.unwrap().len(), 1);

    // add with a market order, then flatten with close-positions
    b.place_order(&market(
        &oid(OrderRole::Entry(2), 1_735_693_200_000),
        Side::Buy,
        "0.002",
    ))
    .await
    .unwrap();
    assert!((s.position(SYM) - 0.014).abs() < 1e-9);
    let closed = b.close_positions(SYM).await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(s.position(SYM), 0.0);
    assert!(b.positions(Some(SYM)).await.unwrap().is_empty());
    assert!(
        b.plan_orders(SYM).await.unwrap().is_empty(),
        "stops go with the position"
    );
    assert!(
        b.close_positions(SYM).await.unwrap().is_empty(),
        "flat: a no-op"
    );

    // a stop that fires: open, arm, the price falls through it
    b.place_order(&market(
        &oid(OrderRole::Entry(3), 1_735_696_800_000),
        Side::Buy,
        "0.001",
    ))
    .await
    .unwrap();
    let sl2 = PlanRequest {
        client_oid: oid(OrderRole::StopLoss(3), 1_735_696_800_000),
        trigger_price: d("59500"),
        ..sl.clone()
    };
    b.place_plan(&sl2).await.unwrap();
    s.push_price(SYM, 59_400.0);
    assert_eq!(s.position(SYM), 0.0, "the stop closed the position");

    // cancel of a resting order, and of one already gone
    let o4 = oid(OrderRole::Level(4), 1_735_696_800_000);
    b.place_order(&limit(&o4, Side::Buy, "0.001", "50000"))
        .await
        .unwrap();
    assert!(b.cancel_order(SYM, &o4).await.unwrap());
    assert!(!b.cancel_order(SYM, &o4).await.unwrap());
    assert_eq!(
        b.order(SYM, &o4).await.unwrap().unwrap().status,
        OrderStatus::Cancelled
    );
    assert!(b.order(SYM, "sr-never-placed").await.unwrap().is_none());
    let bal = b.balance().await.unwrap();
    assert!(bal.equity < d("10000") && bal.equity > d("9900"), "{bal:?}");
    if mode == SMode::Uta {
        assert!(
            s.orders()
                .iter()
                .filter(|o| !o.client_oid.starts_with("close-") && !o.client_oid.ends_with("-x"))
                .all(|o| o.margin_mode.as_deref() == Some("crossed")),
            "marginMode on every UTA order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_classic_v2() {
    trading_flow(SMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_uta_v3() {
    trading_flow(SMode::Uta).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounding_refusals_and_exchange_side_checks() {
    for mode in [SMode::Classic, SMode::Uta] {
        let s = standin(mode);
        let b = connect_to(&s).await;
        let sp = spec(&b).await;
        let e = sp
            .round_order(Side::Buy, &d("0.0009"), None, &d("60000"), false)
            .unwrap_err();
        assert!(e.to_string().contains("below the minimum size"), "{e}");
        let e = sp
            .round_order(Side::Buy, &d("0.001"), Some(&d("4000")), &d("4000"), false)
            .unwrap_err();
        assert!(e.to_string().contains("below the minimum 5 USDT"), "{e}");
        // unrounded values sent anyway are refused by the exchange with its precision codes
        s.push_price(SYM, 60_000.0);
        let e = b
            .place_order(&limit("sr-unrounded-qty", Side::Buy, "0.0015", "50000"))
            .await
            .unwrap_err();
        let want = if mode == SMode::Classic {
            "40808"
        } else {
            "25610"
        };
        assert_eq!(e.code(), Some(want), "{e}");
        let e = b
            .place_order(&limit("sr-unrounded-px", Side::Buy, "0.001", "50000.05"))
            .await
            .unwrap_err();
        let want = if mode == SMode::Classic {
            "41103"
        } else {
            "25244"
        };
        assert_eq!(e.code(), Some(want), "{e}");
        // insufficient balance maps to its own variant and is not retried
        let before = s.requests().len();
        let e = b
            .place_order(&market("sr-too-big", Side::Buy, "50"))
            .await
            .unwrap_err();
        assert!(matches!(e, BrokerError::InsufficientBalance { .. }), "{e}");
        // v3 looks the clientOid up before placing
        let sent = if mode == SMode::Classic { 1 } else { 2 };
        assert_eq!(s.requests().len(), before + sent, "no retry storm");
        // an invalid clientOid is refused before sending
        let e = b
            .place_order(&limit("BITGET#1", Side::Buy, "0.001", "50000"))
            .await
            .unwrap_err();
        assert!(matches!(e, BrokerError::InvalidOrder { .. }), "{e}");
    }
}

async fn exactly_once_lost_reply(mode: SMode) {
    let s = standin(mode);
    let b = connect_to(&s).await;
    s.push_price(SYM, 60_000.0);
    // market order: applied (and filled) but the answer is lost
    let o = oid(OrderRole::Entry(1), 1_735_689_600_000);
    s.inject(PrivateFault::LoseReply {
        path: place_path(&b).into(),
        count: 1,
    });
    let ack = b
        .place_order(&market(&o, Side::Buy, "0.002"))
        .await
        .unwrap();
    assert!(ack.already_placed, "{ack:?}");
    assert_eq!(s.created_with_client_oid(&o), 1, "placed exactly once");
    assert!((s.position(SYM) - 0.002).abs() < 1e-9);
    // the same order replayed after a "crash": v2 refuses the duplicate; v3 would accept a
    // filled order's clientOid again, so only the lookup-first rule keeps it single (and no
    // placement is sent at all: no lost-answer fault to consume)
    if mode == SMode::Classic {
        s.inject(PrivateFault::LoseReply {
            path: place_path(&b).into(),
            count: 1,
        });
    }
    let ack = b
        .place_order(&market(&o, Side::Buy, "0.002"))
        .await
        .unwrap();
    assert!(ack.already_placed);
    assert_eq!(s.created_with_client_oid(&o), 1);
    assert!((s.position(SYM) - 0.002).abs() < 1e-9);

    // a lost answer on a request that did NOT land (5xx before applying): placed once
    let o2 = oid(OrderRole::Level(2), 1_735_689_600_000);
    s.inject(PrivateFault::Http {
        status: 503,
        path: Some(place_path(&b).into()),
        count: 1,
    });
    let ack = b
        .place_order(&limit(&o2, Side::Buy, "0.001", "50000"))
        .await
        .unwrap();
    assert!(!ack.already_placed);
    assert_eq!(s.created_with_client_oid(&o2), 1);

    // batch with a lost answer: every item exactly once
    let items: Vec<OrderRequest> = (10..13)
        .map(|i| {
            limit(
                &oid(OrderRole::Level(i), 1_735_693_200_000),
                Side::Buy,
                "0.001",
                "50000",
            )
        })
        .collect();
    let batch_path = match b.account_mode() {
        AccountMode::Classic => "/api/v2/mix/order/batch-place-order",
        AccountMode::Uta => "/api/v3/trade/place-batch",
    };
    s.inject(PrivateFault::LoseReply {
        path: batch_path.into(),
        count: 1,
    });
    let res = b.place_batch(SYM, &items).await.unwrap();
    assert_eq!(res.len(), 3);
    for (r, it) in res.iter().zip(&items) {
        assert!(r.as_ref().unwrap().already_placed, "{r:?}");
        assert_eq!(s.created_with_client_oid(&it.client_oid), 1);
    }
    // a batch without faults, one of whose items is a duplicate
    let mut more = items.clone();
    more.push(limit(
        &oid(OrderRole::Level(20), 1_735_693_200_000),
        Side::Buy,
        "0.001",
        "50000",
    ));
    let res = b.place_batch(SYM, &more).await.unwrap();
    for r in &res[..3] {
        assert!(r.as_ref().unwrap().already_placed, "{r:?}");
    }
    assert!(!res[3].as_ref().unwrap().already_placed);
    for it in &more {
        assert_eq!(
            s.created_with_client_oid(&it.client_oid),
            1,
            "{}",
            it.client_oid
        );
    }
    assert_eq!(b.open_orders(Some(SYM)).await.unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_classic() {
    exactly_once_lost_reply(SMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_uta() {
    exactly_once_lost_reply(SMode::Uta).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_client_oid_resolved_by_lookup() {
    for mode in [SMode::Classic, SMode::Uta] {
        let s = standin(mode);
        let b = connect_to(&s).await;
        let o = oid(OrderRole::Level(7), 1_735_689_600_000);
        let req = limit(&o, Side::Sell, "0.001", "70000");
        assert!(!b.place_order(&req).await.unwrap().already_placed);
        let again = b.place_order(&req).await.unwrap();
        assert!(again.already_placed);
        assert_eq!(s.created_with_client_oid(&o), 1);
        if mode == SMode::Classic {
            assert!(
                s.requests().iter().any(|r| r.code == "40786"),
                "the stand-in refused the duplicate"
            );
        } else {
            // v3: looked up first (a final order's clientOid would be accepted again)
            assert!(s.requests().iter().all(|r| r.code != "25212"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_budgets_hold_under_a_burst_and_429_5xx_are_retried() {
    let s = standin(SMode::Classic);
    let b = connect_to(&s).await;
    s.clear_requests();
    let t0 = std::time::Instant::now();
    let futs: Vec<_> = (0..25)
        .map(|i| {
            let b = b.clone();
            async move {
                b.place_order(&limit(
                    &oid(OrderRole::Level(i), 1_735_689_600_000),
                    Side::Buy,
                    "0.001",
                    "50000",
                ))
                .await
            }
        })
        .collect();
    for r in futures_util::future::join_all(futs).await {
        r.unwrap();
    }
    let took = t0.elapsed();
    let max = s.max_per_second(PLACE_V2);
    eprintln!("25 placements in {took:?}, at most {max} in any second");
    assert!(max <= 10, "{max} place-order requests within one second");
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(
        s.requests().iter().all(|r| r.status != 429),
        "the budget kept us under the limit"
    );
    // close-positions: 1/s
    s.clear_requests();
    for _ in 0..3 {
        b.close_positions(SYM).await.unwrap();
    }
    assert_eq!(s.max_per_second("/api/v2/mix/order/close-positions"), 1);

    // 429 (not applied) twice, then through: placed once
    let o = oid(OrderRole::Level(100), 1_735_689_600_000);
    s.inject(PrivateFault::Http {
        status: 429,
        path: Some(PLACE_V2.into()),
        count: 2,
    });
    let ack = b
        .place_order(&limit(&o, Side::Buy, "0.001", "50000"))
        .await
        .unwrap();
    assert!(!ack.already_placed);
    assert_eq!(s.created_with_client_oid(&o), 1);
    // 5xx on a read: retried until it answers
    s.inject(PrivateFault::Http {
        status: 502,
        path: Some("/api/v2/mix/order/orders-pending".into()),
        count: 2,
    });
    assert_eq!(b.open_orders(Some(SYM)).await.unwrap().len(), 26);
    // always 429: bounded, a clear error
    s.inject(PrivateFault::Http {
        status: 429,
        path: Some("/api/v2/mix/position/all-position".into()),
        count: 1000,
    });
    let e = b.positions(None).await.unwrap_err();
    assert!(matches!(e, BrokerError::RateLimited { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_is_corrected() {
    for mode in [SMode::Classic, SMode::Uta] {
        let s = standin(mode);
        // skewed before start: the start-up sync absorbs it
        s.set_skew_ms(-90_000);
        let b = connect_to(&s).await;
        assert!(
            (b.clock_offset_ms() + 90_000).abs() < 2_000,
            "{}",
            b.clock_offset_ms()
        );
        // the server clock jumps: 40008, resync, the same request once more
        s.set_skew_ms(120_000);
        b.balance().await.expect("resynced and retried");
        assert!(
            (b.clock_offset_ms() - 120_000).abs() < 2_000,
            "{}",
            b.clock_offset_ms()
        );
        assert_eq!(s.requests().iter().filter(|r| r.code == "40008").count(), 1);
    }
}

async fn next_event(
    rx: &mut tokio::sync::mpsc::Receiver<WsEvent>,
    what: &str,
    f: impl Fn(&WsEvent) -> bool,
) -> WsEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) if f(&ev) => return ev,
            Ok(Some(_)) => {}
            Ok(None) => panic!("stream ended waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

async fn ws_flow(mode: SMode) {
    let s = standin(mode);
    let b = connect_to(&s).await;
    s.push_price(SYM, 60_000.0);
    let mut wcfg = b.ws_config();
    wcfg.ping_interval = Duration::from_millis(300);
    wcfg.reconnect_min = Duration::from_millis(50);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let stream = PrivateStream::spawn(wcfg, tx);
    next_event(&mut rx, "connected 1", |e| {
        *e == WsEvent::Connected { n: 1 }
    })
    .await;
    for _ in 0..3 {
        next_event(&mut rx, "subscribed", |e| {
            matches!(e, WsEvent::Subscribed { .. })
        })
        .await;
    }
    let o1 = oid(OrderRole::Entry(1), 1_735_689_600_000);
    b.place_order(&market(&o1, Side::Buy, "0.003"))
        .await
        .unwrap();
    let ev = next_event(&mut rx, "fill 1", |e| matches!(e, WsEvent::Fill(_))).await;
    let WsEvent::Fill(f) = ev else { unreachable!() };
    assert_eq!(
        (f.qty, f.price, f.side),
        (d("0.003"), d("60000"), Side::Buy)
    );
    // 0.003 × 60000 × 0.0006
    assert_eq!(f.fee, d("0.108"));
    next_event(&mut rx, "position", |e| {
        matches!(e, WsEvent::Positions { positions, .. } if positions.iter().any(|p| p.size == d("0.003")))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(s.ws_pings() >= 1, "text pings sent");

    // forced disconnect: reconnect, log in and resubscribe, events flow again
    s.inject(PrivateFault::DropWs);
    next_event(&mut rx, "disconnected", |e| {
        matches!(e, WsEvent::Disconnected { .. })
    })
    .await;
    next_event(&mut rx, "connected 2", |e| {
        *e == WsEvent::Connected { n: 2 }
    })
    .await;
    for _ in 0..3 {
        next_event(&mut rx, "resubscribed", |e| {
            matches!(e, WsEvent::Subscribed { .. })
        })
        .await;
    }
    assert_eq!(s.ws_logins(), 2);
    assert_eq!(s.ws_subscribe_messages(), 2);
    let o2 = oid(OrderRole::Close(1), 1_735_693_200_000);
    let mut close = market(&o2, Side::Sell, "0.003");
    close.reduce_only = true;
    b.place_order(&close).await.unwrap();
    let ev = next_event(
        &mut rx,
        "order after reconnect",
        |e| matches!(e, WsEvent::Order(o) if o.client_oid == o2 && o.status == OrderStatus::Filled),
    )
    .await;
    let WsEvent::Order(o) = ev else {
        unreachable!()
    };
    assert!(o.reduce_only);
    next_event(
        &mut rx,
        "fill 2",
        |e| matches!(e, WsEvent::Fill(f) if f.side == Side::Sell),
    )
    .await;
    stream.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_classic_reconnects_and_resubscribes() {
    ws_flow(SMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_uta_reconnects_and_resubscribes() {
    ws_flow(SMode::Uta).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_bad_login_stops_instead_of_looping() {
    let s = standin(SMode::Classic);
    let b = connect_to(&s).await;
    let mut w = b.ws_config();
    w.creds =
        Credentials::new(&s.config().api_key, "wrong-secret", &s.config().passphrase).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let stream = PrivateStream::spawn(w, tx);
    let ev = next_event(&mut rx, "login refused", |e| {
        matches!(e, WsEvent::LoginRefused { .. })
    })
    .await;
    assert_eq!(
        ev,
        WsEvent::LoginRefused {
            code: "30015".into(),
            msg: "Invalid sign".into()
        }
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stream.is_finished());
    assert_eq!(s.ws_connections_total(), 1, "no reconnect loop");
}

#[derive(Clone, Default)]
struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_in_logs_or_errors() {
    let buf = Buf::default();
    let w = buf.clone();
    tracing_subscriber::fmt()
        // our crate at TRACE; dependencies at DEBUG (tungstenite's TRACE dumps every frame,
        // the login frame with the passphrase included: never run it at TRACE in production)
        .with_env_filter("debug,scalp_broker=trace")
        .with_ansi(false)
        .with_writer(move || w.clone())
        .init();
    let s = standin(SMode::Uta);
    let secret = s.config().secret.clone();
    let pass = s.config().passphrase.clone();
    let mut texts = Vec::new();
    let b = connect_to(&s).await;
    texts.push(format!("{:?}", creds(&s)));
    s.push_price(SYM, 60_000.0);
    s.inject(PrivateFault::LoseReply {
        path: PLACE_V3.into(),
        count: 1,
    });
    s.inject(PrivateFault::Http {
        status: 429,
        path: None,
        count: 2,
    });
    b.place_order(&market("sr-secret-test-1", Side::Buy, "0.001"))
        .await
        .unwrap();
    s.set_skew_ms(60_000);
    b.positions(None).await.unwrap();
    for e in [
        b.place_order(&market("sr-secret-test-2", Side::Buy, "90"))
            .await
            .unwrap_err(),
        connect(
            cfg(&s),
            Credentials::new(&s.config().api_key, &secret, "bad").unwrap(),
        )
        .await
        .err()
        .unwrap(),
        connect(
            cfg(&s),
            Credentials::new(&s.config().api_key, "bad", &pass).unwrap(),
        )
        .await
        .err()
        .unwrap(),
    ] {
        texts.push(format!("{e} {e:?}"));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let mut w = b.ws_config();
    texts.push(format!("{w:?}"));
    w.ping_interval = Duration::from_millis(100);
    let _st = PrivateStream::spawn(w, tx);
    next_event(&mut rx, "connected", |e| {
        matches!(e, WsEvent::Connected { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("bitget"), "the capture works: {log}");
    for t in texts.iter().chain(std::iter::once(&log)) {
        assert!(!t.contains(&secret), "secret leaked: {t}");
        assert!(!t.contains(&pass), "passphrase leaked: {t}");
    }
}

fn standin_slip(mode: SMode, slippage: f64) -> PrivateStandIn {
    PrivateStandIn::start(PrivateConfig {
        account_mode: mode,
        slippage,
        ..PrivateConfig::default()
    })
}

fn close_to(x: f64, want: f64) -> bool {
    (x - want).abs() < 1e-6
}

fn stop(n: u32, side: PositionSide, px: &str) -> PlanRequest {
    PlanRequest {
        symbol: SYM.into(),
        client_oid: oid(OrderRole::StopLoss(n), 1_735_689_600_000),
        kind: PlanKind::StopLoss,
        position_side: side,
        trigger_price: d(px),
    }
}

fn take_profit(n: u32, side: PositionSide, px: &str) -> PlanRequest {
    PlanRequest {
        client_oid: oid(OrderRole::TakeProfit(n), 1_735_689_600_000),
        kind: PlanKind::TakeProfit,
        ..stop(n, side, px)
    }
}

async fn candle_replay(mode: SMode) {
    let s = standin_slip(mode, 0.001);
    let b = connect_to(&s).await;
    s.push_price(SYM, 60_000.0);

    // a market order fills at the last price, adversely slipped, taker fee
    b.place_order(&market(&oid(OrderRole::Entry(1), 1), Side::Buy, "0.001"))
        .await
        .unwrap();
    let f = s.fills().last().unwrap().clone();
    assert!(close_to(f.price, 60_060.0) && !f.maker, "{f:?}");
    assert!(close_to(f.fee, 0.001 * 60_060.0 * 0.0006));
    b.close_positions(SYM).await.unwrap();
    let f = s.fills().last().unwrap().clone();
    assert!(
        close_to(f.price, 59_940.0),
        "close-positions slips too: {f:?}"
    );
    assert_eq!(s.position(SYM), 0.0);

    // a bearish candle goes O → H → L → C: two levels fill on the way down, nearest first,
    // each at its own price, maker fee
    let l1 = oid(OrderRole::Level(1), 2);
    let l2 = oid(OrderRole::Level(2), 2);
    let l3 = oid(OrderRole::Level(3), 2);
    b.place_order(&limit(&l2, Side::Buy, "0.010", "59500"))
        .await
        .unwrap();
    b.place_order(&limit(&l1, Side::Buy, "0.010", "59800"))
        .await
        .unwrap();
    b.place_order(&limit(&l3, Side::Buy, "0.010", "59300"))
        .await
        .unwrap();
    let n0 = s.fills().len();
    s.play_candle(SYM, 59_900.0, 60_100.0, 59_400.0, 59_600.0);
    assert_eq!(s.last_price(SYM), Some(59_600.0));
    let new: Vec<_> = s.fills()[n0..].to_vec();
    assert_eq!(new.len(), 2, "{new:?}");
    assert_eq!(
        (new[0].client_oid.as_str(), new[0].price),
        (l1.as_str(), 59_800.0)
    );
    assert_eq!(
        (new[1].client_oid.as_str(), new[1].price),
        (l2.as_str(), 59_500.0)
    );
    assert!(
        new.iter()
            .all(|f| f.maker && close_to(f.fee, f.qty * f.price * 0.0002))
    );
    let pos = b.positions(Some(SYM)).await.unwrap();
    assert_eq!((pos[0].size, pos[0].entry_price), (d("0.02"), d("59650")));
    assert_eq!(s.open_positions().len(), 1);
    assert_eq!(
        b.order(SYM, &l3).await.unwrap().unwrap().status,
        OrderStatus::Open,
        "59300 is below the low"
    );
    assert!(b.cancel_order(SYM, &l3).await.unwrap());

    // bullish candle O → L → H → C: the stop below is reached first and executes at the
    // trigger × (1 − slippage); the take-profit above goes with the position
    b.place_plan(&stop(1, PositionSide::Long, "59000"))
        .await
        .unwrap();
    b.place_plan(&take_profit(1, PositionSide::Long, "60500"))
        .await
        .unwrap();
    let n0 = s.fills().len();
    s.play_candle(SYM, 59_700.0, 60_600.0, 58_900.0, 60_000.0);
    let new: Vec<_> = s.fills()[n0..].to_vec();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(
        close_to(new[0].price, 58_941.0) && close_to(new[0].qty, 0.02) && !new[0].maker,
        "{new:?}"
    );
    assert_eq!(s.position(SYM), 0.0);
    let h = b.plan_history(SYM).await.unwrap();
    let st: Vec<(PlanKind, PlanState)> = h.iter().map(|p| (p.kind, p.state())).collect();
    assert!(
        st.contains(&(PlanKind::StopLoss, PlanState::Executed)),
        "{h:?}"
    );
    assert!(
        st.contains(&(PlanKind::TakeProfit, PlanState::Cancelled)),
        "{h:?}"
    );

    // gap rule: a candle opening below the stop fires it at the open (slipped)
    b.place_order(&market(&oid(OrderRole::Entry(3), 3), Side::Buy, "0.001"))
        .await
        .unwrap();
    b.place_plan(&stop(3, PositionSide::Long, "59500"))
        .await
        .unwrap();
    let n0 = s.fills().len();
    s.play_candle(SYM, 59_000.0, 59_200.0, 58_800.0, 59_100.0);
    let new: Vec<_> = s.fills()[n0..].to_vec();
    assert_eq!(new.len(), 1);
    assert!(close_to(new[0].price, 58_941.0), "{new:?}");
    assert_eq!(s.position(SYM), 0.0);

    // re-evaluation after a fill: a level fills on the way down, the stop below it then
    // closes the whole (larger) position; a tie at one price: the stop first, then the level
    b.place_order(&market(&oid(OrderRole::Entry(4), 4), Side::Buy, "0.001"))
        .await
        .unwrap();
    b.place_plan(&stop(4, PositionSide::Long, "58500"))
        .await
        .unwrap();
    let l4 = oid(OrderRole::Level(4), 4);
    let l5 = oid(OrderRole::Level(5), 4);
    b.place_order(&limit(&l4, Side::Buy, "0.010", "58800"))
        .await
        .unwrap();
    b.place_order(&limit(&l5, Side::Buy, "0.004", "58500"))
        .await
        .unwrap();
    let n0 = s.fills().len();
    s.play_candle(SYM, 59_000.0, 59_100.0, 58_400.0, 58_450.0);
    let new: Vec<(String, f64, f64)> = s.fills()[n0..]
        .iter()
        .map(|f| (f.client_oid.clone(), f.price, f.qty))
        .collect();
    assert_eq!(new.len(), 3, "{new:?}");
    assert_eq!((new[0].0.as_str(), new[0].1), (l4.as_str(), 58_800.0));
    assert!(new[1].0.ends_with("-x") && close_to(new[1].1, 58_441.5) && close_to(new[1].2, 0.011));
    assert_eq!((new[2].0.as_str(), new[2].1), (l5.as_str(), 58_500.0));
    assert!(close_to(s.position(SYM), 0.004));
    assert_eq!(s.last_price(SYM), Some(58_450.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_replay_classic() {
    candle_replay(SMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_replay_uta() {
    candle_replay(SMode::Uta).await;
}

async fn plan_history_failed_trigger(mode: SMode) {
    let s = standin(mode);
    let b = connect_to(&s).await;
    s.push_price(SYM, 60_000.0);
    assert!(b.plan_history(SYM).await.unwrap().is_empty());
    b.place_order(&market(&oid(OrderRole::Entry(1), 1), Side::Buy, "0.002"))
        .await
        .unwrap();
    // the stop triggers but does not execute: gone from the open list, the position stays
    b.place_plan(&stop(1, PositionSide::Long, "59000"))
        .await
        .unwrap();
    s.inject(PrivateFault::FailTrigger { count: 1 });
    s.push_price(SYM, 58_900.0);
    assert!(b.plan_orders(SYM).await.unwrap().is_empty());
    assert!(
        close_to(s.position(SYM), 0.002),
        "a failed stop closes nothing"
    );
    let h = b.plan_history(SYM).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].state(), PlanState::Failed);
    assert_eq!(
        h[0].status,
        if mode == SMode::Classic {
            "fail_trigger"
        } else {
            "failed"
        }
    );
    assert_eq!(
        (h[0].kind, h[0].trigger_price, h[0].position_side),
        (PlanKind::StopLoss, d("59000"), PositionSide::Long)
    );
    // re-armed: cancelled, then one that executes (the fault is used up)
    b.place_plan(&stop(2, PositionSide::Long, "58500"))
        .await
        .unwrap();
    let p = b.plan_orders(SYM).await.unwrap().remove(0);
    assert!(b.cancel_plan(SYM, &p).await.unwrap());
    b.place_plan(&stop(3, PositionSide::Long, "58500"))
        .await
        .unwrap();
    s.push_price(SYM, 58_400.0);
    assert_eq!(s.position(SYM), 0.0);
    let h = b.plan_history(SYM).await.unwrap();
    let states: Vec<PlanState> = h.iter().map(PlanOrder::state).collect();
    assert_eq!(
        states,
        vec![PlanState::Executed, PlanState::Cancelled, PlanState::Failed],
        "newest first: {h:?}"
    );
    assert_eq!(
        h[1].status, "cancelled",
        "double L in both dialects' plan history"
    );
    assert!(h.iter().all(|p| p.updated_ms > 0 && p.symbol == SYM));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_history_and_failed_trigger_classic() {
    plan_history_failed_trigger(SMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_history_and_failed_trigger_uta() {
    plan_history_failed_trigger(SMode::Uta).await;
}

async fn partial_fills(mode: SMode) {
    let s = standin(mode);
    let b = connect_to(&s).await;
    s.push_price(SYM, 60_000.0);
    let mut wcfg = b.ws_config();
    wcfg.reconnect_min = Duration::from_millis(50);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let stream = PrivateStream::spawn(wcfg, tx);
    for _ in 0..3 {
        next_event(&mut rx, "subscribed", |e| {
            matches!(e, WsEvent::Subscribed { .. })
        })
        .await;
    }
    let o1 = oid(OrderRole::Level(1), 1);
    b.place_order(&limit(&o1, Side::Buy, "0.010", "59900"))
        .await
        .unwrap();
    // 35 % of 10 lots = 3.5 → 3 lots
    s.inject(PrivateFault::PartialFill {
        count: 1,
        fraction: 0.35,
    });
    s.play_candle(SYM, 60_000.0, 60_000.0, 59_850.0, 59_850.0);
    let o = b.order(SYM, &o1).await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.filled_qty, o.avg_price),
        (OrderStatus::Partial, d("0.003"), Some(d("59900")))
    );
    // 0.003 × 59900 × 0.0002
    assert_eq!(o.fee, d("0.03594"));
    let open = b.open_orders(Some(SYM)).await.unwrap();
    assert_eq!(open.len(), 1, "still resting");
    assert_eq!(open[0].status, OrderStatus::Partial);
    assert_eq!(b.positions(Some(SYM)).await.unwrap()[0].size, d("0.003"));
    let ev = next_event(&mut rx, "partial order push", |e| {
        matches!(e, WsEvent::Order(o) if o.client_oid == o1 && o.status == OrderStatus::Partial)
    })
    .await;
    let WsEvent::Order(wo) = ev else {
        unreachable!()
    };
    assert_eq!(wo.filled_qty, d("0.003"));
    next_event(
        &mut rx,
        "partial fill push",
        |e| matches!(e, WsEvent::Fill(f) if f.qty == d("0.003") && f.price == d("59900")),
    )
    .await;

    // a later trade-through fills the rest at the limit
    s.push_price(SYM, 60_000.0);
    s.push_price(SYM, 59_800.0);
    let o = b.order(SYM, &o1).await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.filled_qty, o.avg_price),
        (OrderStatus::Filled, d("0.01"), Some(d("59900")))
    );
    // 0.010 × 59900 × 0.0002
    assert_eq!(o.fee, d("0.1198"));
    let fills = b.fills(SYM, None).await.unwrap();
    let mut q: Vec<Dec> = fills.iter().map(|f| f.qty).collect();
    q.sort_by_key(|x| x.to_string());
    assert_eq!(q, vec![d("0.003"), d("0.007")]);
    assert!(fills.iter().all(|f| f.maker && f.price == d("59900")));
    assert_eq!(b.positions(Some(SYM)).await.unwrap()[0].size, d("0.01"));
    next_event(&mut rx, "rest filled push", |e| {
        matches!(e, WsEvent::Order(o) if o.client_oid == o1 && o.status == OrderStatus::Filled && o.filled_qty == d("0.01"))
    })
    .await;
    // the fault is used up: the next limit fills whole; a one-lot remainder fills whole too
    let o2 = oid(OrderRole::Level(2), 1);
    b.place_order(&limit(&o2, Side::Buy, "0.001", "59700"))
        .await
        .unwrap();
    s.inject(PrivateFault::PartialFill {
        count: 1,
        fraction: 0.1,
    });
    s.push_price(SYM, 59_700.0);
    let o = b.order(SYM, &o2).await.unwrap().unwrap();
    assert_eq!((o.status, o.filled_qty), (OrderStatus::Filled, d("0.001")));
    stream.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_fills_classic() {
    partial_fills(SMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_fills_uta() {
    partial_fills(SMode::Uta).await;
}

async fn funding(mode: SMode) {
    const DAY: i64 = 86_400_000;
    let s = standin(mode);
    let b = connect_to(&s).await;
    s.push_price(SYM, 60_000.0);
    let now = scalp_core::types::now_ms();
    assert!(b.funding_payments(SYM, now - DAY).await.unwrap().is_empty());
    b.place_order(&market(&oid(OrderRole::Entry(1), 1), Side::Buy, "0.010"))
        .await
        .unwrap();
    let bal0 = s.balance();
    // a long pays a positive rate: 0.010 × 60000 × 0.0001 = 0.06; 45 days back (two windows)
    let t0 = now - 45 * DAY;
    assert!(close_to(s.settle_funding(SYM, 0.0001, t0), 0.06));
    assert!(close_to(s.balance(), bal0 - 0.06));
    // many more: more than one page
    for i in 1..=110 {
        s.settle_funding(SYM, 0.0001, now - 10 * DAY + i * 60_000);
    }
    // short receives a positive rate
    b.close_positions(SYM).await.unwrap();
    b.place_order(&market(&oid(OrderRole::Entry(2), 2), Side::Sell, "0.010"))
        .await
        .unwrap();
    s.push_price(SYM, 50_000.0);
    let t_short = now - 60_000;
    assert!(close_to(s.settle_funding(SYM, 0.0002, t_short), -0.1));
    let pays = b.funding_payments(SYM, now - 50 * DAY).await.unwrap();
    assert_eq!(pays.len(), 112, "every window and page");
    assert_eq!(
        (pays[0].amount, pays[0].time_ms, pays[0].symbol.as_str()),
        (d("0.06"), t0, SYM)
    );
    let last = pays.last().unwrap();
    assert_eq!((last.amount, last.time_ms), (d("-0.1"), t_short));
    assert!(pays.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
    let ids: std::collections::HashSet<&str> = pays.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), 112, "no duplicates");
    let total = pays.iter().fold(Dec::ZERO, |acc, p| acc.add(&p.amount));
    // 111 × 0.06 − 0.1
    assert_eq!(total, d("6.56"));
    // since: only the newer ones
    let recent = b.funding_payments(SYM, now - 5 * DAY).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert!(
        b.funding_payments("ETHUSDT", now - 50 * DAY)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.bills().len(), 112);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funding_payments_classic() {
    funding(SMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funding_payments_uta() {
    funding(SMode::Uta).await;
}
