//! `optimize null-test`: the walk-forward and its grading re-run on bar-permuted histories (Masters'
//! permutation null, docs/OPTIMIZER.md "Null test"), the real result's permutation p-value, and
//! the stored verdict the `--apply` gate reads. The command (`optimize null-test`) is
//! `scalp_cli::optimize::nulltest`.

use crate::Error;
use crate::grade;
use crate::job::{self as run, Job};
use crate::wfo;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use scalp_core::config::Config;
use scalp_core::{Candle, Timeframe};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Permutation p-value ceiling of the `--apply` gate.
pub const NULL_P_MAX: f64 = 0.05;

/// Masters' bar permutation (T. Masters, *Permutation and Randomization Tests for Trading System
/// Development*, 2018, ch. on price permutation): the log open gap `ln(open_i / close_{i−1})` and
/// the intrabar shape `(ln(high_i/open_i), ln(low_i/open_i), ln(close_i/open_i))` (with the bar's
/// volume) of bars 1..n are permuted separately, bar 0 is kept, and prices are rebuilt forward
/// from it. Each component's multiset is kept (so the distribution of returns and of ranges is
/// the same), every serial dependence — trend, mean reversion, volatility clustering, the
/// gap/intrabar link — is destroyed: a history with no edge for any rule that trades on
/// temporal patterns. Open times are kept. Deterministic by `seed`. Prices must be > 0
/// ([`Error::NonPositivePrice`]).
pub fn permute_bars(candles: &[Candle], seed: u64) -> Result<Vec<Candle>, Error> {
    if let Some((i, c)) = candles
        .iter()
        .enumerate()
        .find(|(_, c)| !(c.open > 0.0 && c.high > 0.0 && c.low > 0.0 && c.close > 0.0))
    {
        return Err(Error::NonPositivePrice {
            index: i,
            open_time: c.open_time,
        });
    }
    if candles.len() < 3 {
        return Ok(candles.to_vec());
    }
    let n = candles.len();
    let mut gaps: Vec<f64> = (1..n)
        .map(|i| (candles[i].open / candles[i - 1].close).ln())
        .collect();
    let mut bars: Vec<(f64, f64, f64, f64)> = candles[1..]
        .iter()
        .map(|c| {
            (
                (c.high / c.open).ln(),
                (c.low / c.open).ln(),
                (c.close / c.open).ln(),
                c.volume,
            )
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    gaps.shuffle(&mut rng);
    bars.shuffle(&mut rng);
    let mut out = Vec::with_capacity(n);
    out.push(candles[0]);
    let mut prev_close = candles[0].close;
    for i in 1..n {
        let (h, l, c, v) = bars[i - 1];
        let open = prev_close * gaps[i - 1].exp();
        let close = open * c.exp();
        // exp and the products are monotone up to rounding; the max/min make the OHLC
        // inequalities exact whatever the last bit does.
        let high = (open * h.exp()).max(open).max(close);
        let low = (open * l.exp()).min(open).min(close);
        out.push(Candle {
            open_time: candles[i].open_time,
            open,
            high,
            low,
            close,
            volume: v,
        });
        prev_close = close;
    }
    Ok(out)
}

/// How many permuted histories `optimize run` tests against, and their seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NullPlan {
    pub permutations: usize,
    pub seed: u64,
}

/// The null test of one `optimize run` result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NullSummary {
    /// `(1 + #{null score ≥ real score}) / (1 + N)`.
    pub p: f64,
    pub permutations: usize,
    pub seed: u64,
    /// Null score quantiles (5 %, 50 %, 95 %).
    pub q: [f64; 3],
    /// Share of the permuted histories the score alone (before the null gate) grades A or B.
    pub score_ab_rate: f64,
}

/// The score (validation left out) of `strategy`'s walk-forward on `candles` and the letter the
/// score alone gives (before the null gate): the null test's statistic.
pub fn score_of(job: &Job<'_>, candles: &[Candle]) -> Result<(f64, String), Error> {
    let (_, gi) = graded(job, candles, false)?;
    let g = grade::grade_before_null(&gi);
    Ok((g.total_score, g.grade))
}

/// The walk-forward of `job` on `candles` and its grade inputs, validation and the null test
/// left out; the cost/fill stress re-run only when `stress` (it caps the letter, not the score).
fn graded(
    job: &Job<'_>,
    candles: &[Candle],
    stress: bool,
) -> Result<(wfo::WfoResult, grade::GradeInputs), Error> {
    let ev = job.ev();
    let w = wfo::run_wfo(candles, &job.spec, &job.base, &ev, &|_, _| {})?;
    let (mc, _psr, dsr, _m) = run::overfitting(&w);
    let st = if stress {
        Some(wfo::stress_oos(candles, &job.spec, &w, &job.base, &ev)?)
    } else {
        None
    };
    let gi = run::grade_inputs_of(&w, &mc, dsr, None, st.as_ref(), None, None);
    Ok((w, gi))
}

