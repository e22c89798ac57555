//! Multiple-comparison adjustment of p-values across the many groups and
//! metrics an audit tests at once.
//!
//! Both procedures return adjusted p-values in the order of the input,
//! monotone in the raw p-values and capped at 1, matching statsmodels
//! `multipletests(p, method='holm')` and `method='fdr_bh'`:
//!
//! * Holm (1979) step-down, controls the family-wise error rate:
//!   with p₍₁₎ ≤ … ≤ p₍ₘ₎, p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1) p₍ⱼ₎).
//! * Benjamini & Hochberg (1995) step-up, controls the false discovery rate:
//!   p̃₍ᵢ₎ = min_{j ≥ i} min(1, m p₍ⱼ₎ / j).
//!
//! Tied raw p-values always receive the same adjusted value, whatever order
//! the sort leaves them in. Because every adjusted value depends on all the
//! inputs, a NaN input makes the whole output NaN rather than silently
//! shrinking m.

/// Holm–Bonferroni adjusted p-values (FWER).
pub fn holm(p: &[f64]) -> Vec<f64> {
    adjust(p, |sorted, m| {
        let mut running_max = 0.0f64;
        sorted
            .iter()
            .enumerate()
            .map(|(i, &raw)| {
                running_max = running_max.max(raw * (m - i) as f64);
                running_max.min(1.0)
            })
            .collect()
    })
}

/// Benjamini–Hochberg adjusted p-values (FDR, "q-values" in the step-up
/// sense).
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    adjust(p, |sorted, m| {
        let mut adjusted = vec![0.0; m];
        let mut running_min = f64::INFINITY;
        for i in (0..m).rev() {
            // p / (rank / m), in statsmodels' order of operations.
            running_min = running_min.min(sorted[i] / ((i + 1) as f64 / m as f64));
            adjusted[i] = running_min.min(1.0);
        }
        adjusted
    })
}

/// Sorts, applies `on_sorted` to the ascending p-values, and scatters the
/// result back to input order.
fn adjust(p: &[f64], on_sorted: impl Fn(&[f64], usize) -> Vec<f64>) -> Vec<f64> {
    if p.iter().any(|v| v.is_nan()) {
        return vec![f64::NAN; p.len()];
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| p[i]).collect();
    let adjusted_sorted = on_sorted(&sorted, p.len());
    let mut adjusted = vec![0.0; p.len()];
    for (rank, &index) in order.iter().enumerate() {
        adjusted[index] = adjusted_sorted[rank];
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_small_example() {
        // statsmodels: multipletests([0.01, 0.04, 0.03, 0.005], method='holm')
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (a, e) in adj.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{adj:?}");
        }
    }

    #[test]
    fn bh_small_example() {
        // m p / rank: 0.005·4/1, 0.01·4/2, 0.03·4/3, 0.04·4/4
        let adj = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.02, 0.04, 0.04, 0.02];
        for (a, e) in adj.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{adj:?}");
        }
    }

    #[test]
    fn ties_share_a_value_and_output_is_capped() {
        let p = [0.02, 0.02, 0.9, 0.02, 1.0, 0.0];
        for adj in [holm(&p), benjamini_hochberg(&p)] {
            assert_eq!(adj[0], adj[1]);
            assert_eq!(adj[0], adj[3]);
            assert_eq!(adj[5], 0.0);
            assert!(adj.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }

    #[test]
    fn empty_and_nan_inputs() {
        assert!(holm(&[]).is_empty());
        assert!(benjamini_hochberg(&[]).is_empty());
        assert!(holm(&[0.1, f64::NAN]).iter().all(|v| v.is_nan()));
    }
}
