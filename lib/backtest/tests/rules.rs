//! Fill rules of docs/BACKTEST.md, one hand-computed scenario each.

use scalp_backtest::{BacktestConfig, BacktestInput, FillMode, KillSwitch, Sizing, run_backtest};
use scalp_core::{Candle, Timeframe};
use scalp_strategy::{Context, ExitReason, Intent, Side, Strategy};

/// Emits scripted intents at given candle indices.
struct Script {
    at: Vec<(usize, Vec<Intent>)>,
    i: usize,
}

impl Strategy for Script {
    fn name(&self) -> &'static str {
        "script"
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        vec![Timeframe::H1]
    }
    fn warmup(&self) -> usize {
        0
    }
    fn history_needed(&self) -> usize {
        usize::MAX
    }
    fn higher_history_needed(&self) -> usize {
        usize::MAX
    }
    fn save_state(&self) -> Result<Vec<u8>, scalp_strategy::state::StateError> {
        Err(scalp_strategy::state::StateError::Encode(
            "test strategy".into(),
        ))
    }
    fn load_state(&mut self, _: &[u8]) -> Result<(), scalp_strategy::state::StateError> {
        Err(scalp_strategy::state::StateError::Encode(
            "test strategy".into(),
        ))
    }
    fn on_candle(&mut self, _ctx: &Context<'_>, out: &mut Vec<Intent>) {
        for (k, v) in &self.at {
            if *k == self.i {
                out.extend(v.iter().cloned());
            }
        }
        self.i += 1;
    }
}

const H: i64 = 3_600_000;

/// Candles starting at 01:00 UTC (no funding settlement before 08:00).
fn c(i: i64, o: f64, h: f64, l: f64, cl: f64) -> Candle {
    Candle {
        open_time: H + i * H,
        open: o,
        high: h,
        low: l,
        close: cl,
        volume: 1.0,
    }
}

fn cfg() -> BacktestConfig {
    BacktestConfig {
        capital: 1000.0,
        leverage: 1.0,
        maker_fee: 0.0002,
        taker_fee: 0.0006,
        slippage: 0.001,
        funding_rate: None,
        lot_step: 0.0,
        ..BacktestConfig::default()
    }
}

fn run(
    candles: &[Candle],
    script: Vec<(usize, Vec<Intent>)>,
    cfg: &BacktestConfig,
) -> scalp_backtest::BacktestResult {
    let input = BacktestInput::new("T", Timeframe::H1, candles);
    run_backtest(&input, &mut Script { at: script, i: 0 }, cfg).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn market_entry_fills_next_open_with_slippage_and_taker_fee() {
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 102.0, 103.0, 101.0, 102.0),
        c(2, 104.0, 105.0, 103.0, 104.0),
        c(3, 106.0, 107.0, 105.0, 106.0),
    ];
    let script = vec![
        (
            0,
            vec![Intent::MarketEntry {
                side: Side::Long,
                margin_frac: 0.5,
            }],
        ),
        (
            2,
            vec![Intent::ClosePosition {
                reason: ExitReason::Signal,
            }],
        ),
    ];
    let r = run(&cs, script, &cfg());
    assert_eq!(r.trades.len(), 1);
    let t = &r.trades[0];
    let entry = 102.0 * 1.001;
    let qty = 500.0 / entry; // margin_frac × capital × leverage / price
    assert!(close(t.entry_price, entry));
    assert!(close(t.qty, qty));
    assert_eq!((t.entry_index, t.exit_index), (1, 3));
    assert_eq!(t.entry_time, cs[1].open_time);
    let exit = 106.0 * 0.999;
    assert!(close(t.exit_price, exit));
    let fees = qty * entry * 0.0006 + qty * exit * 0.0006;
    assert!(close(t.fees, fees));
    assert!(close(t.slippage, qty * 102.0 * 0.001 + qty * 106.0 * 0.001));
    assert!(close(t.gross_pnl, qty * (exit - entry)));
    assert!(close(t.net_pnl, qty * (exit - entry) - fees));
    assert!(close(r.metrics.final_equity, 1000.0 + t.net_pnl));
    // Equity marked at each close while open.
    assert!(close(
        r.equity[2],
        1000.0 - qty * entry * 0.0006 + qty * (104.0 - entry)
    ));
}

