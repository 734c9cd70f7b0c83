//! The UTA v3 dialect (`/api/v3/*`, exchanges-private.md §6), one-way mode. `marginMode` goes
//! on every order and on set-leverage (leverage is stored per symbol *and* margin mode, §6.4).

use crate::broker::Core;
use crate::model::*;
use crate::rest::Retry;
use crate::{BrokerError, ContractSpec, Dec};
use serde_json::{Value, json};

fn cat(core: &Core) -> String {
    core.cfg().product_type.clone()
}

fn places(path: &str, r: &Row, f: &str) -> Result<u32, BrokerError> {
    r.str(f)?.parse().map_err(|_| BrokerError::Parse {
        endpoint: path.into(),
        field: f.into(),
        value: r.opt_str(f).unwrap_or_default(),
        why: "not an integer".into(),
    })
}

pub(crate) async fn contracts(
    core: &Core,
    symbol: Option<&str>,
) -> Result<Vec<ContractSpec>, BrokerError> {
    let path = "/api/v3/market/instruments";
    let mut q = vec![("category", cat(core))];
    if let Some(s) = symbol {
        q.push(("symbol", s.to_string()));
    }
    let data = core.rest.get_public(path, &q).await?;
    list(&data, "")
        .iter()
        .map(|v| {
            let r = Row::new(path, v);
            let price_places = places(path, &r, "pricePrecision")?;
            let qty_places = places(path, &r, "quantityPrecision")?;
            let status = r.opt_str("status").unwrap_or_default();
            Ok(ContractSpec {
                symbol: r.str("symbol")?,
                lot_step: match r.opt_dec("quantityMultiplier")? {
                    Some(l) if l.is_positive() => l,
                    _ => Dec::unit(qty_places),
                },
                min_qty: r.dec("minOrderQty")?,
                tick: match r.opt_dec("priceMultiplier")? {
                    Some(t) if t.is_positive() => t,
                    _ => Dec::unit(price_places),
                },
                price_places,
                qty_places,
                min_notional: r.dec_or_zero("minOrderAmount")?,
                max_leverage: r
                    .opt_str("maxLeverage")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1),
                min_leverage: r
                    .opt_str("minLeverage")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1),
                maker_fee_rate: r.dec_or_zero("makerFeeRate")?,
                taker_fee_rate: r.dec_or_zero("takerFeeRate")?,
                tradable: status == "online",
                status,
            })
        })
        .collect()
}

pub(crate) async fn balance(core: &Core) -> Result<Balance, BrokerError> {
    let path = "/api/v3/account/assets";
    let data = core.rest.get(path, &[]).await?;
    let r = Row::new(path, &data);
    let coin = &core.cfg().margin_coin;
    let mut available = Dec::ZERO;
    for a in list(&data, "assets") {
        let ar = Row::new(path, a);
        if ar.opt_str("coin").as_deref() == Some(coin.as_str()) {
            available = ar.dec_or_zero("available")?;
        }
    }
    Ok(Balance {
        equity: r.dec_or_zero("usdtEquity")?,
        available,
    })
}

pub(crate) async fn set_margin_mode(
    core: &Core,
    symbol: &str,
    mode: MarginMode,
) -> Result<(), BrokerError> {
    if mode == core.cfg().margin_mode {
        Ok(())
    } else {
        Err(BrokerError::InvalidOrder {
            symbol: symbol.into(),
            why: format!(
                "UTA has no per-symbol margin-mode endpoint: the mode travels on every order; configure margin_mode = {} instead of switching at run time",
                mode.wire()
            ),
        })
    }
}

pub(crate) async fn set_position_mode(core: &Core, mode: PositionMode) -> Result<(), BrokerError> {
    core.rest
        .post(
            "/api/v3/account/set-hold-mode",
            &json!({"holdMode": mode.wire()}),
            Retry::Safe,
        )
        .await
        .map(|_| ())
}

pub(crate) async fn set_leverage(core: &Core, symbol: &str, lev: u32) -> Result<(), BrokerError> {
    let body = json!({"category": cat(core), "symbol": symbol, "leverage": lev.to_string(),
                      "marginMode": core.cfg().margin_mode.wire()});
    core.rest
        .post("/api/v3/account/set-leverage", &body, Retry::Safe)
        .await
        .map(|_| ())
}

