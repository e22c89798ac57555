//! Pure numerical building blocks for probity's statistics: slices in,
//! numbers out. Nothing here performs I/O or knows what a probe, model or
//! report is, so every function can be checked in isolation against the
//! reference implementations it imitates (SciPy and statsmodels; see
//! `tests/fixtures/stats/make_fixtures.py` and `reference_tests.rs`).
//!
//! Invalid input (empty data, NaN, a confidence level outside (0, 1), too few
//! units) is reported through [`StatsError`] rather than a panic, because the
//! data come from model runs and a malformed run must not abort an audit.

pub mod bootstrap;
pub mod descriptive;
pub mod effect;
pub mod grouped_bootstrap;
pub mod label_permutation;
pub mod multiple;
pub mod permutation;
pub mod power;
pub mod proportion;
pub mod ranks;
pub mod rng;
mod special;
pub mod tests2x2;
pub mod ttest;

#[cfg(test)]
mod reference_tests;

use serde::{Deserialize, Serialize};

pub use bootstrap::{
    bca_interval, bootstrap_mean_bca, bootstrap_mean_replicates, jackknife_mean,
    percentile_interval,
};
pub use descriptive::{mean, sample_sd, sample_variance, NeumaierSum};
pub use effect::{cliffs_delta, cohens_d, weat_effect_size};
pub use grouped_bootstrap::{cluster_bootstrap_replicates, stratified_bootstrap_replicates};
pub use label_permutation::label_permutation_test;
pub use multiple::{benjamini_hochberg, holm};
pub use permutation::{sign_flip_test, PermutationResult};
pub use power::{
    min_detectable_paired_difference, min_detectable_proportion_difference,
    min_detectable_two_sample_difference, paired_t_power, two_sample_t_power,
};
pub use proportion::{
    binomial_test_greater, clopper_pearson_interval, newcombe_difference_interval,
    odds_ratio_interval, ratio_interval_katz, wilson_interval, OddsRatio,
};
pub use ranks::{mann_whitney_u, wilcoxon_signed_rank, PValueMethod, RankTestResult};
pub use rng::Rng;
pub use tests2x2::{
    chi_square_independence, fisher_exact_2x2, two_proportion_z_test, ChiSquareResult,
    FisherResult, TestResult,
};
pub use ttest::{welch_t_test, WelchResult};

/// A two-sided interval estimate, `low <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// Why a statistical routine refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("no data: the input slice is empty")]
    Empty,
    #[error("input contains a NaN or infinite value")]
    NonFinite,
    #[error("confidence level {0} is outside the open interval (0, 1)")]
    Confidence(f64),
    #[error("{what} must lie in the open interval (0, 1), got {value}")]
    Probability { what: &'static str, value: f64 },
    #[error("need at least {needed} units, got {got}")]
    TooFew { needed: usize, got: usize },
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
}

/// Shorthand used throughout the module (not named `Result` so that a glob
/// import of this module cannot shadow the prelude's two-parameter `Result`).
pub type StatsResult<T> = Result<T, StatsError>;

/// Rejects empty or non-finite data; every public entry point starts here so
/// that a NaN can never silently turn into a NaN interval downstream.
pub(crate) fn check_finite(values: &[f64]) -> StatsResult<()> {
    if values.is_empty() {
        return Err(StatsError::Empty);
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite);
    }
    Ok(())
}

pub(crate) fn check_confidence(confidence: f64) -> StatsResult<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(StatsError::Confidence(confidence))
    }
}

/// Standard normal CDF, Φ(x) = erfc(−x/√2)/2, accurate to a few ulps in
/// both tails (see [`erfc`]).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile, Φ⁻¹(p); ±∞ at p = 0 or 1 like SciPy's `ndtri`.
/// statrs' `erfc_inv` gives the starting point and one Halley step against
/// our accurate [`normal_cdf`] polishes it to full double precision.
pub(crate) fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let x = -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p);
    if !x.is_finite() {
        return x;
    }
    // Work in the smaller tail so the residual keeps relative precision.
    let (target, sign) = if p > 0.5 { (1.0 - p, -1.0) } else { (p, 1.0) };
    let x_tail = sign * x;
    let density = (-0.5 * x_tail * x_tail).exp() / (2.0 * std::f64::consts::PI).sqrt();
    if density <= 0.0 {
        return x;
    }
    let u = (normal_cdf(x_tail) - target) / density;
    let refined = x_tail - u / (1.0 + 0.5 * x_tail * u);
    sign * refined
}

