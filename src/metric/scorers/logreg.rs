//! Multinomial (softmax) logistic regression with an L2 penalty, fitted by
//! full-batch L-BFGS in f64.
//!
//! The objective is scikit-learn's for `LogisticRegression(C=c, l1_ratio=0)`
//! with an intercept, divided by the number of rows (which leaves the minimiser
//! unchanged):
//!
//! ```text
//! f(W, b) = (1/n) Σ_i −log softmax(W x_i + b)[y_i]  +  ‖W‖² / (2 C n)
//! ```
//!
//! The intercepts are not penalised. One coefficient row per class (the
//! symmetric parametrisation); the penalty makes `W` unique, and the intercepts
//! are unique up to a common constant, which is fixed by centring them (mean 0).
//! Starting from zero, every gradient sums to zero over the classes, so the
//! iterates stay in that subspace. Everything is sequential: the same data give
//! bit-identical weights.

/// A fitted model: `coef[k]` and `intercept[k]` for class `k`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogReg {
    pub coef: Vec<Vec<f64>>,
    pub intercept: Vec<f64>,
    /// L-BFGS iterations taken.
    pub iterations: usize,
    /// The largest absolute gradient component at the end.
    pub grad_max: f64,
}

/// Stopping rules of the optimiser.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// Stop when every gradient component is at most this in absolute value (or
    /// at most 1000 times this once f no longer decreases beyond rounding).
    pub gtol: f64,
    /// Give up (with an error) after this many iterations.
    pub max_iter: usize,
    /// Pairs of (step, gradient change) kept by L-BFGS.
    pub memory: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            gtol: 1e-10,
            max_iter: 20_000,
            memory: 20,
        }
    }
}

/// Softmax of `z` in place, computed stably; returns log Σ exp(z).
fn softmax_in_place(z: &mut [f64]) -> f64 {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
    max + sum.ln()
}

struct Problem<'a> {
    x: &'a [Vec<f64>],
    y: &'a [usize],
    k: usize,
    d: usize,
    /// 1 / (C n)
    lambda: f64,
}

impl Problem<'_> {
    fn len(&self) -> usize {
        self.k * (self.d + 1)
    }

    /// The objective and its gradient at `theta` (= W row-major, then b).
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let (k, d) = (self.k, self.d);
        let n = self.x.len() as f64;
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        let mut z = vec![0.0; k];
        for (xi, &yi) in self.x.iter().zip(self.y) {
            for (c, zc) in z.iter_mut().enumerate() {
                let w = &theta[c * d..(c + 1) * d];
                *zc = theta[k * d + c] + w.iter().zip(xi).map(|(a, b)| a * b).sum::<f64>();
            }
            let zy = z[yi];
            let lse = softmax_in_place(&mut z);
            loss += lse - zy;
            for (c, &p) in z.iter().enumerate() {
                let r = p - if c == yi { 1.0 } else { 0.0 };
                let g = &mut grad[c * d..(c + 1) * d];
                for (gj, xj) in g.iter_mut().zip(xi) {
                    *gj += r * xj;
                }
                grad[k * d + c] += r;
            }
        }
        let mut penalty = 0.0;
        for (j, g) in grad.iter_mut().enumerate() {
            *g /= n;
            if j < k * d {
                *g += self.lambda * theta[j];
                penalty += theta[j] * theta[j];
            }
        }
        loss / n + 0.5 * self.lambda * penalty
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

