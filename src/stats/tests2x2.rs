//! Tests of equal proportions across groups on count tables: the pooled
//! two-proportion z-test, Pearson's chi-square test of independence for a
//! k×2 table (groups × {flagged, not flagged}), and Fisher's exact test for
//! 2×2 tables with its mid-p variant.
//!
//! The chi-square result carries the expected counts so callers can apply
//! the usual rule (any expected count < 5 → use Fisher's exact test). Fisher's
//! p-value follows SciPy's definition of two-sided exactly (including its
//! relative tolerance for "equally probable" tables), and the hypergeometric
//! probabilities come from `special::ln_hypergeometric_pmf`, which stays
//! accurate for counts of 10^9.

use super::special::{chi_square_sf, ln_hypergeometric_pmf};
use super::{normal_cdf, StatsError, StatsResult};

/// A test statistic with its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// Pooled two-proportion z-test of p₁ = p₂ (statsmodels
/// `proportions_ztest([x1, x2], [n1, n2])`, two-sided):
/// `z = (p̂₁ − p̂₂) / √(p̄(1 − p̄)(1/n₁ + 1/n₂))`, p̄ = (x₁ + x₂)/(n₁ + n₂),
/// `p = 2Φ(−|z|)`.
///
/// When p̄ is 0 or 1 (no successes or no failures at all) the proportions are
/// identical and the variance is 0; statsmodels returns NaN, we return
/// z = 0, p = 1.
pub fn two_proportion_z_test(x1: u64, n1: u64, x2: u64, n2: u64) -> StatsResult<TestResult> {
    for (x, n) in [(x1, n1), (x2, n2)] {
        if n == 0 {
            return Err(StatsError::TooFew { needed: 1, got: 0 });
        }
        if x > n {
            return Err(StatsError::Invalid("successes exceed the number of trials"));
        }
    }
    let (xs, ns) = (x1 as f64 + x2 as f64, n1 as f64 + n2 as f64);
    if x1 + x2 == 0 || xs == ns {
        return Ok(TestResult {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let pooled = xs / ns;
    let diff = x1 as f64 / n1 as f64 - x2 as f64 / n2 as f64;
    // p̄(1 − p̄) with 1 − p̄ as (failures)/n, exact rather than 1 − p̄.
    let var = pooled * ((ns - xs) / ns) * (1.0 / n1 as f64 + 1.0 / n2 as f64);
    let z = diff / var.sqrt();
    Ok(TestResult {
        statistic: z,
        p_value: (2.0 * normal_cdf(-z.abs())).min(1.0),
    })
}

/// Pearson chi-square test of independence for a k×2 table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChiSquareResult {
    pub statistic: f64,
    /// Degrees of freedom, k − 1.
    pub dof: usize,
    pub p_value: f64,
    /// Expected count of each cell under independence, row by row.
    pub expected: Vec<[f64; 2]>,
}

impl ChiSquareResult {
    /// Smallest expected count; below 5 the chi-square approximation is
    /// conventionally distrusted (Cochran 1954) and an exact test preferred.
    pub fn min_expected(&self) -> f64 {
        self.expected
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }
}

/// Pearson's chi-square test of independence of rows and columns of a k×2
/// table (`table[i] = [flagged, not flagged]` of group i), without continuity
/// correction: SciPy `chi2_contingency(table, correction=False)`.
/// Σ (O − E)²/E with E = row total · column total / N, compared with
/// χ²(k − 1).
///
/// Needs k ≥ 2 rows and no zero row or column total: a zero total makes an
/// expected count 0 and the statistic undefined (SciPy raises there too).
/// O − E is formed exactly as (O·N − R·C)/N in integers, so identical rows
/// give a statistic of exactly 0 even at counts of 10^9.
pub fn chi_square_independence(table: &[[u64; 2]]) -> StatsResult<ChiSquareResult> {
    if table.len() < 2 {
        return Err(StatsError::TooFew {
            needed: 2,
            got: table.len(),
        });
    }
    let col = [0, 1].map(|j| table.iter().map(|r| u128::from(r[j])).sum::<u128>());
    let total = col[0] + col[1];
    if col.contains(&0) || table.iter().any(|r| r[0] == 0 && r[1] == 0) {
        return Err(StatsError::Invalid(
            "a row or column total is zero, so an expected count is zero",
        ));
    }
    let mut statistic = super::descriptive::NeumaierSum::new();
    let mut expected = Vec::with_capacity(table.len());
    for row in table {
        let row_total = u128::from(row[0]) + u128::from(row[1]);
        let mut e_row = [0.0; 2];
        for j in 0..2 {
            let rc = row_total * col[j];
            let e = rc as f64 / total as f64;
            e_row[j] = e;
            // (O − E)²/E = (O·N − R·C)² / (N · R·C); i128 is exact unless
            // O·N overflows it (counts beyond ~10^19), then fall back.
            let term = match u128::from(row[j]).checked_mul(total) {
                Some(on) => {
                    let delta = on.abs_diff(rc) as f64 / total as f64;
                    delta * delta / e
                }
                None => {
                    let delta = row[j] as f64 - e;
                    delta * delta / e
                }
            };
            statistic.add(term);
        }
        expected.push(e_row);
    }
    let statistic = statistic.total();
    let dof = table.len() - 1;
    Ok(ChiSquareResult {
        statistic,
        dof,
        p_value: chi_square_sf(statistic, dof),
        expected,
    })
}

/// Fisher's exact test of a 2×2 table.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FisherResult {
    /// Two-sided p-value as SciPy defines it (see [`fisher_exact_2x2`]).
    pub p_value: f64,
    /// Two-sided mid-p value (see [`fisher_exact_2x2`]).
    pub mid_p_value: f64,
    /// Probability of the observed table given its margins.
    pub observed_probability: f64,
}

/// SciPy's relative tolerance for "as probable as the observed table".
const FISHER_RELATIVE_TOLERANCE: f64 = 1e-14;

/// Fisher's exact test of independence in the table [[a, b], [c, d]].
///
/// With margins fixed, a follows the hypergeometric distribution
/// P(k) = C(a+b, k) C(c+d, a+c−k) / C(N, a+c). Following SciPy
/// (`scipy.stats.fisher_exact(table)`, 1.17):
///
/// * two-sided `p_value` = Σ P(k) over tables with P(k) ≤ P(a)·(1 + 10⁻¹⁴),
///   and exactly 1 when P(a) is within 10⁻¹⁴ (relative) of the modal
///   probability;
/// * `mid_p_value` = Σ_{P(k) < P(a)/(1+10⁻¹⁴)} P(k) + ½ Σ_{P(k) ≈ P(a)} P(k),
///   i.e. the tables exactly as probable as the observed one (the observed
///   table and a mirror image, if any) count half: Lancaster's mid-p
///   (Lancaster 1961, JASA 56:223–234) applied to the probability ordering
///   of the two-sided test, as recommended by Agresti (2013, *Categorical
///   Data Analysis*, 3rd ed., §1.4.5 and §3.5.3). Without a mirror table it
///   equals `p_value − P(a)/2`.
///
/// A zero row or column total leaves a single possible table: p = 1 and, by
/// the same definition, mid-p = ½.
///
/// Tails are summed outward from their boundary by the pmf recurrence, with
/// the pmf re-evaluated directly every 256 steps so rounding cannot drift.
pub fn fisher_exact_2x2(a: u64, b: u64, c: u64, d: u64) -> StatsResult<FisherResult> {
    let row1 = a.checked_add(b);
    let row2 = c.checked_add(d);
    let (Some(row1), Some(row2)) = (row1, row2) else {
        return Err(StatsError::Invalid("table counts overflow u64"));
    };
    let Some(total) = row1.checked_add(row2) else {
        return Err(StatsError::Invalid("table counts overflow u64"));
    };
    let col1 = a + c;
    if row1 == 0 || row2 == 0 || col1 == 0 || col1 == total {
        return Ok(FisherResult {
            p_value: 1.0,
            mid_p_value: 0.5,
            observed_probability: 1.0,
        });
    }
    let dist = Hypergeometric::new(total, row1, col1);
    let ln_obs = dist.ln_pmf(a);
    let p_obs = ln_obs.exp();
    let mode = dist.mode();
    let p_mode = dist.pmf(mode);
    let gamma = 1.0 + FISHER_RELATIVE_TOLERANCE;
    let threshold = p_obs * gamma;

    let p_value = if (p_obs - p_mode).abs() / p_obs.max(p_mode) <= FISHER_RELATIVE_TOLERANCE {
        1.0
    } else if a < mode {
        // Lower tail up to a, plus the upper tail beyond the last k ≥ mode
        // whose probability exceeds P(a)·γ.
        let lower = dist.tail_down(a);
        let first = dist.first_at_or_below(mode, dist.hi, threshold);
        lower + first.map_or(0.0, |k| dist.tail_up(k))
    } else {
        let upper = dist.tail_up(a);
        let last = dist.last_at_or_below(dist.lo, mode, threshold);
        upper + last.map_or(0.0, |k| dist.tail_down(k))
    }
    .min(1.0);

    // Tables as probable as the observed one: the observed table, possibly
    // a neighbour at a flat mode, and possibly a mirror image at the
    // boundary of the other tail.
    let boundary = if a < mode {
        dist.first_at_or_below(mode, dist.hi, threshold)
    } else {
        dist.last_at_or_below(dist.lo, mode, threshold)
    };
    let mut candidates = vec![a.saturating_sub(1), a, a.saturating_add(1)];
    if let Some(k) = boundary {
        candidates.extend([k.saturating_sub(1), k, k.saturating_add(1)]);
    }
    candidates.sort_unstable();
    candidates.dedup();
    let equal: f64 = candidates
        .into_iter()
        .filter(|&k| k >= dist.lo && k <= dist.hi)
        .map(|k| dist.pmf(k))
        .filter(|&p| (p - p_obs).abs() <= FISHER_RELATIVE_TOLERANCE * p.max(p_obs))
        .sum();
    // p_value counts the equally probable tables in full (or is the
    // mode-shortcut 1, which is the full sum as well).
    let mid_p_value = (p_value - 0.5 * equal).max(0.0);
    Ok(FisherResult {
        p_value,
        mid_p_value,
        observed_probability: p_obs,
    })
}

/// Number of successes among `draws` from a population of `total` with
/// `successes` successes; support [lo, hi].
struct Hypergeometric {
    total: u64,
    successes: u64,
    draws: u64,
    lo: u64,
    hi: u64,
}

impl Hypergeometric {
    fn new(total: u64, successes: u64, draws: u64) -> Self {
        let failures = total - successes;
        Self {
            total,
            successes,
            draws,
            lo: draws.saturating_sub(failures),
            hi: draws.min(successes),
        }
    }

    fn ln_pmf(&self, k: u64) -> f64 {
        ln_hypergeometric_pmf(k, self.total, self.successes, self.draws)
    }

    fn pmf(&self, k: u64) -> f64 {
        self.ln_pmf(k).exp()
    }

    /// ⌊(draws + 1)(successes + 1)/(total + 2)⌋, SciPy's mode, in exact
    /// integer arithmetic.
    fn mode(&self) -> u64 {
        let num = (u128::from(self.draws) + 1) * (u128::from(self.successes) + 1);
        (num / (u128::from(self.total) + 2)) as u64
    }

    /// P(k + 1)/P(k).
    fn ratio_up(&self, k: u64) -> f64 {
        let failures = self.total - self.successes;
        ((self.successes - k) as f64 * (self.draws - k) as f64)
            / ((k + 1) as f64 * (failures + k + 1 - self.draws) as f64)
    }

    /// P(X ≤ k), summed downward from k (P decreases away from the mode, so
    /// the sum stops once the remaining geometric bound is negligible).
    fn tail_down(&self, k: u64) -> f64 {
        self.tail(k, false)
    }

    /// P(X ≥ k), summed upward from k.
    fn tail_up(&self, k: u64) -> f64 {
        self.tail(k, true)
    }

    fn tail(&self, start: u64, upward: bool) -> f64 {
        let mut sum = super::descriptive::NeumaierSum::new();
        let mut k = start;
        let mut term = self.pmf(k);
        let mut steps = 0u32;
        loop {
            sum.add(term);
            let at_end = if upward { k >= self.hi } else { k <= self.lo };
            if at_end || term == 0.0 {
                break;
            }
            let ratio = if upward {
                self.ratio_up(k)
            } else {
                1.0 / self.ratio_up(k - 1)
            };
            k = if upward { k + 1 } else { k - 1 };
            steps += 1;
            term = if steps.is_multiple_of(256) {
                self.pmf(k)
            } else {
                term * ratio
            };
            // Terms keep shrinking by at least `ratio` once past the mode,
            // so what is left is below term/(1 − ratio).
            if ratio < 1.0 && term / (1.0 - ratio) < 1e-17 * sum.total() {
                sum.add(term);
                break;
            }
        }
        sum.total()
    }

    /// Smallest k in [from, to] (P non-increasing there) with
    /// P(k) ≤ threshold, by bisection; None if there is none.
    fn first_at_or_below(&self, from: u64, to: u64, threshold: f64) -> Option<u64> {
        if self.pmf(to) > threshold {
            return None;
        }
        let (mut lo, mut hi) = (from, to);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.pmf(mid) <= threshold {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
    }

    /// Largest k in [from, to] (P non-decreasing there) with
    /// P(k) ≤ threshold; None if there is none.
    fn last_at_or_below(&self, from: u64, to: u64, threshold: f64) -> Option<u64> {
        if self.pmf(from) > threshold {
            return None;
        }
        let (mut lo, mut hi) = (from, to);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.pmf(mid) <= threshold {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fisher p-values by brute-force enumeration of the support with the
    /// direct product formula (small tables only).
    fn brute_fisher(a: u64, b: u64, c: u64, d: u64) -> (f64, f64) {
        let (r1, r2, c1) = (a + b, c + d, a + c);
        let choose = |n: u64, k: u64| -> f64 {
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        };
        let lo = c1.saturating_sub(r2);
        let hi = c1.min(r1);
        let pmf = |k: u64| choose(r1, k) * choose(r2, c1 - k) / choose(r1 + r2, c1);
        let p_obs = pmf(a);
        let (mut p, mut eq) = (0.0, 0.0);
        for k in lo..=hi {
            let q = pmf(k);
            if q <= p_obs * (1.0 + 1e-7) {
                p += q;
            }
            if (q - p_obs).abs() <= 1e-7 * p_obs {
                eq += q;
            }
        }
        (p.min(1.0), p.min(1.0) - 0.5 * eq)
    }

    #[test]
    fn fisher_matches_enumeration() {
        for t in [
            [3, 1, 1, 3],
            [1, 9, 11, 3],
            [0, 5, 5, 0],
            [2, 7, 8, 2],
            [3, 7, 7, 3],
            [10, 10, 10, 10],
            [0, 1, 1, 0],
            [5, 0, 2, 9],
        ] {
            let r = fisher_exact_2x2(t[0], t[1], t[2], t[3]).unwrap();
            let (p, mid) = brute_fisher(t[0], t[1], t[2], t[3]);
            assert!(
                (r.p_value - p).abs() < 1e-13 * p.max(1e-300),
                "{t:?}: {r:?} vs {p}"
            );
            assert!((r.mid_p_value - mid).abs() < 1e-13, "{t:?}: {r:?} vs {mid}");
        }
    }

    #[test]
    fn fisher_textbook_and_degenerate() {
        // Tea tasting (Fisher 1935): [[3, 1], [1, 3]] → two-sided p = 34/70.
        let r = fisher_exact_2x2(3, 1, 1, 3).unwrap();
        assert!((r.p_value - 34.0 / 70.0).abs() < 1e-15);
        // Its mirror [[1, 3], [3, 1]] is as probable, so both count half:
        // mid-p = (1 + 1)/70 + ½ (16 + 16)/70 = 18/70.
        assert!((r.observed_probability - 16.0 / 70.0).abs() < 1e-15);
        assert!((r.mid_p_value - 18.0 / 70.0).abs() < 1e-15);
        let z = fisher_exact_2x2(0, 0, 3, 4).unwrap();
        assert_eq!((z.p_value, z.mid_p_value), (1.0, 0.5));
    }

    #[test]
    fn chi_square_two_by_two_is_z_squared() {
        let chi = chi_square_independence(&[[12, 38], [25, 35]]).unwrap();
        let z = two_proportion_z_test(12, 50, 25, 60).unwrap();
        assert!((chi.statistic - z.statistic * z.statistic).abs() < 1e-12);
        assert!((chi.p_value - z.p_value).abs() < 1e-14);
        assert_eq!(chi.dof, 1);
        assert!((chi.min_expected() - 50.0 * 37.0 / 110.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(chi_square_independence(&[[1, 2]]).is_err());
        assert!(chi_square_independence(&[[0, 2], [0, 5]]).is_err());
        assert!(chi_square_independence(&[[0, 0], [1, 5]]).is_err());
        let same = chi_square_independence(&[[1_000_000_000, 3], [1_000_000_000, 3]]).unwrap();
        assert_eq!((same.statistic, same.p_value), (0.0, 1.0));
        let none = two_proportion_z_test(0, 10, 0, 20).unwrap();
        assert_eq!((none.statistic, none.p_value), (0.0, 1.0));
        assert!(two_proportion_z_test(1, 0, 0, 20).is_err());
    }
}
