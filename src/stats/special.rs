//! Special functions behind the exact and asymptotic tests: the regularized
//! incomplete beta function and its inverse (Student t tails, Clopper–Pearson
//! bounds), the chi-square upper tail for integer degrees of freedom, and the
//! hypergeometric probability mass function (Fisher's exact test).
//!
//! They live here rather than in statrs because statrs 0.18's `beta_reg`
//! stops after 140 continued-fraction steps, returns 0 for x within an ulp of
//! 1, and builds its prefactor from differences of `ln_gamma`, which loses
//! ~|lnΓ|·ε, i.e. ~1e-6 relative at counts of 10^9. We instead write every
//! "power term" in Loader's saddle-point form ("Fast and accurate computation
//! of binomial probabilities", 2000; the form R's `dbinom`/`dhyper` use):
//!
//!   x^a y^b Γ(a+b)/(Γ(a)Γ(b)) = √(ab/(2π(a+b))) · exp(δ(a+b) − δ(a) − δ(b)
//!                                 − bd0(a, (a+b)x) − bd0(b, (a+b)y)),
//!
//! with δ the Stirling-series remainder of lnΓ and bd0(x, m) = x ln(x/m) + m − x
//! evaluated without cancellation. Every term is O(1) or computed by a
//! series, so relative accuracy stays near 1e-14 for any size of argument.

use super::descriptive::NeumaierSum;
use super::erfc;

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Stirling remainder δ(z) = lnΓ(z) − (z − ½) ln z + z − ln √(2π), z > 0.
///
/// For z ≥ 15 seven terms of the asymptotic series leave < 1e-17 (δ enters
/// logarithms additively, so absolute error is what matters).
/// Below, the recurrence δ(w) = δ(w + 1) + g(w) climbs to 15, where
/// g(w) = (w + ½) ln(1 + 1/w) − 1 = Σ_{k≥1} u^{2k}/(2k + 1), u = 1/(2w + 1),
/// is summed as that all-positive series (the closed form cancels to
/// ~1e-16 absolute, i.e. ~1e-13 of δ). statrs' `ln_gamma` minus the Stirling
/// terms would cancel worse still (2e-12 relative at z = 9.5), so it is used
/// only for z < 1, where the terms are small and δ is large.
pub(crate) fn stirlerr(z: f64) -> f64 {
    if z >= 15.0 {
        let z2 = z * z;
        let series = 1.0 / 1188.0 - (691.0 / 360_360.0 - 1.0 / (156.0 * z2)) / z2;
        return (1.0 / 12.0
            - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - series / z2) / z2) / z2) / z2)
            / z;
    }
    if z < 1.0 {
        return statrs::function::gamma::ln_gamma(z) - (z - 0.5) * z.ln() + z - LN_SQRT_2PI;
    }
    let steps = (15.0 - z).ceil();
    let mut total = NeumaierSum::new();
    total.add(stirlerr(z + steps));
    let mut w = z;
    while w < 15.0 {
        let u = 1.0 / (2.0 * w + 1.0);
        let u2 = u * u;
        let mut power = u2;
        let mut g = 0.0f64;
        let mut k = 1.0;
        while power > 1e-18 * g.max(1e-300) {
            g += power / (2.0 * k + 1.0);
            power *= u2;
            k += 1.0;
        }
        total.add(g);
        w += 1.0;
    }
    total.total()
}

/// Deviance term bd0(x, m) = x ln(x/m) + m − x ≥ 0, by a series in
/// v = (x − m)/(x + m) when x ≈ m (Loader 2000), so no cancellation.
pub(crate) fn bd0(x: f64, m: f64) -> f64 {
    if x == 0.0 {
        return m;
    }
    if m == 0.0 {
        return f64::INFINITY;
    }
    if (x - m).abs() < 0.1 * (x + m) {
        let v = (x - m) / (x + m);
        let mut s = (x - m) * v;
        let mut ej = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            ej *= v2;
            let next = s + ej / f64::from(2 * j + 1);
            if next == s {
                break;
            }
            s = next;
        }
        s
    } else {
        x * (x / m).ln() + m - x
    }
}

