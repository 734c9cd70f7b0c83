//! Normalised types, the same for v2 and v3: side = real trade direction, fee = positive cost,
//! status ∈ {open, partial, filled, cancelled} (exchanges-private.md §6.10 "Executor rules").

use crate::{BrokerError, Dec};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn wire(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionSide {
    Long,
    Short,
}

impl PositionSide {
    pub fn wire(self) -> &'static str {
        match self {
            PositionSide::Long => "long",
            PositionSide::Short => "short",
        }
    }
    /// The trade that closes it.
    pub fn closing_side(self) -> Side {
        match self {
            PositionSide::Long => Side::Sell,
            PositionSide::Short => Side::Buy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    Limit,
    Market,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginMode {
    Crossed,
    Isolated,
}

impl MarginMode {
    pub fn wire(self) -> &'static str {
        match self {
            MarginMode::Crossed => "crossed",
            MarginMode::Isolated => "isolated",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PositionMode {
    OneWay,
    Hedge,
}

impl PositionMode {
    pub fn wire(self) -> &'static str {
        match self {
            PositionMode::OneWay => "one_way_mode",
            PositionMode::Hedge => "hedge_mode",
        }
    }
}

/// The account mode the start-up probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AccountMode {
    /// Classic account: the v2 `/api/v2/mix/*` API.
    Classic,
    /// Unified Trading Account: the v3 `/api/v3/*` API.
    Uta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Open,
    Partial,
    Filled,
    Cancelled,
}

impl OrderStatus {
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Filled | OrderStatus::Cancelled)
    }
    /// v2 `live|partially_filled|filled|canceled`, v3 `live|new|partially_filled|filled|cancelled`.
    pub fn parse(s: &str) -> Option<OrderStatus> {
        Some(match s.to_ascii_lowercase().as_str() {
            "live" | "new" | "init" => OrderStatus::Open,
            "partially_filled" | "partial_fill" | "partial-fill" => OrderStatus::Partial,
            "filled" | "full_fill" => OrderStatus::Filled,
            "canceled" | "cancelled" => OrderStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A new order. `qty` and `price` must already be rounded ([`crate::ContractSpec::round_order`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    pub symbol: String,
    pub client_oid: String,
    pub side: Side,
    pub order_type: OrderType,
    pub qty: Dec,
    /// Limit orders only.
    pub price: Option<Dec>,
    pub reduce_only: bool,
    /// Limit orders: `post_only` instead of `gtc`.
    pub post_only: bool,
}

/// The exchange's answer to a placement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderAck {
    /// `None` when a one-way reduce-only order replaced older ones and the reply had no id.
    pub order_id: Option<String>,
    pub client_oid: String,
    /// `false`: this call placed it; `true`: it was already there (duplicate clientOid or a
    /// lost answer), found by fetching it, and was **not** placed again.
    pub already_placed: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Order {
    pub order_id: String,
    pub client_oid: String,
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub qty: Dec,
    pub price: Option<Dec>,
    pub filled_qty: Dec,
    pub avg_price: Option<Dec>,
    pub status: OrderStatus,
    pub reduce_only: bool,
    /// Positive = paid.
    pub fee: Dec,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fill {
    pub trade_id: String,
    pub order_id: String,
    pub client_oid: Option<String>,
    pub symbol: String,
    pub side: Side,
    pub price: Dec,
    pub qty: Dec,
    /// Positive = paid.
    pub fee: Dec,
    pub fee_coin: String,
    /// Realised PnL of this fill, fees excluded.
    pub realized_pnl: Dec,
    pub maker: bool,
    pub time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Position {
    pub symbol: String,
    pub side: PositionSide,
    pub size: Dec,
    pub entry_price: Dec,
    pub leverage: Dec,
    pub margin_mode: MarginMode,
    pub unrealized_pnl: Dec,
    /// `None` when the exchange reports none (≤ 0).
    pub liquidation_price: Option<Dec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PlanKind {
    StopLoss,
    TakeProfit,
}

/// A position-wide stop-loss or take-profit plan order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanOrder {
    pub order_id: String,
    pub client_oid: String,
    pub symbol: String,
    pub kind: PlanKind,
    pub position_side: PositionSide,
    pub trigger_price: Dec,
    /// The raw wire status: v2 `planStatus` (`live`/`not_trigger`, history `executed`/
    /// `fail_trigger`/`cancelled`), v3 `status` (`pending`, history `success`/`failed`/
    /// `cancelled`). [`PlanOrder::state`] reads both.
    pub status: String,
    pub created_ms: i64,
    /// 0 when the exchange sent none.
    pub updated_ms: i64,
}

/// The state of a plan order, both dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PlanState {
    /// Armed (v2 `live`/`not_trigger`/`executing`, v3 `pending`/`submitting`).
    Live,
    /// Triggered and executed (v2 `executed`, v3 `success`).
    Executed,
    /// Triggered but **not** executed (v2 `fail_trigger`/`fail_execute`, v3 `failed`): the
    /// position is still open.
    Failed,
    /// v2 `cancelled`, v3 `cancelled` (also `canceled`).
    Cancelled,
    Unknown,
}

impl PlanState {
    pub fn parse(s: &str) -> PlanState {
        match s.to_ascii_lowercase().as_str() {
            "live" | "not_trigger" | "executing" | "pending" | "submitting" | "new" => {
                PlanState::Live
            }
            "executed" | "success" | "triggered" => PlanState::Executed,
            "fail_trigger" | "fail_execute" | "failed" | "fail" => PlanState::Failed,
            "cancelled" | "canceled" => PlanState::Cancelled,
            _ => PlanState::Unknown,
        }
    }
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PlanState::Executed | PlanState::Failed | PlanState::Cancelled
        )
    }
}

impl PlanOrder {
    /// The typed [`PlanOrder::status`].
    pub fn state(&self) -> PlanState {
        PlanState::parse(&self.status)
    }
}

/// One funding settlement of the account (v2 bill `contract_settle_fee`, v3 financial record
/// `CONTRACT_MAIN_SETTLE_FEE_USER_IN/OUT`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FundingPayment {
    /// v2 `billId`, v3 `id`.
    pub id: String,
    pub symbol: String,
    /// Positive = paid by us (the wire's sign is the balance change, negative when paid).
    pub amount: Dec,
    pub time_ms: i64,
}

/// A position stop to arm.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    pub symbol: String,
    pub client_oid: String,
    pub kind: PlanKind,
    pub position_side: PositionSide,
    /// Already rounded ([`crate::PriceRounding::for_stop_loss`] / `for_take_profit`).
    pub trigger_price: Dec,
}

/// Free margin and equity in USDT.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Balance {
    pub equity: Dec,
    pub available: Dec,
}

// --- field helpers shared by the two dialects ---------------------------------------------

pub(crate) struct Row<'a> {
    pub endpoint: &'a str,
    pub v: &'a Value,
}

impl<'a> Row<'a> {
    pub fn new(endpoint: &'a str, v: &'a Value) -> Self {
        Row { endpoint, v }
    }
    fn bad(&self, field: &str, why: &str) -> BrokerError {
        BrokerError::Parse {
            endpoint: self.endpoint.to_string(),
            field: field.to_string(),
            value: scalp_core::types::truncate(
                &self.v.get(field).map(|x| x.to_string()).unwrap_or_default(),
                80,
            ),
            why: why.to_string(),
        }
    }
    /// A string or number field; `""`, `null` and missing are `None`.
    pub fn opt_str(&self, field: &str) -> Option<String> {
        match self.v.get(field)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    pub fn str(&self, field: &str) -> Result<String, BrokerError> {
        self.opt_str(field)
            .ok_or_else(|| self.bad(field, "missing or empty"))
    }
    pub fn opt_dec(&self, field: &str) -> Result<Option<Dec>, BrokerError> {
        match self.opt_str(field) {
            None => Ok(None),
            Some(s) => Dec::parse(&s).map(Some).map_err(|e| self.bad(field, &e)),
        }
    }
    pub fn dec(&self, field: &str) -> Result<Dec, BrokerError> {
        self.opt_dec(field)?
            .ok_or_else(|| self.bad(field, "missing or empty"))
    }
    pub fn dec_or_zero(&self, field: &str) -> Result<Dec, BrokerError> {
        Ok(self.opt_dec(field)?.unwrap_or(Dec::ZERO))
    }
    pub fn ms(&self, field: &str) -> Result<i64, BrokerError> {
        match self.opt_str(field) {
            None => Ok(0),
            Some(s) => s.parse().map_err(|_| self.bad(field, "not a ms timestamp")),
        }
    }
    pub fn side(&self, field: &str) -> Result<Side, BrokerError> {
        match self.str(field)?.to_ascii_lowercase().as_str() {
            "buy" => Ok(Side::Buy),
            "sell" => Ok(Side::Sell),
            _ => Err(self.bad(field, "expected buy or sell")),
        }
    }
    pub fn order_type(&self, field: &str) -> Result<OrderType, BrokerError> {
        match self.str(field)?.to_ascii_lowercase().as_str() {
            "limit" => Ok(OrderType::Limit),
            "market" => Ok(OrderType::Market),
            _ => Err(self.bad(field, "expected limit or market")),
        }
    }
    pub fn yes(&self, field: &str) -> bool {
        self.opt_str(field).is_some_and(|s| {
            let s = s.to_ascii_lowercase();
            s == "yes" || s == "true" || s == "1"
        })
    }
    pub fn status(&self, fields: &[&str]) -> Result<OrderStatus, BrokerError> {
        for f in fields {
            if let Some(s) = self.opt_str(f) {
                return OrderStatus::parse(&s).ok_or_else(|| self.bad(f, "unknown order status"));
            }
        }
        Err(self.bad(fields[0], "missing"))
    }
    pub fn pos_side(&self, field: &str) -> Result<PositionSide, BrokerError> {
        match self.str(field)?.to_ascii_lowercase().as_str() {
            "long" | "buy" => Ok(PositionSide::Long),
            "short" | "sell" => Ok(PositionSide::Short),
            _ => Err(self.bad(field, "expected long or short")),
        }
    }
    pub fn margin_mode(&self, field: &str) -> MarginMode {
        match self.opt_str(field).as_deref() {
            Some("isolated") | Some("fixed") => MarginMode::Isolated,
            _ => MarginMode::Crossed,
        }
    }
    /// The fee of a `feeDetail` array: the sum of `fee_field` over its entries.
    pub fn fee_detail(&self, fee_field: &str) -> Result<(Dec, String), BrokerError> {
        let mut total = Dec::ZERO;
        let mut coin = String::new();
        if let Some(Value::Array(items)) = self.v.get("feeDetail") {
            for it in items {
                let r = Row::new(self.endpoint, it);
                // v2: a BGB-voucher deduction is in totalDeductionFee
                let f = if r.yes("deduction") {
                    r.opt_dec("totalDeductionFee")?
                } else {
                    r.opt_dec(fee_field)?
                };
                if let Some(f) = f {
                    total = total.add(&f);
                }
                if coin.is_empty()
                    && let Some(c) = r.opt_str("feeCoin")
                {
                    coin = c;
                }
            }
        }
        Ok((total, coin))
    }
}

/// The elements of `data[key]` (or `data` itself when `key` is empty), accepting `null`.
pub(crate) fn list<'a>(data: &'a Value, key: &str) -> &'a [Value] {
    let v = if key.is_empty() { data } else { &data[key] };
    v.as_array().map(|a| a.as_slice()).unwrap_or(&[])
}