fn order_body(core: &Core, r: &OrderRequest) -> Value {
    let mut b = json!({
        "category": cat(core), "symbol": r.symbol, "side": r.side.wire(),
        "orderType": match r.order_type { OrderType::Limit => "limit", OrderType::Market => "market" },
        "qty": r.qty.to_string(), "marginMode": core.cfg().margin_mode.wire(), "clientOid": r.client_oid,
    });
    if let (OrderType::Limit, Some(p)) = (r.order_type, r.price) {
        b["price"] = json!(p.to_string());
        b["timeInForce"] = json!(if r.post_only { "post_only" } else { "gtc" });
    }
    if r.reduce_only {
        b["reduceOnly"] = json!("yes");
    }
    b
}

pub(crate) async fn place_raw(core: &Core, r: &OrderRequest) -> Result<OrderAck, BrokerError> {
    let path = "/api/v3/trade/place-order";
    let data = core
        .rest
        .post(path, &order_body(core, r), Retry::Once)
        .await?;
    let row = Row::new(path, &data);
    Ok(OrderAck {
        order_id: row.opt_str("orderId"),
        client_oid: row
            .opt_str("clientOid")
            .unwrap_or_else(|| r.client_oid.clone()),
        already_placed: false,
    })
}

pub(crate) async fn batch_raw(
    core: &Core,
    _symbol: &str,
    reqs: &[OrderRequest],
) -> Result<Vec<Result<OrderAck, BrokerError>>, BrokerError> {
    let path = "/api/v3/trade/place-batch";
    // a bare top-level array (§6.1); reduceOnly is "currently not supported" in batch items
    let body = Value::Array(reqs.iter().map(|r| order_body(core, r)).collect());
    let data = core.rest.post(path, &body, Retry::Once).await?;
    let items = list(&data, "");
    Ok(reqs
        .iter()
        .map(|r| {
            let it = items.iter().find(|v| {
                Row::new(path, v).opt_str("clientOid").as_deref() == Some(r.client_oid.as_str())
            });
            match it {
                Some(v) => {
                    let row = Row::new(path, v);
                    match row.opt_str("code") {
                        Some(c) if c != "00000" && c != "0" => Err(BrokerError::from_code(
                            path,
                            &c,
                            &row.opt_str("msg").unwrap_or_default(),
                        )),
                        _ => Ok(OrderAck {
                            order_id: row.opt_str("orderId"),
                            client_oid: r.client_oid.clone(),
                            already_placed: false,
                        }),
                    }
                }
                None => Err(BrokerError::Unavailable {
                    endpoint: path.into(),
                    attempts: 1,
                    last: format!("`{}` missing from the batch answer", r.client_oid),
                    maybe_landed: true,
                }),
            }
        })
        .collect())
}

pub(crate) async fn cancel(
    core: &Core,
    _symbol: &str,
    client_oid: &str,
) -> Result<(), BrokerError> {
    let body = json!({"clientOid": client_oid, "category": cat(core)});
    core.rest
        .post("/api/v3/trade/cancel-order", &body, Retry::Safe)
        .await
        .map(|_| ())
}

/// A v3 order (REST order-info / unfilled-orders item, or WS `order` push).
pub(crate) fn parse_order(path: &str, v: &Value) -> Result<Order, BrokerError> {
    let r = Row::new(path, v);
    // v3 fees are positive when paid
    let (fee, _) = r.fee_detail("fee")?;
    Ok(Order {
        order_id: r.str("orderId")?,
        client_oid: r.opt_str("clientOid").unwrap_or_default(),
        symbol: r.str("symbol")?,
        side: r.side("side")?,
        order_type: r.order_type("orderType")?,
        qty: r.dec("qty")?,
        price: r.opt_dec("price")?.filter(|p| p.is_positive()),
        filled_qty: r.dec_or_zero("cumExecQty")?,
        avg_price: r.opt_dec("avgPrice")?.filter(|p| p.is_positive()),
        status: r.status(&["orderStatus"])?,
        reduce_only: r.yes("reduceOnly"),
        fee: fee.abs(),
        created_ms: r.ms("createdTime")?,
        updated_ms: r.ms("updatedTime")?,
    })
}

