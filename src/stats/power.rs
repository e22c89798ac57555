//! Sensitivity of a comparison: the smallest true difference a two-sided
//! test detects with a given power, for a one-sample (paired) t-test on n
//! units, a pooled two-sample t-test on n₁ and n₂ units, and a comparison of
//! two independent proportions (normal approximation on the arcsine scale,
//! Cohen's h). Reported next to non-significant results so that "no detected
//! bias" is read together with "bias smaller than X could not be seen".
//! Effect sizes are Cohen's (1988, *Statistical Power Analysis for the
//! Behavioral Sciences*, 2nd ed., chs. 2 and 6) d and h.
//!
//! Definitions follow statsmodels `TTestPower` (`ttest_power`, two-sided):
//! with df ν = n − 1, noncentrality δ = d √n for standardised effect d and
//! critical value c = t_{1−α/2, ν} (for two samples, `TTestIndPower`:
//! ν = n₁ + n₂ − 2 and δ = d √(n₁n₂/(n₁ + n₂))),
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
//!
//! For two proportions the statistic is taken as normal (statsmodels
//! `NormalIndPower`): power(h) = Φ(δ − z) + Φ(−δ − z) with
//! δ = h √(n₁n₂/(n₁ + n₂)) and z = Φ⁻¹(1 − α/2), so no quadrature is needed;
//! the root h* is found the same way and mapped back to proportions.

use std::collections::BinaryHeap;

use super::{normal_cdf, normal_quantile, StatsError, StatsResult};

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
    check_sd(sd)?;
    check_alpha_power(alpha, power)?;
    let test = TTestPower::paired(n, alpha)?;
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
    let test = TTestPower::paired(n, alpha)?;
    Ok(test.power_at(effect_size.abs() * test.scale))
}

/// Power of the two-sided pooled-variance two-sample t-test (Student's t
/// with n₁ + n₂ − 2 degrees of freedom) at level `alpha` when the true
/// difference in means is `effect_size` common standard deviations, i.e.
/// Cohen's (1988, ch. 2) d:
///
///   power(d) = P(T > c) + P(T < −c),   T ~ noncentral t(ν, δ),
///   ν = n₁ + n₂ − 2,   δ = |d| √(n₁n₂ / (n₁ + n₂)),   c = t_{1−α/2, ν},
///
/// both rejection tails counting. This is statsmodels
/// `TTestIndPower().power(effect_size, nobs1=n1, alpha=alpha,
/// ratio=n2/n1)`. Needs n₁, n₂ ≥ 1 with n₁ + n₂ ≥ 3 (ν ≥ 1) and `alpha` in
/// (0, 1).
pub fn two_sample_t_power(effect_size: f64, n1: usize, n2: usize, alpha: f64) -> StatsResult<f64> {
    if !effect_size.is_finite() {
        return Err(StatsError::NonFinite);
    }
    check_probability("alpha", alpha)?;
    let test = TTestPower::two_sample(n1, n2, alpha)?;
    Ok(test.power_at(effect_size.abs() * test.scale))
}

/// Smallest true difference in means (in the units of `sd`, the common
/// within-group standard deviation) that a two-sided pooled-variance
/// two-sample t-test with `n1` and `n2` units, at level `alpha`, detects with
/// probability `power`: sd · d*, where d* is the standardised effect (Cohen
/// 1988, ch. 2) with [`two_sample_t_power`]`(d*, n1, n2, alpha) = power`.
/// This is statsmodels `TTestIndPower().solve_power(nobs1=n1, alpha=alpha,
/// power=power, ratio=n2/n1)` × sd, solved here to a few ulps (statsmodels'
/// solver stops at ~1e-5 relative). Needs n₁, n₂ ≥ 1 with n₁ + n₂ ≥ 3,
/// `alpha` and `power` in (0, 1) with `power > alpha`, and `sd ≥ 0`.
pub fn min_detectable_two_sample_difference(
    sd: f64,
    n1: usize,
    n2: usize,
    alpha: f64,
    power: f64,
) -> StatsResult<f64> {
    check_sd(sd)?;
    check_alpha_power(alpha, power)?;
    let test = TTestPower::two_sample(n1, n2, alpha)?;
    Ok(sd * test.detectable_effect(power))
}

