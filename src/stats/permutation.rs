//! Paired (one-sample) sign-flip permutation test of a mean difference.
//!
//! Under the null hypothesis each paired difference is symmetric about zero,
//! so every pattern of signs is equally likely. The test statistic is the
//! mean difference; the two-sided p-value follows SciPy's
//! `permutation_test(..., permutation_type='samples', alternative='two-sided')`:
//! `p = min(1, 2 · min(p_less, p_greater))`, where, with `B` arrangements,
//!
//! * exact enumeration of all 2^n patterns: `p_side = count / 2^n`
//!   (the observed pattern is one of them);
//! * Monte Carlo with `B` random patterns: `p_side = (count + 1) / (B + 1)`
//!   (Phipson & Smyth 2010), counting the observed data as one arrangement.
//!
//! Null statistics that differ from the observed one only by floating-point
//! error must count as ties ("as or more extreme"). SciPy allows
//! `100 ε |observed|`; we allow `100 ε Σ|dᵢ|`, which is never smaller (Σ|dᵢ|
//! ≥ |Σdᵢ|) and also protects the case of an observed mean of exactly zero,
//! where SciPy's tolerance vanishes while the rounding error of a sum does
//! not. The two agree unless a null statistic lies within ~1e-14 relative of
//! the observed one without being equal in exact arithmetic.
//!
//! Exact enumeration uses meet-in-the-middle instead of walking 2^n patterns.
//! Flipping the subset F of differences turns the sum T into T − 2·S(F),
//! S(F) = Σ_{i∈F} dᵢ, so "null ≥ observed − γ" is "S(F) ≤ γ/2" and
//! "null ≤ observed + γ" is "S(F) ≥ −γ/2". Split the differences in two
//! halves, list the 2^(n/2) subset sums of each half (each built from at most
//! n/2 additions, so no accumulated drift), sort one list and count pairs by
//! binary search: O(2^(n/2) · n) time instead of O(2^n · n).

use rayon::prelude::*;

use super::descriptive::NeumaierSum;
use super::rng::Rng;
use super::{check_finite, StatsError, StatsResult};

/// Exact enumeration is never attempted beyond this many differences, whatever
/// the caller allows: each half-list would exceed 2^20 entries (8 MiB).
pub const MAX_EXACT_N: usize = 40;

/// Outcome of [`sign_flip_test`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PermutationResult {
    /// Two-sided p-value.
    pub p_value: f64,
    /// True when all 2^n sign patterns were enumerated.
    pub exact: bool,
    /// Arrangements the p-value is based on: 2^n when exact, otherwise the
    /// number of Monte Carlo resamples. A float because 2^n overflows u64
    /// for n ≥ 64.
    pub n_arrangements: f64,
    /// Observed statistic: the mean of the differences.
    pub statistic: f64,
}

/// Two-sided sign-flip test that the mean of `diffs` is zero.
///
/// Enumerates all 2^n sign patterns when 2^n ≤ `max_exact_arrangements` (and
/// n ≤ [`MAX_EXACT_N`]); otherwise draws `n_resamples` random patterns, the
/// pattern for resample `k` coming from `Rng::stream(seed, k)`, evaluated in
/// parallel with an order-independent result. Zero differences are kept:
/// flipping them changes nothing, exactly as in SciPy.
pub fn sign_flip_test(
    diffs: &[f64],
    max_exact_arrangements: u64,
    n_resamples: u64,
    seed: u64,
) -> StatsResult<PermutationResult> {
    check_finite(diffs)?;
    let n = diffs.len();
    let observed_sum = signed_sum(diffs, |_| false);
    let statistic = observed_sum / n as f64;
    let mut abs_total = NeumaierSum::new();
    abs_total.extend(diffs.iter().map(|d| d.abs()));
    let tolerance = 100.0 * f64::EPSILON * abs_total.total();

    let exact = n <= MAX_EXACT_N && (1u64 << n) <= max_exact_arrangements;
    let (p_less, p_greater, n_arrangements) = if exact {
        let (less, greater) = exact_counts(diffs, tolerance);
        let total = (1u64 << n) as f64;
        (less as f64 / total, greater as f64 / total, total)
    } else {
        if n_resamples == 0 {
            return Err(StatsError::Invalid(
                "n_resamples must be positive when the test is not exact",
            ));
        }
        let (less, greater) = monte_carlo_counts(diffs, observed_sum, tolerance, n_resamples, seed);
        let denominator = n_resamples as f64 + 1.0;
        (
            (less as f64 + 1.0) / denominator,
            (greater as f64 + 1.0) / denominator,
            n_resamples as f64,
        )
    };
    Ok(PermutationResult {
        p_value: (2.0 * p_less.min(p_greater)).min(1.0),
        exact,
        n_arrangements,
        statistic,
    })
}

/// Σ ±dᵢ with dᵢ negated where `flipped(i)`; compensated so that the
/// identity pattern reproduces the observed sum exactly.
fn signed_sum(diffs: &[f64], flipped: impl Fn(usize) -> bool) -> f64 {
    let mut acc = NeumaierSum::new();
    for (i, &d) in diffs.iter().enumerate() {
        acc.add(if flipped(i) { -d } else { d });
    }
    acc.total()
}

/// All 2^k subset sums of `values`; entry `mask` sums the values whose bit is
/// set. Each entry is one addition away from an earlier one, so it carries
/// the rounding of at most k additions.
fn subset_sums(values: &[f64]) -> Vec<f64> {
    let mut sums = Vec::with_capacity(1 << values.len());
    sums.push(0.0);
    for &v in values {
        let existing = sums.len();
        for m in 0..existing {
            let s = sums[m] + v;
            sums.push(s);
        }
    }
    sums
}