#[test]
fn close_fill_mode_fills_at_signal_close() {
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 102.0, 103.0, 101.0, 102.0),
        c(2, 104.0, 105.0, 103.0, 104.0),
    ];
    let script = vec![
        (
            0,
            vec![Intent::MarketEntry {
                side: Side::Long,
                margin_frac: 1.0,
            }],
        ),
        (
            1,
            vec![Intent::ClosePosition {
                reason: ExitReason::Signal,
            }],
        ),
    ];
    let cfg = BacktestConfig {
        fill: FillMode::Close,
        slippage: 0.0,
        ..cfg()
    };
    let r = run(&cs, script, &cfg);
    let t = &r.trades[0];
    assert_eq!((t.entry_price, t.exit_price), (100.0, 102.0));
    assert_eq!((t.entry_index, t.exit_index), (0, 1));
    assert_eq!(t.entry_time, cs[0].open_time + H);
}

#[test]
fn limit_level_fills_at_its_price_or_at_a_gapped_open() {
    // Level at 95: candle 1 trades through it (low 94) → fills at 95, maker fee.
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 99.0, 100.0, 94.0, 96.0),
        c(2, 96.0, 97.0, 95.5, 96.0),
    ];
    let script = vec![(
        0,
        vec![Intent::PlaceLevel {
            id: 1,
            side: Side::Long,
            price: 95.0,
            margin_frac: 0.2,
        }],
    )];
    let r = run(&cs, script, &cfg());
    let t = &r.trades[0];
    assert_eq!(t.entry_price, 95.0);
    assert!(close(t.qty, 200.0 / 95.0));
    assert!(close(
        t.fees - t.qty * t.exit_price * 0.0006,
        t.qty * 95.0 * 0.0002
    ));
    assert_eq!(t.exit_reason, ExitReason::EndOfData);
    // Gap: the next open (93) is already below the level → fills at the open.
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 93.0, 94.0, 92.0, 93.5),
        c(2, 93.0, 94.0, 92.5, 93.0),
    ];
    let script = vec![(
        0,
        vec![Intent::PlaceLevel {
            id: 1,
            side: Side::Long,
            price: 95.0,
            margin_frac: 0.2,
        }],
    )];
    let r = run(&cs, script, &cfg());
    assert_eq!(r.trades[0].entry_price, 93.0);
    // Untouched level never fills.
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 99.0, 100.0, 95.01, 96.0),
    ];
    let script = vec![(
        0,
        vec![Intent::PlaceLevel {
            id: 1,
            side: Side::Long,
            price: 95.0,
            margin_frac: 0.2,
        }],
    )];
    assert!(run(&cs, script, &cfg()).trades.is_empty());
}

#[test]
fn stop_fills_at_stop_or_gapped_open_minus_slippage() {
    let entry = |stop: f64| {
        vec![(
            0,
            vec![
                Intent::MarketEntry {
                    side: Side::Long,
                    margin_frac: 0.5,
                },
                Intent::SetStop { price: stop },
            ],
        )]
    };
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 100.0, 101.0, 99.5, 100.5),
        c(2, 100.0, 100.5, 96.0, 97.0),
    ];
    let r = run(&cs, entry(98.0), &cfg());
    let t = &r.trades[0];
    assert_eq!(t.exit_reason, ExitReason::StopLoss);
    assert!(close(t.exit_price, 98.0 * 0.999));
    assert_eq!(t.exit_index, 2);
    // Gap below the stop: fills at the open.
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 100.0, 101.0, 99.5, 100.5),
        c(2, 95.0, 96.0, 94.0, 95.5),
    ];
    let r = run(&cs, entry(98.0), &cfg());
    assert!(close(r.trades[0].exit_price, 95.0 * 0.999));
}

