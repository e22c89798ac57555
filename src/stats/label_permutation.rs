//! Two-sample (label) permutation test of a difference in means: under the
//! null hypothesis the group labels are exchangeable, so every split of the
//! pooled values into groups of the observed sizes is equally likely.
//!
//! The statistic is mean(x) − mean(y) and the two-sided p-value follows
//! SciPy's `permutation_test((x, y), statistic,
//! permutation_type='independent', alternative='two-sided')`:
//! `p = min(1, 2·min(p_less, p_greater))`, with `p_side = count / C(n, nₓ)`
//! when all C(n, nₓ) splits are enumerated and `(count + 1)/(B + 1)` for B
//! Monte Carlo splits (Phipson & Smyth 2010).
//!
//! Because mean(x) − mean(y) = S·(1/nₓ + 1/nᵧ) − T/nᵧ increases with the
//! sum S of the values labelled x (T is the fixed total), splits are compared
//! through S, which avoids a division per split. As in `permutation.rs`,
//! sums within `100 ε Σ|vᵢ|` of the observed one count as ties ("as or more
//! extreme"); SciPy's tolerance 100 ε |observed| vanishes when the observed
//! difference is 0, where rounding can still separate equal sums.
//!
//! Exact enumeration uses meet-in-the-middle: split the pooled values into
//! halves, list the subset sums of each half by subset size, sort the right
//! half's lists, and count the pairs (left subset of size j, right subset of
//! size k − j) by binary search, in O(2^(n/2) · n) instead of O(C(n, k)).

use rayon::prelude::*;

use super::descriptive::{mean, NeumaierSum};
use super::permutation::{PermutationResult, MAX_EXACT_N};
use super::rng::Rng;
use super::{check_finite, StatsError, StatsResult};

/// Two-sided label permutation test of equal means of `x` and `y`.
///
/// Enumerates all C(nₓ + nᵧ, nₓ) splits when that number is at most
/// `max_exact_arrangements` (and nₓ + nᵧ ≤ [`MAX_EXACT_N`]); otherwise draws
/// `n_resamples` random splits, split k coming from `Rng::stream(seed, k)`
/// (a partial Fisher–Yates shuffle choosing the x labels), evaluated in
/// parallel with a result that does not depend on the thread count.
/// `statistic` is mean(x) − mean(y).
pub fn label_permutation_test(
    x: &[f64],
    y: &[f64],
    max_exact_arrangements: u64,
    n_resamples: u64,
    seed: u64,
) -> StatsResult<PermutationResult> {
    check_finite(x)?;
    check_finite(y)?;
    let statistic = mean(x)? - mean(y)?;
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let n = pooled.len();
    let mut abs_total = NeumaierSum::new();
    abs_total.extend(pooled.iter().map(|v| v.abs()));
    let tolerance = 100.0 * f64::EPSILON * abs_total.total();

    // Count splits through the smaller group; if that is y, "S_y small" is
    // "statistic large", so the two sides swap.
    let (k, observed_small_sum, small_is_x) = if x.len() <= y.len() {
        (x.len(), compensated(x), true)
    } else {
        (y.len(), compensated(y), false)
    };
    let arrangements = binomial_saturating(n as u64, k as u64);
    let exact = n <= MAX_EXACT_N && arrangements <= u128::from(max_exact_arrangements);
    let (le, ge, total, adjustment) = if exact {
        let (le, ge) = exact_counts(&pooled, k, observed_small_sum, tolerance);
        (le as f64, ge as f64, arrangements as f64, 0.0)
    } else {
        if n_resamples == 0 {
            return Err(StatsError::Invalid(
                "n_resamples must be positive when the test is not exact",
            ));
        }
        let (le, ge) =
            monte_carlo_counts(&pooled, k, observed_small_sum, tolerance, n_resamples, seed);
        (le as f64, ge as f64, n_resamples as f64, 1.0)
    };
    // For x as the small group, statistic ≤ observed ⇔ S ≤ S_obs.
    let (less, greater) = if small_is_x { (le, ge) } else { (ge, le) };
    let p_less = (less + adjustment) / (total + adjustment);
    let p_greater = (greater + adjustment) / (total + adjustment);
    Ok(PermutationResult {
        p_value: (2.0 * p_less.min(p_greater)).min(1.0),
        exact,
        n_arrangements: total,
        statistic,
    })
}

fn compensated(values: &[f64]) -> f64 {
    let mut acc = NeumaierSum::new();
    acc.extend(values.iter().copied());
    acc.total()
}

/// C(n, k), saturating at u128::MAX.
fn binomial_saturating(n: u64, k: u64) -> u128 {
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 0..k {
        // c · (n − i) / (i + 1) stays an integer at every step.
        match c.checked_mul(u128::from(n - i)) {
            Some(v) => c = v / u128::from(i + 1),
            None => return u128::MAX,
        }
    }
    c
}