/// A history's score and the letter of the score alone ([`score_of`] with its context bound).
pub type ScoreFn<'a> = dyn Fn(&[Candle]) -> Result<(f64, String), Error> + Sync + 'a;

/// Scores `plan.permutations` permuted histories of `candles` with `score` (in parallel, a batch
/// of one history per worker thread at a time; `progress(fraction)` after each batch) and the
/// real score's p-value. `None` when the plan has no permutation. A failed score names its
/// permutation ([`Error::Permutation`]).
pub fn null_scores(
    candles: &[Candle],
    plan: NullPlan,
    real_score: f64,
    score: &ScoreFn<'_>,
    progress: &dyn Fn(f64),
) -> Result<Option<NullSummary>, Error> {
    use rayon::prelude::*;
    let n = plan.permutations;
    if n == 0 {
        return Ok(None);
    }
    let batch = rayon::current_num_threads().max(1);
    let mut pts: Vec<(f64, String)> = Vec::with_capacity(n);
    let mut k = 0;
    while k < n {
        let end = (k + batch).min(n);
        let got: Vec<Result<(f64, String), Error>> = (k..end)
            .into_par_iter()
            .map(|j| {
                let seed = plan.seed.wrapping_add(j as u64);
                let perm = permute_bars(candles, seed)?;
                score(&perm).map_err(|e| Error::Permutation {
                    k: j,
                    seed,
                    source: Box::new(e),
                })
            })
            .collect();
        for r in got {
            pts.push(r?);
        }
        k = end;
        progress(k as f64 / n as f64);
    }
    let scores: Vec<f64> = pts.iter().map(|p| p.0).collect();
    Ok(Some(NullSummary {
        p: p_value(real_score, &scores),
        permutations: n,
        seed: plan.seed,
        q: quantiles(&scores),
        score_ab_rate: pts
            .iter()
            .filter(|p| matches!(p.1.as_str(), "A" | "B"))
            .count() as f64
            / n as f64,
    }))
}

/// One graded walk-forward (real or permuted history). Validation is left out on both sides: it
/// runs on another exchange's data, which the permutation does not touch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// The grade with the null gate: the real history's with its p against the permuted ones; a
    /// permuted history's with its p against the other permuted histories (see [`verdict`]).
    pub grade: String,
    /// The grade the score and the other caps give, before the null gate.
    #[serde(default)]
    pub score_grade: String,
    pub total_score: f64,
    pub live_eligible: bool,
    /// The live gate's terms other than the null test and validation pass.
    #[serde(default)]
    pub live_terms_ok: bool,
    /// This history's permutation p-value.
    #[serde(default)]
    pub p: f64,
    pub stitched_oos_sharpe: f64,
    pub stitched_return_pct: f64,
    pub oos_trades: usize,
}

/// Grades the walk-forward of `strategy` on `candles` exactly as `optimize run` does (same
/// windows, passes, statistics and score), without validation.
pub fn evaluate(job: &Job<'_>, candles: &[Candle]) -> Result<Point, Error> {
    let (w, gi) = graded(job, candles, true)?;
    let g = grade::grade_before_null(&gi);
    // The other live terms: validation (another exchange's data, untouched by the permutation)
    // and the null test itself are taken as passed here.
    let mut other = gi;
    other.transfer_ratio = Some(1.0);
    other.null_p = Some(0.0);
    let live_terms_ok = grade::live_gate_failures(&other, "A").is_empty();
    Ok(Point {
        grade: g.grade.clone(),
        score_grade: g.grade,
        total_score: g.total_score,
        live_eligible: false,
        live_terms_ok,
        p: 1.0,
        stitched_oos_sharpe: if w.stitched_oos_sharpe.is_finite() {
            w.stitched_oos_sharpe
        } else {
            0.0
        },
        stitched_return_pct: w.oos_total_return_pct,
        oos_trades: w.oos_n_trades,
    })
}

/// `(1 + #{null ≥ real}) / (1 + N)`: the permutation p-value with the real result counted as
/// one of the permutations, so it is never 0 and is exact under the null (Phipson & Smyth 2010;
/// Masters 2018).
pub fn p_value(real: f64, null: &[f64]) -> f64 {
    let ge = null.iter().filter(|x| **x >= real).count();
    (1 + ge) as f64 / (1 + null.len()) as f64
}