#[test]
fn intrabar_path_bullish_low_first_bearish_high_first() {
    // Long with stop 95 and take-profit 105; candle 2 touches both.
    let script = vec![(
        0,
        vec![
            Intent::MarketEntry {
                side: Side::Long,
                margin_frac: 0.5,
            },
            Intent::SetStop { price: 95.0 },
            Intent::SetTakeProfit { price: 105.0 },
        ],
    )];
    let base = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 100.0, 101.0, 99.0, 100.0),
    ];
    // Bullish (close ≥ open): O → L → H → C, so the stop (low side) is hit first.
    let mut cs = base.to_vec();
    cs.push(c(2, 100.0, 106.0, 94.0, 104.0));
    let r = run(&cs, script.clone(), &cfg());
    assert_eq!(r.trades[0].exit_reason, ExitReason::StopLoss);
    // Bearish: O → H → L → C, so the take-profit is hit first, at its price, maker fee.
    let mut cs = base.to_vec();
    cs.push(c(2, 100.0, 106.0, 94.0, 96.0));
    let r = run(&cs, script, &cfg());
    let t = &r.trades[0];
    assert_eq!(t.exit_reason, ExitReason::TakeProfit);
    assert_eq!(t.exit_price, 105.0);
}

#[test]
fn level_fill_then_take_profit_in_the_same_candle() {
    // Bullish candle: down to 94 fills the level at 95, then up to 106 hits the TP at 104.
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 100.0, 106.0, 94.0, 105.0),
    ];
    let script = vec![(
        0,
        vec![
            Intent::PlaceLevel {
                id: 7,
                side: Side::Long,
                price: 95.0,
                margin_frac: 0.1,
            },
            Intent::SetTakeProfit { price: 104.0 },
        ],
    )];
    let r = run(&cs, script, &cfg());
    assert_eq!(r.trades.len(), 1);
    let t = &r.trades[0];
    assert_eq!(
        (t.entry_price, t.exit_price, t.exit_reason),
        (95.0, 104.0, ExitReason::TakeProfit)
    );
    assert_eq!((t.entry_index, t.exit_index), (1, 1));
}

#[test]
fn grid_levels_average_and_liquidation_loses_the_margin() {
    let cfg = BacktestConfig {
        leverage: 10.0,
        slippage: 0.0,
        maintenance_margin: 0.004,
        ..cfg()
    };
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 100.0, 100.5, 97.5, 98.0),
        c(2, 98.0, 98.5, 80.0, 81.0),
    ];
    let script = vec![(
        0,
        vec![
            Intent::PlaceLevel {
                id: 1,
                side: Side::Long,
                price: 99.0,
                margin_frac: 0.1,
            },
            Intent::PlaceLevel {
                id: 2,
                side: Side::Long,
                price: 98.0,
                margin_frac: 0.1,
            },
        ],
    )];
    let r = run(&cs, script, &cfg);
    assert_eq!(r.trades.len(), 1);
    let t = &r.trades[0];
    assert_eq!(t.entries, 2);
    let q1 = 0.1 * 1000.0 * 10.0 / 99.0;
    let cash_after_1 = 1000.0 - q1 * 99.0 * 0.0002;
    let q2 = 0.1 * cash_after_1 * 10.0 / 98.0;
    assert!(close(t.qty, q1 + q2));
    let avg = (99.0 * q1 + 98.0 * q2) / (q1 + q2);
    assert!(close(t.entry_price, avg));
    let margin = (q1 * 99.0 + q2 * 98.0) / 10.0;
    let liq = avg - (margin - 0.004 * (q1 + q2) * avg) / (q1 + q2);
    assert_eq!(t.exit_reason, ExitReason::Liquidation);
    assert!(close(t.exit_price, liq));
    // Net = −margin − entry fees.
    let entry_fees = q1 * 99.0 * 0.0002 + q2 * 98.0 * 0.0002;
    assert!(
        close(t.net_pnl, -margin - entry_fees),
        "{} vs {}",
        t.net_pnl,
        -margin - entry_fees
    );
    assert_eq!(r.metrics.liquidations, 1);
}

