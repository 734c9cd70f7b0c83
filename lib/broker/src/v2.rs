//! The Classic v2 dialect (`/api/v2/mix/*`, exchanges-private.md §1), one-way mode.

use crate::broker::Core;
use crate::model::*;
use crate::rest::Retry;
use crate::{BrokerError, ContractSpec, Dec};
use serde_json::{Value, json};

fn pt(core: &Core) -> String {
    core.cfg().product_type.clone()
}

pub(crate) async fn contracts(
    core: &Core,
    symbol: Option<&str>,
) -> Result<Vec<ContractSpec>, BrokerError> {
    let path = "/api/v2/mix/market/contracts";
    let mut q = vec![("productType", pt(core))];
    if let Some(s) = symbol {
        q.push(("symbol", s.to_string()));
    }
    let data = core.rest.get_public(path, &q).await?;
    list(&data, "")
        .iter()
        .map(|v| {
            let r = Row::new(path, v);
            let price_places: u32 =
                r.str("pricePlace")?
                    .parse()
                    .map_err(|_| BrokerError::Parse {
                        endpoint: path.into(),
                        field: "pricePlace".into(),
                        value: r.opt_str("pricePlace").unwrap_or_default(),
                        why: "not an integer".into(),
                    })?;
            let qty_places: u32 =
                r.str("volumePlace")?
                    .parse()
                    .map_err(|_| BrokerError::Parse {
                        endpoint: path.into(),
                        field: "volumePlace".into(),
                        value: r.opt_str("volumePlace").unwrap_or_default(),
                        why: "not an integer".into(),
                    })?;
            let end_step = r.opt_dec("priceEndStep")?.unwrap_or(Dec::from_int(1));
            let tick = end_step.mul(&Dec::unit(price_places));
            let lot = match r.opt_dec("sizeMultiplier")? {
                Some(l) if l.is_positive() => l,
                _ => Dec::unit(qty_places),
            };
            let status = r.opt_str("symbolStatus").unwrap_or_default();
            Ok(ContractSpec {
                symbol: r.str("symbol")?,
                lot_step: lot,
                min_qty: r.dec("minTradeNum")?,
                tick,
                price_places,
                qty_places,
                min_notional: r.dec_or_zero("minTradeUSDT")?,
                max_leverage: r
                    .opt_str("maxLever")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1),
                min_leverage: r
                    .opt_str("minLever")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1),
                maker_fee_rate: r.dec_or_zero("makerFeeRate")?,
                taker_fee_rate: r.dec_or_zero("takerFeeRate")?,
                tradable: status == "normal",
                status,
            })
        })
        .collect()
}

pub(crate) async fn balance(core: &Core) -> Result<Balance, BrokerError> {
    let path = "/api/v2/mix/account/accounts";
    let data = core.rest.get(path, &[("productType", pt(core))]).await?;
    let coin = &core.cfg().margin_coin;
    for v in list(&data, "") {
        let r = Row::new(path, v);
        if r.opt_str("marginCoin").as_deref() == Some(coin.as_str()) {
            return Ok(Balance {
                equity: r.dec_or_zero("accountEquity")?,
                available: match r.opt_dec("crossedMaxAvailable")? {
                    Some(a) => a,
                    None => r.dec_or_zero("available")?,
                },
            });
        }
    }
    Ok(Balance {
        equity: Dec::ZERO,
        available: Dec::ZERO,
    })
}

pub(crate) async fn set_margin_mode(
    core: &Core,
    symbol: &str,
    mode: MarginMode,
) -> Result<(), BrokerError> {
    let body = json!({"symbol": symbol, "productType": pt(core), "marginCoin": core.cfg().margin_coin, "marginMode": mode.wire()});
    core.rest
        .post("/api/v2/mix/account/set-margin-mode", &body, Retry::Safe)
        .await
        .map(|_| ())
}

