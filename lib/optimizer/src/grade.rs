//! Grade A–F from a documented `total_score` (docs/OPTIMIZER.md, "Grading").

use serde::Serialize;
use std::collections::BTreeMap;

/// Everything the score is computed from (all stored in `optimization_results`, so that
/// `--regrade` can recompute it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GradeInputs {
    /// Average OOS Sharpe over the windows (annualised).
    pub oos_sharpe: f64,
    /// Fraction of windows with a positive OOS return.
    pub consistency: f64,
    pub oos_is_ratio: f64,
    /// Deflated Sharpe Ratio (probability, 0–1).
    pub dsr: f64,
    pub param_stability: f64,
    pub mc_pvalue: f64,
    pub mc_underpowered: bool,
    /// Validation Sharpe / average OOS Sharpe; `None` when validation was skipped.
    pub transfer_ratio: Option<f64>,
    /// OOS trades over all windows.
    pub oos_trades: usize,
    /// Return of the stitched OOS record, percent (`None`: not recorded, results stored before
    /// it was).
    pub stitched_return_pct: Option<f64>,
    /// Return of the stitched OOS record re-run under the cost and fill stress (fees and
    /// slippage doubled, limit fills must trade through by [`crate::wfo::STRESS_TRADE_THROUGH`]),
    /// percent (`None`: not recorded).
    pub stress_return_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grade {
    pub total_score: f64,
    pub grade: String,
    pub live_eligible: bool,
    /// Points per component (sum = total_score before caps).
    pub components: BTreeMap<String, f64>,
    /// Caps applied (e.g. "fewer than 10 OOS trades: at most D").
    pub caps: Vec<String>,
}

fn c01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// Letter of a score: A ≥ 80, B ≥ 65, C ≥ 50, D ≥ 35, else F.
pub fn letter(score: f64) -> &'static str {
    match score {
        s if s >= 80.0 => "A",
        s if s >= 65.0 => "B",
        s if s >= 50.0 => "C",
        s if s >= 35.0 => "D",
        _ => "F",
    }
}

pub fn grade(i: &GradeInputs) -> Grade {
    let mut comp = BTreeMap::new();
    comp.insert("oos_sharpe".to_string(), 25.0 * c01(i.oos_sharpe / 2.0));
    comp.insert("consistency".to_string(), 20.0 * c01(i.consistency));
    comp.insert("oos_is_ratio".to_string(), 15.0 * c01(i.oos_is_ratio));
    comp.insert("dsr".to_string(), 15.0 * c01(i.dsr));
    comp.insert("param_stability".to_string(), 10.0 * c01(i.param_stability));
    let mc = match i.mc_pvalue {
        p if p <= 0.01 => 1.0,
        p if p <= 0.05 => 0.8,
        p if p <= 0.10 => 0.5,
        _ => 0.0,
    } * if i.mc_underpowered { 0.5 } else { 1.0 };
    comp.insert("monte_carlo".to_string(), 10.0 * mc);
    comp.insert(
        "validation".to_string(),
        // A skipped validation earns nothing (it is evidence not gathered).
        i.transfer_ratio.map_or(0.0, |t| 5.0 * c01(t)),
    );
    let total: f64 = comp.values().sum();
    let total = (total * 100.0).round() / 100.0;
    let mut g = letter(total).to_string();
    let mut caps = Vec::new();
    if !(i.oos_sharpe > 0.0) {
        caps.push("average OOS Sharpe <= 0: F".to_string());
        g = "F".into();
    } else if i.oos_trades < 10 && matches!(g.as_str(), "A" | "B" | "C") {
        caps.push(format!("{} OOS trades (< 10): at most D", i.oos_trades));
        g = "D".into();
    } else if let Some(r) = i.stitched_return_pct
        && r < 0.0
        && matches!(g.as_str(), "A" | "B" | "C")
    {
        // The record of all OOS windows stitched together lost money: whatever the window mean
        // says, this is not an edge.
        caps.push(format!("stitched OOS return {r:.2}% < 0: at most D"));
        g = "D".into();
    }
    if let Some(r) = i.stress_return_pct
        && r < 0.0
        && matches!(g.as_str(), "A" | "B")
    {
        // The edge does not survive doubled costs and stricter fills: not deployable.
        caps.push(format!(
            "stitched OOS return under cost/fill stress {r:.2}% < 0: at most C"
        ));
        g = "C".into();
    }
    let live_eligible = live_gate_failures(i, &g).is_empty();
    Grade {
        total_score: total,
        grade: g,
        live_eligible,
        components: comp,
        caps,
    }
}

