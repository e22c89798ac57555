//! Rank tests: the Mann–Whitney U test for two independent samples and the
//! Wilcoxon signed-rank test for paired differences, both two-sided and both
//! choosing between an exact and a normal-approximation p-value by SciPy's
//! `method='auto'` rules (SciPy 1.17), so that results can be compared with
//! `scipy.stats.mannwhitneyu` and `scipy.stats.wilcoxon` one to one.
//!
//! Ranks are average ranks of tied values. Exact null distributions are
//! counted in floating point by polynomial recurrences. For the signed-rank
//! test (n ≤ 50) the counts stay below 2^53, so p is an exact rational
//! rounded once; for Mann–Whitney that holds while C(n₁ + n₂, min(n₁, n₂))
//! < 2^53 (e.g. 8 against ≤ 360), and beyond it the counts carry ~1e-16
//! relative rounding per step (SciPy also switches to floating point once
//! its counts overflow u64); a 6-against-1500 case still agrees with SciPy
//! to 1e-12.

use super::{check_finite, normal_cdf, StatsResult};

/// How a rank test's p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PValueMethod {
    /// Exact null distribution of the statistic (no ties).
    Exact,
    /// Exact permutation distribution conditional on the observed ranks
    /// (ties or zeros present; what SciPy's `PermutationMethod` enumerates).
    ExactConditional,
    /// Normal approximation with tie correction.
    Asymptotic,
}

/// Outcome of a rank test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RankTestResult {
    /// See the function's documentation for which statistic this is.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    pub method: PValueMethod,
}

/// Average ranks (1-based) of `values` in their original order, and the
/// tie term Σ (t³ − t) over groups of t tied values.
pub(crate) fn average_ranks(values: &[f64]) -> (Vec<f64>, f64) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut tie_term = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) share the rank (start + 1 + end)/2.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        let t = (end - start) as f64;
        tie_term += t * t * t - t;
        start = end;
    }
    (ranks, tie_term)
}

/// Two-sided Mann–Whitney U test (scipy.stats.mannwhitneyu with
/// `use_continuity=True`, `method='auto'`). `statistic` is U of `x`,
/// U₁ = R₁ − n₁(n₁ + 1)/2 with R₁ the rank sum of `x` in the pooled sample.
///
/// With U = max(U₁, n₁n₂ − U₁):
/// * exact when there are no ties and min(n₁, n₂) ≤ 8 (SciPy's rule):
///   p = 2·P(U' ≥ U) under the null distribution (Mann & Whitney 1947),
///   computed as the Gaussian binomial coefficient [N choose m]_q;
/// * otherwise asymptotic: z = (U − n₁n₂/2 − ½)/σ with
///   σ² = n₁n₂/12 · ((N + 1) − Σ(t³ − t)/(N(N − 1))), p = 2Φ(−z);
///
/// both clipped to 1. If every value is tied, σ = 0 and SciPy's z = −∞ is
/// clipped to p = 1; we return p = 1 directly.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> StatsResult<RankTestResult> {
    check_finite(x)?;
    check_finite(y)?;
    let (n1, n2) = (x.len(), y.len());
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, tie_term) = average_ranks(&pooled);
    let rank_sum: f64 = ranks[..n1].iter().sum();
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let u1 = rank_sum - n1f * (n1f + 1.0) / 2.0;
    let u = u1.max(n1f * n2f - u1);
    let ties = tie_term > 0.0;
    if !ties && n1.min(n2) <= 8 {
        let small = n1.min(n2);
        // U is an integer without ties; P(U' ≥ U) = P(U' ≤ n₁n₂ − U).
        let k = (n1f * n2f - u).round() as usize;
        let cdf = mann_whitney_cdf(small, n1 + n2 - small, k);
        return Ok(RankTestResult {
            statistic: u1,
            p_value: (2.0 * cdf).min(1.0),
            method: PValueMethod::Exact,
        });
    }
    let n = n1f + n2f;
    let variance = n1f * n2f / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    let p_value = if variance <= 0.0 {
        1.0
    } else {
        let z = (u - n1f * n2f / 2.0 - 0.5) / variance.sqrt();
        (2.0 * normal_cdf(-z)).min(1.0)
    };
    Ok(RankTestResult {
        statistic: u1,
        p_value,
        method: PValueMethod::Asymptotic,
    })
}

/// P(U ≤ k) for the Mann–Whitney statistic with samples of sizes m and n
/// (no ties). The number of arrangements with U = u is the coefficient of
/// q^u in [m+n choose m]_q = Π_{i=1}^{m} (1 − q^{n+i})/(1 − q^i); we build it
/// factor by factor, truncated at degree k (both operations only look
/// backwards, so truncation is exact), and divide by C(m + n, m).
fn mann_whitney_cdf(m: usize, n: usize, k: usize) -> f64 {
    let mut poly = vec![0.0f64; k + 1];
    poly[0] = 1.0;
    let mut total = 1.0f64;
    for i in 1..=m {
        // × (1 − q^{n+i})
        let shift = n + i;
        for u in (shift..=k).rev() {
            poly[u] -= poly[u - shift];
        }
        // ÷ (1 − q^i): running sums with stride i.
        for u in i..=k {
            poly[u] += poly[u - i];
        }
        total = total * (n + i) as f64 / i as f64;
    }
    let count: f64 = poly.iter().sum();
    (count / total).min(1.0)
}

