//! The desired exchange book of one runner and its diff against the exchange (docs/LIVE.md).

use scalp_backtest::Engine;
use scalp_backtest::engine::Pending;
use scalp_broker::oid::{OrderRole, client_oid};
use scalp_broker::{
    BrokerError, ContractSpec, Dec, Order, OrderRequest, OrderType, PlanKind, PlanOrder,
    PlanRequest, PositionSide, PriceRounding, Side as XSide,
};
use scalp_strategy::{ExitReason, LevelId, Side};

/// What an order of the book is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Purpose {
    Level(LevelId),
    Entry,
    Close(ExitReason),
    TakeProfit,
}

/// One order the exchange must hold (or, for market orders, receive once).
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub purpose: Purpose,
    pub request: OrderRequest,
}

/// An entry the engine wants that cannot be sent, and why (below the contract minimum,
/// nothing to size).
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub purpose: Purpose,
    pub why: String,
}

/// The exchange's position of the symbol (one-way mode): side, size and average entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub side: PositionSide,
    pub size: Dec,
    pub entry: Dec,
}

/// Everything the exchange must hold for one runner after a step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    /// In sending order: closes, then entries, then levels, then the take-profit.
    pub orders: Vec<Wanted>,
    pub stop: Option<PlanRequest>,
    pub skipped: Vec<Skipped>,
}

/// Who the runner is and where it is in time: the clientOids are derived from these.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub strategy: &'a str,
    pub asset: &'a str,
    /// Open time of the candle just stepped (the one that decided the orders).
    pub candle_ms: i64,
    /// Its close: the reference price of market orders.
    pub last_close: f64,
    /// A position the strategy gave no stop is protected at this fraction of the way from its
    /// entry to the liquidation distance `1 / leverage` (docs/LIVE.md "Protection").
    pub protective_frac: f64,
}

fn dec(x: f64) -> Result<Dec, BrokerError> {
    Dec::parse(&format!("{x:.12}")).map_err(BrokerError::Client)
}

fn xside(s: Side) -> XSide {
    match s {
        Side::Long => XSide::Buy,
        Side::Short => XSide::Sell,
    }
}

fn pos_side(s: Side) -> PositionSide {
    match s {
        Side::Long => PositionSide::Long,
        Side::Short => PositionSide::Short,
    }
}

fn market(symbol: &str, oid: String, side: XSide, qty: Dec, reduce_only: bool) -> OrderRequest {
    OrderRequest {
        symbol: symbol.to_string(),
        client_oid: oid,
        side,
        order_type: OrderType::Market,
        qty,
        price: None,
        reduce_only,
        post_only: false,
    }
}