/// Smallest increase over `p_reference` in a proportion that a two-sided
/// comparison of two independent proportions (group sizes `n1`, `n2`) at
/// level `alpha` detects with probability `power`, under the normal
/// approximation on the arcsine scale (Cohen 1988, ch. 6).
///
/// With p₁ = `p_reference` and Cohen's effect size
/// h = 2 asin √p₂ − 2 asin √p₁, the test statistic is approximately
/// normal with mean δ = h √(n₁n₂ / (n₁ + n₂)) and unit variance, so
///
///   power(h) = Φ(δ − z) + Φ(−δ − z),   z = Φ⁻¹(1 − α/2),
///
/// as in statsmodels `NormalIndPower().power(h, nobs1=n1, alpha=alpha,
/// ratio=n2/n1)`. The smallest detectable h* solves power(h*) = `power`
/// (statsmodels `NormalIndPower().solve_power(nobs1=n1, alpha=alpha,
/// power=power, ratio=n2/n1)`, here to a few ulps); it is returned as the
/// difference in proportions p₂ − p₁ ≥ 0, where
/// p₂ = sin²(asin √p₁ + h*/2), evaluated as sin(2 asin √p₁ + h*/2) · sin(h*/2)
/// to avoid cancellation. The power depends on the group sizes only through
/// n₁n₂/(n₁ + n₂), so it does not matter which group has the reference
/// proportion. Because the arcsine scale is not translation invariant, the
/// detectable decrease below p₁ differs from this increase.
///
/// Needs `p_reference` in [0, 1), n₁, n₂ ≥ 1, `alpha` and `power` in (0, 1)
/// with `power > alpha`. Errs if even p₂ = 1 is not detected with that power
/// (asin √p₁ + h*/2 > π/2).
pub fn min_detectable_proportion_difference(
    p_reference: f64,
    n1: usize,
    n2: usize,
    alpha: f64,
    power: f64,
) -> StatsResult<f64> {
    if !(p_reference.is_finite() && (0.0..1.0).contains(&p_reference)) {
        return Err(StatsError::Invalid("p_reference must lie in [0, 1)"));
    }
    check_alpha_power(alpha, power)?;
    let scale = two_sample_scale(n1, n2, 1)?;
    let critical = -normal_quantile(alpha / 2.0);
    let power_at = |delta: f64| normal_cdf(delta - critical) + normal_cdf(-delta - critical);
    let h = solve_noncentrality(power_at, power) / scale;
    let angle = p_reference.sqrt().asin();
    if angle + 0.5 * h > std::f64::consts::FRAC_PI_2 {
        return Err(StatsError::Invalid(
            "no proportion above p_reference is detected with that power",
        ));
    }
    Ok(((2.0 * angle + 0.5 * h).sin() * (0.5 * h).sin()).max(0.0))
}

fn check_sd(sd: f64) -> StatsResult<()> {
    if sd.is_finite() && sd >= 0.0 {
        Ok(())
    } else {
        Err(StatsError::Invalid("sd must be finite and non-negative"))
    }
}

fn check_alpha_power(alpha: f64, power: f64) -> StatsResult<()> {
    check_probability("alpha", alpha)?;
    check_probability("power", power)?;
    if power <= alpha {
        return Err(StatsError::Invalid(
            "power must exceed alpha (the power at zero difference)",
        ));
    }
    Ok(())
}

fn check_probability(what: &'static str, value: f64) -> StatsResult<()> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(StatsError::Probability { what, value })
    }
}

/// √(n₁n₂ / (n₁ + n₂)), the factor turning a standardised two-sample effect
/// into the noncentrality, after checking n₁, n₂ ≥ 1 and n₁ + n₂ ≥ `min_total`.
fn two_sample_scale(n1: usize, n2: usize, min_total: usize) -> StatsResult<f64> {
    let smaller = n1.min(n2);
    if smaller < 1 {
        return Err(StatsError::TooFew {
            needed: 1,
            got: smaller,
        });
    }
    let total = n1.saturating_add(n2);
    if total < min_total {
        return Err(StatsError::TooFew {
            needed: min_total,
            got: total,
        });
    }
    let (a, b) = (n1 as f64, n2 as f64);
    Ok((a * b / (a + b)).sqrt())
}

/// The fixed parts of a t-test: degrees of freedom (in the quadrature of the
/// chi density), the critical value and the factor √n_eff that turns a
/// standardised effect into the noncentrality.
struct TTestPower {
    scale: f64,
    chi: ChiExpectation,
    critical: f64,
}

impl TTestPower {
    /// One-sample (paired) test: ν = n − 1, δ = d √n.
    fn paired(n: usize, alpha: f64) -> StatsResult<Self> {
        if n < 2 {
            return Err(StatsError::TooFew { needed: 2, got: n });
        }
        Ok(Self::new((n - 1) as f64, (n as f64).sqrt(), alpha))
    }

    /// Pooled two-sample test: ν = n₁ + n₂ − 2, δ = d √(n₁n₂/(n₁ + n₂)).
    fn two_sample(n1: usize, n2: usize, alpha: f64) -> StatsResult<Self> {
        let scale = two_sample_scale(n1, n2, 3)?;
        Ok(Self::new((n1 + n2 - 2) as f64, scale, alpha))
    }

    fn new(dof: f64, scale: f64, alpha: f64) -> Self {
        let chi = ChiExpectation::new(dof);
        let critical = chi.t_upper_quantile(alpha / 2.0);
        Self {
            scale,
            chi,
            critical,
        }
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
        solve_noncentrality(|delta| self.power_at(delta), target) / self.scale
    }
}