/// Complementary error function with ~1e-15 relative accuracy.
///
/// statrs 0.18's `erfc` is only good to ~1e-10 relative in places (e.g. at
/// Φ(−3)), which is visible next to SciPy's `ndtr`, so we evaluate it here:
/// for |x| < 1 from the positive-term series
/// erf(x) = 2/√π · e^{−x²} Σ (2x²)ⁿ x / (1·3·…·(2n+1)), which has no
/// cancellation; above, from the classical continued fraction
/// erfc(x) = e^{−x²}/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))) evaluated by
/// the modified Lentz method.
/// Below this the series is used (1 − erf keeps ≥ 0.15 of erfc, so loses at
/// most ~3 bits); above, the continued fraction converges in ≤ ~190 steps.
const ERFC_SWITCH: f64 = 1.0;

pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < ERFC_SWITCH {
        return 1.0 - erf_series(x);
    }
    if x > 27.3 {
        return 0.0; // below the smallest subnormal
    }
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..5000 {
        let a = 0.5 * f64::from(k);
        d = x + a * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() <= 1e-16 {
            break;
        }
    }
    exp_minus_square(x) / (std::f64::consts::PI.sqrt() * f)
}

/// erf(x) for small x ≥ 0 by its all-positive-terms series.
fn erf_series(x: f64) -> f64 {
    let two_x2 = 2.0 * x * x;
    let mut term = x;
    let mut total = x;
    let mut k = 0.0;
    while term > total * 1e-17 {
        k += 1.0;
        term *= two_x2 / (2.0 * k + 1.0);
        total += term;
    }
    2.0 / std::f64::consts::PI.sqrt() * exp_minus_square(x) * total
}

/// e^{−x²} without the error of rounding x² first (which grows like x²·ε):
/// split x = m + r with m a multiple of 1/16, so m² is exact, as Cephes'
/// `expx2` does.
fn exp_minus_square(x: f64) -> f64 {
    let m = (x * 16.0).round() / 16.0;
    let r = x - m;
    (-m * m).exp() * (-(2.0 * m * r + r * r)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_helpers_match_scipy() {
        for &p in &[1e-10, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999999] {
            let z = normal_quantile(p);
            // Rounding z to a double moves Φ(z) by φ(z)·ulp(z), up to ~1e-14·p.
            let err = (normal_cdf(z) - p).abs() / p.min(1.0 - p);
            assert!(err <= 1e-14, "p={p}: {err:e}");
        }
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        // Exact values (mpmath, 40 digits), rounded to doubles.
        let quantiles = [
            (0.975, 1.9599639845400539),
            (0.001, -3.0902323061678135),
            (1e-10, -6.361340902404057),
        ];
        for (p, expected) in quantiles {
            let got = normal_quantile(p);
            assert!((got / expected - 1.0).abs() < 1e-15, "p={p}: {got:e}");
        }
        let cdf = [
            (-8.0, 6.220960574271784e-16),
            (-3.0, 0.0013498980316300945),
            (-0.5, 0.3085375387259869),
            (0.7, 0.758036347776927),
            (2.5, 0.9937903346742238),
            (-20.0, 2.7536241186062337e-89),
        ];
        for (x, expected) in cdf {
            let got = normal_cdf(x);
            // Rounding x/√2 alone costs a relative 2·(x²/2)·ε in the tail.
            let tolerance = (x * x + 4.0) * 2.5e-16;
            assert!((got / expected - 1.0).abs() < tolerance, "x={x}: {got:e}");
        }
    }

    #[test]
    fn validation_helpers() {
        assert_eq!(check_finite(&[]), Err(StatsError::Empty));
        assert_eq!(check_finite(&[1.0, f64::NAN]), Err(StatsError::NonFinite));
        assert!(check_finite(&[1.0]).is_ok());
        assert!(check_confidence(0.95).is_ok());
        assert!(check_confidence(1.0).is_err());
        assert!(check_confidence(f64::NAN).is_err());
    }
}
