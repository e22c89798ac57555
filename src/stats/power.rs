//! Sensitivity of a paired comparison: the smallest true mean difference a
//! two-sided one-sample (paired) t-test on n units detects with a given
//! power. Reported next to non-significant results so that "no detected
//! bias" is read together with "bias smaller than X could not be seen".
//!
//! Definitions follow statsmodels `TTestPower` (`ttest_power`, two-sided):
//! with df ν = n − 1, noncentrality δ = d √n for standardised effect d and
//! critical value c = t_{1−α/2, ν},
//!
//!   power(d) = P(T > c) + P(T < −c),   T ~ noncentral t(ν, δ),
//!
//! i.e. both rejection tails count, as in statsmodels. The minimum detectable
//! difference is sd · d*, where power(d*) = target.
//!
//! statrs has no noncentral t, so we evaluate its tails from the definition
//! T = (Z + δ) / (S / √ν), with Z standard normal and S chi-distributed with
//! ν degrees of freedom, independent:
//!
//!   P(T > c)  = E[Φ(δ − c S/√ν)],   P(T < −c) = E[Φ(−δ − c S/√ν)].
//!
//! The expectation over S is a one-dimensional integral of a smooth,
//! log-concave density (its log has curvature ≤ −1, so it is negligible
//! beyond 13 units from its mode √(ν − 1)). We integrate with globally
//! adaptive 16-point Gauss–Legendre quadrature and divide by the quadrature
//! of the density itself, so the density needs no normalising Γ-function
//! constant and its rounding cancels. The result has absolute error ≈ 1e-15, which is
//! all a power (a probability compared with 0.8) needs, and it stays accurate
//! for large δ, where series expansions (AS 243, Lenth 1989) must be cut off
//! or switched to approximations. The central case δ = 0 gives the Student t
//! tail, which we invert for c; d* is then the root of the monotone power
//! curve. Both roots are found by bracketing Illinois regula falsi to a
//! relative precision of a few ulps.

use std::collections::BinaryHeap;

use super::{normal_cdf, StatsError, StatsResult};

/// Smallest true mean difference (in the units of `sd`) that a two-sided
/// paired t-test on `n` units, at level `alpha`, detects with probability
/// `power`. Needs n ≥ 2, `alpha` and `power` in (0, 1) with `power > alpha`
/// (power equals alpha at zero difference), and `sd ≥ 0`.
pub fn min_detectable_paired_difference(
    sd: f64,
    n: usize,
    alpha: f64,
    power: f64,
) -> StatsResult<f64> {
    if !(sd.is_finite() && sd >= 0.0) {
        return Err(StatsError::Invalid("sd must be finite and non-negative"));
    }
    check_probability("alpha", alpha)?;
    check_probability("power", power)?;
    if power <= alpha {
        return Err(StatsError::Invalid(
            "power must exceed alpha (the power at zero difference)",
        ));
    }
    let test = PairedTTest::new(n, alpha)?;
    Ok(sd * test.detectable_effect(power))
}

/// Power of the two-sided paired t-test on `n` units at level `alpha` when the
/// true mean difference is `effect_size` standard deviations (statsmodels
/// `ttest_power(effect_size, nobs=n, alpha=alpha)`).
pub fn paired_t_power(effect_size: f64, n: usize, alpha: f64) -> StatsResult<f64> {
    if !effect_size.is_finite() {
        return Err(StatsError::NonFinite);
    }
    check_probability("alpha", alpha)?;
    let test = PairedTTest::new(n, alpha)?;
    Ok(test.power_at(effect_size.abs() * (n as f64).sqrt()))
}

fn check_probability(what: &'static str, value: f64) -> StatsResult<()> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(StatsError::Probability { what, value })
    }
}

/// The fixed parts of the test: degrees of freedom, quadrature of the chi
/// density and the critical value.
struct PairedTTest {
    n: usize,
    chi: ChiExpectation,
    critical: f64,
}