/// The book the exchange must hold after the engine's step. `held`: the exchange's position
/// now (the truth: closes and the stop are sized and priced on it).
pub fn desired(
    cx: &Ctx<'_>,
    engine: &Engine,
    spec: &ContractSpec,
    held: Option<&Held>,
) -> Result<Desired, BrokerError> {
    let st = engine.state();
    let sym = spec.symbol.as_str();
    let oid = |role| client_oid(cx.strategy, cx.asset, role, cx.candle_ms);
    let mut d = Desired::default();
    let ref_px = dec(cx.last_close)?;
    let mut closes = 0u32;
    // a reduce-only market order of the whole held size
    let mut close = |d: &mut Desired, reason: ExitReason, h: &Held| {
        d.orders.push(Wanted {
            purpose: Purpose::Close(reason),
            request: market(
                sym,
                client_oid(
                    cx.strategy,
                    cx.asset,
                    OrderRole::Close(closes),
                    cx.candle_ms,
                ),
                h.side.closing_side(),
                h.size,
                true,
            ),
        });
        closes += 1;
    };
    let mut entries = 0u32;
    // held after the queued market orders (an opposite entry closes first)
    let mut flat_after = held.is_none();
    for p in &st.pending {
        match *p {
            Pending::Close { reason } => {
                if let Some(h) = held {
                    close(&mut d, reason, h);
                    flat_after = true;
                }
            }
            Pending::Entry { side, margin_frac } => {
                if let Some(h) = held
                    && h.side != pos_side(side)
                    && !flat_after
                {
                    close(&mut d, ExitReason::Signal, h);
                }
                flat_after = false;
                let Some(q) = engine.entry_order_qty(side, cx.last_close, true, margin_frac) else {
                    d.skipped.push(Skipped {
                        purpose: Purpose::Entry,
                        why: "the engine sizes this entry at zero or below the minimum".into(),
                    });
                    continue;
                };
                match spec.round_order(xside(side), &dec(q)?, None, &ref_px, false) {
                    Ok(r) => {
                        d.orders.push(Wanted {
                            purpose: Purpose::Entry,
                            request: market(
                                sym,
                                oid(OrderRole::Entry(entries)),
                                xside(side),
                                r.qty,
                                false,
                            ),
                        });
                        entries += 1;
                    }
                    Err(e) => d.skipped.push(Skipped {
                        purpose: Purpose::Entry,
                        why: e.to_string(),
                    }),
                }
            }
        }
    }
    // Resting levels: not while entries are blocked, and only on the side of the position (a
    // level of the other side would reduce it in one-way mode; the engine ignores those too).
    let held_side = held.filter(|_| !flat_after).map(|h| h.side);
    if !st.entries_blocked && st.halt.is_none() {
        for l in &st.levels {
            if held_side.is_some_and(|s| s != pos_side(l.side)) {
                continue;
            }
            let purpose = Purpose::Level(l.id);
            let Some(q) = engine.entry_order_qty(l.side, l.price, false, l.margin_frac) else {
                d.skipped.push(Skipped {
                    purpose,
                    why: "the engine sizes this level at zero or below the minimum".into(),
                });
                continue;
            };
            let px = dec(l.price)?;
            match spec.round_order(xside(l.side), &dec(q)?, Some(&px), &px, false) {
                Ok(r) => d.orders.push(Wanted {
                    purpose,
                    request: OrderRequest {
                        symbol: sym.to_string(),
                        client_oid: oid(OrderRole::Level(l.id)),
                        side: xside(l.side),
                        order_type: OrderType::Limit,
                        qty: r.qty,
                        price: r.price,
                        reduce_only: false,
                        post_only: false,
                    },
                }),
                Err(e) => d.skipped.push(Skipped {
                    purpose,
                    why: e.to_string(),
                }),
            }
        }
    }
    // Take-profit and stop protect the position the exchange holds (and keeps holding).
    if let Some(h) = held.filter(|_| !flat_after) {
        if let Some(tp) = st.tp {
            let px = spec.round_price(&dec(tp)?, PriceRounding::for_take_profit(h.side))?;
            d.orders.push(Wanted {
                purpose: Purpose::TakeProfit,
                request: OrderRequest {
                    symbol: sym.to_string(),
                    client_oid: oid(OrderRole::TakeProfit(0)),
                    side: h.side.closing_side(),
                    order_type: OrderType::Limit,
                    qty: h.size,
                    price: Some(px),
                    reduce_only: true,
                    post_only: false,
                },
            });
        }
        d.stop = Some(stop_for(cx, engine, spec, h)?);
    }
    Ok(d)
}

/// The stop-loss plan of the held position: the strategy's stop, else the protective one.
pub fn stop_for(
    cx: &Ctx<'_>,
    engine: &Engine,
    spec: &ContractSpec,
    h: &Held,
) -> Result<PlanRequest, BrokerError> {
    let entry = h.entry.to_f64();
    let lev = engine.config().leverage.max(1.0);
    let raw = engine.state().stop.unwrap_or(match h.side {
        PositionSide::Long => entry * (1.0 - cx.protective_frac / lev),
        PositionSide::Short => entry * (1.0 + cx.protective_frac / lev),
    });
    let trigger = spec.round_price(&dec(raw)?, PriceRounding::for_stop_loss(h.side))?;
    Ok(PlanRequest {
        symbol: spec.symbol.clone(),
        client_oid: client_oid(cx.strategy, cx.asset, OrderRole::StopLoss(0), cx.candle_ms),
        kind: PlanKind::StopLoss,
        position_side: h.side,
        trigger_price: trigger,
    })
}

