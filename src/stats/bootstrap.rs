//! Bootstrap confidence intervals for a mean over independent units
//! (clusters or scenarios), plus the jackknife values the BCa correction
//! needs.
//!
//! The interval formulas are split from the resampling so that they can be
//! checked against SciPy exactly: [`percentile_interval`] and
//! [`bca_interval`] reproduce `scipy.stats.bootstrap(method='percentile' /
//! 'BCa')` when given SciPy's own `bootstrap_distribution` and jackknife
//! values (SciPy ≥ 1.11, `_resampling.py`):
//!
//! * percentile of score: `(#(θ*_b < θ̂) + #(θ*_b ≤ θ̂)) / (2B)`,
//!   `z0 = Φ⁻¹(that)`;
//! * acceleration `a = Σ(θ̄ − θ₍ᵢ₎)³ / (6 (Σ(θ̄ − θ₍ᵢ₎)²)^{3/2})` from the
//!   leave-one-out estimates θ₍ᵢ₎ (SciPy scales the deviations by n − 1 and
//!   divides by n³ and n², which cancels);
//! * levels `Φ(z0 + (z0 + z)/(1 − a (z0 + z)))` for `z = ±Φ⁻¹(α/2)`;
//! * quantiles by linear interpolation between order statistics (Hyndman &
//!   Fan type 7, NumPy's default), same arithmetic as SciPy's `quantile`.
//!
//! Where SciPy would return NaN we return the limit instead (see
//! [`bca_interval`]). The resampling, [`bootstrap_mean_replicates`], uses the
//! module's own [`Rng`] with one stream per replicate so results do not depend
//! on rayon's thread count or scheduling.

use rayon::prelude::*;

use super::descriptive::NeumaierSum;
use super::rng::{Indices, Lanes, Rng};
use super::{
    check_confidence, check_finite, normal_cdf, normal_quantile, Interval, StatsError, StatsResult,
};

/// Equal-tailed percentile interval of the given bootstrap replicates at
/// `confidence` (e.g. 0.95 → 2.5th and 97.5th percentiles).
pub fn percentile_interval(replicates: &[f64], confidence: f64) -> StatsResult<Interval> {
    check_finite(replicates)?;
    check_confidence(confidence)?;
    let sorted = sorted_copy(replicates);
    let alpha = (1.0 - confidence) / 2.0;
    Ok(Interval {
        low: quantile_sorted(&sorted, alpha),
        high: quantile_sorted(&sorted, 1.0 - alpha),
    })
}

/// Bias-corrected and accelerated (BCa) interval (Efron & Tibshirani 1993,
/// §14.3) from the point `estimate`, its bootstrap `replicates` and its
/// leave-one-out `jackknife` estimates.
///
/// Degenerate inputs give limits instead of SciPy's NaN:
/// * all replicates equal → the interval collapses to that value (which is
///   the estimate when the replicates come from resampling the data);
/// * zero jackknife spread → no acceleration (`a = 0`);
/// * estimate below (above) every replicate → `z0 = ∓∞`, whose limit puts both
///   adjusted levels at 0 (1), i.e. the interval collapses to the smallest
///   (largest) replicate.
///
/// If a strongly skewed jackknife pushes the adjusted levels out of order
/// (`1 − a (z0 + z)` changing sign) the ends are swapped so `low <= high`.
pub fn bca_interval(
    estimate: f64,
    replicates: &[f64],
    jackknife: &[f64],
    confidence: f64,
) -> StatsResult<Interval> {
    check_finite(replicates)?;
    check_finite(jackknife)?;
    check_finite(&[estimate])?;
    check_confidence(confidence)?;

    let sorted = sorted_copy(replicates);
    let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
    if first == last {
        return Ok(Interval {
            low: first,
            high: first,
        });
    }

    let below = sorted.partition_point(|&r| r < estimate);
    let at_or_below = sorted.partition_point(|&r| r <= estimate);
    let score = (below + at_or_below) as f64 / (2 * sorted.len()) as f64;
    let z0 = normal_quantile(score);
    let accel = acceleration(jackknife);

    let alpha = (1.0 - confidence) / 2.0;
    let z_alpha = normal_quantile(alpha);
    let adjusted_level = |z: f64| -> f64 {
        if z0.is_infinite() {
            return if z0 < 0.0 { 0.0 } else { 1.0 };
        }
        let shifted = z0 + z;
        normal_cdf(z0 + shifted / (1.0 - accel * shifted))
    };
    let a = quantile_sorted(&sorted, adjusted_level(z_alpha));
    let b = quantile_sorted(&sorted, adjusted_level(-z_alpha));
    Ok(Interval {
        low: a.min(b),
        high: a.max(b),
    })
}