#[test]
fn funding_every_8h_on_the_position_held_at_the_settlement() {
    // Candles 06:00 .. 10:00; settlement at 08:00 = open of candle 2.
    let cs: Vec<Candle> = (0..5)
        .map(|i| Candle {
            open_time: (6 + i) * H,
            open: 100.0,
            high: 101.0,
            low: 99.0,
            close: 100.0 + i as f64,
            volume: 1.0,
        })
        .collect();
    let script = vec![(
        0,
        vec![Intent::MarketEntry {
            side: Side::Long,
            margin_frac: 0.5,
        }],
    )];
    let cfg = BacktestConfig {
        funding_rate: Some(0.0001),
        slippage: 0.0,
        ..cfg()
    };
    let r = run(&cs, script, &cfg);
    let t = &r.trades[0];
    let qty = 500.0 / 100.0;
    assert!(close(t.funding, qty * 102.0 * 0.0001), "{}", t.funding);
    // A short receives it.
    let script = vec![(
        0,
        vec![Intent::MarketEntry {
            side: Side::Short,
            margin_frac: 0.5,
        }],
    )];
    let r = run(&cs, script, &cfg);
    assert!(close(r.trades[0].funding, -qty * 102.0 * 0.0001));
    // History overrides the configured rate.
    let hist = [scalp_backtest::FundingPoint {
        time: 8 * H,
        rate: -0.0003,
    }];
    let input = BacktestInput::new("T", Timeframe::H1, &cs).with_funding(&hist);
    let script = vec![(
        0,
        vec![Intent::MarketEntry {
            side: Side::Long,
            margin_frac: 0.5,
        }],
    )];
    let r = run_backtest(&input, &mut Script { at: script, i: 0 }, &cfg).unwrap();
    assert!(close(r.trades[0].funding, qty * 102.0 * -0.0003));
}

#[test]
fn lot_step_rounds_down_and_fixed_size() {
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 100.0, 101.0, 99.0, 100.0),
    ];
    let script = vec![(
        0,
        vec![Intent::MarketEntry {
            side: Side::Long,
            margin_frac: 0.333,
        }],
    )];
    let cfg = BacktestConfig {
        lot_step: 0.1,
        slippage: 0.0,
        ..cfg()
    };
    let r = run(&cs, script.clone(), &cfg);
    assert!(close(r.trades[0].qty, 3.3)); // 333 / 100 = 3.33 → 3.3
    let cfg = BacktestConfig {
        lot_step: 0.1,
        slippage: 0.0,
        sizing: Sizing::Fixed(0.3),
        ..cfg
    };
    let r = run(&cs, script.clone(), &cfg);
    assert!(close(r.trades[0].qty, 0.3));
    // Too little free balance for one lot: the entry is skipped.
    let cfg = BacktestConfig {
        lot_step: 100.0,
        ..cfg
    };
    let r = run(&cs, script, &cfg);
    assert!(r.trades.is_empty());
    assert_eq!(r.skipped_entries, 1);
}

#[test]
fn kill_switch_after_consecutive_losses_stops_trading() {
    // Each entry at the open, exit at the next open lower: every trade loses.
    let cs: Vec<Candle> = (0..12)
        .map(|i| {
            let p = 100.0 - i as f64;
            c(i, p, p + 0.5, p - 0.5, p)
        })
        .collect();
    let script: Vec<(usize, Vec<Intent>)> = (0..12)
        .map(|i| {
            if i % 2 == 0 {
                (
                    i,
                    vec![Intent::MarketEntry {
                        side: Side::Long,
                        margin_frac: 0.5,
                    }],
                )
            } else {
                (
                    i,
                    vec![Intent::ClosePosition {
                        reason: ExitReason::Signal,
                    }],
                )
            }
        })
        .collect();
    let cfg = BacktestConfig {
        kill_switch: KillSwitch {
            max_consecutive_losses: Some(2),
            max_drawdown_pct: None,
        },
        ..cfg()
    };
    let r = run(&cs, script, &cfg);
    assert_eq!(r.trades.len(), 2);
    let k = r.killed.expect("tripped");
    assert!(k.reason.contains("consecutive losses"), "{}", k.reason);
}

