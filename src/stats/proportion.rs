//! Confidence intervals for a binomial proportion, used for flag rates
//! (e.g. how often a model refuses or produces a flagged output), and for
//! comparisons of two independent proportions (difference, ratio, odds
//! ratio) between groups.
//!
//! The Wilson score interval is used because, unlike the Wald interval, it
//! stays inside [0, 1] and keeps sensible width at 0 of n and n of n, which
//! are common for rare flags. The formula is statsmodels'
//! `proportion_confint(count, nobs, alpha, method='wilson')`, including its
//! final clip to [0, 1]. The other intervals follow statsmodels as cited on
//! each function. Zero counts are the norm for rare flags, so every function
//! states what it does with them; none returns NaN.

use super::special::beta_quantile;
use super::{check_confidence, normal_quantile, Interval, StatsError, StatsResult};

/// Wilson score interval for `successes` out of `n` at `confidence`.
pub fn wilson_interval(successes: u64, n: u64, confidence: f64) -> StatsResult<Interval> {
    check_confidence(confidence)?;
    if n == 0 {
        return Err(StatsError::TooFew { needed: 1, got: 0 });
    }
    if successes > n {
        return Err(StatsError::Invalid("successes exceed the number of trials"));
    }
    // Upper-tail quantile written as −Φ⁻¹(α/2) to keep precision for small α.
    let crit = -normal_quantile((1.0 - confidence) / 2.0);
    let n_f = n as f64;
    let q = successes as f64 / n_f;
    let crit2 = crit * crit;
    let denom = 1.0 + crit2 / n_f;
    let centre = (q + crit2 / (2.0 * n_f)) / denom;
    let half_width = crit * (q * (1.0 - q) / n_f + crit2 / (4.0 * n_f * n_f)).sqrt() / denom;
    // At 0 of n (n of n) the bound is exactly 0 (1); rounding would leave
    // ~1e-17 otherwise.
    let low = if successes == 0 {
        0.0
    } else {
        (centre - half_width).clamp(0.0, 1.0)
    };
    let high = if successes == n {
        1.0
    } else {
        (centre + half_width).clamp(0.0, 1.0)
    };
    Ok(Interval { low, high })
}

/// Clopper–Pearson ("exact") interval for `successes` out of `n`: the
/// bounds are Beta quantiles, `low = B⁻¹(α/2; k, n − k + 1)` and
/// `high = B⁻¹(1 − α/2; k + 1, n − k)`, with low = 0 at k = 0 and high = 1 at
/// k = n (Clopper & Pearson 1934; statsmodels `proportion_confint(...,
/// method='beta')`). Each bound is the root of a binomial tail, computed in
/// whichever of p and 1 − p is smaller so that bounds near 0 or 1 keep their
/// relative precision even at n = 10^9.
pub fn clopper_pearson_interval(successes: u64, n: u64, confidence: f64) -> StatsResult<Interval> {
    check_counts(successes, n, confidence)?;
    let alpha_2 = (1.0 - confidence) / 2.0;
    let (k, n_f) = (successes as f64, n as f64);
    let low = if successes == 0 {
        0.0
    } else {
        beta_quantile(k, n_f - k + 1.0, alpha_2).0
    };
    let high = if successes == n {
        1.0
    } else {
        // 1 − high is the α/2 quantile of Beta(n − k, k + 1).
        beta_quantile(n_f - k, k + 1.0, alpha_2).1
    };
    Ok(Interval { low, high })
}

/// Newcombe's hybrid score interval for p₁ − p₂ (Newcombe 1998, method 10),
/// exactly as statsmodels `confint_proportions_2indep(..., compare='diff',
/// method='newcomb')`: with Wilson intervals (l₁, u₁) and (l₂, u₂),
///
///   low = p̂₁ − p̂₂ − √((p̂₁ − l₁)² + (u₂ − p̂₂)²),
///   high = p̂₁ − p̂₂ + √((p̂₂ − l₂)² + (u₁ − p̂₁)²).
///
/// Zero counts are fine (the Wilson bounds are); n = 0 is an error.
pub fn newcombe_difference_interval(
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    confidence: f64,
) -> StatsResult<Interval> {
    let w1 = wilson_interval(x1, n1, confidence)?;
    let w2 = wilson_interval(x2, n2, confidence)?;
    let p1 = x1 as f64 / n1 as f64;
    let p2 = x2 as f64 / n2 as f64;
    let diff = p1 - p2;
    Ok(Interval {
        low: diff - (p1 - w1.low).hypot(w2.high - p2),
        high: diff + (p2 - w2.low).hypot(w1.high - p1),
    })
}

