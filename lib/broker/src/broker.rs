//! The [`Broker`] trait, its Classic v2 ([`ClassicV2`]) and UTA v3 ([`UtaV3`]) implementations,
//! the start-up probe ([`connect`]) and the exactly-once placement rule.

use crate::model::*;
use crate::rest::{BrokerConfig, RestCore};
use crate::{BrokerError, ContractSpec, Credentials, Dec, v2, v3};
use std::future::Future;
use std::sync::Arc;

/// One Bitget USDT-M futures account, whichever API it speaks. One-way position mode only
/// (the executor sets it at start); every quantity and price must already be rounded.
pub trait Broker: Send + Sync {
    fn account_mode(&self) -> AccountMode;
    /// Re-reads the server time and corrects the signing clock; returns the offset (ms).
    fn sync_clock(&self) -> impl Future<Output = Result<i64, BrokerError>> + Send;
    /// Milliseconds added to the local clock when signing.
    fn clock_offset_ms(&self) -> i64;
    /// Requests sent so far (every attempt).
    fn requests_sent(&self) -> u64;
    /// Contract specs of every symbol, or of one.
    fn contracts(
        &self,
        symbol: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ContractSpec>, BrokerError>> + Send;
    fn balance(&self) -> impl Future<Output = Result<Balance, BrokerError>> + Send;
    /// v2: `set-margin-mode`; v3 has no such endpoint (the mode goes on every order and on
    /// set-leverage), so this only checks that `mode` is the configured one.
    fn set_margin_mode(
        &self,
        symbol: &str,
        mode: MarginMode,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;
    fn set_position_mode(
        &self,
        mode: PositionMode,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;
    /// Sets the leverage of `symbol` (per margin mode on v3). Refuses
    /// ([`BrokerError::LeverageUnderOpenPosition`]) to change it under an open position; the
    /// same value under a position is a no-op.
    fn set_leverage(
        &self,
        symbol: &str,
        leverage: u32,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;
    /// Places an order exactly once (docs/BROKER.md): a duplicate-clientOid answer or a lost
    /// answer is resolved by fetching the order; it is never placed twice.
    fn place_order(
        &self,
        req: &OrderRequest,
    ) -> impl Future<Output = Result<OrderAck, BrokerError>> + Send;
    /// Batch placement (same symbol), one result per request in order, each exactly once.
    fn place_batch(
        &self,
        symbol: &str,
        reqs: &[OrderRequest],
    ) -> impl Future<Output = Result<Vec<Result<OrderAck, BrokerError>>, BrokerError>> + Send;
    /// `true` when cancelled now, `false` when it was already final or unknown.
    fn cancel_order(
        &self,
        symbol: &str,
        client_oid: &str,
    ) -> impl Future<Output = Result<bool, BrokerError>> + Send;
    /// The order with this clientOid, `None` when the exchange does not know it.
    fn order(
        &self,
        symbol: &str,
        client_oid: &str,
    ) -> impl Future<Output = Result<Option<Order>, BrokerError>> + Send;
    fn open_orders(
        &self,
        symbol: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Order>, BrokerError>> + Send;
    fn positions(
        &self,
        symbol: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Position>, BrokerError>> + Send;
    fn fills(
        &self,
        symbol: &str,
        order_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Fill>, BrokerError>> + Send;
    /// A position-wide stop-loss or take-profit (market execution, mark-price trigger),
    /// exactly once by its clientOid.
    fn place_plan(
        &self,
        req: &PlanRequest,
    ) -> impl Future<Output = Result<OrderAck, BrokerError>> + Send;
    /// Pending position TP/SL plan orders of `symbol`.
    fn plan_orders(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Vec<PlanOrder>, BrokerError>> + Send;
    /// `true` when cancelled now, `false` when already gone.
    fn cancel_plan(
        &self,
        symbol: &str,
        plan: &PlanOrder,
    ) -> impl Future<Output = Result<bool, BrokerError>> + Send;
    /// Flash-closes every position of `symbol` at market; returns the closing order ids
    /// (empty when flat).
    fn close_positions(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Vec<String>, BrokerError>> + Send;
    /// Final (executed, failed, cancelled) position TP/SL plans of `symbol`, newest first:
    /// v2 `orders-plan-history?planType=profit_loss`, v3 `history-strategy-orders?type=tpsl`
    /// (the most recent page of each). A stop missing from [`Broker::plan_orders`] is not proof
    /// that it fired: read its [`PlanOrder::state`] here.
    fn plan_history(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<Vec<PlanOrder>, BrokerError>> + Send;
    /// Funding settlements of `symbol` since `since_ms` (clamped to the last 90 days), oldest
    /// first: v2 `account/bill` `contract_settle_fee`, v3 `account/financial-records`
    /// `CONTRACT_MAIN_SETTLE_FEE_USER_IN/OUT`, queried in 30-day windows, every page.
    fn funding_payments(
        &self,
        symbol: &str,
        since_ms: i64,
    ) -> impl Future<Output = Result<Vec<FundingPayment>, BrokerError>> + Send;
}

/// The 30-day query windows `[start, end]` from `since_ms` (at most 90 days back) to `now_ms`.
pub(crate) fn funding_windows(since_ms: i64, now_ms: i64) -> Vec<(i64, i64)> {
    const DAY: i64 = 86_400_000;
    let mut start = since_ms.max(now_ms - 90 * DAY);
    let mut out = Vec::new();
    while start <= now_ms {
        let end = (start + 30 * DAY).min(now_ms);
        out.push((start, end));
        start = end + 1;
    }
    out
}

/// Shared state of both implementations.
pub(crate) struct Core {
    pub rest: RestCore,
}

impl Core {
    pub fn cfg(&self) -> &BrokerConfig {
        &self.rest.cfg
    }
}

/// The Classic account (v2 `/api/v2/mix/*`).
#[derive(Clone)]
pub struct ClassicV2 {
    pub(crate) core: Arc<Core>,
}

/// The Unified Trading Account (v3 `/api/v3/*`).
#[derive(Clone)]
pub struct UtaV3 {
    pub(crate) core: Arc<Core>,
}

/// Whichever the probe found.
#[derive(Clone)]
pub enum Bitget {
    Classic(ClassicV2),
    Uta(UtaV3),
}

impl ClassicV2 {
    /// Without a probe (the caller knows the account is Classic).
    pub fn new(cfg: BrokerConfig, creds: Credentials) -> Result<Self, BrokerError> {
        Ok(ClassicV2 {
            core: Arc::new(Core {
                rest: RestCore::new(cfg, creds)?,
            }),
        })
    }
}

impl UtaV3 {
    pub fn new(cfg: BrokerConfig, creds: Credentials) -> Result<Self, BrokerError> {
        Ok(UtaV3 {
            core: Arc::new(Core {
                rest: RestCore::new(cfg, creds)?,
            }),
        })
    }
}

/// Syncs the clock, then detects the account mode (exchanges-private.md §6.2):
/// `GET /api/v3/account/settings` → `accountMode: unified` = UTA; `40084`/`25245` = Classic
/// (confirmed by `GET /api/v2/mix/account/accounts` answering `00000`); `hybrid` = Classic if
/// v2 answers `00000`, else UTA; `upgrading`/`switching` and network errors = an error (never
/// a cached guess).
pub async fn connect(cfg: BrokerConfig, creds: Credentials) -> Result<Bitget, BrokerError> {
    let core = Arc::new(Core {
        rest: RestCore::new(cfg, creds)?,
    });
    core.rest.sync_clock().await?;
    let mode = probe(&core).await?;
    tracing::info!(?mode, "bitget account mode");
    Ok(match mode {
        AccountMode::Classic => Bitget::Classic(ClassicV2 { core }),
        AccountMode::Uta => Bitget::Uta(UtaV3 { core }),
    })
}

async fn v2_answers(core: &Core) -> Result<bool, BrokerError> {
    let q = [("productType", core.cfg().product_type.clone())];
    match core.rest.get("/api/v2/mix/account/accounts", &q).await {
        Ok(_) => Ok(true),
        Err(BrokerError::WrongAccountMode { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

async fn probe(core: &Core) -> Result<AccountMode, BrokerError> {
    let path = "/api/v3/account/settings";
    match core.rest.get(path, &[]).await {
        Ok(data) => {
            let mode = Row::new(path, &data)
                .opt_str("accountMode")
                .unwrap_or_default();
            match mode.as_str() {
                "unified" => Ok(AccountMode::Uta),
                "hybrid" => {
                    if v2_answers(core).await? {
                        Ok(AccountMode::Classic)
                    } else {
                        Ok(AccountMode::Uta)
                    }
                }
                "upgrading" | "switching" => Err(BrokerError::AccountMode(format!(
                    "the account is `{mode}` between Classic and UTA: not trading until it settles; retry later"
                ))),
                other => Err(BrokerError::AccountMode(format!(
                    "{path} answered accountMode `{other}`, which this client does not know"
                ))),
            }
        }
        Err(BrokerError::WrongAccountMode { .. }) => {
            if v2_answers(core).await? {
                Ok(AccountMode::Classic)
            } else {
                Err(BrokerError::AccountMode(
                    "both the v3 and the v2 API refuse this key's account mode".into(),
                ))
            }
        }
        Err(e @ BrokerError::Auth { .. }) => Err(e),
        // no usable answer (network, 5xx, 429 after the retries): transient, so the caller may
        // retry later (the executor exits 1 and systemd restarts it) — never a guess
        Err(e @ BrokerError::Unavailable { .. }) => Err(e),
        Err(e) => Err(BrokerError::AccountMode(format!(
            "the probe failed ({e}); not guessing"
        ))),
    }
}

/// Exactly once: place; on a duplicate clientOid, or an answer lost after the request may have
/// landed, fetch the order by clientOid: found → report it as already placed; not found after
/// a lost answer → place again (the same clientOid, so a late first copy still collides).
pub(crate) async fn place_exactly_once(
    core: &Core,
    mode: AccountMode,
    req: &OrderRequest,
) -> Result<OrderAck, BrokerError> {
    if !crate::oid::is_valid_client_oid(&req.client_oid) {
        return Err(BrokerError::InvalidOrder {
            symbol: req.symbol.clone(),
            why: format!(
                "clientOid `{}` is not 1–32 characters of [A-Za-z0-9._:/-]",
                req.client_oid
            ),
        });
    }
    // v3 accepts a clientOid again once its order is final (since 2025-10-09): look first, so a
    // replay of a filled order is never placed a second time
    if mode == AccountMode::Uta
        && let Some(o) = lookup(core, mode, req).await?
    {
        return Ok(OrderAck {
            order_id: Some(o.order_id),
            client_oid: req.client_oid.clone(),
            already_placed: true,
        });
    }
    let mut last_err = None;
    for _round in 0..3 {
        let placed = match mode {
            AccountMode::Classic => v2::place_raw(core, req).await,
            AccountMode::Uta => v3::place_raw(core, req).await,
        };
        match placed {
            Ok(ack) => return Ok(ack),
            Err(e @ BrokerError::DuplicateClientOid { .. }) => {
                return match lookup(core, mode, req).await? {
                    Some(o) => {
                        tracing::info!(client_oid = %req.client_oid, "duplicate clientOid: the order exists, not placing it again");
                        Ok(OrderAck {
                            order_id: Some(o.order_id),
                            client_oid: req.client_oid.clone(),
                            already_placed: true,
                        })
                    }
                    None => Err(e),
                };
            }
            Err(e) if e.maybe_landed() => {
                tracing::warn!(client_oid = %req.client_oid, error = %e, "placement answer lost: looking the order up before anything else");
                tokio::time::sleep(core.cfg().landing_grace).await;
                if let Some(o) = lookup(core, mode, req).await? {
                    return Ok(OrderAck {
                        order_id: Some(o.order_id),
                        client_oid: req.client_oid.clone(),
                        already_placed: true,
                    });
                }
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| BrokerError::Client("placement gave up".into())))
}

async fn lookup(
    core: &Core,
    mode: AccountMode,
    req: &OrderRequest,
) -> Result<Option<Order>, BrokerError> {
    match mode {
        AccountMode::Classic => v2::order(core, &req.symbol, &req.client_oid).await,
        AccountMode::Uta => v3::order(core, &req.symbol, &req.client_oid).await,
    }
}

/// Batch placement: the batch once; on a lost answer every item is looked up and the missing
/// ones placed one by one (exactly once each); per-item duplicates are looked up.
pub(crate) async fn batch_exactly_once(
    core: &Core,
    mode: AccountMode,
    symbol: &str,
    reqs: &[OrderRequest],
) -> Result<Vec<Result<OrderAck, BrokerError>>, BrokerError> {
    for r in reqs {
        if r.symbol != symbol {
            return Err(BrokerError::InvalidOrder {
                symbol: symbol.into(),
                why: format!("batch item `{}` is for {}", r.client_oid, r.symbol),
            });
        }
    }
    let max = match mode {
        AccountMode::Classic => 50,
        AccountMode::Uta => 20,
    };
    let mut out = Vec::with_capacity(reqs.len());
    // as in place_exactly_once: v3 reuses final clientOids, so every item is looked up first and
    // only the unknown ones go into the batch
    let mut known: std::collections::HashMap<String, OrderAck> = std::collections::HashMap::new();
    if mode == AccountMode::Uta {
        for req in reqs {
            if let Some(o) = lookup(core, mode, req).await? {
                known.insert(
                    req.client_oid.clone(),
                    OrderAck {
                        order_id: Some(o.order_id),
                        client_oid: req.client_oid.clone(),
                        already_placed: true,
                    },
                );
            }
        }
    }
    let todo: Vec<OrderRequest> = reqs
        .iter()
        .filter(|r| !known.contains_key(&r.client_oid))
        .cloned()
        .collect();
    let mut placed: std::collections::HashMap<String, Result<OrderAck, BrokerError>> =
        std::collections::HashMap::new();
    for chunk in todo.chunks(max) {
        let res = match mode {
            AccountMode::Classic => v2::batch_raw(core, symbol, chunk).await,
            AccountMode::Uta => v3::batch_raw(core, symbol, chunk).await,
        };
        match res {
            Ok(items) => {
                for (req, item) in chunk.iter().zip(items) {
                    placed.insert(
                        req.client_oid.clone(),
                        match item {
                            Err(BrokerError::DuplicateClientOid { .. }) => {
                                place_exactly_once(core, mode, req).await
                            }
                            other => other,
                        },
                    );
                }
            }
            Err(e) if e.maybe_landed() => {
                tokio::time::sleep(core.cfg().landing_grace).await;
                for req in chunk {
                    placed.insert(
                        req.client_oid.clone(),
                        match lookup(core, mode, req).await {
                            Ok(Some(o)) => Ok(OrderAck {
                                order_id: Some(o.order_id),
                                client_oid: req.client_oid.clone(),
                                already_placed: true,
                            }),
                            Ok(None) => place_exactly_once(core, mode, req).await,
                            Err(e) => Err(e),
                        },
                    );
                }
            }
            Err(e) => return Err(e),
        }
    }
    for r in reqs {
        out.push(match known.remove(&r.client_oid) {
            Some(a) => Ok(a),
            None => placed.remove(&r.client_oid).unwrap_or_else(|| {
                Err(BrokerError::Client(format!(
                    "batch item `{}` has no result (repeated clientOid in one batch?)",
                    r.client_oid
                )))
            }),
        });
    }
    Ok(out)
}

/// The leverage rule shared by both dialects.
pub(crate) fn check_leverage(
    symbol: &str,
    positions: &[Position],
    wanted: u32,
) -> Result<bool, BrokerError> {
    let w = Dec::from_int(wanted as i64);
    let open: Vec<&Position> = positions
        .iter()
        .filter(|p| p.symbol == symbol && p.size.is_positive())
        .collect();
    if let Some(p) = open.iter().find(|p| p.leverage != w) {
        return Err(BrokerError::LeverageUnderOpenPosition {
            symbol: symbol.into(),
            current: p.leverage.to_string(),
            wanted,
            size: p.size.to_string(),
        });
    }
    if !open.is_empty() {
        // the same leverage under the position: nothing to change
        return Ok(false);
    }
    Ok(true)
}

macro_rules! impl_broker {
    ($ty:ty, $mode:expr, $m:ident) => {
        impl Broker for $ty {
            fn account_mode(&self) -> AccountMode {
                $mode
            }
            async fn sync_clock(&self) -> Result<i64, BrokerError> {
                self.core.rest.sync_clock().await
            }
            fn clock_offset_ms(&self) -> i64 {
                self.core.rest.offset_ms()
            }
            fn requests_sent(&self) -> u64 {
                self.core
                    .rest
                    .sent
                    .load(std::sync::atomic::Ordering::Relaxed)
            }
            async fn contracts(
                &self,
                symbol: Option<&str>,
            ) -> Result<Vec<ContractSpec>, BrokerError> {
                $m::contracts(&self.core, symbol).await
            }
            async fn balance(&self) -> Result<Balance, BrokerError> {
                $m::balance(&self.core).await
            }
            async fn set_margin_mode(
                &self,
                symbol: &str,
                mode: MarginMode,
            ) -> Result<(), BrokerError> {
                $m::set_margin_mode(&self.core, symbol, mode).await
            }
            async fn set_position_mode(&self, mode: PositionMode) -> Result<(), BrokerError> {
                $m::set_position_mode(&self.core, mode).await
            }
            async fn set_leverage(&self, symbol: &str, leverage: u32) -> Result<(), BrokerError> {
                let pos = $m::positions(&self.core, Some(symbol)).await?;
                if !check_leverage(symbol, &pos, leverage)? {
                    return Ok(());
                }
                $m::set_leverage(&self.core, symbol, leverage).await
            }
            async fn place_order(&self, req: &OrderRequest) -> Result<OrderAck, BrokerError> {
                place_exactly_once(&self.core, $mode, req).await
            }
            async fn place_batch(
                &self,
                symbol: &str,
                reqs: &[OrderRequest],
            ) -> Result<Vec<Result<OrderAck, BrokerError>>, BrokerError> {
                batch_exactly_once(&self.core, $mode, symbol, reqs).await
            }
            async fn cancel_order(
                &self,
                symbol: &str,
                client_oid: &str,
            ) -> Result<bool, BrokerError> {
                match $m::cancel(&self.core, symbol, client_oid).await {
                    Ok(()) => Ok(true),
                    Err(BrokerError::OrderNotFound { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            async fn order(
                &self,
                symbol: &str,
                client_oid: &str,
            ) -> Result<Option<Order>, BrokerError> {
                $m::order(&self.core, symbol, client_oid).await
            }
            async fn open_orders(&self, symbol: Option<&str>) -> Result<Vec<Order>, BrokerError> {
                $m::open_orders(&self.core, symbol).await
            }
            async fn positions(&self, symbol: Option<&str>) -> Result<Vec<Position>, BrokerError> {
                $m::positions(&self.core, symbol).await
            }
            async fn fills(
                &self,
                symbol: &str,
                order_id: Option<&str>,
            ) -> Result<Vec<Fill>, BrokerError> {
                $m::fills(&self.core, symbol, order_id).await
            }
            async fn place_plan(&self, req: &PlanRequest) -> Result<OrderAck, BrokerError> {
                if !crate::oid::is_valid_client_oid(&req.client_oid) {
                    return Err(BrokerError::InvalidOrder {
                        symbol: req.symbol.clone(),
                        why: format!("clientOid `{}` is not valid", req.client_oid),
                    });
                }
                match $m::place_plan_raw(&self.core, req).await {
                    Ok(a) => Ok(a),
                    Err(e)
                        if e.maybe_landed()
                            || matches!(e, BrokerError::DuplicateClientOid { .. }) =>
                    {
                        tokio::time::sleep(self.core.cfg().landing_grace).await;
                        let found = $m::plan_orders(&self.core, &req.symbol)
                            .await?
                            .into_iter()
                            .find(|p| p.client_oid == req.client_oid);
                        match found {
                            Some(p) => Ok(OrderAck {
                                order_id: Some(p.order_id),
                                client_oid: req.client_oid.clone(),
                                already_placed: true,
                            }),
                            None => $m::place_plan_raw(&self.core, req).await,
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            async fn plan_orders(&self, symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
                $m::plan_orders(&self.core, symbol).await
            }
            async fn cancel_plan(
                &self,
                symbol: &str,
                plan: &PlanOrder,
            ) -> Result<bool, BrokerError> {
                match $m::cancel_plan(&self.core, symbol, plan).await {
                    Ok(b) => Ok(b),
                    Err(BrokerError::OrderNotFound { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            async fn plan_history(&self, symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
                let mut v = $m::plan_history(&self.core, symbol).await?;
                // newest first whatever order the page came in (stable for equal times)
                v.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms));
                Ok(v)
            }
            async fn funding_payments(
                &self,
                symbol: &str,
                since_ms: i64,
            ) -> Result<Vec<FundingPayment>, BrokerError> {
                let now = self.core.rest.server_now_ms();
                let mut out: Vec<FundingPayment> = Vec::new();
                for (start, end) in funding_windows(since_ms, now) {
                    for f in $m::funding_window(&self.core, start, end).await? {
                        if f.symbol == symbol
                            && f.time_ms >= since_ms
                            && !out.iter().any(|o| o.id == f.id)
                        {
                            out.push(f);
                        }
                    }
                }
                out.sort_by(|a, b| a.time_ms.cmp(&b.time_ms));
                Ok(out)
            }
            async fn close_positions(&self, symbol: &str) -> Result<Vec<String>, BrokerError> {
                match $m::close_positions(&self.core, symbol).await {
                    Ok(v) => Ok(v),
                    Err(BrokerError::NoPosition { .. }) => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
            }
        }
    };
}

impl_broker!(ClassicV2, AccountMode::Classic, v2);
impl_broker!(UtaV3, AccountMode::Uta, v3);

macro_rules! delegate {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Bitget::Classic($b) => $e,
            Bitget::Uta($b) => $e,
        }
    };
}

impl Broker for Bitget {
    fn account_mode(&self) -> AccountMode {
        delegate!(self, b => b.account_mode())
    }
    async fn sync_clock(&self) -> Result<i64, BrokerError> {
        delegate!(self, b => b.sync_clock().await)
    }
    fn clock_offset_ms(&self) -> i64 {
        delegate!(self, b => b.clock_offset_ms())
    }
    fn requests_sent(&self) -> u64 {
        delegate!(self, b => b.requests_sent())
    }
    async fn contracts(&self, symbol: Option<&str>) -> Result<Vec<ContractSpec>, BrokerError> {
        delegate!(self, b => b.contracts(symbol).await)
    }
    async fn balance(&self) -> Result<Balance, BrokerError> {
        delegate!(self, b => b.balance().await)
    }
    async fn set_margin_mode(&self, symbol: &str, mode: MarginMode) -> Result<(), BrokerError> {
        delegate!(self, b => b.set_margin_mode(symbol, mode).await)
    }
    async fn set_position_mode(&self, mode: PositionMode) -> Result<(), BrokerError> {
        delegate!(self, b => b.set_position_mode(mode).await)
    }
    async fn set_leverage(&self, symbol: &str, leverage: u32) -> Result<(), BrokerError> {
        delegate!(self, b => b.set_leverage(symbol, leverage).await)
    }
    async fn place_order(&self, req: &OrderRequest) -> Result<OrderAck, BrokerError> {
        delegate!(self, b => b.place_order(req).await)
    }
    async fn place_batch(
        &self,
        symbol: &str,
        reqs: &[OrderRequest],
    ) -> Result<Vec<Result<OrderAck, BrokerError>>, BrokerError> {
        delegate!(self, b => b.place_batch(symbol, reqs).await)
    }
    async fn cancel_order(&self, symbol: &str, client_oid: &str) -> Result<bool, BrokerError> {
        delegate!(self, b => b.cancel_order(symbol, client_oid).await)
    }
    async fn order(&self, symbol: &str, client_oid: &str) -> Result<Option<Order>, BrokerError> {
        delegate!(self, b => b.order(symbol, client_oid).await)
    }
    async fn open_orders(&self, symbol: Option<&str>) -> Result<Vec<Order>, BrokerError> {
        delegate!(self, b => b.open_orders(symbol).await)
    }
    async fn positions(&self, symbol: Option<&str>) -> Result<Vec<Position>, BrokerError> {
        delegate!(self, b => b.positions(symbol).await)
    }
    async fn fills(&self, symbol: &str, order_id: Option<&str>) -> Result<Vec<Fill>, BrokerError> {
        delegate!(self, b => b.fills(symbol, order_id).await)
    }
    async fn place_plan(&self, req: &PlanRequest) -> Result<OrderAck, BrokerError> {
        delegate!(self, b => b.place_plan(req).await)
    }
    async fn plan_orders(&self, symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
        delegate!(self, b => b.plan_orders(symbol).await)
    }
    async fn cancel_plan(&self, symbol: &str, plan: &PlanOrder) -> Result<bool, BrokerError> {
        delegate!(self, b => b.cancel_plan(symbol, plan).await)
    }
    async fn close_positions(&self, symbol: &str) -> Result<Vec<String>, BrokerError> {
        delegate!(self, b => b.close_positions(symbol).await)
    }
    async fn plan_history(&self, symbol: &str) -> Result<Vec<PlanOrder>, BrokerError> {
        delegate!(self, b => b.plan_history(symbol).await)
    }
    async fn funding_payments(
        &self,
        symbol: &str,
        since_ms: i64,
    ) -> Result<Vec<FundingPayment>, BrokerError> {
        delegate!(self, b => b.funding_payments(symbol, since_ms).await)
    }
}

impl Bitget {
    /// The credentials' key id, redacted (for the start-up log).
    pub fn key_hint(&self) -> String {
        let core = match self {
            Bitget::Classic(b) => &b.core,
            Bitget::Uta(b) => &b.core,
        };
        crate::creds::redact(core.rest.creds().key())
    }
    /// What the private WebSocket needs (URL per mode, credentials, clock offset).
    pub fn ws_config(&self) -> crate::ws::WsConfig {
        let (core, mode) = match self {
            Bitget::Classic(b) => (&b.core, AccountMode::Classic),
            Bitget::Uta(b) => (&b.core, AccountMode::Uta),
        };
        crate::ws::WsConfig::new(
            mode,
            match mode {
                AccountMode::Classic => core.cfg().ws_private_url.clone(),
                AccountMode::Uta => core.cfg().ws_url_v3(),
            },
            core.rest.creds().clone(),
            core.cfg().ca_file.clone(),
            core.rest.offset_ms(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn funding_windows_are_30_days_contiguous_and_clamped_to_90() {
        let now = 1_800_000_000_000;
        let w = funding_windows(now - 45 * DAY, now);
        assert_eq!(
            w,
            vec![(now - 45 * DAY, now - 15 * DAY), (now - 15 * DAY + 1, now)]
        );
        let w = funding_windows(0, now);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].0, now - 90 * DAY);
        assert!(w.iter().all(|(s, e)| e - s <= 30 * DAY));
        assert!(w.windows(2).all(|p| p[1].0 == p[0].1 + 1));
        assert_eq!(w.last().unwrap().1, now);
        assert!(funding_windows(now + 1, now).is_empty());
    }

    #[test]
    fn plan_state_reads_both_dialects() {
        for (s, want) in [
            ("live", PlanState::Live),
            ("not_trigger", PlanState::Live),
            ("pending", PlanState::Live),
            ("executed", PlanState::Executed),
            ("success", PlanState::Executed),
            ("fail_trigger", PlanState::Failed),
            ("failed", PlanState::Failed),
            ("cancelled", PlanState::Cancelled),
            ("canceled", PlanState::Cancelled),
            ("Cancelled", PlanState::Cancelled),
            ("weird", PlanState::Unknown),
        ] {
            assert_eq!(PlanState::parse(s), want, "{s}");
        }
        assert!(PlanState::Failed.is_final() && !PlanState::Live.is_final());
    }
}
