//! The exchange as the fill model (`Engine::step_external`, the live executor's step): fed the
//! fills the simulated engine made, candle by candle, it books them with the same accounting and
//! produces the same trades, cash and equity, for every single-timeframe strategy on the bundled
//! data. What live trading differs in is then only what the exchange fills, never how a fill is
//! accounted.

use crate::strategy_driver::{H1, Market, data};
use scalp_backtest::{BacktestConfig, Bar, Engine, EngineEvent, LiveFill, Trade};
use scalp_strategy::registry::SPECS;
use scalp_strategy::{ExitReason, MarketExtras, Side};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn same_trade(a: &Trade, b: &Trade) -> bool {
    a.side == b.side
        && a.entry_index == b.entry_index
        && a.exit_index == b.exit_index
        && a.entry_time == b.entry_time
        && a.exit_time == b.exit_time
        && a.entries == b.entries
        && a.exit_reason == b.exit_reason
        && a.regime == b.regime
        && [
            (a.entry_price, b.entry_price),
            (a.exit_price, b.exit_price),
            (a.qty, b.qty),
            (a.margin, b.margin),
            (a.fees, b.fees),
            (a.funding, b.funding),
            (a.slippage, b.slippage),
            (a.gross_pnl, b.gross_pnl),
            (a.net_pnl, b.net_pnl),
        ]
        .iter()
        .all(|&(x, y)| close(x, y))
}

#[test]
fn external_fills_book_exactly_as_simulated_fills() {
    let cs = &data()[1_000..5_000];
    let market = Market::synthetic(cs);
    let cfg = BacktestConfig::default();
    let mut checked = 0;
    for spec in SPECS {
        let build = || {
            scalp_strategy::build(
                spec.name,
                &scalp_strategy::Params::defaults(spec.params),
                H1,
            )
            .unwrap()
        };
        let (mut sa, mut sb) = (build(), build());
        if sa.timeframes().len() > 1 {
            continue; // higher timeframes are the runner's business, not the fill model's
        }
        let mut a = Engine::new(cfg.clone(), H1, cs[0].open_time).unwrap();
        let mut b = Engine::new(cfg.clone(), H1, cs[0].open_time).unwrap();
        a.record_events(true);
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        // entry fees and slippage of the open position (to split a trade's totals)
        let (mut entry_fees, mut entry_slip) = (0.0, 0.0);
        for i in 0..cs.len() {
            let bar = Bar {
                candles: &cs[..=i],
                higher: &[],
                funding: &market.funding,
                extras: MarketExtras::default(),
            };
            let ea = a.step(&bar, "BTC", sa.as_mut(), None).unwrap();
            let trades = a.take_trades();
            let mut k = 0;
            let mut fills = Vec::new();
            for ev in a.take_events() {
                match ev {
                    EngineEvent::Entry {
                        side,
                        price,
                        qty,
                        level,
                        ..
                    } => {
                        let (rate, reference) = match level {
                            Some(_) => (cfg.maker_fee, price),
                            None => (cfg.taker_fee, cs[i].open),
                        };
                        let fee = qty * price * rate;
                        entry_fees += fee;
                        entry_slip += qty * (price - reference).abs();
                        fills.push(LiveFill::Entry {
                            side,
                            price,
                            qty,
                            fee,
                            level,
                            reference,
                        });
                    }
                    EngineEvent::Exit { .. } => {
                        let t = &trades[k];
                        k += 1;
                        let slip = t.slippage - entry_slip;
                        fills.push(LiveFill::Exit {
                            price: t.exit_price,
                            fee: t.fees - entry_fees,
                            reason: t.exit_reason,
                            reference: t.exit_price + slip / t.qty,
                        });
                        entry_fees = 0.0;
                        entry_slip = 0.0;
                    }
                    _ => {}
                }
            }
            ta.extend(trades);
            let eb = b.step_external(&bar, "BTC", sb.as_mut(), &fills).unwrap();
            tb.extend(b.take_trades());
            assert!(
                close(ea, eb),
                "{} candle {i}: equity {ea} vs {eb}",
                spec.name
            );
            assert_eq!(
                a.state().levels,
                b.state().levels,
                "{} candle {i}: levels",
                spec.name
            );
            assert_eq!(a.state().stop, b.state().stop, "{} candle {i}", spec.name);
            assert_eq!(a.state().tp, b.state().tp, "{} candle {i}", spec.name);
        }
        assert_eq!(ta.len(), tb.len(), "{}: trades", spec.name);
        for (x, y) in ta.iter().zip(&tb) {
            assert!(same_trade(x, y), "{}:\n{x:?}\n{y:?}", spec.name);
        }
        assert!(close(a.state().cash, b.state().cash), "{}: cash", spec.name);
        if !ta.is_empty() {
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} strategies traded");
}

#[test]
fn the_sizing_of_an_order_is_the_fills() {
    // what the executor sizes an order at is what the engine would fill at that price
    let cfg = BacktestConfig::default();
    let e = Engine::new(cfg.clone(), H1, 0).unwrap();
    let q = e.entry_order_qty(Side::Long, 50_000.0, true, 0.5).unwrap();
    let px = 50_000.0 * (1.0 + cfg.slippage);
    let want = 0.5 * cfg.capital * cfg.leverage / px;
    assert!(close(q, want), "{q} vs {want}");
    let q = e
        .entry_order_qty(Side::Short, 50_000.0, false, 0.5)
        .unwrap();
    assert!(close(q, 0.5 * cfg.capital * cfg.leverage / 50_000.0));
    let mut blocked = Engine::new(cfg, H1, 0).unwrap();
    blocked.block_entries(true);
    assert_eq!(
        blocked.entry_order_qty(Side::Long, 50_000.0, true, 0.5),
        None
    );
}

#[test]
fn a_fill_that_does_not_fit_the_position_is_an_error() {
    let cs = &data()[..3];
    let cfg = BacktestConfig::default();
    let build = || {
        let spec = scalp_strategy::spec("sma_cross").unwrap();
        scalp_strategy::build(
            spec.name,
            &scalp_strategy::Params::defaults(spec.params),
            H1,
        )
        .unwrap()
    };
    let mut s = build();
    let mut e = Engine::new(cfg, H1, cs[0].open_time).unwrap();
    let bar = |i: usize| Bar {
        candles: &cs[..=i],
        higher: &[],
        funding: &[],
        extras: MarketExtras::default(),
    };
    let exit = LiveFill::Exit {
        price: 100.0,
        fee: 0.0,
        reason: ExitReason::StopLoss,
        reference: 100.0,
    };
    let err = e
        .step_external(&bar(0), "BTC", s.as_mut(), &[exit])
        .unwrap_err();
    assert!(err.to_string().contains("while flat"), "{err}");
    let long = LiveFill::Entry {
        side: Side::Long,
        price: 100.0,
        qty: 1.0,
        fee: 0.06,
        level: None,
        reference: 100.0,
    };
    let mut e = Engine::new(BacktestConfig::default(), H1, cs[0].open_time).unwrap();
    e.step_external(&bar(0), "BTC", s.as_mut(), &[long])
        .unwrap();
    assert_eq!(e.position().qty, 1.0);
    let short = LiveFill::Entry {
        side: Side::Short,
        price: 100.0,
        qty: 1.0,
        fee: 0.06,
        level: None,
        reference: 100.0,
    };
    let err = e
        .step_external(&bar(1), "BTC", s.as_mut(), &[short])
        .unwrap_err();
    assert!(err.to_string().contains("position"), "{err}");
}
