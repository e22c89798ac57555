//! Standardised effect sizes reported next to p-values, so that a
//! "significant" bias can be judged by magnitude: Cohen's d, Cliff's delta
//! and the WEAT effect size of Caliskan, Bryson & Narayanan (2017).
//!
//! Each returns an error rather than ±∞ or NaN when its scale is zero (all
//! values equal), because a standardised difference is then undefined.

use super::descriptive::{mean, sum_squares};
use super::{check_finite, StatsError, StatsResult};

/// Cohen's d with the pooled standard deviation (Cohen 1988, eq. 2.5.2):
/// (x̄ − ȳ)/s_p, s_p² = (Σ(xᵢ − x̄)² + Σ(yᵢ − ȳ)²)/(nₓ + nᵧ − 2).
/// A group of one is allowed (it adds no spread); nₓ + nᵧ ≥ 3 is required.
pub fn cohens_d(x: &[f64], y: &[f64]) -> StatsResult<f64> {
    check_finite(x)?;
    check_finite(y)?;
    let n = x.len() + y.len();
    if n < 3 {
        return Err(StatsError::TooFew { needed: 3, got: n });
    }
    let (mx, my) = (mean(x)?, mean(y)?);
    let pooled = (sum_squares(x, mx) + sum_squares(y, my)) / (n - 2) as f64;
    if pooled <= 0.0 {
        return Err(StatsError::Invalid("pooled standard deviation is zero"));
    }
    Ok((mx - my) / pooled.sqrt())
}

/// Cliff's delta (Cliff 1993): δ = (#{xᵢ > yⱼ} − #{xᵢ < yⱼ})/(nₓnᵧ), ties
/// counting 0; in [−1, 1]. Sorting y and binary-searching each x makes it
/// O((nₓ + nᵧ) log nᵧ) instead of O(nₓnᵧ).
pub fn cliffs_delta(x: &[f64], y: &[f64]) -> StatsResult<f64> {
    check_finite(x)?;
    check_finite(y)?;
    let mut sorted = y.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut dominance: i128 = 0;
    for &v in x {
        let below = sorted.partition_point(|&w| w < v);
        let above = sorted.len() - sorted.partition_point(|&w| w <= v);
        dominance += below as i128 - above as i128;
    }
    Ok(dominance as f64 / (x.len() as f64 * y.len() as f64))
}

/// WEAT effect size (Caliskan et al. 2017, Science 356:183–186):
/// (mean(s_x) − mean(s_y)) / sd(s_x ∪ s_y), the sample standard deviation
/// (ddof = 1) over the association scores s(w, A, B) of all target words.
/// Needs at least one score per side and a non-zero spread.
pub fn weat_effect_size(s_x: &[f64], s_y: &[f64]) -> StatsResult<f64> {
    check_finite(s_x)?;
    check_finite(s_y)?;
    let all: Vec<f64> = s_x.iter().chain(s_y).copied().collect();
    let sd = super::descriptive::sample_sd(&all)?;
    if sd <= 0.0 {
        return Err(StatsError::Invalid("association scores have zero spread"));
    }
    Ok((mean(s_x)? - mean(s_y)?) / sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohens_d_by_hand() {
        // x̄ = 2, ȳ = 4, SS = 2 + 8 = 10 over 5 dof → s_p = √2.
        let d = cohens_d(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0, 4.0]).unwrap();
        assert!((d + 2.0 / 2f64.sqrt()).abs() < 1e-15);
        assert!(cohens_d(&[1.0], &[1.0]).is_err());
        assert!(cohens_d(&[1.0, 1.0], &[1.0]).is_err());
        // A single value in one group is allowed.
        assert!(cohens_d(&[5.0], &[1.0, 2.0]).is_ok());
    }

    #[test]
    fn cliffs_delta_matches_brute_force() {
        let x = [1.0, 3.0, 3.0, 7.0, 0.5];
        let y = [3.0, 2.0, 8.0, 3.0];
        let mut brute = 0i32;
        for a in x {
            for b in y {
                brute += i32::from(a > b) - i32::from(a < b);
            }
        }
        let d = cliffs_delta(&x, &y).unwrap();
        assert!((d - f64::from(brute) / 20.0).abs() < 1e-15);
        assert_eq!(cliffs_delta(&[1.0; 3], &[1.0; 2]).unwrap(), 0.0);
        assert_eq!(cliffs_delta(&[2.0], &[1.0]).unwrap(), 1.0);
    }

    #[test]
    fn weat_by_hand() {
        // Pooled {1, 2, 3, 4}: sd = √(5/3); means 1.5 and 3.5.
        let e = weat_effect_size(&[1.0, 2.0], &[3.0, 4.0]).unwrap();
        assert!((e + 2.0 / (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!(weat_effect_size(&[1.0], &[1.0]).is_err());
    }
}