/// Katz log interval for the risk ratio p₁/p₂ (Katz et al. 1978):
/// `exp(ln(p̂₁/p̂₂) ± z √(1/x₁ − 1/n₁ + 1/x₂ − 1/n₂))`, as statsmodels
/// `confint_proportions_2indep(..., compare='ratio', method='log')`.
///
/// Zero counts: with x₁ = 0 or x₂ = 0 the log ratio or its variance is
/// infinite (statsmodels returns NaN bounds), so this is an error; use
/// [`newcombe_difference_interval`], which is defined there, or add ½ to the
/// counts and trials yourself (statsmodels' 'log-adjusted').
pub fn ratio_interval_katz(
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    confidence: f64,
) -> StatsResult<Interval> {
    check_counts(x1, n1, confidence)?;
    check_counts(x2, n2, confidence)?;
    if x1 == 0 || x2 == 0 {
        return Err(StatsError::Invalid(
            "zero count: the log (Katz) ratio interval is undefined",
        ));
    }
    let (x1, n1, x2, n2) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let log_ratio = (x1 / n1).ln() - (x2 / n2).ln();
    // 1/x − 1/n = (n − x)/(x n): no cancellation when x ≈ n.
    let var = (n1 - x1) / (x1 * n1) + (n2 - x2) / (x2 * n2);
    let half = -normal_quantile((1.0 - confidence) / 2.0) * var.sqrt();
    Ok(Interval {
        low: (log_ratio - half).exp(),
        high: (log_ratio + half).exp(),
    })
}

/// Sample odds ratio of a 2×2 table with its Woolf (logit) interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OddsRatio {
    /// ad / (bc), after the zero-cell correction if one was applied.
    pub estimate: f64,
    pub interval: Interval,
    /// True when a cell was zero and ½ was added to all four cells.
    pub zero_corrected: bool,
}

/// Odds ratio (a·d)/(b·c) of the table [[a, b], [c, d]] with the Woolf logit
/// interval `exp(ln OR ± z √(1/a + 1/b + 1/c + 1/d))` (Woolf 1955;
/// statsmodels `Table2x2(table).oddsratio_confint()`).
///
/// Zero cells: if any cell is 0, ½ is added to *all four* cells
/// (Haldane–Anscombe correction; Agresti 2013, §3.1.1) and `zero_corrected`
/// is set. This differs from statsmodels' default `shift_zeros=True`, which
/// despite its documentation replaces only the zero cells by ½; we follow the
/// textbook rule, which is unaffected by the orientation of the table.
pub fn odds_ratio_interval(
    a: u64,
    b: u64,
    c: u64,
    d: u64,
    confidence: f64,
) -> StatsResult<OddsRatio> {
    check_confidence(confidence)?;
    let zero_corrected = a == 0 || b == 0 || c == 0 || d == 0;
    let shift = if zero_corrected { 0.5 } else { 0.0 };
    let [a, b, c, d] = [a, b, c, d].map(|v| v as f64 + shift);
    let log_or = a.ln() - b.ln() - c.ln() + d.ln();
    let se = (1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d).sqrt();
    let half = -normal_quantile((1.0 - confidence) / 2.0) * se;
    Ok(OddsRatio {
        estimate: (a * d) / (b * c),
        interval: Interval {
            low: (log_or - half).exp(),
            high: (log_or + half).exp(),
        },
        zero_corrected,
    })
}