/// Two-sided Wilcoxon signed-rank test of the paired differences `d`
/// (scipy.stats.wilcoxon(d) with its defaults: `zero_method='wilcox'`,
/// `correction=False`, `method='auto'`). Zeros are dropped before ranking
/// |d|; `statistic` is min(R⁺, R⁻) as SciPy reports for two-sided tests.
///
/// SciPy 1.17's 'auto' rule, with n the length of `d` including zeros:
/// * n ≤ 50 without ties or zeros: exact distribution of R⁺
///   (p = 2·min(P(T ≤ R⁺), P(T ≥ R⁺)), clipped to 1);
/// * n ≤ 13 with ties or zeros: SciPy runs `permutation_test` over all 2^n
///   sign patterns, i.e. the exact distribution of R⁺ given the observed
///   (average) ranks; we count it directly, same p;
/// * otherwise the normal approximation without continuity correction:
///   z = (R⁺ − n'(n' + 1)/4)/σ, σ² = (n'(n' + 1)(2n' + 1) − Σ(t³ − t)/2)/24
///   over the n' non-zero differences, p = 2Φ(−|z|).
///
/// All-zero differences give p = 1 (SciPy gives 1 for n ≤ 13 and NaN above).
pub fn wilcoxon_signed_rank(d: &[f64]) -> StatsResult<RankTestResult> {
    check_finite(d)?;
    let n_total = d.len();
    let nonzero: Vec<f64> = d.iter().copied().filter(|&v| v != 0.0).collect();
    let n_zero = n_total - nonzero.len();
    let abs: Vec<f64> = nonzero.iter().map(|v| v.abs()).collect();
    let (ranks, tie_term) = average_ranks(&abs);
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let n = nonzero.len() as f64;
    let r_minus = n * (n + 1.0) / 2.0 - r_plus;
    let statistic = r_plus.min(r_minus);
    if nonzero.is_empty() {
        return Ok(RankTestResult {
            statistic: 0.0,
            p_value: 1.0,
            method: PValueMethod::ExactConditional,
        });
    }
    let ties = tie_term > 0.0;
    let exact = n_total <= 50 && !ties && n_zero == 0;
    if exact || n_total <= 13 {
        // Doubled average ranks are integers; count sign patterns by the
        // doubled positive-rank sum.
        let doubled: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
        let observed = (2.0 * r_plus).round() as usize;
        let max_sum: usize = doubled.iter().sum();
        let mut counts = vec![0.0f64; max_sum + 1];
        counts[0] = 1.0;
        let mut reach = 0;
        for &r in &doubled {
            for s in (0..=reach).rev() {
                let c = counts[s];
                if c != 0.0 {
                    counts[s + r] += c;
                }
            }
            reach += r;
        }
        let patterns = 2f64.powi(nonzero.len() as i32);
        let le: f64 = counts[..=observed].iter().sum();
        let ge: f64 = counts[observed..].iter().sum();
        let p_value = (2.0 * le.min(ge) / patterns).min(1.0);
        return Ok(RankTestResult {
            statistic,
            p_value,
            method: if exact {
                PValueMethod::Exact
            } else {
                PValueMethod::ExactConditional
            },
        });
    }
    let mean = n * (n + 1.0) / 4.0;
    let sigma = ((n * (n + 1.0) * (2.0 * n + 1.0) - tie_term / 2.0) / 24.0).sqrt();
    let z = (r_plus - mean) / sigma;
    Ok(RankTestResult {
        statistic,
        p_value: (2.0 * normal_cdf(-z.abs())).min(1.0),
        method: PValueMethod::Asymptotic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        let (r, t) = average_ranks(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, 6.0);
    }

    #[test]
    fn mann_whitney_scipy_docstring_example() {
        // scipy.stats.mannwhitneyu docs: U = 17, exact p = 1/9.
        let males = [19.0, 22.0, 16.0, 29.0, 24.0];
        let females = [20.0, 11.0, 17.0, 12.0];
        let r = mann_whitney_u(&males, &females).unwrap();
        assert_eq!(r.statistic, 17.0);
        assert!((r.p_value - 0.111_111_111_111_111_1).abs() < 1e-15);
        assert_eq!(r.method, PValueMethod::Exact);
    }

    #[test]
    fn mann_whitney_exact_cdf_by_enumeration() {
        // m = 3, n = 4: enumerate all C(7, 3) = 35 subsets of ranks.
        let mut dist = [0u32; 13];
        for a in 1..=7 {
            for b in a + 1..=7 {
                for c in b + 1..=7 {
                    dist[a + b + c - 6] += 1;
                }
            }
        }
        let mut acc = 0;
        for (k, count) in dist.iter().enumerate() {
            acc += count;
            assert!((mann_whitney_cdf(3, 4, k) - f64::from(acc) / 35.0).abs() < 1e-15);
        }
    }

    #[test]
    fn wilcoxon_exact_small() {
        // All five positive: only the all-plus pattern reaches R⁺ = 15, so p
        // = 2/32.
        let r = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(r.method, PValueMethod::Exact);
        assert!((r.p_value - 2.0 / 32.0).abs() < 1e-15);
        assert_eq!(r.statistic, 0.0);
        let zeros = wilcoxon_signed_rank(&[0.0; 4]).unwrap();
        assert_eq!(zeros.p_value, 1.0);
    }

    #[test]
    fn identical_samples() {
        let r = mann_whitney_u(&[1.0; 10], &[1.0; 12]).unwrap();
        assert_eq!(r.p_value, 1.0);
        assert!(mann_whitney_u(&[], &[1.0]).is_err());
    }
}
