//! `scalpctl check-sizing` (docs/EXECUTOR.md "Sizing check"): every order a live strategy
//! would send, checked against the exchange's contract rules before real money is at stake.
//!
//! Each runner of the strategy (the executor's plans: `[executor].capital` split equally) is
//! replayed on the last `days` of stored candles with the backtest fill model; after every
//! candle the executor's own order builder ([`book::desired`]) turns the engine's book into
//! exchange requests rounded to the contract. What the builder refuses (below the minimum
//! quantity or notional after rounding) is an order the exchange would reject: the check fails.
//! The worst-case margin is the largest, over the candles, of the held position's margin plus
//! that of every resting level and queued entry (all of them filling at once).

use crate::book::{self, Held, Purpose};
use rusqlite::Connection;
use scalp_broker::{ContractSpec, Dec, PositionSide};
use scalp_core::config::Config;
use scalp_core::types::fmt_ms;
use scalp_paper::runner::Runner;
use scalp_store::SeriesKey;
use scalp_strategy::Side;
use serde::Serialize;

/// One order the exchange would reject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub candle: String,
    pub purpose: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizingRow {
    pub runner: String,
    pub symbol: String,
    pub capital: f64,
    pub leverage: f64,
    pub max_leverage: u32,
    pub min_qty: String,
    pub min_notional: String,
    pub lot_step: String,
    pub candles: usize,
    /// Entry and level orders built (market entries and resting levels).
    pub orders: usize,
    /// The margin one order commits (notional / leverage), smallest and largest.
    pub margin_per_order: (f64, f64),
    pub qty: (String, String),
    pub notional: (f64, f64),
    /// Largest margin the runner could have committed at once.
    pub worst_case_margin: f64,
    pub rejected: usize,
    /// The first few rejections.
    pub examples: Vec<Rejected>,
    /// Entries the engine sizes below the minimum order (the backtest's contract rules): the
    /// backtest skips them too, live they are never sent. A problem as well: the strategy
    /// cannot trade as tested at this capital.
    pub not_sized: usize,
    /// Why this runner fails the check (empty: it passes).
    pub problems: Vec<String>,
    /// Worth knowing, not failing (fee model against the contract's fee rates).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizingReport {
    pub strategy: String,
    pub days: u32,
    /// The account's available balance (USDT) when known.
    pub available: Option<f64>,
    pub rows: Vec<SizingRow>,
    /// Strategy-wide problems (worst-case margin over the available balance).
    pub problems: Vec<String>,
}

impl SizingReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.rows.iter().all(|r| r.problems.is_empty())
    }

    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "check-sizing {} (last {} days of stored candles){}",
            self.strategy,
            self.days,
            self.available.map_or(String::new(), |a| format!(
                ", account available {a:.2} USDT"
            ))
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "  {} {}: capital {:.2} USDT, leverage {}x (max {}x); contract min qty {} (step {}), min notional {} USDT",
                r.runner,
                r.symbol,
                r.capital,
                r.leverage,
                r.max_leverage,
                r.min_qty,
                r.lot_step,
                r.min_notional
            );
            if r.orders > 0 {
                let _ = writeln!(
                    s,
                    "    {} orders over {} candles: qty {}..{}, notional {:.2}..{:.2} USDT, margin per order {:.2}..{:.2} USDT, worst-case margin {:.2} USDT",
                    r.orders,
                    r.candles,
                    r.qty.0,
                    r.qty.1,
                    r.notional.0,
                    r.notional.1,
                    r.margin_per_order.0,
                    r.margin_per_order.1,
                    r.worst_case_margin
                );
            } else {
                let _ = writeln!(s, "    no order over {} candles", r.candles);
            }
            if r.not_sized > 0 {
                let _ = writeln!(
                    s,
                    "    {} entries sized below the minimum order (skipped, by the backtest too)",
                    r.not_sized
                );
            }
            for e in &r.examples {
                let _ = writeln!(s, "    REJECTED {} {}: {}", e.candle, e.purpose, e.why);
            }
            for n in &r.notes {
                let _ = writeln!(s, "    note: {n}");
            }
            for p in &r.problems {
                let _ = writeln!(s, "    PROBLEM: {p}");
            }
        }
        for p in &self.problems {
            let _ = writeln!(s, "  PROBLEM: {p}");
        }
        let _ = writeln!(
            s,
            "{}",
            if self.ok() {
                "ok: every order fits the contracts"
            } else {
                "FAILED: live orders would be rejected (or could not be margined)"
            }
        );
        s
    }
}

