//! Comparison of this module with the reference implementations it imitates,
//! using `tests/fixtures/stats/reference.json` as written by
//! `tests/fixtures/stats/make_fixtures.py` (SciPy, statsmodels, NumPy).
//!
//! The fixture is embedded with `include_str!` relative to this file so the
//! tests run unchanged wherever the module is compiled.

use serde::Deserialize;

use super::bootstrap::{bca_interval, jackknife_mean, percentile_interval};
use super::multiple::{benjamini_hochberg, holm};
use super::permutation::sign_flip_test;
use super::power::{min_detectable_paired_difference, paired_t_power};
use super::proportion::wilson_interval;

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
struct WilsonCase {
    successes: u64,
    n: u64,
    confidence: f64,
    low: f64,
    high: f64,
}

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
