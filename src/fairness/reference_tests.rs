//! Agreement with the libraries this module imitates, on the seeded fixture
//! written by `tests/fixtures/fairness/make_fixtures.py`: Fairlearn's
//! MetricFrame and disparity functions and AIF360's ClassificationMetric
//! computed by those libraries, Aequitas-style ratios and the LL144 table
//! computed there with pandas. Everything must agree to 1e-9.

use std::path::Path;

use serde_json::Value;

use super::table::{read_table_from, Decision, OnBadRow, TableOptions};
use super::{build_report, FairnessOptions, FairnessReport, GroupingReport, Rate};

const CSV: &str = include_str!("../../tests/fixtures/fairness/decisions.csv");
const REFERENCE: &str = include_str!("../../tests/fixtures/fairness/reference.json");
const TOL: f64 = 1e-9;

fn options(decision: Decision) -> FairnessOptions {
    let mut o = FairnessOptions::new(TableOptions {
        group_columns: vec!["sex".into(), "race".into()],
        decision,
        label: Some("y".into()),
        on_bad_row: OnBadRow::Fail,
    });
    o.reference = vec![("sex".into(), "M".into()), ("race".into(), "White".into())];
    o
}

fn report(decision: Decision) -> FairnessReport {
    let o = options(decision);
    let table = read_table_from(CSV.as_bytes(), Path::new("decisions.csv"), &o.table).unwrap();
    build_report(&table, &o).unwrap()
}

fn prediction() -> Decision {
    Decision::Prediction {
        column: "pred".into(),
    }
}

fn reference() -> Value {
    serde_json::from_str(REFERENCE).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn close(what: &str, got: Option<f64>, expected: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: undefined, expected {expected}"));
    assert!(
        (got - expected).abs() <= TOL,
        "{what}: got {got}, expected {expected}"
    );
}

fn grouping<'r>(r: &'r FairnessReport, columns: &[String]) -> &'r GroupingReport {
    let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
    r.grouping(&cols).unwrap()
}

fn value(r: Option<Rate>) -> Option<f64> {
    r.map(|r| r.value)
}

#[test]
fn fixture_counts_and_fairlearn_by_group() {
    let r = report(prediction());
    let reference = reference();
    assert_eq!(r.rows_used, reference["rows"].as_u64().unwrap());
    assert_eq!(r.groupings.len(), 3);
    for expected in reference["groupings"].as_array().unwrap() {
        let columns = strings(&expected["columns"]);
        let g = grouping(&r, &columns);
        let confusion = expected["confusion"].as_array().unwrap();
        assert_eq!(g.groups.len(), confusion.len(), "{columns:?}");
        for c in confusion {
            let key = strings(&c["group"]);
            let k: Vec<&str> = key.iter().map(String::as_str).collect();
            let m = g.group(&k).unwrap();
            let cells = m.confusion.unwrap();
            let got = [cells.tp, cells.fp, cells.fn_, cells.tn];
            let want = ["tp", "fp", "fn", "tn"].map(|f| c[f].as_u64().unwrap());
            assert_eq!(got, want, "{key:?}");
            assert_eq!(m.unknown, key.iter().any(|v| v.is_empty()));
        }
        let fl = &expected["fairlearn"];
        for row in fl["by_group"].as_array().unwrap() {
            let key = strings(&row["group"]);
            let k: Vec<&str> = key.iter().map(String::as_str).collect();
            let m = g.group(&k).unwrap();
            let f = |name: &str| row[name].as_f64().unwrap();
            let what = |name: &str| format!("fairlearn {columns:?} {key:?} {name}");
            assert_eq!(m.n as f64, f("count"));
            close(
                &what("selection_rate"),
                value(m.selection_rate),
                f("selection_rate"),
            );
            close(
                &what("tpr"),
                value(m.true_positive_rate),
                f("true_positive_rate"),
            );
            close(
                &what("fpr"),
                value(m.false_positive_rate),
                f("false_positive_rate"),
            );
            close(
                &what("fnr"),
                value(m.false_negative_rate),
                f("false_negative_rate"),
            );
            close(
                &what("tnr"),
                value(m.true_negative_rate),
                f("true_negative_rate"),
            );
            close(&what("accuracy"), value(m.accuracy), f("accuracy"));
            close(
                &what("ppv"),
                value(m.positive_predictive_value),
                f("positive_predictive_value"),
            );
        }
        let o = &fl["overall"];
        close(
            "overall selection",
            value(r.overall.selection_rate),
            o["selection_rate"].as_f64().unwrap(),
        );
        close(
            "overall tpr",
            value(r.overall.true_positive_rate),
            o["true_positive_rate"].as_f64().unwrap(),
        );
        close(
            "overall accuracy",
            value(r.overall.accuracy),
            o["accuracy"].as_f64().unwrap(),
        );
    }
}