fn purpose_txt(p: Purpose) -> String {
    match p {
        Purpose::Level(n) => format!("level {n}"),
        Purpose::Entry => "entry".into(),
        Purpose::Close(_) => "close".into(),
        Purpose::TakeProfit => "take-profit".into(),
    }
}

fn dec(x: f64) -> Dec {
    Dec::parse(&format!("{x:.12}")).unwrap_or_else(|_| Dec::parse("0").expect("zero"))
}

/// The check of `strategy` on the stored candles of its runners (`conn` may be read-only).
pub fn check(
    cfg: &Config,
    strategy: &str,
    conn: &Connection,
    contracts: &[ContractSpec],
    available: Option<f64>,
    days: u32,
) -> anyhow::Result<SizingReport> {
    let plans = crate::exec::plans(cfg, strategy)?;
    let mut rows = Vec::new();
    let mut worst_total = 0.0;
    for plan in plans {
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let Some(spec) = contracts.iter().find(|c| c.symbol == plan.symbol) else {
            anyhow::bail!(
                "{}: the exchange lists no contract {} (assets.toml names {})",
                plan.id,
                plan.symbol,
                plan.asset
            );
        };
        let lev = plan.settings.leverage;
        if lev > spec.max_leverage as f64 {
            problems.push(format!(
                "leverage {lev}x exceeds the contract's maximum {}x",
                spec.max_leverage
            ));
        }
        if lev < spec.min_leverage as f64 {
            problems.push(format!(
                "leverage {lev}x is below the contract's minimum {}x",
                spec.min_leverage
            ));
        }
        if !spec.tradable {
            problems.push(format!("contract not tradable (status {})", spec.status));
        }
        for (what, model, exch) in [
            (
                "maker",
                plan.settings.maker_fee,
                spec.maker_fee_rate.to_f64(),
            ),
            (
                "taker",
                plan.settings.taker_fee,
                spec.taker_fee_rate.to_f64(),
            ),
        ] {
            if (model - exch).abs() > 1e-12 {
                notes.push(format!(
                    "{what} fee: the backtest models {model}, the contract lists {exch} (scalpctl audit-fees compares what is charged)"
                ));
            }
        }
        let key = SeriesKey {
            exchange: plan.exchange,
            symbol: &plan.symbol,
            timeframe: plan.timeframe,
        };
        let Some(last) = scalp_store::candles::last_open_time(conn, &key)? else {
            problems.push(format!(
                "no stored candles of {} {} {}: nothing to size on",
                plan.exchange.as_str(),
                plan.symbol,
                plan.timeframe
            ));
            rows.push(row(&plan, spec, 0, Vec::new(), 0, 0.0, problems, notes));
            continue;
        };
        let tf = plan.timeframe.ms();
        let probe = plan.build_strategy();
        let warm = plan.history(probe.as_ref()) as i64 * tf;
        let span = days as i64 * 86_400_000;
        let first = scalp_store::candles::first_open_time(conn, &key)?.unwrap_or(last);
        let check_from = (last + tf - span).max(first);
        let from = (check_from - warm).max(first);
        let candles = scalp_store::candles::load(conn, &key, from, last + 1)?;
        let mut r = Runner::new(plan.clone(), 0, from, check_from)?;
        r.log_events(false);
        let mut built = Vec::new();
        let mut rejected = Vec::new();
        let mut not_sized = 0usize;
        let mut worst: f64 = 0.0;
        let mut n = 0usize;
        for c in &candles {
            r.step(c, &[], &[], true)?;
            r.take_closed();
            if c.open_time < check_from {
                continue;
            }
            n += 1;
            let st = r.engine.state();
            let held = st.pos.as_ref().map(|p| Held {
                side: match p.side {
                    Side::Long => PositionSide::Long,
                    Side::Short => PositionSide::Short,
                },
                size: dec(p.qty),
                entry: dec(p.avg),
            });
            let cx = book::Ctx {
                strategy,
                asset: &plan.asset,
                candle_ms: c.open_time,
                last_close: c.close,
                protective_frac: cfg.main.executor.protective_frac,
            };
            let d = match book::desired(&cx, &r.engine, spec, held.as_ref()) {
                Ok(d) => d,
                Err(e) => {
                    rejected.push(Rejected {
                        candle: fmt_ms(c.open_time),
                        purpose: "book".into(),
                        why: e.to_string(),
                    });
                    continue;
                }
            };
            let mut committed = st.pos.as_ref().map_or(0.0, |p| p.qty * p.avg / lev);
            for w in &d.orders {
                if !matches!(w.purpose, Purpose::Entry | Purpose::Level(_)) {
                    continue;
                }
                let q = w.request.qty.to_f64();
                let px = w.request.price.as_ref().map_or(c.close, |p| p.to_f64());
                committed += q * px / lev;
                built.push((w.request.qty, q * px));
            }
            worst = worst.max(committed);
            let blocked = st.halt.is_some() || st.entries_blocked;
            for sk in &d.skipped {
                if sk.why.starts_with("the engine sizes") {
                    if !blocked {
                        not_sized += 1;
                    }
                } else {
                    rejected.push(Rejected {
                        candle: fmt_ms(c.open_time),
                        purpose: purpose_txt(sk.purpose),
                        why: sk.why.clone(),
                    });
                }
            }
        }
        if !rejected.is_empty() {
            problems.push(format!(
                "{} order(s) below the contract's minimum quantity or notional after rounding (raise [executor].capital or lower the number of levels)",
                rejected.len()
            ));
        }
        if not_sized > 0 {
            problems.push(format!(
                "{not_sized} entr(y/ies) the engine sizes below the minimum order (the backtest skips them as well; live they would never be sent): raise [executor].capital"
            ));
        }
        if worst > plan.settings.capital + 1e-9 {
            problems.push(format!(
                "worst-case margin {worst:.2} USDT exceeds the runner's capital {:.2} USDT",
                plan.settings.capital
            ));
        }
        worst_total += worst;
        let mut row = row(&plan, spec, n, built, not_sized, worst, problems, notes);
        row.rejected = rejected.len();
        rejected.truncate(5);
        row.examples = rejected;
        rows.push(row);
    }
    let mut problems = Vec::new();
    if let Some(a) = available
        && worst_total > a + 1e-9
    {
        problems.push(format!(
            "worst-case margin of all runners {worst_total:.2} USDT exceeds the account's available {a:.2} USDT: entries would be refused for margin"
        ));
    }
    Ok(SizingReport {
        strategy: strategy.to_string(),
        days,
        available,
        rows,
        problems,
    })
}

