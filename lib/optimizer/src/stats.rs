//! Overfitting statistics: Probabilistic and Deflated Sharpe Ratio (Bailey & López de Prado
//! 2014), Monte Carlo p-value by centred bootstrap of trade returns, trade-order shuffle of the
//! drawdown, bootstrap confidence interval of the Sharpe ratio. Formulas: docs/OPTIMIZER.md.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Euler–Mascheroni constant.
pub const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Standard normal CDF (West 2005, "Better approximations to cumulative normal functions";
/// double precision, absolute error < 1e-14).
pub fn norm_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let xa = x.abs();
    let c = if xa > 37.0 {
        0.0
    } else {
        let e = (-xa * xa / 2.0).exp();
        if xa < 7.071_067_811_865_47 {
            let mut b = 3.526_249_659_989_11e-2 * xa + 0.700_383_064_443_688;
            b = b * xa + 6.373_962_203_531_65;
            b = b * xa + 33.912_866_078_383;
            b = b * xa + 112.079_291_497_871;
            b = b * xa + 221.213_596_169_931;
            b = b * xa + 220.206_867_912_376;
            let num = e * b;
            let mut d = 8.838_834_764_831_84e-2 * xa + 1.755_667_163_182_64;
            d = d * xa + 16.064_177_579_207;
            d = d * xa + 86.780_732_202_946_1;
            d = d * xa + 296.564_248_779_674;
            d = d * xa + 637.333_633_378_831;
            d = d * xa + 793.826_512_519_948;
            d = d * xa + 440.413_735_824_752;
            num / d
        } else {
            let mut b = xa + 0.65;
            b = xa + 4.0 / b;
            b = xa + 3.0 / b;
            b = xa + 2.0 / b;
            b = xa + 1.0 / b;
            e / b / 2.506_628_274_631
        }
    };
    if x > 0.0 { 1.0 - c } else { c }
}

