//! Comparison of this module with the reference implementations it imitates,
//! using `tests/fixtures/stats/reference.json` as written by
//! `tests/fixtures/stats/make_fixtures.py` (SciPy, statsmodels, NumPy).
//!
//! The fixture is embedded with `include_str!` relative to this file so the
//! tests run unchanged wherever the module is compiled.

use serde::Deserialize;

use super::bootstrap::{bca_interval, jackknife_mean, percentile_interval};
use super::effect::{cliffs_delta, cohens_d, weat_effect_size};
use super::label_permutation::label_permutation_test;
use super::multiple::{benjamini_hochberg, holm};
use super::permutation::sign_flip_test;
use super::power::{
    min_detectable_paired_difference, min_detectable_proportion_difference,
    min_detectable_two_sample_difference, paired_t_power, two_sample_t_power,
};
use super::proportion::{
    clopper_pearson_interval, newcombe_difference_interval, odds_ratio_interval,
    ratio_interval_katz, wilson_interval,
};
use super::ranks::{mann_whitney_u, wilcoxon_signed_rank};
use super::tests2x2::{chi_square_independence, fisher_exact_2x2, two_proportion_z_test};
use super::ttest::welch_t_test;

const FIXTURE: &str = include_str!("../../tests/fixtures/stats/reference.json");

#[derive(Deserialize)]
struct Reference {
    bootstrap: Vec<BootstrapCase>,
    sign_flip_exact: Vec<SignFlipCase>,
    sign_flip_monte_carlo: Vec<MonteCarloCase>,
    multiple: Vec<MultipleCase>,
    power: Vec<PowerCase>,
    power_curve: Vec<PowerCurveCase>,
    wilson: Vec<WilsonCase>,
    clopper_pearson: Vec<WilsonCase>,
    newcombe: Vec<TwoSampleInterval>,
    katz_ratio: Vec<TwoSampleInterval>,
    odds_ratio: Vec<OddsRatioCase>,
    two_proportion_z: Vec<ZTestCase>,
    chi_square: Vec<ChiSquareCase>,
    fisher: Vec<FisherCase>,
    mann_whitney: Vec<TwoSampleTest>,
    wilcoxon: Vec<WilcoxonCase>,
    welch: Vec<WelchCase>,
    effect_sizes: Vec<EffectCase>,
    label_permutation_exact: Vec<TwoSampleTest>,
    label_permutation_monte_carlo: Vec<LabelMonteCarloCase>,
    two_sample_power: TwoSamplePower,
}

#[derive(Deserialize)]
struct TwoSampleInterval {
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    confidence: f64,
    low: f64,
    high: f64,
}

#[derive(Deserialize)]
struct OddsRatioCase {
    table: [[u64; 2]; 2],
    confidence: f64,
    zero_corrected: bool,
    estimate: f64,
    low: f64,
    high: f64,
}

