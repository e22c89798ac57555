//! Welch's two-sample t-test, for comparing a continuous score (e.g. a
//! sentiment or toxicity score) between two groups without assuming equal
//! variances.
//!
//! Definition as `scipy.stats.ttest_ind(x, y, equal_var=False)` (two-sided):
//! t = (x̄ − ȳ)/√(s²ₓ/nₓ + s²ᵧ/nᵧ) with Welch–Satterthwaite degrees of freedom
//! ν = (s²ₓ/nₓ + s²ᵧ/nᵧ)² / ((s²ₓ/nₓ)²/(nₓ − 1) + (s²ᵧ/nᵧ)²/(nᵧ − 1)) and
//! p = P(|T_ν| ≥ |t|) from the incomplete beta function in `special`.

use super::descriptive::{mean, sample_variance};
use super::special::student_t_two_sided;
use super::{check_finite, StatsError, StatsResult};

/// Outcome of [`welch_t_test`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WelchResult {
    /// t statistic of x − y.
    pub statistic: f64,
    /// Welch–Satterthwaite degrees of freedom (not necessarily an integer).
    pub dof: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Welch's unequal-variance t-test of equal means. Each sample needs at
/// least two values (SciPy returns NaN for one).
///
/// When both samples are constant the standard error is 0: equal means give
/// t = 0, p = 1 (SciPy: NaN) and different means give t = ±∞, p = 0 (as
/// SciPy); `dof` is then reported as nₓ + nᵧ − 2, SciPy reports 1 (any value
/// is immaterial to p).
pub fn welch_t_test(x: &[f64], y: &[f64]) -> StatsResult<WelchResult> {
    check_finite(x)?;
    check_finite(y)?;
    for s in [x, y] {
        if s.len() < 2 {
            return Err(StatsError::TooFew {
                needed: 2,
                got: s.len(),
            });
        }
    }
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    let vx = sample_variance(x)? / nx;
    let vy = sample_variance(y)? / ny;
    let diff = mean(x)? - mean(y)?;
    let se2 = vx + vy;
    if se2 == 0.0 {
        let (statistic, p_value) = if diff == 0.0 {
            (0.0, 1.0)
        } else {
            (diff.signum() * f64::INFINITY, 0.0)
        };
        return Ok(WelchResult {
            statistic,
            dof: nx + ny - 2.0,
            p_value,
        });
    }
    let dof = se2 * se2 / (vx * vx / (nx - 1.0) + vy * vy / (ny - 1.0));
    let statistic = diff / se2.sqrt();
    Ok(WelchResult {
        statistic,
        dof,
        p_value: student_t_two_sided(statistic, dof),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_variance_equal_size_reduces_to_student() {
        // Equal n and variances: ν = 2n − 2 and t is Student's.
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [2.0, 3.0, 4.0, 5.0];
        let r = welch_t_test(&x, &y).unwrap();
        assert!((r.dof - 6.0).abs() < 1e-12);
        let t = -1.0 / (2.0 * (5.0 / 3.0) / 4.0f64).sqrt();
        assert!((r.statistic - t).abs() < 1e-14);
        assert!(r.p_value > 0.3 && r.p_value < 0.4);
    }

    #[test]
    fn constant_samples() {
        let same = welch_t_test(&[2.0; 3], &[2.0; 4]).unwrap();
        assert_eq!((same.statistic, same.p_value), (0.0, 1.0));
        let apart = welch_t_test(&[2.0; 3], &[1.0; 4]).unwrap();
        assert_eq!((apart.statistic, apart.p_value), (f64::INFINITY, 0.0));
        assert!(welch_t_test(&[1.0], &[1.0, 2.0]).is_err());
    }
}