pub(crate) async fn set_position_mode(core: &Core, mode: PositionMode) -> Result<(), BrokerError> {
    let body = json!({"productType": pt(core), "posMode": mode.wire()});
    core.rest
        .post("/api/v2/mix/account/set-position-mode", &body, Retry::Safe)
        .await
        .map(|_| ())
}

pub(crate) async fn set_leverage(core: &Core, symbol: &str, lev: u32) -> Result<(), BrokerError> {
    let body = json!({"symbol": symbol, "productType": pt(core), "marginCoin": core.cfg().margin_coin, "leverage": lev.to_string()});
    match core
        .rest
        .post("/api/v2/mix/account/set-leverage", &body, Retry::Safe)
        .await
    {
        Ok(_) => Ok(()),
        // "No change in leverage"
        Err(e) if matches!(e.code(), Some("40814") | Some("45054")) => Ok(()),
        Err(e) => Err(e),
    }
}

fn order_body(core: &Core, r: &OrderRequest) -> Value {
    let mut b = json!({
        "symbol": r.symbol, "productType": pt(core), "marginMode": core.cfg().margin_mode.wire(),
        "marginCoin": core.cfg().margin_coin, "size": r.qty.to_string(), "side": r.side.wire(),
        "orderType": match r.order_type { OrderType::Limit => "limit", OrderType::Market => "market" },
        "clientOid": r.client_oid, "reduceOnly": if r.reduce_only { "YES" } else { "NO" },
    });
    if let (OrderType::Limit, Some(p)) = (r.order_type, r.price) {
        b["price"] = json!(p.to_string());
        b["force"] = json!(if r.post_only { "post_only" } else { "gtc" });
    }
    b
}

pub(crate) async fn place_raw(core: &Core, r: &OrderRequest) -> Result<OrderAck, BrokerError> {
    let data = core
        .rest
        .post(
            "/api/v2/mix/order/place-order",
            &order_body(core, r),
            Retry::Once,
        )
        .await?;
    let row = Row::new("/api/v2/mix/order/place-order", &data);
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
    symbol: &str,
    reqs: &[OrderRequest],
) -> Result<Vec<Result<OrderAck, BrokerError>>, BrokerError> {
    let path = "/api/v2/mix/order/batch-place-order";
    let items: Vec<Value> = reqs
        .iter()
        .map(|r| {
            let mut b = order_body(core, r);
            let o = b.as_object_mut().unwrap();
            for k in ["symbol", "productType", "marginMode", "marginCoin"] {
                o.remove(k);
            }
            b
        })
        .collect();
    let body = json!({"symbol": symbol, "productType": pt(core), "marginCoin": core.cfg().margin_coin,
                      "marginMode": core.cfg().margin_mode.wire(), "orderList": items});
    let data = core.rest.post(path, &body, Retry::Once).await?;
    let mut ok = std::collections::HashMap::new();
    for v in list(&data, "successList") {
        let r = Row::new(path, v);
        if let Some(c) = r.opt_str("clientOid") {
            ok.insert(c, r.opt_str("orderId"));
        }
    }
    let mut bad = std::collections::HashMap::new();
    for v in list(&data, "failureList") {
        let r = Row::new(path, v);
        if let Some(c) = r.opt_str("clientOid") {
            bad.insert(
                c,
                BrokerError::from_code(
                    path,
                    &r.opt_str("errorCode").unwrap_or_default(),
                    &r.opt_str("errorMsg").unwrap_or_default(),
                ),
            );
        }
    }
    Ok(reqs
        .iter()
        .map(|r| {
            if let Some(id) = ok.remove(&r.client_oid) {
                Ok(OrderAck {
                    order_id: id,
                    client_oid: r.client_oid.clone(),
                    already_placed: false,
                })
            } else if let Some(e) = bad.remove(&r.client_oid) {
                Err(e)
            } else {
                Err(BrokerError::Unavailable {
                    endpoint: path.into(),
                    attempts: 1,
                    last: format!(
                        "`{}` is in neither successList nor failureList",
                        r.client_oid
                    ),
                    maybe_landed: true,
                })
            }
        })
        .collect())
}