impl LogReg {
    /// Fits `n_classes` classes to rows `x` (all the same length) with labels `y`
    /// in `0..n_classes`, at inverse penalty strength `c`.
    pub fn fit(
        x: &[Vec<f64>],
        y: &[usize],
        n_classes: usize,
        c: f64,
        options: FitOptions,
    ) -> Result<LogReg, String> {
        if x.is_empty() || x.len() != y.len() {
            return Err(format!(
                "logistic regression needs as many labels as rows, and at least one ({} rows, {} labels)",
                x.len(),
                y.len()
            ));
        }
        if n_classes < 2 {
            return Err("logistic regression needs at least two classes".into());
        }
        if !(c.is_finite() && c > 0.0) {
            return Err(format!("the inverse penalty C must be positive, not {c}"));
        }
        let d = x[0].len();
        if let Some(i) = x.iter().position(|r| r.len() != d) {
            return Err(format!(
                "row {} has {} features, row 1 has {d}",
                i + 1,
                x[i].len()
            ));
        }
        if x.iter().flatten().any(|v| !v.is_finite()) {
            return Err("a feature is not a finite number".into());
        }
        if let Some(i) = y.iter().position(|&l| l >= n_classes) {
            return Err(format!(
                "label {} of row {} is not below {n_classes}",
                y[i],
                i + 1
            ));
        }
        let problem = Problem {
            x,
            y,
            k: n_classes,
            d,
            lambda: 1.0 / (c * x.len() as f64),
        };
        let (theta, iterations, grad_max) = lbfgs(&problem, options)?;
        let mut coef: Vec<Vec<f64>> = theta[..n_classes * d]
            .chunks(d)
            .map(<[f64]>::to_vec)
            .collect();
        let mut intercept = theta[n_classes * d..].to_vec();
        let mean = intercept.iter().sum::<f64>() / n_classes as f64;
        intercept.iter_mut().for_each(|b| *b -= mean);
        // W's rows sum to zero at the optimum; remove the rounding residue too.
        for j in 0..d {
            let m = coef.iter().map(|r| r[j]).sum::<f64>() / n_classes as f64;
            coef.iter_mut().for_each(|r| r[j] -= m);
        }
        Ok(LogReg {
            coef,
            intercept,
            iterations,
            grad_max,
        })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.intercept.len()
    }

    /// Class probabilities of one row.
    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        let mut z: Vec<f64> = self
            .coef
            .iter()
            .zip(&self.intercept)
            .map(|(w, b)| b + dot(w, x))
            .collect();
        softmax_in_place(&mut z);
        z
    }
}

/// Iterations without a decrease beyond rounding after which the fit stops.
const STALL_LIMIT: usize = 10;

