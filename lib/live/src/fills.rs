//! The exchange's fills → the engine's [`LiveFill`]s (docs/EXECUTOR.md "Fills").
//!
//! Fills are read from the exchange (REST `fills`, the WebSocket `fill` pushes are only a
//! wake-up) and booked once each: the cursor remembers the trade ids already booked. A fill that
//! adds to the position (or opens it) is an entry; fills that reduce it are summed until the
//! position is flat and booked as one exit at their volume-weighted price with their summed fee
//! (the engine's trade is one entry set and one exit). The exit reason comes from the clientOid's
//! role: the take-profit limit, a close the engine queued, else the exchange-side stop (the
//! stop's execution order is the exchange's, not ours).

use crate::book::role_of;
use scalp_backtest::LiveFill;
use scalp_backtest::engine::{EngineState, Pending};
use scalp_broker::oid::OrderRole;
use scalp_broker::{Fill, Side as XSide};
use scalp_strategy::{ExitReason, Side};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Quantities below this are zero (exchange quantities have at most 8 decimals).
const EPS: f64 = 1e-10;
/// Booked trade ids are forgotten after this long (the exchange's fill list is read newest
/// first, 100 per symbol: an older fill can no longer come back).
const SEEN_KEEP_MS: i64 = 3 * 86_400_000;

/// Reducing fills summed until the position is flat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExitAcc {
    pub qty: f64,
    pub notional: f64,
    pub fee: f64,
    pub reason: Option<ExitReason>,
}

/// What a runner has booked of the exchange's fills (stored with its snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Trade id → fill time, of every fill booked.
    pub seen: BTreeMap<String, i64>,
    /// Signed size of the position the booked fills built (> 0 long).
    pub net: f64,
    /// The exit being summed (the position is not flat yet).
    pub exit: Option<ExitAcc>,
    /// Exchange order ids of the open trade's fills (entries and exits).
    pub order_ids: Vec<String>,
    /// Exchange fees of the open trade.
    pub fees: f64,
    /// Fills older than this were on the exchange before the runner started (never booked).
    pub since_ms: i64,
    /// Sequence of the take-profit / stop re-arms of the current candle's book (a re-armed
    /// order needs a new clientOid: the old one's is spent).
    pub rearm: u32,
    /// The candle the re-arm sequence belongs to.
    pub rearm_candle: i64,
}

/// A closed trade's exchange figures (for `live_trades`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Closed {
    pub order_ids: Vec<String>,
    pub fees: f64,
}

fn signed(f: &Fill) -> f64 {
    let q = f.qty.to_f64();
    match f.side {
        XSide::Buy => q,
        XSide::Sell => -q,
    }
}

fn side_of(net: f64) -> Side {
    if net > 0.0 { Side::Long } else { Side::Short }
}

