//! Confidence intervals for a binomial proportion, used for flag rates
//! (e.g. how often a model refuses or produces a flagged output).
//!
//! The Wilson score interval is used because, unlike the Wald interval, it
//! stays inside [0, 1] and keeps sensible width at 0 of n and n of n, which
//! are common for rare flags. The formula is statsmodels'
//! `proportion_confint(count, nobs, alpha, method='wilson')`, including its
//! final clip to [0, 1].

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
}