#[test]
fn invalid_intent_is_an_error_naming_the_strategy_and_candle() {
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 100.0, 101.0, 99.0, 100.0),
    ];
    let input = BacktestInput::new("T", Timeframe::H1, &cs);
    let script = vec![(1, vec![Intent::SetStop { price: f64::NAN }])];
    let e = run_backtest(&input, &mut Script { at: script, i: 0 }, &cfg())
        .unwrap_err()
        .to_string();
    assert!(e.contains("strategy `script` at candle 1"), "{e}");
}

/// A candle that gaps through the liquidation price (it never trades at it) still liquidates
/// the position at the liquidation price: it cannot lose more than its margin plus fees, and
/// equity never goes below zero (before, the position survived and equity went negative).
#[test]
fn gap_through_the_liquidation_price_liquidates() {
    let cfg = BacktestConfig {
        leverage: 10.0,
        slippage: 0.0,
        maintenance_margin: 0.004,
        ..cfg()
    };
    let cs = [
        c(0, 100.0, 101.0, 99.0, 100.0),
        c(1, 100.0, 100.5, 99.5, 100.0),
        c(2, 80.0, 85.0, 78.0, 82.0),
        c(3, 82.0, 83.0, 81.0, 82.0),
    ];
    let script = vec![(
        0,
        vec![Intent::MarketEntry {
            side: Side::Long,
            margin_frac: 1.0,
        }],
    )];
    let r = run(&cs, script, &cfg);
    assert_eq!(r.trades.len(), 1);
    let t = &r.trades[0];
    assert_eq!((t.exit_reason, t.exit_index), (ExitReason::Liquidation, 2));
    let liq = 100.0 - (t.margin - 0.004 * t.qty * 100.0) / t.qty;
    assert!(close(t.exit_price, liq), "{} vs {liq}", t.exit_price);
    assert!(close(t.net_pnl, -t.margin - t.qty * 100.0 * 0.0006));
    assert!(r.equity.iter().all(|&e| e >= 0.0), "{:?}", r.equity);
}

/// Funding that the free balance cannot pay comes out of the isolated margin (moving the
/// liquidation price); the account never goes below zero. The reproduction of issue 15
/// (`sma_cross` on the bundled Coinbase daily candles) ended at equity −6.28 this way.
#[test]
fn funding_beyond_the_free_balance_comes_out_of_the_margin() {
    let cfg = BacktestConfig {
        slippage: 0.0,
        maintenance_margin: 0.004,
        funding_rate: Some(0.09),
        ..cfg()
    };
    let cs: Vec<Candle> = (0..120).map(|i| c(i, 100.0, 100.5, 99.5, 100.0)).collect();
    let script = vec![(
        0,
        vec![Intent::MarketEntry {
            side: Side::Long,
            margin_frac: 1.0,
        }],
    )];
    let r = run(&cs, script, &cfg);
    assert_eq!(r.trades.len(), 1);
    let t = &r.trades[0];
    assert_eq!(t.exit_reason, ExitReason::Liquidation);
    // Settlements every 8 h from 08:00 of 9 % of ~999 notional eat the margin; the 12th (at
    // 96 h, candle 95) finds ~10 left, takes only that and the position is liquidated.
    assert_eq!(t.exit_index, 95);
    assert!(r.equity.iter().all(|&e| e >= 0.0), "{:?}", r.equity);
    assert!(close(*r.equity.last().unwrap(), 0.0));
    assert_eq!(
        r.killed.as_ref().map(|k| k.reason.as_str()),
        Some("equity <= 0")
    );
}

fn entry(frac: f64) -> Intent {
    Intent::MarketEntry {
        side: Side::Long,
        margin_frac: frac,
    }
}