/// The role of one of this runner's clientOids (`None`: not ours — another runner's, another
/// program's or a manual order).
pub fn role_of(strategy: &str, asset: &str, oid: &str) -> Option<OrderRole> {
    let probe = client_oid(strategy, asset, OrderRole::Entry(0), 0);
    // `sr-<12 hex>-`: the runner's prefix
    let prefix = &probe[..16];
    let rest = oid.strip_prefix(prefix)?;
    let (_, tail) = rest.split_once('-')?;
    let (tag, n) = tail.split_at(1);
    let n = u32::from_str_radix(n, 36).ok()?;
    Some(match tag {
        "l" => OrderRole::Level(n),
        "e" => OrderRole::Entry(n),
        "c" => OrderRole::Close(n),
        "s" => OrderRole::StopLoss(n),
        "t" => OrderRole::TakeProfit(n),
        _ => return None,
    })
}

/// One change to make at the exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Cancel { client_oid: String },
    Place(Wanted),
    CancelPlan(PlanOrder),
    PlacePlan(PlanRequest),
}

/// What the diff found besides the actions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diff {
    /// In this order: cancels of ours that are no longer wanted, market orders, placements,
    /// then the stop (cancel the old plan after placing the new one is not possible on a
    /// position-wide stop: the old one goes first).
    pub actions: Vec<Action>,
    /// Open orders that are not this runner's (left alone, reported).
    pub foreign: Vec<String>,
}

fn same(w: &OrderRequest, o: &Order) -> bool {
    w.side == o.side
        && w.order_type == o.order_type
        && w.reduce_only == o.reduce_only
        && w.price == o.price
        && o.qty.sub(&o.filled_qty) == w.qty
}

/// Roles that name the same order of the book: a level by its id; the take-profit whatever its
/// re-arm sequence (each re-arm takes a fresh clientOid).
fn same_role(a: OrderRole, b: OrderRole) -> bool {
    match (a, b) {
        (OrderRole::TakeProfit(_), OrderRole::TakeProfit(_)) => true,
        _ => a == b,
    }
}