pub(crate) async fn cancel(core: &Core, symbol: &str, client_oid: &str) -> Result<(), BrokerError> {
    let body = json!({"symbol": symbol, "productType": pt(core), "marginCoin": core.cfg().margin_coin, "clientOid": client_oid});
    core.rest
        .post("/api/v2/mix/order/cancel-order", &body, Retry::Safe)
        .await
        .map(|_| ())
}

fn parse_order(path: &str, v: &Value) -> Result<Order, BrokerError> {
    let r = Row::new(path, v);
    Ok(Order {
        order_id: r.str("orderId")?,
        client_oid: r.opt_str("clientOid").unwrap_or_default(),
        symbol: r.str("symbol")?,
        side: r.side("side")?,
        order_type: r.order_type("orderType")?,
        qty: r.dec("size")?,
        price: r.opt_dec("price")?.filter(|p| p.is_positive()),
        filled_qty: r.dec_or_zero("baseVolume")?,
        avg_price: r.opt_dec("priceAvg")?.filter(|p| p.is_positive()),
        // detail says `state`, lists say `status` (§1.3 ⚠)
        status: r.status(&["state", "status"])?,
        reduce_only: r.yes("reduceOnly"),
        // v2 fees are negative when paid
        fee: r.dec_or_zero("fee")?.neg(),
        created_ms: r.ms("cTime")?,
        updated_ms: r.ms("uTime")?,
    })
}