/// Subset sums of `values` grouped by subset size: `out[j]` holds the sums
/// of all subsets of size j, each built from at most `values.len()`
/// additions.
fn sums_by_size(values: &[f64]) -> Vec<Vec<f64>> {
    let m = values.len();
    let mut sums = Vec::with_capacity(1 << m);
    sums.push(0.0);
    for &v in values {
        let existing = sums.len();
        for i in 0..existing {
            let s = sums[i] + v;
            sums.push(s);
        }
    }
    let mut out = vec![Vec::new(); m + 1];
    for (mask, s) in sums.into_iter().enumerate() {
        out[(mask as u64).count_ones() as usize].push(s);
    }
    out
}

/// (#size-k subsets with sum ≤ S_obs + γ, #with sum ≥ S_obs − γ).
fn exact_counts(pooled: &[f64], k: usize, observed: f64, tolerance: f64) -> (u64, u64) {
    let (left, right) = pooled.split_at(pooled.len() / 2);
    let left_sums = sums_by_size(left);
    let mut right_sums = sums_by_size(right);
    for list in &mut right_sums {
        list.sort_by(f64::total_cmp);
    }
    let (mut le, mut ge) = (0u64, 0u64);
    for (j, lefts) in left_sums.iter().enumerate() {
        if j > k || k - j >= right_sums.len() {
            continue;
        }
        let rights = &right_sums[k - j];
        for &a in lefts {
            le += rights.partition_point(|&b| a + b <= observed + tolerance) as u64;
            ge += (rights.len() - rights.partition_point(|&b| a + b < observed - tolerance)) as u64;
        }
    }
    (le, ge)
}

fn monte_carlo_counts(
    pooled: &[f64],
    k: usize,
    observed: f64,
    tolerance: f64,
    n_resamples: u64,
    seed: u64,
) -> (u64, u64) {
    let n = pooled.len();
    (0..n_resamples)
        .into_par_iter()
        .map_init(Vec::new, |indices: &mut Vec<usize>, r| {
            let mut rng = Rng::stream(seed, r);
            // Reset per resample so the draw depends only on (seed, r).
            indices.clear();
            indices.extend(0..n);
            let mut acc = NeumaierSum::new();
            for i in 0..k {
                let j = i + rng.below((n - i) as u64) as usize;
                indices.swap(i, j);
                acc.add(pooled[indices[i]]);
            }
            let s = acc.total();
            (
                u64::from(s <= observed + tolerance),
                u64::from(s >= observed - tolerance),
            )
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enumerates all splits directly (bitmasks with k bits set).
    fn brute_force_p(x: &[f64], y: &[f64]) -> f64 {
        let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
        let n = pooled.len();
        let obs = x.iter().sum::<f64>() / x.len() as f64 - y.iter().sum::<f64>() / y.len() as f64;
        let tol = 1e-12;
        let (mut le, mut ge, mut total) = (0u64, 0u64, 0u64);
        for mask in 0u64..(1 << n) {
            if mask.count_ones() as usize != x.len() {
                continue;
            }
            let (mut sx, mut sy) = (0.0, 0.0);
            for (i, v) in pooled.iter().enumerate() {
                if mask >> i & 1 == 1 {
                    sx += v;
                } else {
                    sy += v;
                }
            }
            let stat = sx / x.len() as f64 - sy / y.len() as f64;
            le += u64::from(stat <= obs + tol);
            ge += u64::from(stat >= obs - tol);
            total += 1;
        }
        (2.0 * (le.min(ge) as f64) / total as f64).min(1.0)
    }

    #[test]
    fn exact_matches_brute_force() {
        let data: Vec<f64> = (0..14).map(|i| (f64::from(i) * 0.91).sin() * 3.0).collect();
        for (nx, ny) in [(1, 1), (1, 4), (3, 3), (5, 2), (6, 8), (2, 12)] {
            let (x, y) = data[..nx + ny].split_at(nx);
            let r = label_permutation_test(x, y, u64::MAX, 0, 0).unwrap();
            assert!(r.exact);
            assert!(
                (r.p_value - brute_force_p(x, y)).abs() < 1e-15,
                "{nx} {ny}: {} vs {}",
                r.p_value,
                brute_force_p(x, y)
            );
        }
        // Identical groups and all ties: every split is as extreme, p = 1.
        let r = label_permutation_test(&[0.1; 4], &[0.1; 5], u64::MAX, 0, 0).unwrap();
        assert_eq!(r.p_value, 1.0);
        assert_eq!(r.n_arrangements, 126.0);
    }

    #[test]
    fn monte_carlo_is_reproducible_and_thread_independent() {
        let x: Vec<f64> = (0..20).map(|i| f64::from(i % 7) * 0.3 + 0.4).collect();
        let y: Vec<f64> = (0..25).map(|i| f64::from(i % 5) * 0.3).collect();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| label_permutation_test(&x, &y, 1000, 4000, 17).unwrap())
        };
        let one = run(1);
        assert!(!one.exact);
        assert_eq!(one, run(4));
        assert!(one.p_value > 0.0 && one.p_value <= 1.0);
        assert!(label_permutation_test(&x, &y, 1000, 0, 17).is_err());
        assert!(label_permutation_test(&[], &y, 1000, 10, 17).is_err());
    }
}