/// The actions that make the exchange hold `want`: an open order of ours that equals a wanted
/// one (same role, side, price and unfilled quantity) stays, whatever candle named it; every
/// other order of ours is cancelled; wanted orders without a match are placed; the position
/// stop is replaced only when its trigger changes.
pub fn diff(
    strategy: &str,
    asset: &str,
    want: &Desired,
    open: &[Order],
    plans: &[PlanOrder],
) -> Diff {
    let mut out = Diff::default();
    let mut kept = vec![false; want.orders.len()];
    for o in open {
        let Some(role) = role_of(strategy, asset, &o.client_oid) else {
            out.foreign.push(o.client_oid.clone());
            continue;
        };
        let m = want.orders.iter().enumerate().position(|(k, w)| {
            !kept[k]
                && w.request.order_type == OrderType::Limit
                && role_of(strategy, asset, &w.request.client_oid)
                    .is_some_and(|r| same_role(r, role))
                && same(&w.request, o)
        });
        match m {
            Some(k) => kept[k] = true,
            None => out.actions.push(Action::Cancel {
                client_oid: o.client_oid.clone(),
            }),
        }
    }
    for (k, w) in want.orders.iter().enumerate() {
        if !kept[k] {
            out.actions.push(Action::Place(w.clone()));
        }
    }
    let live: Vec<&PlanOrder> = plans
        .iter()
        .filter(|p| p.kind == PlanKind::StopLoss && !p.state().is_final())
        .collect();
    match &want.stop {
        Some(s) => {
            let ok = live
                .iter()
                .any(|p| p.trigger_price == s.trigger_price && p.position_side == s.position_side);
            if !ok {
                for p in &live {
                    out.actions.push(Action::CancelPlan((*p).clone()));
                }
                out.actions.push(Action::PlacePlan(s.clone()));
            }
        }
        None => {
            for p in &live {
                out.actions.push(Action::CancelPlan((*p).clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalp_backtest::engine::Level;
    use scalp_backtest::{BacktestConfig, EngineState};
    use scalp_broker::{OrderStatus, oid::is_valid_client_oid};
    use scalp_core::Timeframe;

    fn spec() -> ContractSpec {
        ContractSpec {
            symbol: "BTCUSDT".into(),
            lot_step: Dec::parse("0.001").unwrap(),
            min_qty: Dec::parse("0.001").unwrap(),
            tick: Dec::parse("0.1").unwrap(),
            price_places: 1,
            qty_places: 3,
            min_notional: Dec::parse("5").unwrap(),
            max_leverage: 125,
            min_leverage: 1,
            maker_fee_rate: Dec::parse("0.0002").unwrap(),
            taker_fee_rate: Dec::parse("0.0006").unwrap(),
            tradable: true,
            status: "normal".into(),
        }
    }

    fn engine(f: impl FnOnce(&mut EngineState)) -> Engine {
        let cfg = BacktestConfig::default();
        let mut st = Engine::new(cfg.clone(), Timeframe::H1, 0)
            .unwrap()
            .state()
            .clone();
        f(&mut st);
        Engine::resume(cfg, Timeframe::H1, st).unwrap()
    }

    const CX: Ctx<'static> = Ctx {
        strategy: "grid_atr",
        asset: "BTC",
        candle_ms: 1_700_000_000_000,
        last_close: 50_000.0,
        protective_frac: 0.8,
    };

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    fn level(id: u32, side: Side, price: f64) -> Level {
        Level {
            id,
            side,
            price,
            margin_frac: 0.2,
        }
    }

    fn as_open(w: &Wanted) -> Order {
        Order {
            order_id: "1".into(),
            // named by an earlier candle: the match is on role, side, price and quantity
            client_oid: w.request.client_oid.replacen(
                &w.request.client_oid[16..w.request.client_oid.rfind('-').unwrap()],
                "zzzzzz",
                1,
            ),
            symbol: "BTCUSDT".into(),
            side: w.request.side,
            order_type: w.request.order_type,
            qty: w.request.qty,
            price: w.request.price,
            filled_qty: Dec::ZERO,
            avg_price: None,
            status: OrderStatus::Open,
            reduce_only: w.request.reduce_only,
            fee: Dec::ZERO,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn flat_book_rounds_names_and_orders_every_order() {
        let e = engine(|s| {
            s.levels = vec![
                level(1, Side::Long, 49_000.04),
                level(2, Side::Long, 48_000.0),
            ];
            s.pending = vec![Pending::Entry {
                side: Side::Long,
                margin_frac: 0.1,
            }];
            s.stop = Some(47_000.0);
        });
        let b = desired(&CX, &e, &spec(), None).unwrap();
        assert_eq!(b.orders.len(), 3, "{b:?}");
        assert_eq!(b.orders[0].purpose, Purpose::Entry);
        assert_eq!(b.orders[0].request.order_type, OrderType::Market);
        // sized as the engine would fill it: 0.1 × 1000 × 3 / (50000 × 1.0005), floored to lots
        assert_eq!(b.orders[0].request.qty, d("0.005"));
        assert_eq!(b.orders[1].purpose, Purpose::Level(1));
        // a buy's limit rounds down to the tick
        assert_eq!(b.orders[1].request.price, Some(d("49000")));
        assert!(
            b.orders
                .iter()
                .all(|w| is_valid_client_oid(&w.request.client_oid))
        );
        for w in &b.orders {
            let role = role_of("grid_atr", "BTC", &w.request.client_oid).unwrap();
            match w.purpose {
                Purpose::Level(id) => assert_eq!(role, OrderRole::Level(id)),
                Purpose::Entry => assert_eq!(role, OrderRole::Entry(0)),
                _ => unreachable!(),
            }
        }
        // no position at the exchange yet: no stop to arm (it is armed on the first fill)
        assert_eq!(b.stop, None);
        assert_eq!(
            role_of("grid_trend", "BTC", &b.orders[1].request.client_oid),
            None
        );
    }

    #[test]
    fn a_held_position_gets_its_take_profit_stop_and_only_its_sides_levels() {
        let held = Held {
            side: PositionSide::Long,
            size: d("0.012"),
            entry: d("50000"),
        };
        let e = engine(|s| {
            s.levels = vec![
                level(1, Side::Long, 49_000.0),
                level(7, Side::Short, 52_000.0),
            ];
            s.tp = Some(51_000.06);
        });
        let b = desired(&CX, &e, &spec(), Some(&held)).unwrap();
        let purposes: Vec<Purpose> = b.orders.iter().map(|w| w.purpose).collect();
        assert_eq!(purposes, vec![Purpose::Level(1), Purpose::TakeProfit]);
        let tp = &b.orders[1].request;
        assert!(tp.reduce_only);
        assert_eq!(tp.qty, d("0.012"));
        assert_eq!(tp.side, XSide::Sell);
        assert_eq!(
            tp.price,
            Some(d("51000")),
            "a long's take-profit rounds down"
        );
        // no strategy stop: the protective one, 0.8 of the 1/3 liquidation distance below
        let s = b.stop.unwrap();
        assert_eq!(
            s.trigger_price,
            d("36666.7"),
            "a long's stop rounds up (tighter)"
        );
        assert_eq!(s.kind, PlanKind::StopLoss);

        // a queued close sells what the exchange holds, reduce-only, and nothing rests after it
        let e = engine(|s| {
            s.levels = vec![level(1, Side::Long, 49_000.0)];
            s.pending = vec![Pending::Close {
                reason: ExitReason::Signal,
            }];
        });
        let b = desired(&CX, &e, &spec(), Some(&held)).unwrap();
        assert_eq!(b.orders[0].purpose, Purpose::Close(ExitReason::Signal));
        assert!(b.orders[0].request.reduce_only);
        assert_eq!(b.orders[0].request.qty, d("0.012"));
        assert_eq!(b.stop, None);

        // entries blocked (kill switch): no level rests
        let mut e = engine(|s| s.levels = vec![level(1, Side::Long, 49_000.0)]);
        e.block_entries(true);
        assert!(desired(&CX, &e, &spec(), None).unwrap().orders.is_empty());
    }

    #[test]
    fn diff_keeps_what_matches_replaces_what_moved_and_leaves_foreign_orders() {
        let held = Held {
            side: PositionSide::Long,
            size: d("0.012"),
            entry: d("50000"),
        };
        let e = engine(|s| {
            s.levels = vec![
                level(1, Side::Long, 49_000.0),
                level(2, Side::Long, 48_000.0),
            ];
            s.stop = Some(47_000.0);
        });
        let want = desired(&CX, &e, &spec(), Some(&held)).unwrap();
        let mut open: Vec<Order> = want.orders.iter().map(as_open).collect();
        let stop = want.stop.clone().unwrap();
        let mut plans = vec![PlanOrder {
            order_id: "9".into(),
            client_oid: stop.client_oid.clone(),
            symbol: "BTCUSDT".into(),
            kind: PlanKind::StopLoss,
            position_side: PositionSide::Long,
            trigger_price: stop.trigger_price,
            status: "live".into(),
            created_ms: 0,
            updated_ms: 0,
        }];
        let same = diff("grid_atr", "BTC", &want, &open, &plans);
        assert_eq!(same.actions, vec![], "an equal book is left alone");

        // level 2 moved, a manual order is there, the stop moved
        open[1].price = Some(d("47000"));
        open.push(Order {
            client_oid: "manual-1".into(),
            ..open[0].clone()
        });
        plans[0].trigger_price = d("46000");
        let x = diff("grid_atr", "BTC", &want, &open, &plans);
        assert_eq!(x.foreign, vec!["manual-1".to_string()]);
        assert_eq!(
            x.actions,
            vec![
                Action::Cancel {
                    client_oid: open[1].client_oid.clone()
                },
                Action::Place(want.orders[1].clone()),
                Action::CancelPlan(plans[0].clone()),
                Action::PlacePlan(stop.clone()),
            ]
        );
        // a stop that is final (executed, failed) does not protect: a new one is placed
        plans[0].trigger_price = stop.trigger_price;
        plans[0].status = "fail_trigger".into();
        let x = diff("grid_atr", "BTC", &want, &open[..2], &plans);
        assert!(x.actions.contains(&Action::PlacePlan(stop)));
    }
}
