//! Descriptive statistics (mean, sample variance and standard deviation) and
//! the compensated summation they rest on.
//!
//! Audit figures mix magnitudes (rates near 0 next to counts near 1e6) and
//! the same means feed bootstrap and jackknife computations that are later
//! compared with SciPy to ~1e-9, so sums use Neumaier's variant of Kahan
//! summation, and the variance uses the corrected two-pass formula (Chan,
//! Golub & LeVeque 1983) instead of the cancellation-prone Σx² − n·x̄².

use super::{check_finite, StatsError, StatsResult};

/// Compensated (Neumaier / "improved Kahan–Babuška") running sum: the error
/// stays O(ε) instead of growing with the number of terms, and unlike plain
/// Kahan it also survives a term larger than the running total.
#[derive(Debug, Clone, Copy, Default)]
pub struct NeumaierSum {
    sum: f64,
    compensation: f64,
}

impl NeumaierSum {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, value: f64) {
        let total = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - total) + value;
        } else {
            self.compensation += (value - total) + self.sum;
        }
        self.sum = total;
    }

    pub fn total(&self) -> f64 {
        self.sum + self.compensation
    }
}

impl Extend<f64> for NeumaierSum {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, iter: I) {
        for v in iter {
            self.add(v);
        }
    }
}

/// Compensated sum of a slice.
pub fn sum(values: &[f64]) -> f64 {
    let mut acc = NeumaierSum::new();
    acc.extend(values.iter().copied());
    acc.total()
}

/// Arithmetic mean. Errors on empty or non-finite input.
pub fn mean(values: &[f64]) -> StatsResult<f64> {
    check_finite(values)?;
    Ok(sum(values) / values.len() as f64)
}

/// Sample variance with Bessel's correction (ddof = 1); needs n ≥ 2.
pub fn sample_variance(values: &[f64]) -> StatsResult<f64> {
    check_finite(values)?;
    let n = values.len();
    if n < 2 {
        return Err(StatsError::TooFew { needed: 2, got: n });
    }
    let centre = sum(values) / n as f64;
    Ok(sum_squares(values, centre) / (n - 1) as f64)
}

/// Σ(v − centre)² for a `centre` computed from `values` in floating point; the
/// second term removes the rounding error left in `centre` (never negative).
pub(crate) fn sum_squares(values: &[f64], centre: f64) -> f64 {
    let mut squares = NeumaierSum::new();
    let mut deviations = NeumaierSum::new();
    for &v in values {
        let d = v - centre;
        squares.add(d * d);
        deviations.add(d);
    }
    let dev = deviations.total();
    (squares.total() - dev * dev / values.len() as f64).max(0.0)
}

/// Sample standard deviation (ddof = 1); needs n ≥ 2.
pub fn sample_sd(values: &[f64]) -> StatsResult<f64> {
    sample_variance(values).map(f64::sqrt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_variance_of_small_sample() {
        let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&x).unwrap(), 5.0);
        assert!((sample_variance(&x).unwrap() - 32.0 / 7.0).abs() < 1e-15);
        assert!((sample_sd(&x).unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn compensated_sum_recovers_small_terms() {
        let values = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(sum(&values), 2.0);
        let tenths = vec![0.1; 1_000_000];
        assert!((sum(&tenths) - 100_000.0).abs() < 1e-9);
    }

    #[test]
    fn variance_is_shift_invariant_at_large_offsets() {
        let base = [1.0, 2.0, 3.0, 4.0];
        let shifted: Vec<f64> = base.iter().map(|v| v + 1e9).collect();
        let v0 = sample_variance(&base).unwrap();
        let v1 = sample_variance(&shifted).unwrap();
        assert!((v0 - v1).abs() < 1e-6, "{v0} vs {v1}");
    }

    #[test]
    fn constant_data_has_zero_variance() {
        assert_eq!(sample_variance(&[3.3; 10]).unwrap(), 0.0);
    }

    #[test]
    fn invalid_input_is_an_error() {
        assert_eq!(mean(&[]), Err(StatsError::Empty));
        assert_eq!(mean(&[1.0, f64::NAN]), Err(StatsError::NonFinite));
        assert_eq!(
            sample_variance(&[1.0]),
            Err(StatsError::TooFew { needed: 2, got: 1 })
        );
    }
}