/// DSR floor of the live gate (Bailey & López de Prado 2014: the probability that the true
/// Sharpe ratio is positive after deflating for the trials, at 95 %).
pub const LIVE_DSR_FLOOR: f64 = 0.95;
/// Monte Carlo p-value ceiling of the live gate.
pub const LIVE_MC_P_MAX: f64 = 0.05;
/// Validation transfer-ratio floor of the live gate.
pub const LIVE_TRANSFER_MIN: f64 = 0.5;

/// The terms of the live gate that `i` (graded `letter`) fails, in words; empty = live-eligible.
/// The gate: grade A or B, DSR ≥ 0.95, Monte Carlo p ≤ 0.05 and not underpowered, validation run
/// with a transfer ratio ≥ 0.5 (docs/OPTIMIZER.md, "Grading").
pub fn live_gate_failures(i: &GradeInputs, letter: &str) -> Vec<String> {
    let mut f = Vec::new();
    if !matches!(letter, "A" | "B") {
        f.push(format!("grade {letter} (needs A or B)"));
    }
    if !(i.dsr >= LIVE_DSR_FLOOR) {
        f.push(format!("DSR {:.3} < {LIVE_DSR_FLOOR}", i.dsr));
    }
    if !(i.mc_pvalue <= LIVE_MC_P_MAX) {
        f.push(format!(
            "Monte Carlo p {:.3} > {LIVE_MC_P_MAX}",
            i.mc_pvalue
        ));
    }
    if i.mc_underpowered {
        f.push("Monte Carlo underpowered".to_string());
    }
    match i.transfer_ratio {
        None => f.push("validation skipped".to_string()),
        Some(t) if !(t >= LIVE_TRANSFER_MIN) => f.push(format!(
            "validation transfer ratio {t:.2} < {LIVE_TRANSFER_MIN}"
        )),
        Some(_) => {}
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> GradeInputs {
        GradeInputs {
            oos_sharpe: 2.0,
            consistency: 1.0,
            oos_is_ratio: 1.0,
            dsr: 1.0,
            param_stability: 1.0,
            mc_pvalue: 0.001,
            mc_underpowered: false,
            transfer_ratio: Some(1.0),
            oos_trades: 100,
            stitched_return_pct: None,
            stress_return_pct: None,
        }
    }

    #[test]
    fn perfect_is_100_a_and_eligible() {
        let g = grade(&good());
        assert_eq!(g.total_score, 100.0);
        assert_eq!(g.grade, "A");
        assert!(g.live_eligible);
    }

    #[test]
    fn components_by_hand() {
        let i = GradeInputs {
            oos_sharpe: 1.0,
            consistency: 0.6,
            oos_is_ratio: 0.5,
            dsr: 0.8,
            param_stability: 0.7,
            mc_pvalue: 0.07,
            mc_underpowered: true,
            transfer_ratio: None,
            oos_trades: 40,
            stitched_return_pct: None,
            stress_return_pct: None,
        };
        // 12.5 + 12 + 7.5 + 12 + 7 + 10×0.5×0.5 + 0 (validation skipped) = 53.5
        let g = grade(&i);
        assert_eq!(g.total_score, 53.5);
        assert_eq!(g.grade, "C");
        assert!(!g.live_eligible);
    }

    #[test]
    fn caps_and_eligibility_rules() {
        let mut i = good();
        i.oos_trades = 5;
        assert_eq!(grade(&i).grade, "D");
        let mut i = good();
        i.oos_sharpe = -0.1;
        assert_eq!(grade(&i).grade, "F");
        let mut i = good();
        i.transfer_ratio = None; // validation skipped: not eligible
        let g = grade(&i);
        assert_eq!(g.grade, "A");
        assert!(!g.live_eligible);
        let mut i = good();
        i.stitched_return_pct = Some(-18.0); // a losing stitched record caps at D
        let g = grade(&i);
        assert_eq!(g.grade, "D");
        assert!(
            g.caps[0].contains("stitched OOS return -18.00%"),
            "{:?}",
            g.caps
        );
        let mut i = good();
        i.stitched_return_pct = Some(3.0);
        assert_eq!(grade(&i).grade, "A");
        let mut i = good();
        i.stress_return_pct = Some(-2.0); // the edge dies under the cost/fill stress: at most C
        let g = grade(&i);
        assert_eq!(g.grade, "C");
        assert!(!g.live_eligible);
        assert!(
            g.caps[0].contains("cost/fill stress -2.00%"),
            "{:?}",
            g.caps
        );
        i.stress_return_pct = Some(0.5);
        assert_eq!(grade(&i).grade, "A");
        let mut i = good();
        i.dsr = 0.9;
        assert!(!grade(&i).live_eligible);
        assert_eq!(letter(64.99), "C");
        assert_eq!(letter(65.0), "B");
        assert_eq!(letter(34.9), "F");
    }
}