pub(crate) async fn order(
    core: &Core,
    symbol: &str,
    client_oid: &str,
) -> Result<Option<Order>, BrokerError> {
    let path = "/api/v2/mix/order/detail";
    let q = [
        ("symbol", symbol.to_string()),
        ("productType", pt(core)),
        ("clientOid", client_oid.to_string()),
    ];
    match core.rest.get(path, &q).await {
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
    let path = "/api/v2/mix/order/orders-pending";
    let mut q = vec![("productType", pt(core))];
    if let Some(s) = symbol {
        q.push(("symbol", s.to_string()));
    }
    q.push(("limit", "100".into()));
    let data = core.rest.get(path, &q).await?;
    list(&data, "entrustedList")
        .iter()
        .map(|v| parse_order(path, v))
        .collect()
}

pub(crate) async fn positions(
    core: &Core,
    symbol: Option<&str>,
) -> Result<Vec<Position>, BrokerError> {
    // one symbol: `single-position` (10/s) rather than `all-position` (5/s), so that a
    // protection check and the next candle's pass both fit in the positions budget's burst
    let (path, q) = match symbol {
        Some(sym) => (
            "/api/v2/mix/position/single-position",
            vec![
                ("symbol", sym.to_string()),
                ("productType", pt(core)),
                ("marginCoin", core.cfg().margin_coin.clone()),
            ],
        ),
        None => (
            "/api/v2/mix/position/all-position",
            vec![
                ("productType", pt(core)),
                ("marginCoin", core.cfg().margin_coin.clone()),
            ],
        ),
    };
    let data = core.rest.get(path, &q).await?;
    let mut out = Vec::new();
    for v in list(&data, "") {
        let r = Row::new(path, v);
        let sym = r.str("symbol")?;
        if symbol.is_some_and(|s| s != sym) {
            continue;
        }
        let size = r.dec_or_zero("total")?;
        if !size.is_positive() {
            continue;
        }
        out.push(Position {
            symbol: sym,
            side: r.pos_side("holdSide")?,
            size,
            entry_price: r.dec_or_zero("openPriceAvg")?,
            leverage: r.dec_or_zero("leverage")?,
            margin_mode: r.margin_mode("marginMode"),
            unrealized_pnl: r.dec_or_zero("unrealizedPL")?,
            liquidation_price: r.opt_dec("liquidationPrice")?.filter(|p| p.is_positive()),
        });
    }
    Ok(out)
}

pub(crate) async fn fills(
    core: &Core,
    symbol: &str,
    order_id: Option<&str>,
) -> Result<Vec<Fill>, BrokerError> {
    let path = "/api/v2/mix/order/fills";
    let mut q = vec![("productType", pt(core)), ("symbol", symbol.to_string())];
    if let Some(o) = order_id {
        q.push(("orderId", o.to_string()));
    }
    q.push(("limit", "100".into()));
    let data = core.rest.get(path, &q).await?;
    list(&data, "fillList")
        .iter()
        .map(|v| parse_fill(path, v))
        .collect()
}

/// A v2 fill (REST `fillList` item or WS `fill` push).
pub(crate) fn parse_fill(path: &str, v: &Value) -> Result<Fill, BrokerError> {
    let r = Row::new(path, v);
    let (fee, coin) = r.fee_detail("totalFee")?;
    Ok(Fill {
        trade_id: r.str("tradeId")?,
        order_id: r.str("orderId")?,
        client_oid: r.opt_str("clientOid"),
        symbol: r.str("symbol")?,
        side: r.side("side")?,
        price: r.dec("price")?,
        qty: r.dec("baseVolume")?,
        fee: fee.neg(),
        fee_coin: coin,
        realized_pnl: r.dec_or_zero("profit")?,
        maker: r
            .opt_str("tradeScope")
            .is_some_and(|s| s.eq_ignore_ascii_case("maker") || s == "M"),
        time_ms: r.ms("cTime")?,
    })
}

pub(crate) async fn place_plan_raw(core: &Core, p: &PlanRequest) -> Result<OrderAck, BrokerError> {
    let path = "/api/v2/mix/order/place-tpsl-order";
    // one-way: holdSide `buy` = long position, `sell` = short (§1.2)
    let hold = match p.position_side {
        PositionSide::Long => "buy",
        PositionSide::Short => "sell",
    };
    let body = json!({
        "marginCoin": core.cfg().margin_coin, "productType": pt(core), "symbol": p.symbol,
        "planType": match p.kind { PlanKind::StopLoss => "pos_loss", PlanKind::TakeProfit => "pos_profit" },
        "triggerPrice": p.trigger_price.to_string(), "triggerType": "mark_price", "executePrice": "0",
        "holdSide": hold, "clientOid": p.client_oid,
    });
    let data = core.rest.post(path, &body, Retry::Once).await?;
    let r = Row::new(path, &data);
    Ok(OrderAck {
        order_id: r.opt_str("orderId"),
        client_oid: p.client_oid.clone(),
        already_placed: false,
    })
}

pub(crate) async fn plan_orders(core: &Core, symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
    let path = "/api/v2/mix/order/orders-plan-pending";
    let q = [
        ("productType", pt(core)),
        ("symbol", symbol.to_string()),
        ("planType", "profit_loss".to_string()),
    ];
    let data = core.rest.get(path, &q).await?;
    parse_plans(path, &data)
}

/// `entrustedList` of `orders-plan-pending` / `orders-plan-history` (TP/SL kinds only).
fn parse_plans(path: &str, data: &Value) -> Result<Vec<PlanOrder>, BrokerError> {
    let mut out = Vec::new();
    for v in list(data, "entrustedList") {
        let r = Row::new(path, v);
        let kind = match r.opt_str("planType").as_deref() {
            Some("pos_loss") | Some("loss_plan") => PlanKind::StopLoss,
            Some("pos_profit") | Some("profit_plan") => PlanKind::TakeProfit,
            _ => continue,
        };
        let side = match r.pos_side("posSide") {
            Ok(s) => s,
            Err(_) => r.pos_side("holdSide")?,
        };
        out.push(PlanOrder {
            order_id: r.str("orderId")?,
            client_oid: r.opt_str("clientOid").unwrap_or_default(),
            symbol: r.str("symbol")?,
            kind,
            position_side: side,
            trigger_price: r.dec("triggerPrice")?,
            status: r.opt_str("planStatus").unwrap_or_default(),
            created_ms: r.ms("cTime")?,
            updated_ms: r.ms("uTime")?,
        });
    }
    Ok(out)
}

pub(crate) async fn plan_history(core: &Core, symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
    let path = "/api/v2/mix/order/orders-plan-history";
    let q = [
        ("productType", pt(core)),
        ("symbol", symbol.to_string()),
        ("planType", "profit_loss".to_string()),
        ("limit", "100".to_string()),
    ];
    let data = core.rest.get(path, &q).await?;
    Ok(parse_plans(path, &data)?
        .into_iter()
        .filter(|p| p.symbol == symbol)
        .collect())
}

/// Funding bills (`contract_settle_fee`) in `[start, end]` (≤ 30 days), every page
/// (`idLessThan` = the previous `endId`). The wire `amount` is the balance change (negative
/// when paid); [`FundingPayment::amount`] is positive when paid.
pub(crate) async fn funding_window(
    core: &Core,
    start: i64,
    end: i64,
) -> Result<Vec<FundingPayment>, BrokerError> {
    let path = "/api/v2/mix/account/bill";
    let mut out = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut q = vec![
            ("productType", pt(core)),
            ("businessType", "contract_settle_fee".to_string()),
            ("startTime", start.to_string()),
            ("endTime", end.to_string()),
            ("limit", "100".to_string()),
        ];
        if let Some(b) = &before {
            q.push(("idLessThan", b.clone()));
        }
        let data = core.rest.get(path, &q).await?;
        let rows = list(&data, "bills");
        for v in rows {
            let r = Row::new(path, v);
            if r.opt_str("businessType").as_deref() != Some("contract_settle_fee") {
                continue;
            }
            out.push(FundingPayment {
                id: r.str("billId")?,
                symbol: r.opt_str("symbol").unwrap_or_default(),
                amount: r.dec("amount")?.neg(),
                time_ms: r.ms("cTime")?,
            });
        }
        let next = Row::new(path, &data).opt_str("endId");
        if rows.len() < 100 || next.is_none() || next == before {
            break;
        }
        before = next;
    }
    Ok(out)
}

