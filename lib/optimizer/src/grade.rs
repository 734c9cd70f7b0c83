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
    /// Lo (2002)-annualised Sharpe of the stitched OOS record (`None`: results stored before it
    /// was; the window mean is used then).
    pub stitched_sharpe_lo: Option<f64>,
    /// Permutation p-value of the score: the whole walk-forward re-run on `null_permutations`
    /// bar-permuted (no-edge) histories, `(1 + #{null score ≥ score}) / (1 + N)`
    /// (docs/OPTIMIZER.md "Null test"). `None`: not tested (`--permutations 0`, or stored before).
    pub null_p: Option<f64>,
    pub null_permutations: usize,
    /// Probability of Backtest Overfitting of the grid (CSCV over the OOS windows; `None`: not
    /// computed).
    pub pbo: Option<f64>,
    /// The stitched OOS return (percent) with the window that contributes most left out
    /// (`None`: fewer than 2 windows, or not stored).
    pub lowo_return_pct: Option<f64>,
    /// The stitched OOS return (percent) with every window of the regime that contributes most
    /// left out (`None`: fewer than 2 regimes, or not stored).
    pub loro_return_pct: Option<f64>,
}

/// Leave-one-window-out and leave-one-regime-out stitched returns from the windows' OOS returns
/// (percent) and regimes: `Π_{k ∉ L}(1 + r_k) − 1` minimised over the left-out set L (one window;
/// all the windows of one regime). Returns (LOWO, LORO) in percent.
pub fn leave_out(windows: &[(f64, &str)]) -> (Option<f64>, Option<f64>) {
    let prod = |keep: &dyn Fn(usize) -> bool| {
        (windows
            .iter()
            .enumerate()
            .filter(|(k, _)| keep(*k))
            .fold(1.0, |a, (_, (r, _))| a * (1.0 + r / 100.0))
            - 1.0)
            * 100.0
    };
    let lowo = (windows.len() >= 2)
        .then(|| {
            (0..windows.len())
                .map(|w| prod(&|k| k != w))
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|x| x.is_finite());
    let mut regimes: Vec<&str> = windows.iter().map(|w| w.1).collect();
    regimes.sort_unstable();
    regimes.dedup();
    let loro = (regimes.len() >= 2)
        .then(|| {
            regimes
                .iter()
                .map(|g| prod(&|k| windows[k].1 != *g))
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|x| x.is_finite());
    (lowo, loro)
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

/// The Sharpe ratio the grade uses: the stitched OOS record's, Lo-annualised, when stored;
/// else (older results) the mean of the windows'.
pub fn graded_sharpe(i: &GradeInputs) -> f64 {
    i.stitched_sharpe_lo
        .filter(|x| x.is_finite())
        .unwrap_or(i.oos_sharpe)
}

/// Permutation p-value ceiling for grade A or B: under the null (no edge) the permutation p is
/// uniform, so P(A or B) ≤ 5 % whatever the strategy's payoff shape.
pub const NULL_P_AB: f64 = 0.05;
/// Permutation p-value ceiling of the live gate (P(live-eligible | no edge) ≤ 1 %; needs at
/// least 99 permutations to be reachable).
pub const LIVE_NULL_P_MAX: f64 = 0.01;
/// PBO ceiling of the live gate: the IS-best combination must rank above the OOS median in
/// more than half of the CSCV splits.
pub const LIVE_PBO_MAX: f64 = 0.5;

/// The score and the letter from the score and the data-driven caps, before the null gate
/// (what `optimize null-test` reports as the grade the score alone gives).
pub fn grade_before_null(i: &GradeInputs) -> Grade {
    let mut comp = BTreeMap::new();
    let sharpe = graded_sharpe(i);
    comp.insert("oos_sharpe".to_string(), 25.0 * c01(sharpe / 2.0));
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
    if !(sharpe > 0.0) {
        caps.push(if i.stitched_sharpe_lo.is_some() {
            "stitched OOS Sharpe <= 0: F".to_string()
        } else {
            "average OOS Sharpe <= 0: F".to_string()
        });
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
    for (what, r) in [
        ("the best window", i.lowo_return_pct),
        ("the best regime's windows", i.loro_return_pct),
    ] {
        if let Some(r) = r
            && r < 0.0
            && matches!(g.as_str(), "A" | "B")
        {
            // The profit rests on one window (or one market regime): not a repeatable edge.
            caps.push(format!(
                "stitched OOS return without {what} {r:.2}% < 0: at most C"
            ));
            g = "C".into();
        }
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
    Grade {
        total_score: total,
        grade: g,
        live_eligible: false,
        components: comp,
        caps,
    }
}

/// The null gate on a letter: A or B only with a permutation p ≤ [`NULL_P_AB`]; else at most C,
/// with the reason.
pub fn null_gate(letter: &str, null_p: Option<f64>, permutations: usize) -> Option<String> {
    if !matches!(letter, "A" | "B") {
        return None;
    }
    match null_p {
        None => Some(
            "not tested against bar-permuted (no-edge) histories (--permutations 0): at most C"
                .to_string(),
        ),
        Some(p) if !(p <= NULL_P_AB) => Some(format!(
            "null test p {p:.3} > {NULL_P_AB} ({permutations} permuted histories score as well): at most C"
        )),
        Some(_) => None,
    }
}

pub fn grade(i: &GradeInputs) -> Grade {
    let mut g = grade_before_null(i);
    if let Some(cap) = null_gate(&g.grade, i.null_p, i.null_permutations) {
        g.caps.push(cap);
        g.grade = "C".into();
    }
    g.live_eligible = live_gate_failures(i, &g.grade).is_empty();
    g
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
/// with a transfer ratio ≥ 0.5, null-test p ≤ 0.01, PBO ≤ 0.5 when computed
/// (docs/OPTIMIZER.md, "Grading").
pub fn live_gate_failures(i: &GradeInputs, letter: &str) -> Vec<String> {
    let mut f = Vec::new();
    if !matches!(letter, "A" | "B") {
        f.push(format!("grade {letter} (needs A or B)"));
    }
    match i.null_p {
        None => f.push("no null test".to_string()),
        Some(p) if !(p <= LIVE_NULL_P_MAX) => f.push(format!(
            "null test p {p:.3} > {LIVE_NULL_P_MAX} ({} permutations{})",
            i.null_permutations,
            if i.null_permutations < 99 {
                "; at least 99 are needed to reach it"
            } else {
                ""
            }
        )),
        Some(_) => {}
    }
    if let Some(pbo) = i.pbo
        && !(pbo <= LIVE_PBO_MAX)
    {
        f.push(format!("PBO {pbo:.2} > {LIVE_PBO_MAX}"));
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
            stitched_sharpe_lo: None,
            null_p: Some(0.005),
            null_permutations: 199,
            pbo: Some(0.1),
            lowo_return_pct: None,
            loro_return_pct: None,
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
            stitched_sharpe_lo: None,
            null_p: None,
            null_permutations: 0,
            pbo: None,
            lowo_return_pct: None,
            loro_return_pct: None,
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
        let mut i = good();
        i.pbo = Some(0.6);
        assert!(!grade(&i).live_eligible);
        assert_eq!(letter(64.99), "C");
        assert_eq!(letter(65.0), "B");
        assert_eq!(letter(34.9), "F");
    }

    #[test]
    fn the_null_gate_caps_a_and_b_and_the_live_gate_needs_p_001() {
        // Not tested: a perfect score is at most C, with the reason.
        let mut i = good();
        i.null_p = None;
        let g = grade(&i);
        assert_eq!((g.grade.as_str(), g.total_score), ("C", 100.0));
        assert!(g.caps[0].contains("not tested"), "{:?}", g.caps);
        assert!(!g.live_eligible);
        assert_eq!(grade_before_null(&i).grade, "A");
        // As good as the no-edge histories: at most C.
        i.null_p = Some(0.06);
        let g = grade(&i);
        assert_eq!(g.grade, "C");
        assert!(
            g.caps[0].contains("null test p 0.060 > 0.05"),
            "{:?}",
            g.caps
        );
        // p ≤ 0.05: A, but live needs p ≤ 0.01 (and says how many permutations that takes).
        i.null_p = Some(0.05);
        i.null_permutations = 19;
        let g = grade(&i);
        assert_eq!(g.grade, "A");
        assert!(!g.live_eligible);
        let f = live_gate_failures(&i, &g.grade);
        assert!(f[0].contains("at least 99"), "{f:?}");
        i.null_p = Some(0.01);
        i.null_permutations = 99;
        assert!(grade(&i).live_eligible);
        // A C or worse is not touched by the gate.
        assert_eq!(null_gate("C", None, 0), None);
        // The stitched Lo Sharpe, when stored, is the Sharpe the grade uses (window mean 2.0).
        let mut i = good();
        i.stitched_sharpe_lo = Some(-0.2);
        let g = grade(&i);
        assert_eq!(g.grade, "F");
        assert!(
            g.caps[0].contains("stitched OOS Sharpe <= 0"),
            "{:?}",
            g.caps
        );
        i.stitched_sharpe_lo = Some(1.0);
        assert_eq!(grade(&i).components["oos_sharpe"], 12.5);
    }

    #[test]
    fn leave_one_window_and_regime_out() {
        // +10 %, +10 %, −5 % (trend, trend, range): without window 0 → 1.1·0.95 − 1 = 4.5 %,
        // without window 2 → 21 %: LOWO 4.5 %. Without the trend windows → −5 %, without the
        // range one → 21 %: LORO −5 %.
        let (lowo, loro) = leave_out(&[(10.0, "trend"), (10.0, "trend"), (-5.0, "range")]);
        assert!((lowo.unwrap() - 4.5).abs() < 1e-9, "{lowo:?}");
        assert!((loro.unwrap() + 5.0).abs() < 1e-9, "{loro:?}");
        assert_eq!(leave_out(&[(3.0, "trend")]), (None, None));
        assert_eq!(leave_out(&[(3.0, "trend"), (1.0, "trend")]).1, None);
        let mut i = good();
        i.loro_return_pct = Some(-5.0);
        let g = grade(&i);
        assert_eq!(g.grade, "C");
        assert!(
            g.caps[0].contains("without the best regime's windows -5.00%"),
            "{:?}",
            g.caps
        );
        i.loro_return_pct = Some(4.5);
        i.lowo_return_pct = Some(-0.1);
        assert_eq!(grade(&i).grade, "C");
        i.lowo_return_pct = Some(0.1);
        assert_eq!(grade(&i).grade, "A");
    }
}