/// ln[x^a y^b / B(a, b)] with y = 1 − x supplied separately (so callers that
/// know 1 − x exactly, e.g. t²/(ν + t²), keep its precision).
fn ln_power_term(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 || y <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let c = a + b;
    0.5 * (a * b / c).ln() - LN_SQRT_2PI + stirlerr(c)
        - stirlerr(a)
        - stirlerr(b)
        - bd0(a, c * x)
        - bd0(b, c * y)
}

/// Continued fraction for I_x(a, b) (Numerical Recipes' `betacf`, modified
/// Lentz), convergent for x < (a + 1)/(a + b + 2); it needs O(√max(a, b))
/// steps, so the cap is generous rather than statrs' 140.
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..2_000_000u32 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = 1.0 + aa / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = 1.0 + aa / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() <= 1e-16 {
            break;
        }
    }
    h
}

/// Regularized incomplete beta (I_x(a, b), 1 − I_x(a, b)) for a, b > 0 and
/// x + y = 1, both returned with relative accuracy (the one computed
/// directly is the smaller tail or the convergent side).
pub(crate) fn inc_beta(a: f64, b: f64, x: f64, y: f64) -> (f64, f64) {
    if x <= 0.0 {
        return (0.0, 1.0);
    }
    if y <= 0.0 {
        return (1.0, 0.0);
    }
    let ln_term = ln_power_term(a, b, x, y);
    if x < (a + 1.0) / (a + b + 2.0) {
        let lower = (ln_term.exp() / a * beta_continued_fraction(a, b, x)).min(1.0);
        (lower, 1.0 - lower)
    } else {
        let upper = (ln_term.exp() / b * beta_continued_fraction(b, a, y)).min(1.0);
        (1.0 - upper, upper)
    }
}

/// Quantile of the Beta(a, b) distribution: (x, 1 − x) with I_x(a, b) = p,
/// 0 < p < 1. The root is sought in whichever of x and 1 − x is below ½, so
/// both are returned with relative accuracy (statsmodels' Clopper–Pearson
/// bounds at 0 or n of 10^9 are ~1e-9 away from 0 or 1).
pub(crate) fn beta_quantile(a: f64, b: f64, p: f64) -> (f64, f64) {
    let (at_half, _) = inc_beta(a, b, 0.5, 0.5);
    if p <= at_half {
        // I_t(a, b) increases in t = x.
        let t = solve_tail(|t| {
            let (lower, _) = inc_beta(a, b, t, 1.0 - t);
            (
                lower - p,
                (ln_power_term(a, b, t, 1.0 - t)).exp() / (t * (1.0 - t)),
            )
        });
        (t, 1.0 - t)
    } else {
        // With t = 1 − x: I_x(a, b) = 1 − I_t(b, a), decreasing in t.
        let t = solve_tail(|t| {
            let (_, upper) = inc_beta(b, a, t, 1.0 - t);
            (
                p - upper,
                (ln_power_term(b, a, t, 1.0 - t)).exp() / (t * (1.0 - t)),
            )
        });
        (1.0 - t, t)
    }
}

/// Root in (0, ½] of an increasing function given as t ↦ (f(t), f'(t)):
/// Newton steps, replaced by (geometric) bisection whenever they leave the
/// bracket, until the step is a few ulps of t.
fn solve_tail(f: impl Fn(f64) -> (f64, f64)) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 0.5f64);
    let mut t = 0.25;
    for _ in 0..1000 {
        let (value, slope) = f(t);
        if value == 0.0 {
            return t;
        }
        if value < 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        let newton = t - value / slope;
        let next = if newton.is_finite() && newton > lo && newton < hi {
            newton
        } else if lo > 0.0 {
            (lo * hi).sqrt()
        } else {
            hi / 64.0
        };
        if (next - t).abs() <= 4.0 * f64::EPSILON * t || hi - lo <= 4.0 * f64::EPSILON * hi {
            return next;
        }
        t = next;
    }
    t
}