/// L-BFGS (Nocedal & Wright, Algorithm 7.4/7.5) with a backtracking Armijo line
/// search; a pair whose curvature sᵀy is not positive is not stored.
fn lbfgs(problem: &Problem, options: FitOptions) -> Result<(Vec<f64>, usize, f64), String> {
    let len = problem.len();
    let mut theta = vec![0.0; len];
    let mut grad = vec![0.0; len];
    let mut f = problem.eval(&theta, &mut grad);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::new();
    let mut new_theta = vec![0.0; len];
    let mut new_grad = vec![0.0; len];
    // Iterations in a row that lowered f by no more than rounding.
    let mut stalled = 0;
    for iteration in 0..options.max_iter {
        let gmax = max_abs(&grad);
        if gmax <= options.gtol {
            return Ok((theta, iteration, gmax));
        }
        // Two-loop recursion: direction = −H g.
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        let gamma = match history.back() {
            Some((s, y, _)) => dot(s, y) / dot(y, y),
            None => 1.0 / dot(&grad, &grad).sqrt().max(f64::MIN_POSITIVE),
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction (rounding): restart from steepest descent.
            history.clear();
            direction = grad.iter().map(|v| -v).collect();
            slope = dot(&grad, &direction);
        }
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..60 {
            for ((t, &th), &dir) in new_theta.iter_mut().zip(&theta).zip(&direction) {
                *t = th + step * dir;
            }
            let f_new = problem.eval(&new_theta, &mut new_grad);
            if f_new <= f + 1e-4 * step * slope {
                let s: Vec<f64> = new_theta.iter().zip(&theta).map(|(a, b)| a - b).collect();
                let y: Vec<f64> = new_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
                let sy = dot(&s, &y);
                if sy > 1e-16 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() && sy > 0.0 {
                    if history.len() == options.memory {
                        history.pop_front();
                    }
                    history.push_back((s, y, 1.0 / sy));
                }
                std::mem::swap(&mut theta, &mut new_theta);
                std::mem::swap(&mut grad, &mut new_grad);
                if f - f_new <= 8.0 * f64::EPSILON * f.abs().max(1.0) {
                    stalled += 1;
                } else {
                    stalled = 0;
                }
                f = f_new;
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted || stalled >= STALL_LIMIT {
            // No decrease is possible at this precision: the gradient is as
            // small as f64 allows. Accept only if it is nearly converged.
            let gmax = max_abs(&grad);
            if gmax <= options.gtol * 1e3 {
                return Ok((theta, iteration, gmax));
            }
            return Err(format!(
                "logistic regression stalled after {iteration} iterations (largest gradient component {gmax:e})"
            ));
        }
    }
    Err(format!(
        "logistic regression did not converge in {} iterations (largest gradient component {:e})",
        options.max_iter,
        max_abs(&grad)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Fixture {
        n_classes: usize,
        x: Vec<Vec<f64>>,
        y: Vec<usize>,
        new_rows: Vec<Vec<f64>>,
        fits: Vec<Fit>,
    }

    #[derive(serde::Deserialize)]
    struct Fit {
        c: f64,
        coef: Vec<Vec<f64>>,
        intercept: Vec<f64>,
        proba_train: Vec<Vec<f64>>,
        proba_new: Vec<Vec<f64>>,
    }

    fn max_diff(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    /// scikit-learn's LogisticRegression (tests/fixtures/logreg_reference.py) on
    /// the same data and C: the same probabilities and coefficients.
    #[test]
    fn matches_scikit_learn() {
        let f: Fixture = serde_json::from_str(include_str!(
            "../../../tests/fixtures/scorers/logreg-reference.json"
        ))
        .unwrap();
        assert_eq!(f.fits.len(), 2);
        for fit in &f.fits {
            let model = LogReg::fit(&f.x, &f.y, f.n_classes, fit.c, FitOptions::default()).unwrap();
            let mut worst: f64 = 0.0;
            for (rows, probs) in [(&f.x, &fit.proba_train), (&f.new_rows, &fit.proba_new)] {
                for (row, p) in rows.iter().zip(probs) {
                    worst = worst.max(max_diff(&model.predict_proba(row), p));
                }
            }
            assert!(
                worst <= 1e-4,
                "C = {}: probabilities differ by {worst:e}",
                fit.c
            );
            for (w, r) in model.coef.iter().zip(&fit.coef) {
                let d = max_diff(w, r);
                assert!(d <= 1e-4, "C = {}: coefficients differ by {d:e}", fit.c);
            }
            let d = max_diff(&model.intercept, &fit.intercept);
            assert!(d <= 1e-4, "C = {}: intercepts differ by {d:e}", fit.c);
            eprintln!(
                "C = {}: {} iterations, largest probability difference {worst:e}",
                fit.c, model.iterations
            );
        }
    }

    #[test]
    fn fits_are_deterministic() {
        let x: Vec<Vec<f64>> = (0..30)
            .map(|i| vec![(i % 7) as f64, (i % 5) as f64 - 2.0])
            .collect();
        let y: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let a = LogReg::fit(&x, &y, 3, 1.0, FitOptions::default()).unwrap();
        let b = LogReg::fit(&x, &y, 3, 1.0, FitOptions::default()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_input_is_refused() {
        let x = vec![vec![1.0, 2.0], vec![3.0]];
        let e = LogReg::fit(&x, &[0, 1], 2, 1.0, FitOptions::default()).unwrap_err();
        assert!(e.contains("row 2"), "{e}");
        let x = vec![vec![1.0], vec![f64::NAN]];
        assert!(LogReg::fit(&x, &[0, 1], 2, 1.0, FitOptions::default()).is_err());
        let x = vec![vec![1.0], vec![2.0]];
        assert!(LogReg::fit(&x, &[0, 2], 2, 1.0, FitOptions::default()).is_err());
        assert!(LogReg::fit(&x, &[0], 2, 1.0, FitOptions::default()).is_err());
        assert!(LogReg::fit(&x, &[0, 1], 2, 0.0, FitOptions::default()).is_err());
        assert!(LogReg::fit(&[], &[], 2, 1.0, FitOptions::default()).is_err());
    }
}