/// The stored result of a null test (`<reports_dir>/null_tests/<strategy>_<asset>_<tf>.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub strategy: String,
    pub asset: String,
    pub timeframe: String,
    pub created_at: String,
    pub data: String,
    pub candles: usize,
    pub first_open_time: i64,
    pub last_open_time: i64,
    pub permutations: usize,
    pub seed: u64,
    pub real: Point,
    /// p of the total score: the statistic the grade is made of.
    pub p_score: f64,
    /// p of the stitched OOS Sharpe.
    pub p_stitched_sharpe: f64,
    /// Share of permuted histories graded A or B (with the null gate: each permuted history's p
    /// against the other permuted histories).
    pub null_ab_rate: f64,
    /// Share of permuted histories the score alone grades A or B (no null gate: the grade
    /// before this test was part of it).
    #[serde(default)]
    pub null_ab_rate_score: f64,
    /// Share of permuted histories that pass the live gate (validation left out).
    pub null_live_rate: f64,
    /// Score quantiles of the null (5 %, 50 %, 95 %).
    pub null_score_q: [f64; 3],
    /// Stitched OOS Sharpe quantiles of the null (5 %, 50 %, 95 %).
    pub null_sharpe_q: [f64; 3],
    /// `p_score ≤ 0.05`.
    pub pass: bool,
    pub null: Vec<Point>,
}

impl Verdict {
    /// The `--apply` gate term this verdict fails, if any.
    pub fn gate_failure(&self) -> Option<String> {
        (!self.pass).then(|| {
            format!(
                "null test p {:.3} > {NULL_P_MAX} ({} permutations, {})",
                self.p_score, self.permutations, self.created_at
            )
        })
    }
}

/// Where the verdict of `strategy` × `asset` × `tf` is stored.
pub fn verdict_path(cfg: &Config, strategy: &str, asset: &str, tf: &str) -> PathBuf {
    run::reports_dir(cfg)
        .join("null_tests")
        .join(format!("{strategy}_{asset}_{tf}.json"))
}

/// The stored verdict, `None` when no null test was run ([`Error::ReadVerdict`],
/// [`Error::NotAVerdict`]).
pub fn load_verdict(
    cfg: &Config,
    strategy: &str,
    asset: &str,
    tf: &str,
) -> Result<Option<Verdict>, Error> {
    let path = verdict_path(cfg, strategy, asset, tf);
    match std::fs::read(&path) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(v) => Ok(Some(v)),
            Err(source) => Err(Error::NotAVerdict { path, source }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::ReadVerdict { path, source }),
    }
}