/// Inverse standard normal CDF (Acklam's rational approximation refined by one Halley step).
pub fn norm_inv(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let pl = 0.024_25;
    let x = if p < pl {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - pl {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // Halley refinement
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Sample moments of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Moments {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1).
    pub std: f64,
    /// Skewness γ3 (population moments, as in the paper).
    pub skew: f64,
    /// Kurtosis γ4, NOT excess (a normal distribution has 3).
    pub kurt: f64,
}

pub fn moments(xs: &[f64]) -> Moments {
    let n = xs.len();
    if n == 0 {
        return Moments {
            n,
            mean: f64::NAN,
            std: f64::NAN,
            skew: f64::NAN,
            kurt: f64::NAN,
        };
    }
    let nf = n as f64;
    let mean = xs.iter().sum::<f64>() / nf;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for &x in xs {
        let d = x - mean;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    let std = if n > 1 {
        (m2 / (nf - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    let (m2p, m3p, m4p) = (m2 / nf, m3 / nf, m4 / nf);
    let (skew, kurt) = if m2p > 0.0 {
        (m3p / m2p.powf(1.5), m4p / (m2p * m2p))
    } else {
        (0.0, 3.0)
    };
    Moments {
        n,
        mean,
        std,
        skew,
        kurt,
    }
}

/// Per-period Sharpe ratio (mean / sample std, no risk-free rate); 0 when undefined.
pub fn sharpe(xs: &[f64]) -> f64 {
    let m = moments(xs);
    if m.n < 2 || !(m.std > 0.0) {
        0.0
    } else {
        m.mean / m.std
    }
}

/// Lags of the autocorrelation sum in [`lo_annualisation`].
pub const LO_MAX_LAG: usize = 10;

/// Lo's (2002, "The Statistics of Sharpe Ratios", eq. 17) annualisation factor for serially
/// correlated returns: `η(q) = q / √(q + 2 Σ_{k=1}^{q−1} (q − k) ρ_k)`, `ρ_k` the sample
/// autocorrelation at lag k. The sum is truncated at [`LO_MAX_LAG`] lags (ρ_k of longer lags are
/// taken as 0: their estimates are noise on a few hundred days). For IID returns η(q) = √q;
/// positively autocorrelated returns (a smoothed P&L) get less. Returns √q when it cannot be
/// estimated (fewer than 3 × the lags).
pub fn lo_annualisation(xs: &[f64], q: f64) -> f64 {
    let n = xs.len();
    let lags = LO_MAX_LAG.min((q as usize).saturating_sub(1));
    if n < 3 * lags.max(1) {
        return q.sqrt();
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let c0: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
    if !(c0 > 0.0) {
        return q.sqrt();
    }
    let mut sum = 0.0;
    for k in 1..=lags {
        let ck: f64 = (k..n).map(|t| (xs[t] - mean) * (xs[t - k] - mean)).sum();
        sum += (q - k as f64) * (ck / c0);
    }
    let d = q + 2.0 * sum;
    if d > 0.0 { q / d.sqrt() } else { q.sqrt() }
}

/// Probabilistic Sharpe Ratio: probability that the true (per-period) Sharpe exceeds
/// `sr_star`, given an observed per-period `sr` over `n_obs` observations with skewness `skew`
/// and (non-excess) kurtosis `kurt`:
/// `PSR = Φ[(SR − SR*)·√(T−1) / √(1 − γ3·SR + (γ4−1)/4·SR²)]`.
pub fn psr(sr: f64, sr_star: f64, n_obs: usize, skew: f64, kurt: f64) -> f64 {
    if n_obs < 2 {
        return f64::NAN;
    }
    let den = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr;
    if !(den > 0.0) {
        return f64::NAN;
    }
    norm_cdf((sr - sr_star) * ((n_obs - 1) as f64).sqrt() / den.sqrt())
}

/// Expected maximum Sharpe among `n_trials` independent trials whose Sharpes have variance
/// `var_trials`, under the null of zero skill (False Strategy Theorem):
/// `SR0 = √V · ((1−γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))`.
pub fn expected_max_sharpe(n_trials: usize, var_trials: f64) -> f64 {
    if n_trials < 2 || !(var_trials > 0.0) {
        return 0.0;
    }
    let n = n_trials as f64;
    var_trials.sqrt()
        * ((1.0 - EULER_GAMMA) * norm_inv(1.0 - 1.0 / n)
            + EULER_GAMMA * norm_inv(1.0 - 1.0 / (n * std::f64::consts::E)))
}

/// Deflated Sharpe Ratio: PSR with the benchmark `SR*` set to the expected maximum Sharpe of
/// `n_trials` trials with variance `var_trials` (all in the same per-period units as `sr`).
pub fn dsr(sr: f64, n_obs: usize, skew: f64, kurt: f64, n_trials: usize, var_trials: f64) -> f64 {
    psr(
        sr,
        expected_max_sharpe(n_trials, var_trials),
        n_obs,
        skew,
        kurt,
    )
}

/// Minimum number of trades below which the Monte Carlo p-value is flagged underpowered.
pub const MC_MIN_TRADES: usize = 30;

#[derive(Debug, Clone, Serialize)]
pub struct MonteCarlo {
    pub n_trades: usize,
    pub n_sims: usize,
    /// Observed per-trade Sharpe (mean / std of trade returns).
    pub observed_sharpe: f64,
    /// `(1 + #{sims with Sharpe ≥ observed}) / (1 + n_sims)` under the centred bootstrap null.
    pub p_value: f64,
    /// Fewer than [`MC_MIN_TRADES`] trades: the test has little power.
    pub underpowered: bool,
    /// Max drawdown (fraction) of the real trade order, compounding trade returns.
    pub observed_max_dd: f64,
    /// Median and 95th percentile of the max drawdown over shuffled trade orders.
    pub shuffled_max_dd_p50: f64,
    pub shuffled_max_dd_p95: f64,
}

fn max_dd_compound(rets: &[f64]) -> f64 {
    let (mut eq, mut peak, mut dd) = (1.0f64, 1.0f64, 0.0f64);
    for &r in rets {
        eq *= 1.0 + r;
        peak = peak.max(eq);
        dd = dd.max(1.0 - eq / peak);
    }
    dd
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Monte Carlo test on trade returns (fractions of equity per trade).
/// Null: no edge — trade returns are resampled with replacement after removing their mean.
/// Also shuffles the trade order to give the drawdown distribution of the same trades.
pub fn monte_carlo(trade_returns: &[f64], n_sims: usize, seed: u64) -> MonteCarlo {
    let n = trade_returns.len();
    let observed = sharpe(trade_returns);
    let observed_max_dd = max_dd_compound(trade_returns);
    if n < 2 || n_sims == 0 {
        return MonteCarlo {
            n_trades: n,
            n_sims: 0,
            observed_sharpe: observed,
            p_value: 1.0,
            underpowered: true,
            observed_max_dd,
            shuffled_max_dd_p50: observed_max_dd,
            shuffled_max_dd_p95: observed_max_dd,
        };
    }
    let mean = trade_returns.iter().sum::<f64>() / n as f64;
    let centred: Vec<f64> = trade_returns.iter().map(|r| r - mean).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut buf = vec![0.0; n];
    let mut ge = 0usize;
    let mut dds = Vec::with_capacity(n_sims);
    let mut shuffled = trade_returns.to_vec();
    for _ in 0..n_sims {
        for b in buf.iter_mut() {
            *b = centred[rng.random_range(0..n)];
        }
        if sharpe(&buf) >= observed {
            ge += 1;
        }
        // Fisher–Yates shuffle of the real trades
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            shuffled.swap(i, j);
        }
        dds.push(max_dd_compound(&shuffled));
    }
    dds.sort_by(f64::total_cmp);
    MonteCarlo {
        n_trades: n,
        n_sims,
        observed_sharpe: observed,
        p_value: (1 + ge) as f64 / (1 + n_sims) as f64,
        underpowered: n < MC_MIN_TRADES,
        observed_max_dd,
        shuffled_max_dd_p50: percentile(&dds, 0.5),
        shuffled_max_dd_p95: percentile(&dds, 0.95),
    }
}

/// Percentile bootstrap confidence interval `(lo, hi)` of the per-period Sharpe of `xs`.
pub fn bootstrap_sharpe_ci(xs: &[f64], n_boot: usize, confidence: f64, seed: u64) -> (f64, f64) {
    let n = xs.len();
    if n < 2 || n_boot == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut buf = vec![0.0; n];
    let mut srs = Vec::with_capacity(n_boot);
    for _ in 0..n_boot {
        for b in buf.iter_mut() {
            *b = xs[rng.random_range(0..n)];
        }
        srs.push(sharpe(&buf));
    }
    srs.sort_by(f64::total_cmp);
    let a = (1.0 - confidence) / 2.0;
    (percentile(&srs, a), percentile(&srs, 1.0 - a))
}

/// Combinatorially symmetric cross-validation (Bailey, Borwein, López de Prado & Zhu 2017,
/// "The Probability of Backtest Overfitting", J. Computational Finance 20(4), §2).
/// `m[b][c]`: the performance of combination `c` on block `b` (S blocks of equal length, in
/// time order). Every split of the S blocks into two halves J / J̄ of S/2 blocks is taken; the
/// combination with the best mean over J (the first on a tie) is ranked among all N by its
/// mean over J̄: `ω = (1 + #{below} + ½ #{tied others}) / (N + 1)`, the logit
/// `λ = ln(ω / (1 − ω))`. PBO is the share of splits with `λ ≤ 0`: the in-sample choice lands at
/// or below the median out of sample. Returns `(pbo, splits, logits)`; `None` with fewer than 2
/// combinations, fewer than 2 blocks, an odd S or ragged rows.
pub fn cscv(m: &[Vec<f64>]) -> Option<(f64, usize, Vec<f64>)> {
    let s = m.len();
    let n = m.first()?.len();
    if s < 2 || s % 2 == 1 || s > 24 || n < 2 || m.iter().any(|r| r.len() != n) {
        return None;
    }
    let half = s / 2;
    let mut logits = Vec::new();
    let mut is_mean = vec![0.0; n];
    let mut oos_mean = vec![0.0; n];
    for mask in 0u32..(1u32 << s) {
        if mask.count_ones() as usize != half {
            continue;
        }
        is_mean.iter_mut().for_each(|x| *x = 0.0);
        oos_mean.iter_mut().for_each(|x| *x = 0.0);
        for (b, row) in m.iter().enumerate() {
            let dst = if mask & (1 << b) != 0 {
                &mut is_mean
            } else {
                &mut oos_mean
            };
            for (d, v) in dst.iter_mut().zip(row) {
                *d += v;
            }
        }
        let mut best = 0;
        for c in 1..n {
            if is_mean[c] > is_mean[best] {
                best = c;
            }
        }
        let v = oos_mean[best];
        let below = oos_mean.iter().filter(|x| **x < v).count() as f64;
        let tied = oos_mean.iter().filter(|x| **x == v).count() as f64 - 1.0;
        let w = (1.0 + below + 0.5 * tied) / (n as f64 + 1.0);
        logits.push((w / (1.0 - w)).ln());
    }
    let overfit = logits.iter().filter(|l| **l <= 0.0).count();
    Some((overfit as f64 / logits.len() as f64, logits.len(), logits))
}

/// Holm's (1979) step-down adjustment of `p` (family-wise error rate, valid under any
/// dependence): sorted ascending, `p̃(i) = max_{j ≤ i} min(1, (K − j + 1) p(j))`. Returned in the
/// input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let k = p.len();
    let mut idx: Vec<usize> = (0..k).collect();
    idx.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut out = vec![1.0; k];
    let mut run: f64 = 0.0;
    for (j, &i) in idx.iter().enumerate() {
        run = run.max(((k - j) as f64 * p[i]).min(1.0));
        out[i] = run;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_and_inverse() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((norm_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-13);
        assert!((norm_cdf(-1.0) - 0.158_655_253_931_457_05).abs() < 1e-14);
        for &p in &[1e-10, 0.001, 0.0242, 0.1, 0.5, 0.9, 0.99, 0.999_999] {
            assert!(
                (norm_cdf(norm_inv(p)) - p).abs() < 1e-12 * p.max(1e-3),
                "p={p}"
            );
        }
        assert!((norm_inv(0.99) - 2.326_347_874_040_841).abs() < 1e-12);
    }

    /// The numerical example of Bailey & López de Prado (2014), "The Deflated Sharpe Ratio",
    /// section 4: annualised SR 2.5 over 5 years of daily returns (T = 1250), N = 100 trials
    /// with variance of annualised Sharpes 0.5, skewness −3, kurtosis 10 → DSR ≈ 0.9004.
    #[test]
    fn dsr_paper_example() {
        let per_year = 250.0f64;
        let sr = 2.5 / per_year.sqrt();
        let var_trials = 0.5 / per_year; // variance of non-annualised Sharpes
        let d = dsr(sr, 1250, -3.0, 10.0, 100, var_trials);
        assert!((d - 0.9004).abs() < 5e-5, "DSR = {d}");
        // SR0 annualised ≈ 1.7894 in the paper's example
        let sr0 = expected_max_sharpe(100, 0.5);
        assert!((sr0 - 1.7894).abs() < 1e-4, "{sr0}");
    }

    #[test]
    fn psr_properties() {
        // Equal to the benchmark → 0.5; more observations → more confidence.
        assert!((psr(0.1, 0.1, 100, 0.0, 3.0) - 0.5).abs() < 1e-15);
        assert!(psr(0.1, 0.0, 1000, 0.0, 3.0) > psr(0.1, 0.0, 100, 0.0, 3.0));
        // Negative skew and fat tails lower the PSR of a positive Sharpe.
        assert!(psr(0.1, 0.0, 500, -2.0, 9.0) < psr(0.1, 0.0, 500, 0.0, 3.0));
    }

    #[test]
    fn moments_of_known_series() {
        let m = moments(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.mean, 2.5);
        assert!((m.std - 1.290_994_448_735_805_6).abs() < 1e-15);
        assert!(m.skew.abs() < 1e-15);
        assert!((m.kurt - 1.64).abs() < 1e-12);
    }

    #[test]
    fn monte_carlo_separates_edge_from_noise() {
        // Strong, consistent edge: tiny p-value.
        let edge: Vec<f64> = (0..200)
            .map(|i| 0.01 + 0.005 * ((i * 7 % 11) as f64 - 5.0) / 5.0)
            .collect();
        let mc = monte_carlo(&edge, 2000, 1);
        assert!(mc.p_value < 0.01, "{mc:?}");
        assert!(!mc.underpowered);
        // Zero-mean noise: p-value far from significance.
        let noise: Vec<f64> = (0..200)
            .map(|i| if i % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        let mc = monte_carlo(&noise, 2000, 1);
        assert!(mc.p_value > 0.2, "{mc:?}");
        // Few trades: underpowered flag.
        assert!(monte_carlo(&edge[..10], 100, 1).underpowered);
    }

    #[test]
    fn bootstrap_ci_contains_point_estimate() {
        let xs: Vec<f64> = (0..300)
            .map(|i| ((i * 37 % 101) as f64 - 45.0) / 1000.0)
            .collect();
        let (lo, hi) = bootstrap_sharpe_ci(&xs, 1000, 0.95, 7);
        let s = sharpe(&xs);
        assert!(lo < s && s < hi, "{lo} {s} {hi}");
    }
}

#[cfg(test)]
mod lo_tests {
    use super::*;

    #[test]
    fn lo_factor_is_sqrt_q_for_iid_and_smaller_for_positive_autocorrelation() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut u = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let iid: Vec<f64> = (0..20_000).map(|_| u()).collect();
        let f = lo_annualisation(&iid, 365.0);
        assert!((f / 365f64.sqrt() - 1.0).abs() < 0.1, "{f}");
        // AR(1) with φ = 0.5: ρ_k = 0.5^k, η = 365 / √(365 + 2 Σ_{k≤10} (365 − k) 0.5^k).
        let mut prev = 0.0;
        let ar: Vec<f64> = (0..200_000)
            .map(|_| {
                prev = 0.5 * prev + u();
                prev
            })
            .collect();
        let want = 365.0
            / (365.0
                + 2.0
                    * (1..=10)
                        .map(|k| (365.0 - k as f64) * 0.5f64.powi(k))
                        .sum::<f64>())
            .sqrt();
        let got = lo_annualisation(&ar, 365.0);
        assert!((got / want - 1.0).abs() < 0.03, "got {got}, want {want}");
        assert!(got < 0.6 * 365f64.sqrt());
        // Too short: √q.
        assert_eq!(lo_annualisation(&[0.1, 0.2], 365.0), 365f64.sqrt());
    }
}

#[cfg(test)]
mod cscv_tests {
    use super::*;

    #[test]
    fn cscv_by_hand() {
        // 4 blocks × 3 combinations; the 6 splits worked out in docs/OPTIMIZER.md "PBO":
        // J = {0,1}: c0 best IS (1), OOS {2,3}: c0 0 ties c2, below c1 → ω = 1.5/4, λ < 0.
        // J = {2,3}: c1 best IS, OOS {0,1}: c1 0 ties c2, below c0 → λ < 0.
        // J = {0,2},{0,3},{1,2},{1,3}: c0 and c1 tie IS (0.5), c0 is taken; OOS c0 = c1 = 0.5 >
        // c2 = 0 → ω = 2.5/4, λ = ln(0.625/0.375) > 0.
        let m = vec![
            vec![1.0, 0.0, 0.0],
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.0, 1.0, 0.0],
        ];
        let (pbo, splits, logits) = cscv(&m).unwrap();
        assert_eq!(splits, 6);
        assert!((pbo - 2.0 / 6.0).abs() < 1e-12, "{pbo}");
        let neg = (0.375f64 / 0.625).ln();
        let pos = (0.625f64 / 0.375).ln();
        let mut l = logits.clone();
        l.sort_by(f64::total_cmp);
        for (a, b) in l.iter().zip([neg, neg, pos, pos, pos, pos]) {
            assert!((a - b).abs() < 1e-12, "{logits:?}");
        }
    }

    #[test]
    fn cscv_extremes_and_refusals() {
        // One combination best on every block: never overfit.
        let m: Vec<Vec<f64>> = (0..8)
            .map(|b| vec![1.0 + b as f64, 0.5, 0.1 * b as f64])
            .collect();
        assert_eq!(cscv(&m).unwrap().0, 0.0);
        // Perfectly anti-persistent: the IS-best is always the OOS-worst.
        let m = vec![
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![0.0, 1.0],
            vec![1.0, 0.0],
        ];
        // J = {0,3} → c0 IS 1, OOS 0 (worst); {1,2} → c1, OOS worst; {0,1},{2,3},{0,2},{1,3}: IS
        // tie → c0, OOS tie → ω = 1.5/3 = 0.5, λ = 0: counted as overfit (≤ 0).
        assert_eq!(cscv(&m).unwrap().0, 1.0);
        // Noise: PBO ≈ ½ on average over realisations (one realisation can be far from it: the
        // combination with the best full-sample mean tends to win both halves, as CSCV takes
        // the sample as the population). 40 matrices of 8 blocks × 20 combinations.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut sum = 0.0;
        for _ in 0..40 {
            let m: Vec<Vec<f64>> = (0..8).map(|_| (0..20).map(|_| rnd()).collect()).collect();
            let (pbo, splits, _) = cscv(&m).unwrap();
            assert_eq!(splits, 70);
            sum += pbo;
        }
        let mean = sum / 40.0;
        assert!((0.35..=0.65).contains(&mean), "mean PBO of noise {mean}");
        assert!(cscv(&vec![vec![1.0, 2.0]; 3]).is_none(), "odd S");
        assert!(cscv(&vec![vec![1.0]; 4]).is_none(), "one combination");
    }

    #[test]
    fn holm_by_hand() {
        // K = 4: sorted 0.01, 0.02, 0.03, 0.5 → 0.04, 0.06, 0.06 (max with the previous), 0.5.
        let a = holm(&[0.03, 0.5, 0.01, 0.02]);
        let want = [0.06, 0.5, 0.04, 0.06];
        for (x, y) in a.iter().zip(want) {
            assert!((x - y).abs() < 1e-12, "{a:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