/// BCa acceleration from jackknife estimates; 0 when they do not vary.
fn acceleration(jackknife: &[f64]) -> f64 {
    let mut total = NeumaierSum::new();
    total.extend(jackknife.iter().copied());
    let centre = total.total() / jackknife.len() as f64;
    let mut squares = NeumaierSum::new();
    let mut cubes = NeumaierSum::new();
    for &theta in jackknife {
        let d = centre - theta;
        squares.add(d * d);
        cubes.add(d * d * d);
    }
    let spread = squares.total();
    if spread <= 0.0 {
        return 0.0;
    }
    let accel = cubes.total() / (6.0 * spread.powf(1.5));
    if accel.is_finite() {
        accel
    } else {
        0.0
    }
}

/// Leave-one-out means: element `i` is the mean of all values except
/// `values[i]`. Fewer than two values have no leave-one-out sample, so the
/// result is empty then.
pub fn jackknife_mean(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n < 2 {
        return Vec::new();
    }
    let mut total = NeumaierSum::new();
    total.extend(values.iter().copied());
    let total = total.total();
    // One subtraction from an accurate total keeps every leave-one-out mean
    // within an ulp or two, without the O(n²) cost of re-summing.
    let denominator = (n - 1) as f64;
    values.iter().map(|&v| (total - v) / denominator).collect()
}

/// `n_boot` bootstrap replicates of the mean: each replicate draws
/// `values.len()` units with replacement. Replicate `b` draws from
/// `Rng::stream(seed, b)`, two indices per 64-bit output (low half first),
/// each by Lemire's exact multiply-and-reject on 32 bits; the rare rejected
/// draw (probability `(2^32 mod n) / 2^32`, under 2.4e-6 for n ≤ 10,000) is
/// replaced by one from the replicate's second stream
/// `Rng::stream(!seed, b)`. Replicates are computed eight at a time with
/// their generators stepped side by side ([`Lanes`]), in parallel, and
/// returned in index order, so the output is identical for any thread count.
/// Returns an empty vector when `values` is empty.
pub fn bootstrap_mean_replicates(values: &[f64], n_boot: usize, seed: u64) -> Vec<f64> {
    if values.is_empty() {
        return Vec::new();
    }
    let Ok(n32) = u32::try_from(values.len()) else {
        // Over 2^32 units: draw 64-bit indices one replicate at a time.
        return (0..n_boot)
            .into_par_iter()
            .map(|b| {
                let mut rng = Rng::stream(seed, b as u64);
                let mut draws = Indices::new(&mut rng);
                let mut sum = 0.0;
                for _ in 0..values.len() {
                    sum += values[draws.below(values.len())];
                }
                sum / values.len() as f64
            })
            .collect();
    };
    (0..n_boot.div_ceil(LANES))
        .into_par_iter()
        .flat_map_iter(|block| {
            let first = block * LANES;
            lane_means(values, n32, seed, first)
                .into_iter()
                .take(LANES.min(n_boot - first))
        })
        .collect()
}

/// Replicates resampled side by side (see [`bootstrap_mean_replicates`]).
const LANES: usize = 8;
/// Generator outputs per lane drawn in one go (two indices each).
const BLOCK: usize = 128;

/// The unit that 32 random bits `r` pick out of `values` (Lemire), or on
/// the rare rejection one drawn from replicate `b`'s second stream.
#[inline(always)]
fn draw(values: &[f64], r: u64, threshold: u32, spare: &mut Option<Rng>, seed: u64, b: u64) -> f64 {
    let n = values.len() as u64;
    let product = r * n;
    if (product as u32) < threshold {
        let spare = spare.get_or_insert_with(|| Rng::stream(!seed, b));
        values[spare.below(n) as usize]
    } else {
        values[(product >> 32) as usize]
    }
}