fn quantiles(v: &[f64]) -> [f64; 3] {
    if v.is_empty() {
        return [f64::NAN; 3];
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let q = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
    [q(0.05), q(0.5), q(0.95)]
}

/// Builds the verdict from the real point and the null points.
#[allow(clippy::too_many_arguments)]
pub fn verdict(
    strategy: &str,
    asset: &str,
    tf: Timeframe,
    data: &str,
    candles: &[Candle],
    seed: u64,
    mut real: Point,
    mut null: Vec<Point>,
) -> Verdict {
    let scores: Vec<f64> = null.iter().map(|p| p.total_score).collect();
    let sharpes: Vec<f64> = null.iter().map(|p| p.stitched_oos_sharpe).collect();
    let n = null.len().max(1) as f64;
    let p_score = p_value(real.total_score, &scores);
    let gate = |pt: &mut Point, p: f64, perms: usize| {
        pt.p = p;
        pt.grade = if grade::null_gate(&pt.score_grade, Some(p), perms).is_some() {
            "C".into()
        } else {
            pt.score_grade.clone()
        };
        pt.live_eligible = matches!(pt.grade.as_str(), "A" | "B")
            && p <= grade::LIVE_NULL_P_MAX
            && pt.live_terms_ok;
    };
    gate(&mut real, p_score, null.len());
    // A permuted history's own p is its rank among the permuted histories: the p `optimize run
    // --permutations N−1` would give it, because a permutation of a permuted history is again a
    // uniform permutation of the original bars (docs/OPTIMIZER.md "Null test").
    let loo: Vec<f64> = (0..null.len())
        .map(|j| {
            let ge = scores
                .iter()
                .enumerate()
                .filter(|(k, x)| *k != j && **x >= scores[j])
                .count();
            (1 + ge) as f64 / null.len() as f64
        })
        .collect();
    let perms = null.len().saturating_sub(1);
    for (pt, p) in null.iter_mut().zip(loo) {
        gate(pt, p, perms);
    }
    Verdict {
        strategy: strategy.into(),
        asset: asset.into(),
        timeframe: tf.to_string(),
        created_at: crate::db::iso_now(),
        data: data.into(),
        candles: candles.len(),
        first_open_time: candles.first().map_or(0, |c| c.open_time),
        last_open_time: candles.last().map_or(0, |c| c.open_time),
        permutations: null.len(),
        seed,
        p_stitched_sharpe: p_value(real.stitched_oos_sharpe, &sharpes),
        p_score,
        real,
        null_ab_rate: null
            .iter()
            .filter(|p| matches!(p.grade.as_str(), "A" | "B"))
            .count() as f64
            / n,
        null_ab_rate_score: null
            .iter()
            .filter(|p| matches!(p.score_grade.as_str(), "A" | "B"))
            .count() as f64
            / n,
        null_live_rate: null.iter().filter(|p| p.live_eligible).count() as f64 / n,
        null_score_q: quantiles(&scores),
        null_sharpe_q: quantiles(&sharpes),
        pass: p_score <= NULL_P_MAX,
        null,
    }
}

/// Writes a verdict where [`load_verdict`] reads it (temp file, then rename); the errors name
/// the directory or file at fault.
pub fn write_verdict(path: &Path, v: &Verdict) -> Result<(), Error> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|source| Error::CreateDir {
            dir: d.to_path_buf(),
            source,
        })?;
    }
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(v).map_err(Error::EncodeVerdict)?;
    std::fs::write(&tmp, json).map_err(|source| Error::WriteFile {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::ReplaceFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real_candles() -> Vec<Candle> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
        let mut c = scalp_core::csvdata::read_candles_csv(&p).unwrap();
        c.truncate(2000);
        c
    }

    /// (high, low, close, volume) of one bar relative to its open.
    type Shape = (f64, f64, f64, f64);

    fn components(c: &[Candle]) -> (Vec<f64>, Vec<Shape>) {
        let g = (1..c.len())
            .map(|i| (c[i].open / c[i - 1].close).ln())
            .collect();
        let b = c[1..]
            .iter()
            .map(|x| {
                (
                    (x.high / x.open).ln(),
                    (x.low / x.open).ln(),
                    (x.close / x.open).ln(),
                    x.volume,
                )
            })
            .collect();
        (g, b)
    }

    #[test]
    fn permutation_keeps_components_first_bar_and_ohlc_and_is_deterministic() {
        let c = real_candles();
        let p = permute_bars(&c, 7).unwrap();
        assert_eq!(p.len(), c.len());
        assert_eq!(p[0], c[0], "first bar kept");
        for (a, b) in p.iter().zip(&c) {
            assert_eq!(a.open_time, b.open_time);
            assert!(
                a.low <= a.open.min(a.close) && a.high >= a.open.max(a.close) && a.low > 0.0,
                "{a:?}"
            );
        }
        // The multiset of each component is kept (to rounding of ln/exp).
        let (g0, b0) = components(&c);
        let (g1, b1) = components(&p);
        let sorted = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v
        };
        for (x, y) in sorted(g0.clone()).iter().zip(sorted(g1)) {
            assert!((x - y).abs() < 1e-9, "gap {x} vs {y}");
        }
        let mut bs0 = b0.clone();
        let mut bs1 = b1.clone();
        let key = |t: &(f64, f64, f64, f64)| (t.2, t.0, t.1, t.3);
        bs0.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap());
        bs1.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap());
        for (x, y) in bs0.iter().zip(&bs1) {
            assert!(
                (x.0 - y.0).abs() < 1e-9
                    && (x.1 - y.1).abs() < 1e-9
                    && (x.2 - y.2).abs() < 1e-9
                    && x.3 == y.3,
                "bar {x:?} vs {y:?}"
            );
        }
        // The order did change (the permutation is not the identity) ...
        let moved = b0
            .iter()
            .zip(&b1)
            .filter(|(x, y)| (x.2 - y.2).abs() > 1e-12)
            .count();
        assert!(moved > c.len() / 2, "only {moved} bars moved");
        // ... the total log return is the same (the sum of the components) ...
        let total = |v: &[Candle]| (v.last().unwrap().close / v[0].close).ln();
        assert!((total(&c) - total(&p)).abs() < 1e-8);
        // ... and the same seed gives the same history, another seed another one.
        assert_eq!(permute_bars(&c, 7).unwrap(), p);
        assert_ne!(permute_bars(&c, 8).unwrap(), p);
    }

    #[test]
    fn permutation_refuses_non_positive_prices() {
        let mut c = real_candles();
        c[5].low = 0.0;
        let e = permute_bars(&c, 1).unwrap_err();
        assert!(
            matches!(e, Error::NonPositivePrice { index: 5, .. }),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(e.contains("candle 5"), "{e}");
    }

    #[test]
    fn p_value_counts_the_real_result() {
        assert_eq!(p_value(10.0, &[1.0, 2.0, 3.0]), 0.25);
        assert_eq!(p_value(2.0, &[1.0, 2.0, 3.0]), 0.75);
        assert_eq!(p_value(0.0, &[]), 1.0);
    }
}
