//! `probity probes` on the shipped probe sets, and the help of every command.

mod common;

use common::{probity, repo};
use predicates::str::contains;

#[test]
fn shipped_probe_sets_validate() {
    let a = probity()
        .current_dir(repo())
        .args(["probes", "validate"])
        .assert()
        .code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(out.contains("ok probes/decisions.toml"), "{out}");
}

#[test]
fn shipped_decisions_cover_the_required_breadth() {
    let set = probity::probe::ProbeSet::load(&repo().join("probes/decisions.toml")).unwrap();
    assert!(set.raw.scenario.len() >= 20);
    let domains: std::collections::BTreeSet<_> = set
        .raw
        .scenario
        .iter()
        .filter_map(|s| s.domain.clone())
        .collect();
    assert!(domains.len() >= 8, "{domains:?}");
    let axes: Vec<&str> = set.axes.iter().map(|a| a.axis.as_str()).collect();
    for axis in ["gender", "race_ethnicity", "age", "religion", "disability"] {
        assert!(axes.contains(&axis), "missing axis {axis}");
    }
    for axis in &set.axes {
        assert!(!axis.reference_why.is_empty());
        // Names only where names are a recognised proxy.
        let has_names = axis.groups.iter().any(|g| !g.names.is_empty());
        assert_eq!(
            has_names,
            matches!(axis.axis.as_str(), "gender" | "race_ethnicity"),
            "{}",
            axis.axis
        );
    }
}

#[test]
fn list_and_show() {
    probity()
        .current_dir(repo())
        .args(["probes", "list"])
        .assert()
        .code(0)
        .stdout(contains("decisions"));
    probity()
        .current_dir(repo())
        .args(["probes", "show", "decisions"])
        .assert()
        .code(0)
        .stdout(contains("reference: man"))
        .stdout(contains("Please answer the above question"));
    probity()
        .current_dir(repo())
        .args(["probes", "show", "nope"])
        .assert()
        .code(2)
        .stderr(contains("nope.toml"));
}

#[test]
fn every_command_has_help_with_an_example() {
    for args in [
        vec!["audit"],
        vec!["probes", "list"],
        vec!["probes", "show"],
        vec!["probes", "validate"],
        vec!["model", "pull"],
        vec!["model", "info"],
        vec!["model", "score"],
        vec!["report"],
        vec!["verify"],
        vec!["fairness"],
    ] {
        probity()
            .args(&args)
            .arg("--help")
            .assert()
            .code(0)
            .stdout(contains("Example"));
    }
}

#[test]
fn unknown_model_name_is_bad_input() {
    probity()
        .args(["model", "pull", "gpt-17"])
        .assert()
        .code(2)
        .stderr(contains("smollm2-135m-instruct"));
}