impl PairedTTest {
    fn new(n: usize, alpha: f64) -> StatsResult<Self> {
        if n < 2 {
            return Err(StatsError::TooFew { needed: 2, got: n });
        }
        let chi = ChiExpectation::new((n - 1) as f64);
        let critical = chi.t_upper_quantile(alpha / 2.0);
        Ok(Self { n, chi, critical })
    }

    /// Two-sided power at noncentrality δ ≥ 0.
    fn power_at(&self, noncentrality: f64) -> f64 {
        let c = self.critical;
        let p = self.chi.expect(|ratio| {
            normal_cdf(noncentrality - c * ratio) + normal_cdf(-noncentrality - c * ratio)
        });
        p.min(1.0)
    }

    /// Standardised effect d with power(d) = `target`.
    fn detectable_effect(&self, target: f64) -> f64 {
        let mut low = 0.0;
        let mut high = 1.0;
        while self.power_at(high) < target {
            low = high;
            high *= 2.0;
            if high > 1e12 {
                break;
            }
        }
        let delta = find_root(low, high, |delta| self.power_at(delta) - target);
        delta / (self.n as f64).sqrt()
    }
}

/// Root of an increasing-through-zero `f` on [low, high] with
/// f(low) ≤ 0 ≤ f(high), by the Illinois variant of regula falsi: it keeps a
/// bracket like bisection (so it cannot diverge) but converges
/// superlinearly, which matters because every evaluation is a quadrature.
/// Falls back to a bisection step whenever the interpolation stalls, and
/// stops when the bracket is a few ulps wide.
fn find_root(mut low: f64, mut high: f64, f: impl Fn(f64) -> f64) -> f64 {
    let mut f_low = f(low);
    let mut f_high = f(high);
    if f_low >= 0.0 {
        return low;
    }
    if f_high <= 0.0 {
        return high;
    }
    let mut last_side = 0i8;
    for _ in 0..200 {
        if high - low <= 4.0 * f64::EPSILON * high.abs().max(f64::MIN_POSITIVE) {
            break;
        }
        let mut x = (low * f_high - high * f_low) / (f_high - f_low);
        if !(x > low && x < high) {
            x = 0.5 * (low + high);
        }
        let fx = f(x);
        if fx == 0.0 {
            return x;
        }
        if fx < 0.0 {
            low = x;
            f_low = fx;
            if last_side == -1 {
                f_high *= 0.5; // Illinois: stop the far end from sticking.
            }
            last_side = -1;
        } else {
            high = x;
            f_high = fx;
            if last_side == 1 {
                f_low *= 0.5;
            }
            last_side = 1;
        }
    }
    if -f_low < f_high {
        low
    } else {
        high
    }
}

/// Expectations E[f(S/√ν)] for S ~ χ_ν by adaptive Gauss–Legendre quadrature.
struct ChiExpectation {
    dof: f64,
    mode: f64,
    lower: f64,
    upper: f64,
    rule: GaussLegendre,
    normaliser: f64,
}

impl ChiExpectation {
    /// Beyond this distance from the mode the chi density is < e^{-84} of its
    /// peak (log-density curvature ≤ −1).
    const HALF_WIDTH: f64 = 13.0;
    const INITIAL_PANELS: usize = 32;
    const MAX_PANELS: usize = 2000;
    const TOLERANCE: f64 = 1e-15;

    fn new(dof: f64) -> Self {
        let mode = (dof - 1.0).max(0.0).sqrt();
        let mut chi = Self {
            dof,
            mode,
            lower: (mode - Self::HALF_WIDTH).max(0.0),
            upper: mode + Self::HALF_WIDTH,
            rule: GaussLegendre::new(16),
            normaliser: 1.0,
        };
        chi.normaliser = chi.integrate(|_| 1.0);
        chi
    }

    /// Chi density divided by its value at the mode (so it peaks at 1).
    fn relative_density(&self, s: f64) -> f64 {
        if s <= 0.0 {
            return if self.dof == 1.0 { 1.0 } else { 0.0 };
        }
        let log_ratio = if self.mode > 0.0 {
            (self.dof - 1.0) * (s / self.mode).ln()
        } else {
            0.0
        };
        (log_ratio - 0.5 * (s * s - self.mode * self.mode)).exp()
    }