pub(crate) async fn order(
    core: &Core,
    _symbol: &str,
    client_oid: &str,
) -> Result<Option<Order>, BrokerError> {
    let path = "/api/v3/trade/order-info";
    match core
        .rest
        .get(path, &[("clientOid", client_oid.to_string())])
        .await
    {
        Ok(d) if d.is_null() => Ok(None),
        Ok(d) => parse_order(path, &d).map(Some),
        Err(BrokerError::OrderNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) async fn open_orders(
    core: &Core,
    symbol: Option<&str>,
) -> Result<Vec<Order>, BrokerError> {
    let path = "/api/v3/trade/unfilled-orders";
    let mut q = vec![("category", cat(core))];
    if let Some(s) = symbol {
        q.push(("symbol", s.to_string()));
    }
    q.push(("limit", "100".into()));
    let data = core.rest.get(path, &q).await?;
    list(&data, "list")
        .iter()
        .map(|v| parse_order(path, v))
        .collect()
}

pub(crate) fn parse_position(path: &str, v: &Value) -> Result<Option<Position>, BrokerError> {
    let r = Row::new(path, v);
    // REST `total`, WS `size`; a closed one may come as size 0 / positionStatus ended
    let size = match r.opt_dec("total")? {
        Some(t) => t,
        None => r.dec_or_zero("size")?,
    };
    if !size.is_positive() {
        return Ok(None);
    }
    Ok(Some(Position {
        symbol: r.str("symbol")?,
        side: r.pos_side("posSide")?,
        size,
        entry_price: r.dec_or_zero("avgPrice")?,
        leverage: r.dec_or_zero("leverage")?,
        margin_mode: r.margin_mode("marginMode"),
        unrealized_pnl: r.dec_or_zero("unrealisedPnl")?,
        liquidation_price: match r.opt_dec("liquidationPrice")? {
            Some(p) => Some(p),
            None => r.opt_dec("liqPrice")?,
        }
        .filter(|p| p.is_positive()),
    }))
}

pub(crate) async fn positions(
    core: &Core,
    symbol: Option<&str>,
) -> Result<Vec<Position>, BrokerError> {
    let path = "/api/v3/position/current-position";
    let mut q = vec![("category", cat(core))];
    if let Some(s) = symbol {
        q.push(("symbol", s.to_string()));
    }
    let data = core.rest.get(path, &q).await?;
    let mut out = Vec::new();
    for v in list(&data, "list") {
        if let Some(p) = parse_position(path, v)?
            && symbol.is_none_or(|s| s == p.symbol)
        {
            out.push(p);
        }
    }
    Ok(out)
}

/// A v3 fill (REST `list` item or WS `fill` push, whose time key is `execTime`).
pub(crate) fn parse_fill(path: &str, v: &Value) -> Result<Fill, BrokerError> {
    let r = Row::new(path, v);
    let (fee, coin) = r.fee_detail("fee")?;
    let t = match r.opt_str("execTime") {
        Some(_) => r.ms("execTime")?,
        None => r.ms("createdTime")?,
    };
    Ok(Fill {
        trade_id: r.str("execId")?,
        order_id: r.str("orderId")?,
        client_oid: r.opt_str("clientOid"),
        symbol: r.str("symbol")?,
        side: r.side("side")?,
        price: r.dec("execPrice")?,
        qty: r.dec("execQty")?,
        fee: fee.abs(),
        fee_coin: coin,
        realized_pnl: r.dec_or_zero("execPnl")?,
        maker: r
            .opt_str("tradeScope")
            .is_some_and(|s| s.eq_ignore_ascii_case("maker")),
        time_ms: t,
    })
}

pub(crate) async fn fills(
    core: &Core,
    symbol: &str,
    order_id: Option<&str>,
) -> Result<Vec<Fill>, BrokerError> {
    let path = "/api/v3/trade/fills";
    let mut q = vec![("category", cat(core))];
    if let Some(o) = order_id {
        q.push(("orderId", o.to_string()));
    }
    q.push(("limit", "100".into()));
    let data = core.rest.get(path, &q).await?;
    // no symbol filter on the endpoint: filter here
    list(&data, "list")
        .iter()
        .map(|v| parse_fill(path, v))
        .filter(|f| f.as_ref().map_or(true, |f| f.symbol == symbol))
        .collect()
}

pub(crate) async fn place_plan_raw(core: &Core, p: &PlanRequest) -> Result<OrderAck, BrokerError> {
    let path = "/api/v3/trade/place-strategy-order";
    let mut body = json!({
        "category": cat(core), "symbol": p.symbol, "type": "tpsl", "tpslMode": "full",
        "posSide": p.position_side.wire(), "clientOid": p.client_oid,
    });
    match p.kind {
        PlanKind::StopLoss => {
            body["stopLoss"] = json!(p.trigger_price.to_string());
            body["slTriggerBy"] = json!("mark");
            body["slOrderType"] = json!("market");
        }
        PlanKind::TakeProfit => {
            body["takeProfit"] = json!(p.trigger_price.to_string());
            body["tpTriggerBy"] = json!("mark");
            body["tpOrderType"] = json!("market");
        }
    }
    let data = core.rest.post(path, &body, Retry::Once).await?;
    Ok(OrderAck {
        order_id: Row::new(path, &data).opt_str("orderId"),
        client_oid: p.client_oid.clone(),
        already_placed: false,
    })
}

pub(crate) async fn plan_orders(core: &Core, symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
    let path = "/api/v3/trade/unfilled-strategy-orders";
    let q = [("category", cat(core)), ("type", "tpsl".to_string())];
    let data = core.rest.get(path, &q).await?;
    // a bare array (§6.5); tolerate `{list: […]}` too
    let items = if data.is_array() {
        list(&data, "")
    } else {
        list(&data, "list")
    };
    parse_plans(path, items, symbol)
}

/// Strategy-order rows of `symbol` (no symbol filter on the endpoints).
fn parse_plans(path: &str, items: &[Value], symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
    let mut out = Vec::new();
    for v in items {
        let r = Row::new(path, v);
        if r.opt_str("symbol").as_deref() != Some(symbol) {
            continue;
        }
        let (kind, trigger) = match (r.opt_dec("stopLoss")?, r.opt_dec("takeProfit")?) {
            (Some(sl), _) => (PlanKind::StopLoss, sl),
            (None, Some(tp)) => (PlanKind::TakeProfit, tp),
            (None, None) => continue,
        };
        out.push(PlanOrder {
            order_id: r.str("orderId")?,
            client_oid: r.opt_str("clientOid").unwrap_or_default(),
            symbol: symbol.to_string(),
            kind,
            position_side: r.pos_side("posSide")?,
            trigger_price: trigger,
            status: r.opt_str("status").unwrap_or_default(),
            created_ms: r.ms("createdTime")?,
            updated_ms: r.ms("updatedTime")?,
        });
    }
    Ok(out)
}

pub(crate) async fn plan_history(core: &Core, symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
    let path = "/api/v3/trade/history-strategy-orders";
    let q = [
        ("category", cat(core)),
        ("type", "tpsl".to_string()),
        ("limit", "100".to_string()),
    ];
    let data = core.rest.get(path, &q).await?;
    // `data.list` (+ `cursor`); tolerate a bare array as in the unfilled list
    parse_plans(
        path,
        if data.is_array() {
            list(&data, "")
        } else {
            list(&data, "list")
        },
        symbol,
    )
}

/// Funding records (`CONTRACT_MAIN_SETTLE_FEE_USER_IN/OUT`) in `[start, end]` (≤ 30 days),
/// every page (`cursor`). Fetched without a `type` filter (one type per request; a v2-style
/// value gets 40020) and filtered here. The direction comes from the type (OUT = paid), the
/// size from `|amount|`, whichever sign the wire uses.
pub(crate) async fn funding_window(
    core: &Core,
    start: i64,
    end: i64,
) -> Result<Vec<FundingPayment>, BrokerError> {
    let path = "/api/v3/account/financial-records";
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![
            ("category", cat(core)),
            ("coin", core.cfg().margin_coin.clone()),
            ("startTime", start.to_string()),
            ("endTime", end.to_string()),
            ("limit", "100".to_string()),
        ];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let data = core.rest.get(path, &q).await?;
        let rows = list(&data, "list");
        for v in rows {
            let r = Row::new(path, v);
            let paid = match r.opt_str("type").as_deref() {
                Some("CONTRACT_MAIN_SETTLE_FEE_USER_OUT") => true,
                Some("CONTRACT_MAIN_SETTLE_FEE_USER_IN") => false,
                _ => continue,
            };
            let amt = r.dec("amount")?.abs();
            out.push(FundingPayment {
                id: r.str("id")?,
                symbol: r.opt_str("symbol").unwrap_or_default(),
                amount: if paid { amt } else { amt.neg() },
                time_ms: r.ms("ts")?,
            });
        }
        let next = Row::new(path, &data).opt_str("cursor");
        if rows.len() < 100 || next.is_none() || next == cursor {
            break;
        }
        cursor = next;
    }
    Ok(out)
}

pub(crate) async fn cancel_plan(
    core: &Core,
    _symbol: &str,
    plan: &PlanOrder,
) -> Result<bool, BrokerError> {
    core.rest
        .post(
            "/api/v3/trade/cancel-strategy-order",
            &json!({"orderId": plan.order_id}),
            Retry::Safe,
        )
        .await
        .map(|_| true)
}

pub(crate) async fn close_positions(core: &Core, symbol: &str) -> Result<Vec<String>, BrokerError> {
    let path = "/api/v3/trade/close-positions";
    let body = json!({"category": cat(core), "symbol": symbol});
    let data = core.rest.post(path, &body, Retry::Safe).await?;
    Ok(list(&data, "list")
        .iter()
        .filter_map(|v| Row::new(path, v).opt_str("orderId"))
        .collect())
}
