//! `probity fairness` end to end: the NYC LL144 worked example (§5-301), the JSON
//! keys, the out dir with its verdict, and bad input.

mod common;

use common::{probity, repo, write};
use predicates::str::contains;
use std::path::Path;

/// A CSV with one row per person: `column`, and `selected` (1 for the first
/// `selected` of each category).
fn counts_csv(path: &Path, column: &str, counts: &[(&str, usize, usize)]) {
    let mut text = format!("{column},selected\n");
    for (category, n, selected) in counts {
        for i in 0..*n {
            text.push_str(&format!("{category},{}\n", u8::from(i < *selected)));
        }
    }
    write(path, &text);
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = probity().arg("fairness").args(args).arg("--json").assert();
    let code = out.get_output().status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "{}",
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn impact_ratios(v: &serde_json::Value) -> Vec<(String, String)> {
    v["ll144"]["sections"][0]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["category"][0].as_str().unwrap().to_string(),
                r["impact_ratio_display"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The LL144 table of one column built from (category, n, selected) counts, and its
/// impact ratios as printed, sorted by category.
fn ll144_of(
    dir: &Path,
    column: &str,
    counts: &[(&str, usize, usize)],
) -> (serde_json::Value, Vec<(String, String)>) {
    let csv = dir.join(format!("{column}.csv"));
    counts_csv(&csv, column, counts);
    let v = json(&[
        "--data",
        csv.to_str().unwrap(),
        "--group",
        column,
        "--prediction",
        "selected",
        "--n-boot",
        "0",
    ]);
    let mut ratios = impact_ratios(&v);
    ratios.sort();
    (v, ratios)
}

#[test]
fn ll144_worked_example_of_section_5_301() {
    let dir = tempfile::tempdir().unwrap();
    let (v, ratios) = ll144_of(dir.path(), "sex", &[("Male", 92, 50), ("Female", 76, 34)]);
    assert_eq!(
        ratios,
        [
            ("Female".into(), "0.82".into()),
            ("Male".into(), "1.00".into())
        ]
    );
    // Beside the ratio, the test against the highest category:
    // scipy.stats.chi2_contingency([[34, 42], [50, 42]], correction=False).pvalue
    let female = v["ll144"]["sections"][0]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["category"][0] == "Female")
        .unwrap()
        .clone();
    assert_eq!(female["test"], "chi_square");
    assert!((female["p_value"].as_f64().unwrap() - 0.21495191504220346).abs() < 1e-12);
    let (_, ratios) = ll144_of(
        dir.path(),
        "race",
        &[
            ("Hispanic or Latino", 28, 18),
            ("White", 40, 15),
            ("Black", 32, 16),
        ],
    );
    assert_eq!(
        ratios,
        [
            ("Black".into(), "0.78".into()),
            ("Hispanic or Latino".into(), "1.00".into()),
            ("White".into(), "0.58".into())
        ]
    );
}

#[test]
fn json_uses_the_libraries_metric_names_and_out_dir_gates() {
    let data = repo().join("tests/fixtures/fairness/decisions.csv");
    let v = json(&[
        "--data",
        data.to_str().unwrap(),
        "--group",
        "sex",
        "--group",
        "race",
        "--prediction",
        "pred",
        "--label",
        "y",
        "--reference",
        "sex=M",
        "--reference",
        "race=White",
        "--n-boot",
        "100",
        "--audit-date",
        "2026-11-29",
    ]);
    let names: Vec<&str> = v["groupings"][0]["disparities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for name in [
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
        "equal_opportunity_difference",
        "equal_opportunity_ratio",
        "disparate_impact",
        "statistical_parity_difference",
        "average_odds_difference",
        "tpr_disparity",
    ] {
        assert!(names.contains(&name), "no {name}");
    }
    assert!(v["theil_index"]["value"].as_f64().is_some());
    assert_eq!(v["ll144_summary"]["audit_date"], "2026-11-29");
    let tested = v["groupings"][0]["disparities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["p_adjusted"].as_f64().is_some())
        .count();
    assert!(tested > 10);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // A lenient gap threshold: every difference is within it, so the table passes.
    probity()
        .arg("fairness")
        .args([
            "--data",
            data.to_str().unwrap(),
            "--group",
            "sex",
            "--prediction",
            "pred",
            "--n-boot",
            "50",
            "--max-abs-gap",
            "0.5",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(0);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["schema"], "probity.results/v1");
    assert_eq!(
        results["findings"][0]["metric"],
        "selection_rate_difference"
    );
    assert!(results.get("model").is_none());
    // What the table could detect for its smallest group (X, 145) against M (903) at
    // α = 0.05 / 2 and 80% power — statsmodels NormalIndPower().solve_power(nobs1=145,
    // ratio=903/145, alpha=0.025, power=0.8) = h 0.27582, i.e. +0.13606 above 0.50277.
    let mde = results["axes"][0]["min_detectable_gap"].as_f64().unwrap();
    assert!((mde - 0.13606254557223318).abs() < 1e-4, "{mde}");
    probity().arg("verify").arg(&out).assert().code(0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("NYC Local Law 144"));
    // The default threshold (0.05): women are selected 13 points less often than men.
    probity()
        .arg("fairness")
        .args([
            "--data",
            data.to_str().unwrap(),
            "--group",
            "sex",
            "--prediction",
            "pred",
            "--reference",
            "M",
            "--n-boot",
            "0",
        ])
        .assert()
        .code(1)
        .stderr(contains("verdict: breach"));
}

/// `probity fairness --data FILE --group sex --prediction pred EXTRA…`.
fn sex_table(data: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    probity()
        .arg("fairness")
        .arg("--data")
        .arg(data)
        .args(["--group", "sex", "--prediction", "pred"])
        .args(extra)
        .assert()
}

#[test]
fn bad_tables_exit_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    write(&p("ok.csv"), "sex,pred\nF,1\nM,0\nF,2\nM,1\n");
    sex_table(&p("ok.csv"), &[])
        .code(2)
        .stderr(contains("ok.csv, line 4, column `pred`"));
    let a = sex_table(
        &p("ok.csv"),
        &["--on-bad-row", "skip", "--json", "--n-boot", "0"],
    );
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(v["skipped_rows"], 1);
    assert_eq!(v["bad_rows"][0]["line"], 4);
    probity()
        .arg("fairness")
        .arg("--data")
        .arg(p("ok.csv"))
        .args(["--group", "gender", "--prediction", "pred"])
        .assert()
        .code(2)
        .stderr(contains("no column `gender`"))
        .stderr(contains("sex, pred"));
    write(&p("empty.csv"), "");
    sex_table(&p("empty.csv"), &[])
        .code(2)
        .stderr(contains("empty.csv"));
    std::fs::write(p("latin1.csv"), b"sex,pred\nF\xe9,1\nM,0\n").unwrap();
    sex_table(&p("latin1.csv"), &[])
        .code(2)
        .stderr(contains("UTF-8"));
    sex_table(&p("missing.csv"), &[])
        .code(2)
        .stderr(contains("missing.csv"));
}