    /// Globally adaptive quadrature: keep splitting the panel with the
    /// largest error estimate (|two half-panel rules − whole-panel rule|)
    /// until the summed estimate is below tolerance. A panel budget bounds
    /// the work even if rounding keeps the estimate from reaching tolerance.
    fn integrate(&self, f: impl Fn(f64) -> f64) -> f64 {
        let scale = self.dof.sqrt();
        let integrand = |s: f64| self.relative_density(s) * f(s / scale);
        let width = (self.upper - self.lower) / Self::INITIAL_PANELS as f64;
        let mut panels: BinaryHeap<Panel> = (0..Self::INITIAL_PANELS)
            .map(|k| {
                let a = self.lower + k as f64 * width;
                let b = if k + 1 == Self::INITIAL_PANELS {
                    self.upper
                } else {
                    a + width
                };
                let whole = self.rule.integrate(&integrand, a, b);
                Panel::new(&self.rule, &integrand, a, b, whole)
            })
            .collect();
        while panels.len() < Self::MAX_PANELS {
            let (error, total) = panels
                .iter()
                .fold((0.0, 0.0), |(e, t), p| (e + p.error, t + p.value));
            if error <= Self::TOLERANCE.max(64.0 * f64::EPSILON * total.abs()) {
                break;
            }
            let Some(worst) = panels.pop() else { break };
            let mid = 0.5 * (worst.a + worst.b);
            panels.push(Panel::new(&self.rule, &integrand, worst.a, mid, worst.left));
            panels.push(Panel::new(
                &self.rule,
                &integrand,
                mid,
                worst.b,
                worst.right,
            ));
        }
        let mut values: Vec<f64> = panels.iter().map(|p| p.value).collect();
        // Summing small to large keeps the total's rounding minimal.
        values.sort_by(f64::total_cmp);
        values.iter().sum()
    }

    /// E[f(S/√ν)].
    fn expect(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.integrate(f) / self.normaliser
    }

    /// Upper-tail Student t quantile: c with P(T_ν > c) = `tail`.
    fn t_upper_quantile(&self, tail: f64) -> f64 {
        let upper_tail = |c: f64| self.expect(|ratio| normal_cdf(-c * ratio));
        let mut low = 0.0;
        let mut high = 1.0;
        while upper_tail(high) > tail {
            low = high;
            high *= 2.0;
            if high > 1e300 {
                break;
            }
        }
        find_root(low, high, |c| tail - upper_tail(c))
    }
}

/// A quadrature panel [a, b] with its two half-panel estimates.
struct Panel {
    a: f64,
    b: f64,
    left: f64,
    right: f64,
    value: f64,
    error: f64,
}

impl Panel {
    fn new(rule: &GaussLegendre, f: &impl Fn(f64) -> f64, a: f64, b: f64, whole: f64) -> Self {
        let mid = 0.5 * (a + b);
        let left = rule.integrate(f, a, mid);
        let right = rule.integrate(f, mid, b);
        let value = left + right;
        Self {
            a,
            b,
            left,
            right,
            value,
            error: (value - whole).abs(),
        }
    }
}

impl PartialEq for Panel {
    fn eq(&self, other: &Self) -> bool {
        self.error.total_cmp(&other.error).is_eq()
    }
}

impl Eq for Panel {}

impl PartialOrd for Panel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Panel {
    /// Ordered by error estimate, so the heap pops the worst panel first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.error.total_cmp(&other.error)
    }
}