#[test]
fn below_min_notional_is_skipped_counted_and_a_flat_runner_stops() {
    let cs: Vec<Candle> = (0..6).map(|i| c(i, 100.0, 101.0, 99.0, 100.0)).collect();
    // 0.004 × 1000 = 4 USDT < 5: skipped; flat, so the runner stops and the bigger entry at
    // candle 2 is never asked for.
    let script = vec![(0, vec![entry(0.004)]), (2, vec![entry(1.0)])];
    let min_cfg = BacktestConfig {
        slippage: 0.0,
        min_notional: 5.0,
        ..cfg()
    };
    let r = run(&cs, script, &min_cfg);
    assert!(r.trades.is_empty());
    assert_eq!((r.skipped_min_order, r.skipped_entries), (1, 0));
    let st = r.stopped.expect("stopped");
    assert_eq!(st.index, 1, "the entry was due at the open of candle 1");
    assert!(
        st.reason
            .starts_with("stopped: equity 1000.00 below the minimum order")
            && st.reason.contains("min notional 5 USDT"),
        "{}",
        st.reason
    );
    assert!(r.killed.is_none());
    assert!(r.equity.iter().all(|&e| e == 1000.0));
    // Without minimums the same order fills.
    let r = run(
        &cs,
        vec![(0, vec![entry(0.004)])],
        &BacktestConfig {
            slippage: 0.0,
            ..cfg()
        },
    );
    assert_eq!(r.trades.len(), 1);
    assert!(r.stopped.is_none());
}

#[test]
fn quantity_is_rounded_down_to_the_lot_then_checked_against_min_qty() {
    let cs: Vec<Candle> = (0..4).map(|i| c(i, 100.0, 101.0, 99.0, 100.0)).collect();
    let cfg = BacktestConfig {
        slippage: 0.0,
        taker_fee: 0.0,
        lot_step: 0.1,
        min_qty: 0.5,
        ..cfg()
    };
    // 0.0599 × 1000 / 100 = 0.599 → 0.5 lots of 0.1 = exactly the minimum: fills.
    let r = run(&cs, vec![(0, vec![entry(0.0599)])], &cfg);
    assert_eq!(r.trades.len(), 1);
    assert!(close(r.trades[0].qty, 0.5));
    assert_eq!(r.skipped_min_order, 0);
    // 0.049 × 1000 / 100 = 0.49 → 0.4 < 0.5: skipped and counted, the runner stops.
    let r = run(&cs, vec![(0, vec![entry(0.049)])], &cfg);
    assert!(r.trades.is_empty());
    assert_eq!(r.skipped_min_order, 1);
    assert!(r.stopped.unwrap().reason.contains("min qty 0.5"));
}

#[test]
fn below_minimum_while_in_a_position_is_skipped_without_stopping() {
    let cs: Vec<Candle> = (0..6).map(|i| c(i, 100.0, 101.0, 99.0, 100.0)).collect();
    let script = vec![
        (0, vec![entry(0.5)]),
        (1, vec![entry(0.001)]), // 1 USDT: skipped, the position stays
        (
            3,
            vec![Intent::ClosePosition {
                reason: ExitReason::Signal,
            }],
        ),
    ];
    let cfg = BacktestConfig {
        slippage: 0.0,
        min_notional: 5.0,
        ..cfg()
    };
    let r = run(&cs, script, &cfg);
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.trades[0].entries, 1);
    assert_eq!(r.trades[0].exit_reason, ExitReason::Signal);
    assert_eq!(r.skipped_min_order, 1);
    assert!(r.stopped.is_none());
}

#[test]
fn grid_level_below_the_minimum_is_skipped_and_the_runner_stops() {
    // A long level at 99.5 is touched by candle 1 (low 99); 0.004 × 1000 = 4 USDT < 5.
    let cs: Vec<Candle> = (0..4).map(|i| c(i, 100.0, 101.0, 99.0, 100.0)).collect();
    let script = vec![(
        0,
        vec![Intent::PlaceLevel {
            id: 1,
            side: Side::Long,
            price: 99.5,
            margin_frac: 0.004,
        }],
    )];
    let cfg = BacktestConfig {
        min_notional: 5.0,
        ..cfg()
    };
    let r = run(&cs, script, &cfg);
    assert!(r.trades.is_empty());
    assert_eq!(r.skipped_min_order, 1);
    assert_eq!(r.stopped.expect("stopped").index, 1);
}