pub(crate) async fn cancel_plan(
    core: &Core,
    symbol: &str,
    plan: &PlanOrder,
) -> Result<bool, BrokerError> {
    let path = "/api/v2/mix/order/cancel-plan-order";
    let body = json!({
        "productType": pt(core), "symbol": symbol, "marginCoin": core.cfg().margin_coin,
        "planType": match plan.kind { PlanKind::StopLoss => "pos_loss", PlanKind::TakeProfit => "pos_profit" },
        "orderIdList": [{"orderId": plan.order_id}],
    });
    let data = core.rest.post(path, &body, Retry::Safe).await?;
    Ok(list(&data, "successList")
        .iter()
        .any(|v| Row::new(path, v).opt_str("orderId").as_deref() == Some(plan.order_id.as_str())))
}

pub(crate) async fn close_positions(core: &Core, symbol: &str) -> Result<Vec<String>, BrokerError> {
    let path = "/api/v2/mix/order/close-positions";
    let body = json!({"productType": pt(core), "symbol": symbol});
    let data = core.rest.post(path, &body, Retry::Safe).await?;
    if let Some(f) = list(&data, "failureList").first() {
        let r = Row::new(path, f);
        return Err(BrokerError::from_code(
            path,
            &r.opt_str("errorCode").unwrap_or_default(),
            &r.opt_str("errorMsg").unwrap_or_default(),
        ));
    }
    Ok(list(&data, "successList")
        .iter()
        .filter_map(|v| Row::new(path, v).opt_str("orderId"))
        .collect())
}