/// n-point Gauss–Legendre rule on [−1, 1], nodes found by Newton's method on
/// the Legendre recurrence (Golub–Welsch would need an eigen-solver).
struct GaussLegendre {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

impl GaussLegendre {
    fn new(points: usize) -> Self {
        let mut nodes = vec![0.0; points];
        let mut weights = vec![0.0; points];
        let n = points as f64;
        for i in 0..points.div_ceil(2) {
            // Tricomi's initial guess for the i-th largest root.
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n + 0.5)).cos();
            let mut derivative = 0.0;
            for _ in 0..100 {
                let (p, dp) = legendre(points, x);
                derivative = dp;
                let step = p / dp;
                x -= step;
                if step.abs() <= 1e-16 {
                    break;
                }
            }
            let (_, dp) = legendre(points, x);
            if dp != 0.0 {
                derivative = dp;
            }
            let w = 2.0 / ((1.0 - x * x) * derivative * derivative);
            nodes[i] = -x;
            nodes[points - 1 - i] = x;
            weights[i] = w;
            weights[points - 1 - i] = w;
        }
        Self { nodes, weights }
    }

    fn integrate(&self, f: &impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
        let half = 0.5 * (b - a);
        let centre = 0.5 * (a + b);
        let sum: f64 = self
            .nodes
            .iter()
            .zip(&self.weights)
            .map(|(&x, &w)| w * f(centre + half * x))
            .sum();
        half * sum
    }
}

/// Legendre polynomial P_n(x) and its derivative, by the three-term recurrence.
fn legendre(n: usize, x: f64) -> (f64, f64) {
    let mut p_prev = 1.0;
    let mut p = x;
    for k in 2..=n {
        let k = k as f64;
        let next = ((2.0 * k - 1.0) * x * p - (k - 1.0) * p_prev) / k;
        p_prev = p;
        p = next;
    }
    let derivative = n as f64 * (x * p - p_prev) / (x * x - 1.0);
    (p, derivative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let rule = GaussLegendre::new(16);
        let total: f64 = rule.weights.iter().sum();
        assert!((total - 2.0).abs() < 1e-14);
        // ∫_0^2 x^31 dx = 2^32 / 32
        let v = rule.integrate(&|x: f64| x.powi(31), 0.0, 2.0);
        assert!((v / (2f64.powi(32) / 32.0) - 1.0).abs() < 1e-13);
    }

    #[test]
    fn student_t_quantiles() {
        // scipy.stats.t.isf(0.025, df)
        let cases = [
            (1.0, 12.706204736174705),
            (4.0, 2.7764451051977943),
            (29.0, 2.045229642132704),
        ];
        for (df, expected) in cases {
            let c = ChiExpectation::new(df).t_upper_quantile(0.025);
            assert!((c / expected - 1.0).abs() < 1e-12, "df={df}: {c}");
        }
    }

    #[test]
    fn power_at_zero_effect_is_alpha() {
        for n in [2, 5, 30] {
            let p = paired_t_power(0.0, n, 0.05).unwrap();
            assert!((p - 0.05).abs() < 1e-13, "n={n}: {p}");
        }
    }

    #[test]
    fn detectable_difference_scales_with_sd_and_shrinks_with_n() {
        let d12 = min_detectable_paired_difference(1.0, 12, 0.05, 0.8).unwrap();
        let d12_sd3 = min_detectable_paired_difference(3.0, 12, 0.05, 0.8).unwrap();
        let d30 = min_detectable_paired_difference(1.0, 30, 0.05, 0.8).unwrap();
        assert!((d12_sd3 - 3.0 * d12).abs() < 1e-12);
        assert!(d30 < d12);
        assert_eq!(
            min_detectable_paired_difference(0.0, 12, 0.05, 0.8),
            Ok(0.0)
        );
        let p = paired_t_power(d12, 12, 0.05).unwrap();
        assert!((p - 0.8).abs() < 1e-12);
    }

    #[test]
    fn invalid_input() {
        assert!(min_detectable_paired_difference(1.0, 1, 0.05, 0.8).is_err());
        assert!(min_detectable_paired_difference(1.0, 10, 0.0, 0.8).is_err());
        assert!(min_detectable_paired_difference(1.0, 10, 0.05, 1.0).is_err());
        assert!(min_detectable_paired_difference(1.0, 10, 0.5, 0.4).is_err());
        assert!(min_detectable_paired_difference(-1.0, 10, 0.05, 0.8).is_err());
        assert!(min_detectable_paired_difference(f64::NAN, 10, 0.05, 0.8).is_err());
    }
}