/// Means of replicates `first .. first + LANES`.
fn lane_means(values: &[f64], n32: u32, seed: u64, first: usize) -> [f64; LANES] {
    let n = values.len();
    // Lemire: a 32-bit draw r is exact unless the low half of r·n falls below
    // 2^32 mod n.
    let threshold = n32.wrapping_neg() % n32;
    let mut lanes = Lanes::new(std::array::from_fn(|k| {
        Rng::stream(seed, (first + k) as u64)
    }));
    let mut spares: [Option<Rng>; LANES] = Default::default();
    let mut buf = [[0u64; LANES]; BLOCK];
    // Four running sums per replicate let the additions overlap; a replicate
    // mean needs no compensated sum (its error, ~n·ε, is far below any
    // interval's width).
    let mut acc = [[0.0f64; 4]; LANES];
    let mut words_left = n.div_ceil(2);
    while words_left > 0 {
        let take = words_left.min(BLOCK);
        lanes.fill(&mut buf[..take]);
        words_left -= take;
        // Of the last word of an odd n only the low half is used.
        let odd_end = words_left == 0 && n % 2 == 1;
        let (body, last) = buf[..take].split_at(take - 1);
        for (k, (sums, spare)) in acc.iter_mut().zip(&mut spares).enumerate() {
            let b = (first + k) as u64;
            let mut pick = |r: u64| draw(values, r, threshold, spare, seed, b);
            // Local copies stay in registers (through `sums` every add
            // would be a store and a reload).
            let [mut s0, mut s1, mut s2, mut s3] = *sums;
            let mut pairs = body.chunks_exact(2);
            for rows in &mut pairs {
                let (r, q) = (rows[0][k], rows[1][k]);
                s0 += pick(r & 0xffff_ffff);
                s1 += pick(r >> 32);
                s2 += pick(q & 0xffff_ffff);
                s3 += pick(q >> 32);
            }
            for row in pairs.remainder() {
                s0 += pick(row[k] & 0xffff_ffff);
                s1 += pick(row[k] >> 32);
            }
            let r = last[0][k];
            s2 += pick(r & 0xffff_ffff);
            if !odd_end {
                s3 += pick(r >> 32);
            }
            *sums = [s0, s1, s2, s3];
        }
    }
    acc.map(|s| ((s[0] + s[1]) + (s[2] + s[3])) / n as f64)
}

/// BCa interval for the mean of `values` (one figure per independent unit)
/// from `n_boot` seeded bootstrap replicates. Needs at least two units: with
/// one there is no sampling variability to estimate.
pub fn bootstrap_mean_bca(
    values: &[f64],
    n_boot: usize,
    seed: u64,
    confidence: f64,
) -> StatsResult<Interval> {
    check_finite(values)?;
    check_confidence(confidence)?;
    if values.len() < 2 {
        return Err(StatsError::TooFew {
            needed: 2,
            got: values.len(),
        });
    }
    if n_boot == 0 {
        return Err(StatsError::Invalid("n_boot must be at least 1"));
    }
    let estimate = super::descriptive::mean(values)?;
    let replicates = bootstrap_mean_replicates(values, n_boot, seed);
    let jackknife = jackknife_mean(values);
    bca_interval(estimate, &replicates, &jackknife, confidence)
}