#[test]
fn fixture_fairlearn_disparities() {
    let r = report(prediction());
    let mut checked = 0;
    for expected in reference()["groupings"].as_array().unwrap() {
        let columns = strings(&expected["columns"]);
        let g = grouping(&r, &columns);
        for (name_method, want) in expected["fairlearn"]["disparities"].as_object().unwrap() {
            let (name, method) = name_method.split_once('/').unwrap();
            let d = g.disparity("fairlearn", name, Some(method), None).unwrap();
            close(
                &format!("{columns:?} {name_method}"),
                d.value,
                want.as_f64().unwrap(),
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 36);
}

#[test]
fn fixture_aif360() {
    let r = report(prediction());
    let reference = reference();
    let mut checked = 0;
    for expected in reference["groupings"].as_array().unwrap() {
        let columns = strings(&expected["columns"]);
        let g = grouping(&r, &columns);
        let aif = &expected["aif360"];
        assert_eq!(g.reference_group, strings(&aif["privileged"]));
        for row in aif["by_group"].as_array().unwrap() {
            let key = strings(&row["group"]);
            let k: Vec<&str> = key.iter().map(String::as_str).collect();
            for name in [
                "disparate_impact",
                "statistical_parity_difference",
                "average_odds_difference",
            ] {
                let d = g.disparity("aif360", name, None, Some(&k)).unwrap();
                assert_eq!(d.reference.as_ref(), Some(&g.reference_group));
                close(
                    &format!("aif360 {key:?} {name}"),
                    d.value,
                    row[name].as_f64().unwrap(),
                );
                checked += 1;
            }
        }
        let theil = r.theil_index.as_ref().unwrap();
        close(
            "theil_index",
            theil.value,
            aif["theil_index"].as_f64().unwrap(),
        );
    }
    // 2 + 3 + 11 unprivileged groups, 3 measures each.
    assert_eq!(checked, 48);
}

#[test]
fn fixture_aequitas() {
    let r = report(prediction());
    let mut checked = 0;
    for expected in reference()["groupings"].as_array().unwrap() {
        let columns = strings(&expected["columns"]);
        let g = grouping(&r, &columns);
        assert_eq!(
            g.reference_group,
            strings(&expected["aequitas"]["reference"])
        );
        for row in expected["aequitas"]["by_group"].as_array().unwrap() {
            let key = strings(&row["group"]);
            let k: Vec<&str> = key.iter().map(String::as_str).collect();
            for m in [
                "ppr",
                "pprev",
                "precision",
                "fdr",
                "for",
                "fpr",
                "fnr",
                "tpr",
                "tnr",
                "npv",
            ] {
                let name = format!("{m}_disparity");
                let d = g.disparity("aequitas", &name, None, Some(&k)).unwrap();
                close(
                    &format!("aequitas {key:?} {name}"),
                    d.value,
                    row[&name].as_f64().unwrap(),
                );
                let flag = row[format!("{m}_flagged")].as_bool().unwrap();
                assert_eq!(d.flagged, Some(flag), "{key:?} {name}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 160);
}

fn check_ll144(r: &FairnessReport, field: &str, scoring: bool) {
    for expected in reference()["groupings"].as_array().unwrap() {
        let columns = strings(&expected["columns"]);
        let section = r
            .ll144
            .sections
            .iter()
            .find(|s| s.columns == columns)
            .unwrap();
        let rows = expected[field].as_array().unwrap();
        assert_eq!(
            section.categories.len() + section.unknown_categories.len(),
            rows.len()
        );
        for row in rows {
            let key = strings(&row["category"]);
            let unknown = row["unknown"].as_bool().unwrap();
            let list = if unknown {
                &section.unknown_categories
            } else {
                &section.categories
            };
            let got = list.iter().find(|c| c.category == key).unwrap();
            assert_eq!(got.n, row["n"].as_u64().unwrap());
            assert_eq!(got.selected, row["selected"].as_u64().unwrap(), "{key:?}");
            assert_eq!(
                got.under_2_percent,
                row["small"].as_bool().unwrap(),
                "{key:?}"
            );
            let rate = if scoring {
                got.scoring_rate
            } else {
                got.selection_rate
            };
            close(
                &format!("ll144 {key:?} rate"),
                rate,
                row["rate"].as_f64().unwrap(),
            );
            match row["impact_ratio"].as_f64() {
                Some(want) => {
                    close(
                        &format!("ll144 {key:?} impact ratio"),
                        got.impact_ratio,
                        want,
                    );
                    assert_eq!(got.four_fifths_flag, Some(want < 0.8));
                }
                None => assert_eq!(got.impact_ratio, None),
            }
        }
    }
}

#[test]
fn fixture_ll144_selection_and_scoring() {
    let r = report(prediction());
    assert_eq!(r.ll144.rate, "selection_rate");
    check_ll144(&r, "ll144_selection", false);

    let r = report(Decision::Score {
        column: "score".into(),
        threshold: None,
    });
    let median = reference()["median_score"].as_f64().unwrap();
    assert_eq!(r.ll144.median_score, Some(median));
    assert_eq!(r.decision.kind, "score_above_median");
    assert_eq!(r.ll144.rate, "scoring_rate");
    check_ll144(&r, "ll144_scoring", true);
}

#[test]
fn fixture_default_reference_is_highest_selection_rate() {
    let mut o = options(prediction());
    o.reference.clear();
    let table = read_table_from(CSV.as_bytes(), Path::new("decisions.csv"), &o.table).unwrap();
    let r = build_report(&table, &o).unwrap();
    for g in &r.groupings {
        let best = g
            .groups
            .iter()
            .filter(|m| !m.unknown)
            .map(|m| m.selection_rate.unwrap().value)
            .fold(f64::NEG_INFINITY, f64::max);
        let reference = g
            .groups
            .iter()
            .find(|m| m.group == g.reference_group)
            .unwrap();
        assert!(!reference.unknown);
        assert_eq!(reference.selection_rate.unwrap().value, best);
        // Every disparate impact is then at most 1.
        assert!(g
            .disparities
            .iter()
            .filter(|d| d.name == "disparate_impact")
            .all(|d| d.value.unwrap() <= 1.0
                || d.group.as_ref().unwrap().iter().any(|v| v.is_empty())));
    }
}

#[test]
fn fixture_bootstrap_intervals_cover_the_estimates() {
    let mut o = options(prediction());
    o.bootstrap = Some(super::BootstrapOptions {
        resamples: 200,
        seed: 11,
        confidence: 0.95,
    });
    let table = read_table_from(CSV.as_bytes(), Path::new("decisions.csv"), &o.table).unwrap();
    let r = build_report(&table, &o).unwrap();
    let sex = r.grouping(&["sex"]).unwrap();
    let d = sex
        .disparity(
            "fairlearn",
            "demographic_parity_difference",
            Some("between_groups"),
            None,
        )
        .unwrap();
    let ci = d.interval.unwrap();
    assert!(
        ci.low < d.value.unwrap() && d.value.unwrap() < ci.high,
        "{ci:?}"
    );
    assert_eq!(d.undefined_replicates, Some(0));
    assert!(r.theil_index.as_ref().unwrap().interval.is_some());
    // Same seed, same intervals; serialises without NaN.
    let again = build_report(&table, &o).unwrap();
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    assert!(!serde_json::to_string(&r).unwrap().contains("NaN"));
}
