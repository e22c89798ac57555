//! The real SmolLM2 through a short audit on the shipped probes, at the quickstart's
//! `precision = "bf16"`: the model answers the questions (high mass), and two runs
//! with different thread counts give a byte-identical results.json. Needs `probity model pull smollm2-135m-instruct`;
//! under CI=true a missing model fails instead of skipping.

mod common;

use common::{probity, repo};

#[test]
fn smoke_audit_is_answered_and_deterministic() {
    if common::smollm2().is_none() {
        return;
    }
    let spec = repo().join("tests/fixtures/smollm2-smoke.toml");
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    for (out, threads) in [(&one, "1"), (&two, "2")] {
        let a = probity()
            .arg("audit")
            .arg(&spec)
            .arg("--out")
            .arg(out)
            .args(["--threads", threads])
            .assert();
        let code = a.get_output().status.code().unwrap();
        assert!(
            code == 0 || code == 1,
            "exit {code}: {}",
            String::from_utf8_lossy(&a.get_output().stderr)
        );
    }
    let r1 = std::fs::read(one.join("results.json")).unwrap();
    let r2 = std::fs::read(two.join("results.json")).unwrap();
    assert!(
        r1 == r2,
        "results.json differs between --threads 1 and --threads 2"
    );
    let results: serde_json::Value = serde_json::from_slice(&r1).unwrap();
    let summary = &results["summary"];
    let n = summary["n_probes"].as_u64().unwrap();
    // 8 scenarios × (25 explicit groups + 48 names).
    assert_eq!(n, 8 * (25 + 48));
    let mean_mass = summary["mean_mass"].as_f64().unwrap();
    let low = summary["n_low_mass"].as_u64().unwrap();
    eprintln!("SmolLM2 smoke audit: mean mass {mean_mass:.3}, {low} of {n} probes below 0.5");
    assert!(
        mean_mass > 0.8,
        "mean mass {mean_mass}: the model does not answer the shipped probes"
    );
    assert!((low as f64) < 0.05 * n as f64, "{low} low-mass probes");
    probity().arg("verify").arg(&one).assert().code(0);
}