/// Noncentrality δ ≥ 0 at which the increasing two-sided power curve
/// `power_at` reaches `target`: bracket by doubling, then [`find_root`].
fn solve_noncentrality(power_at: impl Fn(f64) -> f64, target: f64) -> f64 {
    let mut low = 0.0;
    let mut high = 1.0;
    while power_at(high) < target {
        low = high;
        high *= 2.0;
        if high > 1e12 {
            break;
        }
    }
    find_root(low, high, |delta| power_at(delta) - target)
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
    fn two_sample_reduces_to_its_definition() {
        // Zero effect gives alpha; the power depends on the sizes only
        // through n1 + n2 and n1 n2 / (n1 + n2), so swapping them changes
        // nothing.
        for (n1, n2) in [(1, 2), (3, 5), (40, 10)] {
            let p = two_sample_t_power(0.0, n1, n2, 0.05).unwrap();
            assert!((p - 0.05).abs() < 1e-13, "n1={n1} n2={n2}: {p}");
            let a = two_sample_t_power(0.7, n1, n2, 0.01).unwrap();
            let b = two_sample_t_power(-0.7, n2, n1, 0.01).unwrap();
            assert_eq!(a, b);
        }
        // One unit against two (ν = 1): root of the defining integral by
        // scipy.integrate.quad + brentq; statsmodels' nct returns NaN here.
        let d = min_detectable_two_sample_difference(1.0, 1, 2, 0.05, 0.8).unwrap();
        assert!((d / 20.00499359270048 - 1.0).abs() < 1e-9, "{d}");
        let d = min_detectable_two_sample_difference(2.0, 12, 30, 0.05, 0.9).unwrap();
        let p = two_sample_t_power(d / 2.0, 12, 30, 0.05).unwrap();
        assert!((p - 0.9).abs() < 1e-12, "{p}");
        // More units in the second group help, but less than in both.
        let base = min_detectable_two_sample_difference(1.0, 20, 20, 0.05, 0.8).unwrap();
        let more = min_detectable_two_sample_difference(1.0, 20, 60, 0.05, 0.8).unwrap();
        let both = min_detectable_two_sample_difference(1.0, 40, 40, 0.05, 0.8).unwrap();
        assert!(both < more && more < base);
    }

    #[test]
    fn proportion_difference_is_cohens_h_mapped_back() {
        let (n1, n2, alpha, power) = (50, 100, 0.05, 0.8);
        for p1 in [0.0, 0.02, 0.5, 0.8] {
            let diff = min_detectable_proportion_difference(p1, n1, n2, alpha, power).unwrap();
            let p2 = p1 + diff;
            let h = 2.0 * p2.sqrt().asin() - 2.0 * p1.sqrt().asin();
            let delta = h * (50.0f64 * 100.0 / 150.0).sqrt();
            let z = -normal_quantile(alpha / 2.0);
            let achieved = normal_cdf(delta - z) + normal_cdf(-delta - z);
            assert!((achieved - power).abs() < 1e-12, "p1={p1}: {achieved}");
        }
        // At p1 = 0, p2 = sin²(h/2). Cohen's one-tail approximation
        // h ≈ (z_{0.975} + z_{0.8}) / √n_eff ignores the far tail
        // Φ(−δ − z) ≈ 1e-6, so it agrees only to ~1e-6.
        let h = (1.959963984540054 + 0.8416212335729143) / (50.0f64 * 100.0 / 150.0).sqrt();
        let diff = min_detectable_proportion_difference(0.0, n1, n2, alpha, power).unwrap();
        assert!(
            (diff / (0.5 * h).sin().powi(2) - 1.0).abs() < 1e-5,
            "{diff}"
        );
        // Nothing above 0.9 is detectable with 3 + 4 units.
        assert!(min_detectable_proportion_difference(0.9, 3, 4, 0.05, 0.8).is_err());
    }

    #[test]
    fn invalid_input() {
        assert!(min_detectable_paired_difference(1.0, 1, 0.05, 0.8).is_err());
        assert!(min_detectable_paired_difference(1.0, 10, 0.0, 0.8).is_err());
        assert!(min_detectable_paired_difference(1.0, 10, 0.05, 1.0).is_err());
        assert!(min_detectable_paired_difference(1.0, 10, 0.5, 0.4).is_err());
        assert!(min_detectable_paired_difference(-1.0, 10, 0.05, 0.8).is_err());
        assert!(min_detectable_paired_difference(f64::NAN, 10, 0.05, 0.8).is_err());
        assert!(two_sample_t_power(0.5, 1, 1, 0.05).is_err());
        assert!(two_sample_t_power(0.5, 0, 5, 0.05).is_err());
        assert!(two_sample_t_power(f64::INFINITY, 5, 5, 0.05).is_err());
        assert!(min_detectable_two_sample_difference(1.0, 5, 5, 0.05, 0.04).is_err());
        assert!(min_detectable_two_sample_difference(-1.0, 5, 5, 0.05, 0.8).is_err());
        assert!(min_detectable_proportion_difference(1.0, 5, 5, 0.05, 0.8).is_err());
        assert!(min_detectable_proportion_difference(-0.1, 5, 5, 0.05, 0.8).is_err());
        assert!(min_detectable_proportion_difference(0.5, 5, 0, 0.05, 0.8).is_err());
        assert!(min_detectable_proportion_difference(0.5, 5, 5, 1.0, 0.8).is_err());
    }
}