/// Exact (#patterns with null ≤ observed + γ, #patterns with null ≥
/// observed − γ), counting patterns by the sum S of the flipped differences.
fn exact_counts(diffs: &[f64], tolerance: f64) -> (u64, u64) {
    let (left, right) = diffs.split_at(diffs.len() / 2);
    let left_sums = subset_sums(left);
    let mut right_sums = subset_sums(right);
    right_sums.sort_by(f64::total_cmp);
    let half = tolerance / 2.0;
    let mut less = 0u64;
    let mut greater = 0u64;
    for &a in &left_sums {
        // greater: a + b ≤ γ/2; less: a + b ≥ −γ/2.
        greater += right_sums.partition_point(|&b| b <= half - a) as u64;
        less += (right_sums.len() - right_sums.partition_point(|&b| b < -half - a)) as u64;
    }
    (less, greater)
}

fn monte_carlo_counts(
    diffs: &[f64],
    observed_sum: f64,
    tolerance: f64,
    n_resamples: u64,
    seed: u64,
) -> (u64, u64) {
    (0..n_resamples)
        .into_par_iter()
        .map(|k| {
            let mut rng = Rng::stream(seed, k);
            let mut bits = 0u64;
            let mut flips = Vec::with_capacity(diffs.len());
            for i in 0..diffs.len() {
                if i % 64 == 0 {
                    bits = rng.next_u64();
                }
                flips.push(bits & 1 == 1);
                bits >>= 1;
            }
            let null_sum = signed_sum(diffs, |i| flips[i]);
            (
                u64::from(null_sum <= observed_sum + tolerance),
                u64::from(null_sum >= observed_sum - tolerance),
            )
        })
        .reduce(|| (0, 0), |x, y| (x.0 + y.0, x.1 + y.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward enumeration of all 2^n patterns, as a cross-check.
    fn brute_force_p(diffs: &[f64]) -> f64 {
        let n = diffs.len();
        let observed: f64 = diffs.iter().sum();
        let tol = 100.0 * f64::EPSILON * diffs.iter().map(|d| d.abs()).sum::<f64>();
        let (mut less, mut greater) = (0u64, 0u64);
        for mask in 0u64..(1 << n) {
            let s: f64 = diffs
                .iter()
                .enumerate()
                .map(|(i, d)| if mask >> i & 1 == 1 { -d } else { *d })
                .sum();
            less += u64::from(s <= observed + tol);
            greater += u64::from(s >= observed - tol);
        }
        let total = (1u64 << n) as f64;
        (2.0 * (less as f64 / total).min(greater as f64 / total)).min(1.0)
    }

    #[test]
    fn exact_matches_brute_force() {
        let data: Vec<f64> = (0..13).map(|i| (f64::from(i) * 0.77).sin() + 0.3).collect();
        for n in 1..=data.len() {
            let d = &data[..n];
            let r = sign_flip_test(d, u64::MAX, 0, 0).unwrap();
            assert!(r.exact);
            assert_eq!(r.p_value, brute_force_p(d), "n={n}");
        }
    }

    #[test]
    fn textbook_small_cases() {
        // All positive, n = 5: only the identity pattern is as extreme on the
        // upper side, so p = 2 / 32.
        let r = sign_flip_test(&[1.0, 2.0, 3.0, 4.0, 5.0], 1 << 20, 0, 0).unwrap();
        assert_eq!(r.p_value, 2.0 / 32.0);
        assert_eq!(r.n_arrangements, 32.0);
        assert_eq!(r.statistic, 3.0);
        // Ties in |d| with floating sums (0.1 + 0.2 ≠ 0.3 exactly).
        let r = sign_flip_test(&[0.1, 0.2, 0.3, -0.3, 0.6], 1 << 20, 0, 0).unwrap();
        assert_eq!(r.p_value, brute_force_p(&[0.1, 0.2, 0.3, -0.3, 0.6]));
        // Zero mean and all-zero data: p = 1.
        assert_eq!(sign_flip_test(&[1.0, -1.0], 16, 0, 0).unwrap().p_value, 1.0);
        assert_eq!(
            sign_flip_test(&[0.0; 6], 1 << 10, 0, 0).unwrap().p_value,
            1.0
        );
    }

    #[test]
    fn exact_is_fast_for_n_24() {
        let d: Vec<f64> = (0..24).map(|i| f64::from(i) * 0.1 - 0.7).collect();
        let r = sign_flip_test(&d, 1 << 24, 0, 0).unwrap();
        assert!(r.exact);
        assert!(r.p_value > 0.0 && r.p_value <= 1.0);
    }

    #[test]
    fn monte_carlo_agrees_with_exact_and_is_order_independent() {
        let d: Vec<f64> = (0..14).map(|i| (f64::from(i) * 1.3).cos() + 0.35).collect();
        let exact = sign_flip_test(&d, u64::MAX, 0, 0).unwrap();
        let mc = sign_flip_test(&d, 0, 20_000, 9).unwrap();
        assert!(!mc.exact);
        let se = (exact.p_value * (1.0 - exact.p_value) / 20_000.0).sqrt() * 2.0;
        assert!((mc.p_value - exact.p_value).abs() < 4.0 * se + 1e-4);
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| sign_flip_test(&d, 0, 5_000, 9).unwrap());
        let many = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| sign_flip_test(&d, 0, 5_000, 9).unwrap());
        assert_eq!(single, many);
    }

    #[test]
    fn invalid_input_is_an_error() {
        assert_eq!(sign_flip_test(&[], 16, 10, 0), Err(StatsError::Empty));
        assert!(sign_flip_test(&[1.0, f64::INFINITY], 16, 10, 0).is_err());
        assert!(sign_flip_test(&[1.0; 10], 4, 0, 0).is_err());
    }
}