/// Two-sided Student t p-value P(|T_ν| ≥ |t|) = I_{ν/(ν+t²)}(ν/2, ½).
pub(crate) fn student_t_two_sided(t: f64, dof: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    let t2 = t * t;
    let (lower, _) = inc_beta(0.5 * dof, 0.5, dof / (dof + t2), t2 / (dof + t2));
    lower.min(1.0)
}

/// Chi-square upper tail Q(k/2, x/2) for integer k ≥ 1, from the finite
/// Poisson-sum identities (Abramowitz & Stegun 26.4.4–26.4.5):
/// Q = Σ_{j<k/2} P(N_h = j) for even k, and erfc(√h) plus the half-integer
/// "Poisson" terms h^{j+½}e^{−h}/Γ(j+3/2) for odd k, h = x/2. All terms are
/// positive, so the sum is accurate in both tails.
pub(crate) fn chi_square_sf(x: f64, dof: usize) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let h = 0.5 * x;
    let mut total = NeumaierSum::new();
    let odd = dof % 2 == 1;
    if odd {
        total.add(erfc(h.sqrt()));
    }
    // Terms x^j e^{−h}/Γ(j + 1) for j = start, start + 1, … < k/2.
    let start = if odd { 0.5 } else { 0.0 };
    let count = dof / 2;
    for i in 0..count {
        total.add(poisson_term(start + i as f64, h));
    }
    total.total().min(1.0)
}

/// h^j e^{−h} / Γ(j + 1) for real j ≥ 0 (Loader's `dpois_raw`).
fn poisson_term(j: f64, h: f64) -> f64 {
    if j == 0.0 {
        return (-h).exp();
    }
    (-stirlerr(j) - bd0(j, h)).exp() / (2.0 * std::f64::consts::PI * j).sqrt()
}