#[derive(Deserialize)]
struct ZTestCase {
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    z: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct ChiSquareCase {
    name: String,
    table: Vec<[u64; 2]>,
    statistic: f64,
    dof: usize,
    p_value: f64,
    expected: Vec<[f64; 2]>,
}

#[derive(Deserialize)]
struct FisherCase {
    name: String,
    table: [[u64; 2]; 2],
    p_value: f64,
    mid_p_value: f64,
    p_value_mpmath: Option<f64>,
}

#[derive(Deserialize)]
struct TwoSampleTest {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    statistic: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct WilcoxonCase {
    name: String,
    d: Vec<f64>,
    statistic: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct WelchCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    statistic: f64,
    dof: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct EffectCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    cohens_d: f64,
    cliffs_delta: f64,
    weat: f64,
}

#[derive(Deserialize)]
struct LabelMonteCarloCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    n_resamples: u64,
    statistic: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct BootstrapCase {
    name: String,
    data: Vec<f64>,
    estimate: f64,
    confidence: f64,
    replicates: Vec<f64>,
    jackknife: Vec<f64>,
    bca: [Option<f64>; 2],
    percentile: [Option<f64>; 2],
}

#[derive(Deserialize)]
struct SignFlipCase {
    name: String,
    diffs: Vec<f64>,
    p_value: f64,
    statistic: f64,
}

#[derive(Deserialize)]
struct MonteCarloCase {
    name: String,
    diffs: Vec<f64>,
    n_resamples: u64,
    p_value: f64,
    statistic: f64,
}

#[derive(Deserialize)]
struct MultipleCase {
    name: String,
    p: Vec<f64>,
    holm: Vec<f64>,
    fdr_bh: Vec<f64>,
}

#[derive(Deserialize)]
struct PowerCase {
    n: usize,
    alpha: f64,
    power: f64,
    sd: f64,
    statsmodels_solve_power: f64,
    tight_root: Option<f64>,
}

#[derive(Deserialize)]
struct PowerCurveCase {
    n: usize,
    alpha: f64,
    effect_size: f64,
    power: f64,
}

#[derive(Deserialize)]
struct TwoSamplePower {
    t_detectable: Vec<TwoSampleDetectableCase>,
    t_curve: Vec<TwoSampleCurveCase>,
    proportion_detectable: Vec<ProportionDetectableCase>,
}

#[derive(Deserialize)]
struct TwoSampleDetectableCase {
    n1: usize,
    n2: usize,
    alpha: f64,
    power: f64,
    sd: f64,
    statsmodels_solve_power: f64,
    tight_root: Option<f64>,
}

#[derive(Deserialize)]
struct TwoSampleCurveCase {
    n1: usize,
    n2: usize,
    alpha: f64,
    effect_size: f64,
    power: f64,
}

#[derive(Deserialize)]
struct ProportionDetectableCase {
    p_reference: f64,
    n1: usize,
    n2: usize,
    alpha: f64,
    power: f64,
    tight_root_h: f64,
    statsmodels_solve_power: f64,
    tight_root: f64,
}

#[derive(Deserialize)]
struct WilsonCase {
    successes: u64,
    n: u64,
    confidence: f64,
    low: f64,
    high: f64,
}

/// Closed-form results (intervals, z, t, chi-square, effect sizes). Most
/// agree to ≤ 1e-13; the data sets offset by 10^6 differ by up to ~4e-10
/// because NumPy's own means and variances round at that level there.
const TOL_CLOSED_FORM: f64 = 1e-9;
/// Clopper–Pearson bounds (a root of a binomial tail); achieved ≤ 1e-13.
const TOL_CLOPPER: f64 = 1e-12;
/// Exact p-values (Fisher, exact rank distributions); achieved ≤ 1e-13.
const TOL_EXACT: f64 = 1e-12;

fn reference() -> Reference {
    serde_json::from_str(FIXTURE).expect("reference.json parses")
}

/// |a − b| ≤ rel · max(|a|, |b|), with an absolute floor for values at 0.
fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    let scale = actual.abs().max(expected.abs()).max(1e-300);
    assert!(
        (actual - expected).abs() <= rel * scale || (actual - expected).abs() <= 1e-15,
        "{what}: got {actual:e}, expected {expected:e} (rel. diff {:e})",
        (actual - expected).abs() / scale
    );
}

#[test]
fn fixture_is_not_empty() {
    let r = reference();
    assert!(r.bootstrap.len() >= 6);
    assert!(r.sign_flip_exact.len() >= 8);
    assert!(!r.sign_flip_monte_carlo.is_empty());
    assert!(r.multiple.len() >= 4);
    assert!(r.power.len() >= 6);
    assert!(!r.power_curve.is_empty());
    assert!(r.wilson.len() >= 6);
    assert!(r.clopper_pearson.len() >= 10);
    assert!(r.newcombe.len() >= 6 && r.katz_ratio.len() >= 4 && r.odds_ratio.len() >= 5);
    assert!(r.two_proportion_z.len() >= 4 && r.chi_square.len() >= 6 && r.fisher.len() >= 8);
    assert!(r.mann_whitney.len() >= 8 && r.wilcoxon.len() >= 8 && r.welch.len() >= 6);
    assert!(r.effect_sizes.len() >= 5 && r.label_permutation_exact.len() >= 6);
    assert!(!r.label_permutation_monte_carlo.is_empty());
}

#[test]
fn bootstrap_intervals_match_scipy_from_the_same_replicates() {
    for case in reference().bootstrap {
        let name = &case.name;
        let estimate = super::descriptive::mean(&case.data).unwrap();
        assert_close(estimate, case.estimate, 1e-14, &format!("{name} mean"));

        let jackknife = jackknife_mean(&case.data);
        assert_eq!(jackknife.len(), case.jackknife.len(), "{name}");
        for (ours, theirs) in jackknife.iter().zip(&case.jackknife) {
            assert_close(*ours, *theirs, 1e-13, &format!("{name} jackknife"));
        }

        let pct = percentile_interval(&case.replicates, case.confidence).unwrap();
        let bca = bca_interval(
            case.estimate,
            &case.replicates,
            &case.jackknife,
            case.confidence,
        )
        .unwrap();
        for (ours, theirs, label) in [
            (pct.low, case.percentile[0], "percentile low"),
            (pct.high, case.percentile[1], "percentile high"),
            (bca.low, case.bca[0], "BCa low"),
            (bca.high, case.bca[1], "BCa high"),
        ] {
            match theirs {
                Some(expected) => assert_close(ours, expected, 1e-9, &format!("{name} {label}")),
                // SciPy gives NaN for degenerate data; we collapse to the
                // (common) value of the replicates, which is the estimate.
                None => assert_eq!(ours, case.estimate, "{name} {label}"),
            }
        }
    }
}

#[test]
fn exact_sign_flip_matches_scipy() {
    for case in reference().sign_flip_exact {
        let result = sign_flip_test(&case.diffs, 1 << 24, 0, 0).unwrap();
        assert!(result.exact, "{}", case.name);
        assert_close(result.p_value, case.p_value, 1e-12, &case.name);
        assert_close(result.statistic, case.statistic, 1e-12, &case.name);
    }
}

#[test]
fn monte_carlo_sign_flip_is_within_monte_carlo_error_of_scipy() {
    for case in reference().sign_flip_monte_carlo {
        let ours_b = 20_000u64;
        let result = sign_flip_test(&case.diffs, 1 << 20, ours_b, 2024).unwrap();
        assert!(!result.exact);
        assert_eq!(result.n_arrangements, ours_b as f64);
        assert_close(result.statistic, case.statistic, 1e-12, &case.name);
        // Each two-sided p is twice a binomial proportion; combine the
        // standard errors of both estimates.
        let p = case.p_value;
        let var = |b: u64| 4.0 * (p / 2.0) * (1.0 - p / 2.0) / b as f64;
        let se = (var(case.n_resamples) + var(ours_b)).sqrt();
        assert!(
            (result.p_value - p).abs() <= 3.0 * se,
            "{}: ours {} vs SciPy {} (3 se = {})",
            case.name,
            result.p_value,
            p,
            3.0 * se
        );
    }
}

#[test]
fn holm_and_bh_match_statsmodels() {
    for case in reference().multiple {
        let h = holm(&case.p);
        let bh = benjamini_hochberg(&case.p);
        for i in 0..case.p.len() {
            assert_close(
                h[i],
                case.holm[i],
                1e-14,
                &format!("{} holm[{i}]", case.name),
            );
            assert_close(
                bh[i],
                case.fdr_bh[i],
                1e-14,
                &format!("{} bh[{i}]", case.name),
            );
        }
    }
}

#[test]
fn min_detectable_difference_matches_statsmodels() {
    for case in reference().power {
        let what = format!("n={} alpha={} power={}", case.n, case.alpha, case.power);
        let ours =
            min_detectable_paired_difference(case.sd, case.n, case.alpha, case.power).unwrap();
        // statsmodels' own solver stops early (relative error up to ~2e-5);
        // the refined root of its power function is the tight reference.
        assert_close(ours, case.statsmodels_solve_power, 1e-4, &what);
        if let Some(tight) = case.tight_root {
            assert_close(ours, tight, 1e-9, &what);
        }
        let achieved = paired_t_power(ours / case.sd, case.n, case.alpha).unwrap();
        assert_close(achieved, case.power, 1e-12, &what);
    }
}

#[test]
fn two_sample_power_matches_statsmodels() {
    let reference = reference().two_sample_power;
    assert!(reference.t_detectable.len() >= 8 && reference.t_curve.len() >= 6);
    assert!(reference.proportion_detectable.len() >= 6);
    for case in reference.t_detectable {
        let what = format!(
            "t n1={} n2={} alpha={} power={}",
            case.n1, case.n2, case.alpha, case.power
        );
        let ours =
            min_detectable_two_sample_difference(case.sd, case.n1, case.n2, case.alpha, case.power)
                .unwrap();
        // As for the paired test: solve_power is loose, its refined root tight.
        assert_close(ours, case.statsmodels_solve_power, 1e-4, &what);
        if let Some(tight) = case.tight_root {
            assert_close(ours, tight, 1e-9, &what);
        }
        let achieved = two_sample_t_power(ours / case.sd, case.n1, case.n2, case.alpha).unwrap();
        assert_close(achieved, case.power, 1e-12, &what);
    }
    for case in reference.t_curve {
        let ours = two_sample_t_power(case.effect_size, case.n1, case.n2, case.alpha).unwrap();
        let what = format!(
            "t n1={} n2={} alpha={} d={}",
            case.n1, case.n2, case.alpha, case.effect_size
        );
        assert_close(ours, case.power, 1e-10, &what);
    }
    for case in reference.proportion_detectable {
        let what = format!(
            "p1={} n1={} n2={} alpha={} power={}",
            case.p_reference, case.n1, case.n2, case.alpha, case.power
        );
        let ours = min_detectable_proportion_difference(
            case.p_reference,
            case.n1,
            case.n2,
            case.alpha,
            case.power,
        )
        .unwrap();
        assert_close(ours, case.statsmodels_solve_power, 1e-4, &what);
        assert_close(ours, case.tight_root, 1e-9, &what);
        let p2 = case.p_reference + ours;
        let h = 2.0 * p2.sqrt().asin() - 2.0 * case.p_reference.sqrt().asin();
        assert_close(h, case.tight_root_h, 1e-9, &what);
    }
}

#[test]
fn power_curve_matches_statsmodels() {
    for case in reference().power_curve {
        let ours = paired_t_power(case.effect_size, case.n, case.alpha).unwrap();
        assert_close(
            ours,
            case.power,
            1e-10,
            &format!("n={} alpha={} d={}", case.n, case.alpha, case.effect_size),
        );
    }
}

#[test]
fn wilson_matches_statsmodels() {
    for case in reference().wilson {
        let what = format!("{}/{} at {}", case.successes, case.n, case.confidence);
        let ci = wilson_interval(case.successes, case.n, case.confidence).unwrap();
        assert_close(ci.low, case.low, 1e-12, &what);
        assert_close(ci.high, case.high, 1e-12, &what);
    }
}

#[test]
fn clopper_pearson_matches_statsmodels() {
    for case in reference().clopper_pearson {
        let what = format!("{}/{} at {}", case.successes, case.n, case.confidence);
        let ci = clopper_pearson_interval(case.successes, case.n, case.confidence).unwrap();
        assert_close(ci.low, case.low, TOL_CLOPPER, &what);
        assert_close(ci.high, case.high, TOL_CLOPPER, &what);
    }
}

#[test]
fn two_sample_intervals_match_statsmodels() {
    let r = reference();
    for case in r.newcombe {
        let what = format!(
            "newcombe {}/{} vs {}/{}",
            case.x1, case.n1, case.x2, case.n2
        );
        let ci = newcombe_difference_interval(case.x1, case.n1, case.x2, case.n2, case.confidence)
            .unwrap();
        // Differences of Wilson bounds: compare on the scale of the bounds
        // (statsmodels rounds p̂ − bound the same way, but not identically).
        assert_close(ci.low, case.low, TOL_CLOSED_FORM, &what);
        assert_close(ci.high, case.high, TOL_CLOSED_FORM, &what);
    }
    for case in r.katz_ratio {
        let what = format!("katz {}/{} vs {}/{}", case.x1, case.n1, case.x2, case.n2);
        let ci = ratio_interval_katz(case.x1, case.n1, case.x2, case.n2, case.confidence).unwrap();
        assert_close(ci.low, case.low, TOL_CLOSED_FORM, &what);
        assert_close(ci.high, case.high, TOL_CLOSED_FORM, &what);
    }
    for case in r.odds_ratio {
        let [[a, b], [c, d]] = case.table;
        let what = format!("odds ratio {:?}", case.table);
        let or = odds_ratio_interval(a, b, c, d, case.confidence).unwrap();
        assert_eq!(or.zero_corrected, case.zero_corrected, "{what}");
        assert_close(or.estimate, case.estimate, TOL_CLOSED_FORM, &what);
        assert_close(or.interval.low, case.low, TOL_CLOSED_FORM, &what);
        assert_close(or.interval.high, case.high, TOL_CLOSED_FORM, &what);
    }
    assert!(ratio_interval_katz(0, 10, 0, 12, 0.95).is_err());
}

#[test]
fn two_proportion_z_matches_statsmodels() {
    for case in reference().two_proportion_z {
        let what = format!("{}/{} vs {}/{}", case.x1, case.n1, case.x2, case.n2);
        let r = two_proportion_z_test(case.x1, case.n1, case.x2, case.n2).unwrap();
        assert_close(r.statistic, case.z, TOL_CLOSED_FORM, &what);
        assert_close(r.p_value, case.p_value, TOL_CLOSED_FORM, &what);
    }
}

#[test]
fn chi_square_matches_scipy() {
    for case in reference().chi_square {
        let r = chi_square_independence(&case.table).unwrap();
        assert_eq!(r.dof, case.dof, "{}", case.name);
        // SciPy forms O − E in floating point; at 10^9 counts that alone
        // costs ~1e-7 absolute per cell, hence the absolute floor below.
        let stat_ok =
            (r.statistic - case.statistic).abs() <= TOL_CLOSED_FORM * case.statistic.abs() + 1e-12;
        assert!(
            stat_ok,
            "{}: {} vs {}",
            case.name, r.statistic, case.statistic
        );
        assert_close(r.p_value, case.p_value, TOL_CLOSED_FORM, &case.name);
        for (ours, theirs) in r.expected.iter().zip(&case.expected) {
            assert_close(ours[0], theirs[0], 1e-15, &case.name);
            assert_close(ours[1], theirs[1], 1e-15, &case.name);
        }
    }
}

#[test]
fn fisher_matches_scipy() {
    for case in reference().fisher {
        let [[a, b], [c, d]] = case.table;
        let r = fisher_exact_2x2(a, b, c, d).unwrap();
        // SciPy's hypergeom (Boost) is off by ~2e-7 relative at populations
        // of 10^9; there the 50-digit mpmath enumeration is the reference.
        let scipy_tol = if case.name.starts_with("huge") {
            1e-6
        } else {
            TOL_EXACT
        };
        assert_close(r.p_value, case.p_value, scipy_tol, &case.name);
        if let Some(exact) = case.p_value_mpmath {
            assert_close(r.p_value, exact, 1e-12, &format!("{} (mpmath)", case.name));
        }
        assert_close(r.mid_p_value, case.mid_p_value, TOL_EXACT, &case.name);
    }
}

#[test]
fn mann_whitney_matches_scipy() {
    for case in reference().mann_whitney {
        let r = mann_whitney_u(&case.x, &case.y).unwrap();
        assert_close(r.statistic, case.statistic, 1e-15, &case.name);
        assert_close(r.p_value, case.p_value, TOL_EXACT, &case.name);
    }
}

#[test]
fn wilcoxon_matches_scipy() {
    for case in reference().wilcoxon {
        let r = wilcoxon_signed_rank(&case.d).unwrap();
        assert_close(r.statistic, case.statistic, 1e-15, &case.name);
        assert_close(r.p_value, case.p_value, TOL_EXACT, &case.name);
    }
}

#[test]
fn welch_matches_scipy() {
    for case in reference().welch {
        let r = welch_t_test(&case.x, &case.y).unwrap();
        assert_close(r.statistic, case.statistic, TOL_CLOSED_FORM, &case.name);
        if case.statistic != 0.0 {
            assert_close(r.dof, case.dof, TOL_CLOSED_FORM, &case.name);
        }
        assert_close(r.p_value, case.p_value, TOL_CLOSED_FORM, &case.name);
    }
}

#[test]
fn effect_sizes_match_numpy() {
    for case in reference().effect_sizes {
        let name = &case.name;
        let d = cohens_d(&case.x, &case.y).unwrap();
        assert_close(d, case.cohens_d, TOL_CLOSED_FORM, &format!("{name} d"));
        let delta = cliffs_delta(&case.x, &case.y).unwrap();
        assert_close(delta, case.cliffs_delta, 1e-15, &format!("{name} delta"));
        let weat = weat_effect_size(&case.x, &case.y).unwrap();
        assert_close(weat, case.weat, TOL_CLOSED_FORM, &format!("{name} weat"));
    }
}

#[test]
fn exact_label_permutation_matches_scipy() {
    for case in reference().label_permutation_exact {
        let r = label_permutation_test(&case.x, &case.y, 1 << 24, 0, 0).unwrap();
        assert!(r.exact, "{}", case.name);
        assert_close(r.p_value, case.p_value, 1e-12, &case.name);
        assert_close(r.statistic, case.statistic, 1e-9, &case.name);
    }
}

#[test]
fn monte_carlo_label_permutation_is_within_monte_carlo_error_of_scipy() {
    for case in reference().label_permutation_monte_carlo {
        let ours_b = 20_000u64;
        let r = label_permutation_test(&case.x, &case.y, 1 << 20, ours_b, 2024).unwrap();
        assert!(!r.exact);
        assert_close(r.statistic, case.statistic, 1e-12, &case.name);
        let p = case.p_value;
        let var = |b: u64| 4.0 * (p / 2.0) * (1.0 - p / 2.0) / b as f64;
        let se = (var(case.n_resamples) + var(ours_b)).sqrt();
        assert!(
            (r.p_value - p).abs() <= 3.0 * se,
            "{}: ours {} vs SciPy {} (3 se = {})",
            case.name,
            r.p_value,
            p,
            3.0 * se
        );
    }
}