fn sorted_copy(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Type-7 (linear) quantile of sorted data at probability `p` in [0, 1],
/// written as in SciPy's `_quantile_hf` (`j = ⌊pn + 1 − p⌋ − 1`,
/// `g = frac(pn + 1 − p)`) so results agree to the last bits.
fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let position = p * n as f64 + (1.0 - p);
    let upper = position.floor();
    let mut g = position - upper;
    let j = upper - 1.0;
    if j < 0.0 {
        g = 0.0;
    }
    let last = (n - 1) as f64;
    let lo = sorted[j.clamp(0.0, last) as usize];
    let hi = sorted[upper.clamp(0.0, last) as usize];
    if lo == hi {
        return lo;
    }
    ((1.0 - g) * lo + g * hi).clamp(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_linear() {
        let x = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(quantile_sorted(&x, 0.0), 1.0);
        assert_eq!(quantile_sorted(&x, 1.0), 10.0);
        assert_eq!(quantile_sorted(&x, 0.5), 3.0);
        // np.percentile([1,2,3,4,10], 90) == 7.6
        assert!((quantile_sorted(&x, 0.9) - 7.6).abs() < 1e-12);
        // np.percentile([1,2,3,4,10], 2.5) == 1.1
        assert!((quantile_sorted(&x, 0.025) - 1.1).abs() < 1e-12);
    }

    #[test]
    fn percentile_interval_rejects_bad_input() {
        assert_eq!(percentile_interval(&[], 0.95), Err(StatsError::Empty));
        assert_eq!(
            percentile_interval(&[1.0], 1.5),
            Err(StatsError::Confidence(1.5))
        );
        assert_eq!(
            percentile_interval(&[1.0, f64::NAN], 0.9),
            Err(StatsError::NonFinite)
        );
    }

    #[test]
    fn bca_degenerate_cases_do_not_produce_nan() {
        let flat = bca_interval(2.0, &[2.0; 50], &[2.0; 5], 0.95).unwrap();
        assert_eq!(
            flat,
            Interval {
                low: 2.0,
                high: 2.0
            }
        );

        let reps: Vec<f64> = (0..100).map(f64::from).collect();
        let below_all = bca_interval(-5.0, &reps, &[1.0, 2.0, 3.0], 0.95).unwrap();
        assert_eq!(
            below_all,
            Interval {
                low: 0.0,
                high: 0.0
            }
        );
        let above_all = bca_interval(500.0, &reps, &[1.0, 2.0, 3.0], 0.95).unwrap();
        assert_eq!(
            above_all,
            Interval {
                low: 99.0,
                high: 99.0
            }
        );

        // Constant jackknife: a = 0, so BCa reduces to bias correction only,
        // and with the estimate at the median it is the percentile interval.
        let centred = bca_interval(49.5, &reps, &[7.0; 4], 0.95).unwrap();
        let plain = percentile_interval(&reps, 0.95).unwrap();
        assert!((centred.low - plain.low).abs() < 1e-12);
        assert!((centred.high - plain.high).abs() < 1e-12);
    }

    #[test]
    fn jackknife_means_leave_one_out() {
        let jk = jackknife_mean(&[1.0, 2.0, 3.0, 6.0]);
        assert_eq!(jk, vec![11.0 / 3.0, 10.0 / 3.0, 3.0, 2.0]);
        assert!(jackknife_mean(&[1.0]).is_empty());
    }

    #[test]
    fn replicates_are_reproducible_and_plausible() {
        let values: Vec<f64> = (0..20).map(|i| f64::from(i % 7) * 0.5).collect();
        let a = bootstrap_mean_replicates(&values, 500, 11);
        let b = bootstrap_mean_replicates(&values, 500, 11);
        assert_eq!(a, b);
        assert_ne!(a, bootstrap_mean_replicates(&values, 500, 12));
        // A longer run shares its prefix: replicate b depends only on (seed, b).
        assert_eq!(&bootstrap_mean_replicates(&values, 800, 11)[..500], &a[..]);
        let (lo, hi) = (0.0, 3.0);
        assert!(a.iter().all(|r| (lo..=hi).contains(r)));
        let centre = a.iter().sum::<f64>() / a.len() as f64;
        let truth = values.iter().sum::<f64>() / values.len() as f64;
        assert!((centre - truth).abs() < 0.1);
    }

    #[test]
    fn replicates_do_not_depend_on_thread_count() {
        let values: Vec<f64> = (0..30).map(|i| (f64::from(i) * 1.37).sin()).collect();
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| bootstrap_mean_replicates(&values, 300, 5));
        let many = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(|| bootstrap_mean_replicates(&values, 300, 5));
        assert_eq!(single, many);
    }

    #[test]
    fn bootstrap_mean_bca_covers_the_mean() {
        let values: Vec<f64> = (0..25).map(|i| f64::from(i * i % 11)).collect();
        let m = super::super::descriptive::mean(&values).unwrap();
        let ci = bootstrap_mean_bca(&values, 2000, 3, 0.95).unwrap();
        assert!(ci.low < m && m < ci.high, "{ci:?} vs {m}");
        assert_eq!(
            bootstrap_mean_bca(&[1.0], 100, 3, 0.95),
            Err(StatsError::TooFew { needed: 2, got: 1 })
        );
        let constant = bootstrap_mean_bca(&[4.0; 6], 100, 3, 0.95).unwrap();
        assert_eq!(
            constant,
            Interval {
                low: 4.0,
                high: 4.0
            }
        );
    }
}