#[allow(clippy::too_many_arguments)]
fn row(
    plan: &scalp_paper::runner::RunnerPlan,
    spec: &ContractSpec,
    candles: usize,
    built: Vec<(Dec, f64)>,
    not_sized: usize,
    worst: f64,
    problems: Vec<String>,
    notes: Vec<String>,
) -> SizingRow {
    let lev = plan.settings.leverage;
    let min_q = built.iter().map(|b| b.0).min();
    let max_q = built.iter().map(|b| b.0).max();
    let min_n = built.iter().map(|b| b.1).fold(f64::INFINITY, f64::min);
    let max_n = built.iter().map(|b| b.1).fold(0.0, f64::max);
    let min_n = if built.is_empty() { 0.0 } else { min_n };
    SizingRow {
        runner: plan.id.clone(),
        symbol: plan.symbol.clone(),
        capital: plan.settings.capital,
        leverage: lev,
        max_leverage: spec.max_leverage,
        min_qty: spec.min_qty.to_string(),
        min_notional: spec.min_notional.to_string(),
        lot_step: spec.lot_step.to_string(),
        candles,
        orders: built.len(),
        margin_per_order: (min_n / lev, max_n / lev),
        qty: (
            min_q.map_or(String::new(), |q| q.to_string()),
            max_q.map_or(String::new(), |q| q.to_string()),
        ),
        notional: (min_n, max_n),
        worst_case_margin: worst,
        rejected: 0,
        examples: Vec::new(),
        not_sized,
        problems,
        notes,
    }
}