/// ln of the binomial probability C(n, k) p^k q^(n−k) (Loader's
/// `dbinom_raw`), p + q = 1 supplied separately.
fn ln_binomial_pmf(k: f64, n: f64, p: f64, q: f64) -> f64 {
    if n == 0.0 {
        return if k == 0.0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if k == 0.0 {
        return if p < 0.1 {
            n * (-p).ln_1p()
        } else {
            n * q.ln()
        };
    }
    if k == n {
        return if q < 0.1 {
            n * (-q).ln_1p()
        } else {
            n * p.ln()
        };
    }
    let lc = stirlerr(n) - stirlerr(k) - stirlerr(n - k) - bd0(k, n * p) - bd0(n - k, n * q);
    lc - 0.5 * ((2.0 * std::f64::consts::PI) * k * (n - k) / n).ln()
}

/// ln P(X = k) for X ~ Hypergeometric(population `total`, `successes` in it,
/// `draws` drawn), as R's `dhyper`: a ratio of three binomial probabilities
/// at p = draws/total, each accurate to ~1e-15 relative at any size.
pub(crate) fn ln_hypergeometric_pmf(k: u64, total: u64, successes: u64, draws: u64) -> f64 {
    let failures = total - successes;
    if k > draws || k > successes || draws - k > failures {
        return f64::NEG_INFINITY;
    }
    if draws == 0 || draws == total {
        return 0.0;
    }
    let p = draws as f64 / total as f64;
    let q = (total - draws) as f64 / total as f64;
    ln_binomial_pmf(k as f64, successes as f64, p, q)
        + ln_binomial_pmf((draws - k) as f64, failures as f64, p, q)
        - ln_binomial_pmf(draws as f64, total as f64, p, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    #[test]
    fn stirling_remainder_matches_mpmath() {
        // δ(z) from mpmath's loggamma at 40 digits, rounded to doubles; δ is
        // added to logs, so the absolute error is what matters.
        for (z, expected) in [
            (0.5, 0.15342640972002736),
            (1.0, 0.08106146679532726),
            (1.5, 0.05481412105191765),
            (3.25, 0.025562157964525795),
            (7.0, 0.01189670994589177),
            (9.5, 0.008768700134139386),
            (14.9, 0.005592002512250831),
            (15.0, 0.005554733551962801),
        ] {
            let err = (stirlerr(z) - expected).abs();
            assert!(err < if z < 1.0 { 3e-16 } else { 3e-17 }, "z={z}: {err:e}");
        }
    }

    #[test]
    fn incomplete_beta_closed_forms() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b.
        let (l, u) = inc_beta(1.0, 1.0, 0.3, 0.7);
        assert!(rel(l, 0.3) < 1e-15 && rel(u, 0.7) < 1e-15);
        assert!(rel(inc_beta(3.0, 1.0, 0.2, 0.8).0, 0.008) < 1e-14);
        assert!(rel(inc_beta(1.0, 4.0, 0.9, 0.1).1, 1e-4) < 1e-13);
        // Symmetry I_x(a, b) = 1 − I_{1−x}(b, a) at large parameters.
        let (l, u) = inc_beta(2e8, 3e8, 0.4001, 0.5999);
        let (l2, u2) = inc_beta(3e8, 2e8, 0.5999, 0.4001);
        assert!(rel(l, u2) < 1e-10 && rel(u, l2) < 1e-10);
    }

    #[test]
    fn beta_quantile_inverts() {
        for (a, b, p) in [(1.0, 10.0, 0.025), (5.0, 3.0, 0.975), (0.5, 0.5, 0.3)] {
            let (x, y) = beta_quantile(a, b, p);
            assert!(rel(inc_beta(a, b, x, y).0, p) < 1e-12, "{a} {b} {p}");
        }
        // Beta(1, b): x = 1 − (1 − p)^{1/b}.
        let (x, _) = beta_quantile(1.0, 1e9, 0.025);
        let exact = -((-0.025f64).ln_1p() / 1e9).exp_m1();
        assert!(rel(x, exact) < 1e-12, "{x} vs {exact}");
    }

    #[test]
    fn chi_square_tails() {
        // dof 2: Q = e^{−x/2}; dof 1: erfc(√(x/2)); dof 3 at x: A&S 26.4.5.
        assert!(rel(chi_square_sf(3.0, 2), (-1.5f64).exp()) < 1e-15);
        assert!(rel(chi_square_sf(800.0, 2), (-400.0f64).exp()) < 1e-13);
        assert!(rel(chi_square_sf(2.0, 1), erfc(1.0)) < 1e-15);
        let x: f64 = 4.0;
        let dof3 =
            erfc((x / 2.0).sqrt()) + (2.0 * x / std::f64::consts::PI).sqrt() * (-x / 2.0).exp();
        assert!(rel(chi_square_sf(x, 3), dof3) < 1e-14);
        assert_eq!(chi_square_sf(0.0, 4), 1.0);
    }

    #[test]
    fn hypergeometric_pmf_sums_to_one_and_matches_direct_formula() {
        let (total, successes, draws) = (30u64, 12u64, 9u64);
        let mut sum = 0.0;
        for k in 0..=draws {
            let p = ln_hypergeometric_pmf(k, total, successes, draws).exp();
            let direct =
                binom(successes, k) * binom(total - successes, draws - k) / binom(total, draws);
            assert!(rel(p, direct) < 1e-13, "k={k}");
            sum += p;
        }
        assert!((sum - 1.0).abs() < 1e-14, "{sum}");
        assert_eq!(
            ln_hypergeometric_pmf(13, total, successes, 13),
            f64::NEG_INFINITY
        );
    }

    fn binom(n: u64, k: u64) -> f64 {
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    fn student_t_tails() {
        // ν = 1 is Cauchy: P(|T| ≥ t) = 1 − 2 atan(t)/π; ν = 2 closed form.
        let t: f64 = 3.0;
        assert!(
            rel(
                student_t_two_sided(t, 1.0),
                1.0 - 2.0 * t.atan() / std::f64::consts::PI
            ) < 1e-14
        );
        let nu2 = 1.0 - t / (2.0 + t * t).sqrt();
        assert!(rel(student_t_two_sided(t, 2.0), nu2) < 1e-14);
        assert_eq!(student_t_two_sided(0.0, 5.0), 1.0);
    }
}