fn check_counts(successes: u64, n: u64, confidence: f64) -> StatsResult<()> {
    check_confidence(confidence)?;
    if n == 0 {
        return Err(StatsError::TooFew { needed: 1, got: 0 });
    }
    if successes > n {
        return Err(StatsError::Invalid("successes exceed the number of trials"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_value() {
        // 8 of 20 at 95 %: Wilson gives (0.2188, 0.6134) to 4 decimals.
        let ci = wilson_interval(8, 20, 0.95).unwrap();
        assert!((ci.low - 0.2188).abs() < 1e-4 && (ci.high - 0.6134).abs() < 1e-4);
    }

    #[test]
    fn extremes_stay_in_unit_interval() {
        let none = wilson_interval(0, 10, 0.95).unwrap();
        assert_eq!(none.low, 0.0);
        assert!(none.high > 0.0 && none.high < 0.4);
        let all = wilson_interval(10, 10, 0.95).unwrap();
        assert!(all.low > 0.6 && all.high == 1.0);
    }

    #[test]
    fn invalid_input() {
        assert!(wilson_interval(1, 0, 0.95).is_err());
        assert!(wilson_interval(3, 2, 0.95).is_err());
        assert!(wilson_interval(1, 2, 0.0).is_err());
    }

    #[test]
    fn clopper_pearson_closed_forms() {
        // 0 of n: high = 1 − (α/2)^{1/n}; n of n: low = (α/2)^{1/n}.
        let ci = clopper_pearson_interval(0, 10, 0.95).unwrap();
        assert_eq!(ci.low, 0.0);
        assert!((ci.high - (1.0 - 0.025f64.powf(0.1))).abs() < 1e-15);
        let ci = clopper_pearson_interval(10, 10, 0.95).unwrap();
        assert!((ci.low - 0.025f64.powf(0.1)).abs() < 1e-15 && ci.high == 1.0);
        assert!(clopper_pearson_interval(3, 2, 0.95).is_err());
    }

    #[test]
    fn two_sample_intervals_handle_zeros_explicitly() {
        let nc = newcombe_difference_interval(0, 10, 0, 12, 0.95).unwrap();
        assert!(nc.low < 0.0 && nc.high > 0.0);
        assert!(ratio_interval_katz(0, 10, 3, 10, 0.95).is_err());
        let or = odds_ratio_interval(0, 5, 3, 4, 0.95).unwrap();
        assert!(or.zero_corrected);
        assert!((or.estimate - (0.5 * 4.5) / (5.5 * 3.5)).abs() < 1e-15);
        assert!(or.interval.low > 0.0 && or.interval.high.is_finite());
        let plain = odds_ratio_interval(2, 5, 3, 4, 0.95).unwrap();
        assert!(!plain.zero_corrected);
    }
}

/// One-sided exact binomial test of H0: p ≤ `p0` against p > `p0`, given
/// `successes` of `n`: P(X ≥ k) under Binomial(n, p0), which is I_{p0}(k, n − k + 1)
/// for k ≥ 1 and 1 for k = 0 (SciPy's `binomtest(..., alternative='greater')`).
pub fn binomial_test_greater(successes: u64, n: u64, p0: f64) -> StatsResult<f64> {
    if n == 0 {
        return Err(StatsError::TooFew { needed: 1, got: 0 });
    }
    if successes > n {
        return Err(StatsError::Invalid("more successes than trials"));
    }
    if !(0.0..=1.0).contains(&p0) {
        return Err(StatsError::Invalid("p0 must lie in [0, 1]"));
    }
    if successes == 0 {
        return Ok(1.0);
    }
    let k = successes as f64;
    Ok(super::special::inc_beta(k, n as f64 - k + 1.0, p0, 1.0 - p0).0)
}

#[cfg(test)]
mod binomial_greater_tests {
    /// P(X ≥ k) from SciPy 1.17 (`binomtest(k, n, p0, alternative='greater')`),
    /// written by tests/fixtures/binomial_greater_reference.py.
    #[test]
    fn binomial_test_greater_matches_scipy() {
        let fixture: Vec<(u64, u64, f64, f64)> = serde_json::from_str(include_str!(
            "../../tests/fixtures/binomial_greater_reference.json"
        ))
        .unwrap();
        assert!(fixture.len() >= 15);
        for (k, n, p0, expected) in fixture {
            let p = super::binomial_test_greater(k, n, p0).unwrap();
            assert!(
                (p - expected).abs() <= 1e-15 + 1e-9 * expected,
                "k={k} n={n} p0={p0}: {p} vs SciPy {expected}"
            );
        }
        assert!(super::binomial_test_greater(1, 0, 0.1).is_err());
        assert!(super::binomial_test_greater(3, 2, 0.1).is_err());
        assert!(super::binomial_test_greater(1, 2, 1.5).is_err());
    }
}