/// The new fills among `fills` (any order), oldest first, booked into the cursor: the engine's
/// fills of this step, and the exchange figures of every trade they close. `st` is the engine's
/// state before the step (levels, pending closes, stop), `last_close` the previous candle's close
/// (the reference price of market orders).
pub fn book(
    cur: &mut Cursor,
    strategy: &str,
    asset: &str,
    fills: &[Fill],
    st: &EngineState,
    last_close: f64,
) -> (Vec<LiveFill>, Vec<Closed>) {
    let mut new: Vec<&Fill> = fills
        .iter()
        .filter(|f| !cur.seen.contains_key(&f.trade_id) && f.time_ms >= cur.since_ms)
        .collect();
    new.sort_by(|a, b| {
        a.time_ms.cmp(&b.time_ms).then_with(|| {
            match (a.trade_id.parse::<u128>(), b.trade_id.parse::<u128>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => a.trade_id.cmp(&b.trade_id),
            }
        })
    });
    let close_reason = st
        .pending
        .iter()
        .find_map(|p| match p {
            Pending::Close { reason } => Some(*reason),
            _ => None,
        })
        .unwrap_or(ExitReason::Signal);
    let mut out: Vec<LiveFill> = Vec::new();
    let mut closed = Vec::new();
    for f in new {
        cur.seen.insert(f.trade_id.clone(), f.time_ms);
        let role = f
            .client_oid
            .as_deref()
            .and_then(|o| role_of(strategy, asset, o));
        let s = signed(f);
        let px = f.price.to_f64();
        let fee = f.fee.to_f64();
        if !cur.order_ids.contains(&f.order_id) {
            cur.order_ids.push(f.order_id.clone());
        }
        cur.fees += fee;
        if cur.net.abs() < EPS || cur.net.signum() == s.signum() {
            let (level, reference) = match role {
                Some(OrderRole::Level(n)) => (
                    Some(n),
                    st.levels.iter().find(|l| l.id == n).map_or(px, |l| l.price),
                ),
                Some(OrderRole::Entry(_)) => (None, last_close),
                _ => (None, px),
            };
            let side = side_of(s);
            // consecutive fills of one order are one entry (a partial fill's rest too)
            if let Some(LiveFill::Entry {
                side: ps,
                price,
                qty,
                fee: pf,
                level: pl,
                ..
            }) = out.last_mut()
                && *ps == side
                && *pl == level
                && level.is_some()
            {
                let q = s.abs();
                *price = (*price * *qty + px * q) / (*qty + q);
                *qty += q;
                *pf += fee;
            } else {
                out.push(LiveFill::Entry {
                    side,
                    price: px,
                    qty: s.abs(),
                    fee,
                    level,
                    reference,
                });
            }
            cur.net += s;
            continue;
        }
        let q = s.abs().min(cur.net.abs());
        let acc = cur.exit.get_or_insert_with(ExitAcc::default);
        acc.qty += q;
        acc.notional += q * px;
        acc.fee += fee;
        if acc.reason.is_none() {
            acc.reason = Some(match role {
                Some(OrderRole::TakeProfit(_)) => ExitReason::TakeProfit,
                Some(OrderRole::Close(_)) => close_reason,
                _ => ExitReason::StopLoss,
            });
        }
        cur.net -= q * cur.net.signum();
        if cur.net.abs() < EPS {
            cur.net = 0.0;
            let acc = cur.exit.take().unwrap_or_default();
            let reason = acc.reason.unwrap_or(ExitReason::StopLoss);
            let price = acc.notional / acc.qty.max(EPS);
            let reference = match reason {
                ExitReason::StopLoss => st.stop.unwrap_or(price),
                ExitReason::TakeProfit => price,
                _ => last_close,
            };
            out.push(LiveFill::Exit {
                price,
                fee: acc.fee,
                reason,
                reference,
            });
            closed.push(Closed {
                order_ids: std::mem::take(&mut cur.order_ids),
                fees: std::mem::take(&mut cur.fees),
            });
        }
    }
    // forget what can no longer be listed again
    if let Some(&newest) = cur.seen.values().max() {
        cur.seen.retain(|_, t| *t >= newest - SEEN_KEEP_MS);
    }
    (out, closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalp_backtest::engine::Level;
    use scalp_broker::Dec;
    use scalp_broker::client_oid;

    fn fill(id: &str, oid: Option<String>, side: XSide, px: &str, qty: &str, t: i64) -> Fill {
        Fill {
            trade_id: id.into(),
            order_id: format!("o{id}"),
            client_oid: oid,
            symbol: "BTCUSDT".into(),
            side,
            price: Dec::parse(px).unwrap(),
            qty: Dec::parse(qty).unwrap(),
            fee: Dec::parse("0.01").unwrap(),
            fee_coin: "USDT".into(),
            realized_pnl: Dec::parse("0").unwrap(),
            maker: true,
            time_ms: t,
        }
    }

    fn state() -> EngineState {
        let cfg = scalp_backtest::BacktestConfig::default();
        let mut st = scalp_backtest::Engine::new(cfg, scalp_core::Timeframe::H1, 0)
            .unwrap()
            .state()
            .clone();
        st.levels = vec![Level {
            id: 3,
            side: Side::Long,
            price: 100.0,
            margin_frac: 0.5,
        }];
        st.stop = Some(90.0);
        st
    }

    #[test]
    fn entries_then_exit_by_the_stop_once_each() {
        let st = state();
        let lvl = client_oid("g", "BTC", OrderRole::Level(3), 0);
        let fills = vec![
            // newest first, as the exchange lists them; a partial fill in two parts
            fill(
                "12",
                Some("sr-foreign-x".into()),
                XSide::Sell,
                "90",
                "0.002",
                30,
            ),
            fill("11", Some(lvl.clone()), XSide::Buy, "100", "0.001", 20),
            fill("10", Some(lvl), XSide::Buy, "100", "0.001", 10),
        ];
        let mut cur = Cursor::default();
        let (lf, closed) = book(&mut cur, "g", "BTC", &fills, &st, 101.0);
        assert_eq!(lf.len(), 2, "{lf:?}");
        match lf[0] {
            LiveFill::Entry {
                qty,
                level,
                reference,
                fee,
                ..
            } => {
                assert!((qty - 0.002).abs() < 1e-12);
                assert_eq!(level, Some(3));
                assert_eq!(reference, 100.0);
                assert!((fee - 0.02).abs() < 1e-12);
            }
            _ => panic!(),
        }
        match lf[1] {
            LiveFill::Exit {
                price,
                reason,
                reference,
                ..
            } => {
                assert_eq!(price, 90.0);
                assert_eq!(reason, ExitReason::StopLoss);
                assert_eq!(reference, 90.0);
            }
            _ => panic!(),
        }
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].order_ids, vec!["o10", "o11", "o12"]);
        assert_eq!(cur.net, 0.0);
        // the same list again books nothing
        let (lf, closed) = book(&mut cur, "g", "BTC", &fills, &st, 101.0);
        assert!(lf.is_empty() && closed.is_empty());
    }

    #[test]
    fn a_partial_exit_waits_for_the_rest() {
        let st = state();
        let tp = client_oid("g", "BTC", OrderRole::TakeProfit(0), 0);
        let e = client_oid("g", "BTC", OrderRole::Entry(0), 0);
        let mut cur = Cursor::default();
        let f1 = vec![
            fill("2", Some(tp.clone()), XSide::Sell, "110", "0.001", 2),
            fill("1", Some(e), XSide::Buy, "100", "0.003", 1),
        ];
        let (lf, _) = book(&mut cur, "g", "BTC", &f1, &st, 99.0);
        assert_eq!(lf.len(), 1);
        assert!(
            matches!(lf[0], LiveFill::Entry { reference, level: None, .. } if reference == 99.0)
        );
        assert!((cur.net - 0.002).abs() < 1e-12);
        let f2 = vec![fill("3", Some(tp), XSide::Sell, "112", "0.002", 3)];
        let (lf, closed) = book(&mut cur, "g", "BTC", &f2, &st, 99.0);
        assert_eq!(closed.len(), 1);
        match lf[..] {
            [
                LiveFill::Exit {
                    price, reason, fee, ..
                },
            ] => {
                assert!((price - (110.0 * 0.001 + 112.0 * 0.002) / 0.003).abs() < 1e-9);
                assert_eq!(reason, ExitReason::TakeProfit);
                assert!((fee - 0.02).abs() < 1e-12);
            }
            _ => panic!("{lf:?}"),
        }
    }

    #[test]
    fn fills_before_the_start_are_not_ours() {
        let st = state();
        let mut cur = Cursor {
            since_ms: 100,
            ..Cursor::default()
        };
        let f = vec![fill("1", None, XSide::Buy, "100", "1", 50)];
        let (lf, _) = book(&mut cur, "g", "BTC", &f, &st, 99.0);
        assert!(lf.is_empty());
    }
}
