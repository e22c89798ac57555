//! Times rendering every report format for a synthetic audit of N findings (default
//! 10,000), for `bench/report_render.sh`. Not a test and never run in CI.
//!
//! ```text
//! cargo run --release --example report_bench -- [N] [--repeats R]
//! ```
//!
//! The audit has N / 10 axes of 10 groups each (one reference), so N findings,
//! N + N / 10 group levels per metric, and one example per finding. Prints one JSON
//! object: per format the median seconds of R timed renders (after one untimed
//! render) and the output's size.

use std::time::Instant;

use probity::provenance::{FileEntry, FileRole, Manifest, ToolIdentity};
use probity::report::{render, Format};
use probity::results::{
    AuditIdentity, AxisSummary, Example, Finding, GroupLevel, ModelIdentity, ProbeSetSummary,
    Results, Summary, ThresholdSummary, Verdict,
};
use serde_json::json;

fn synthetic(n: usize) -> (Results, Manifest) {
    let n_axes = n.div_ceil(10);
    let mut axes = Vec::new();
    let mut groups = Vec::new();
    let mut findings = Vec::new();
    let mut examples = Vec::new();
    for a in 0..n_axes {
        let axis = format!("axis{a}");
        axes.push(AxisSummary {
            probe_set: "decisions".into(),
            variant: "explicit".into(),
            axis: axis.clone(),
            reference: "g0".into(),
            reference_why: "the largest group".into(),
            n_groups: 11,
            n_scenarios: 31,
            sd_gap: Some(0.02),
            min_detectable_gap: Some(0.011),
            mde_alpha: 0.05 / n as f64,
            mde_power: 0.8,
            names_source: None,
        });
        for g in 0..=10 {
            for metric in ["p_norm", "logit", "mass"] {
                groups.push(GroupLevel {
                    probe_set: "decisions".into(),
                    kind: "decision".into(),
                    variant: "explicit".into(),
                    axis: axis.clone(),
                    group: format!("g{g}"),
                    label: format!("group {g} of axis {a}"),
                    metric: metric.into(),
                    estimate: 0.5 + g as f64 / 100.0,
                    ci_low: Some(0.48),
                    ci_high: Some(0.52 + g as f64 / 100.0),
                    n: 31,
                    n_scenarios: 31,
                    n_low_mass: 0,
                    flag: None,
                });
            }
        }
        for g in 1..=10 {
            if findings.len() == n {
                break;
            }
            let gap = (g as f64 - 5.0) / 60.0;
            findings.push(Finding {
                probe_set: "decisions".into(),
                kind: "decision".into(),
                variant: "explicit".into(),
                metric: "p_norm".into(),
                axis: axis.clone(),
                group: format!("g{g}"),
                reference: "g0".into(),
                estimate: gap,
                ci_low: Some(gap - 0.01),
                ci_high: Some(gap + 0.01),
                p_value: Some(0.001 * g as f64),
                p_adjusted: Some((0.001 * g as f64 * n as f64).min(1.0)),
                test: "sign_flip_exact".into(),
                n: 31,
                n_scenarios: 31,
                threshold: 0.05,
                rule: "significant_and_large".into(),
                verdict: if gap.abs() > 0.05 {
                    Verdict::Breach
                } else {
                    Verdict::Pass
                },
            });
            examples.push(Example {
                probe_set: "decisions".into(),
                variant: "explicit".into(),
                axis: axis.clone(),
                group: format!("g{g}"),
                reference: "g0".into(),
                scenario: "s1".into(),
                gap,
                prompt: "A prompt of a few hundred characters describing an applicant. ".repeat(5),
                p_yes: 0.5,
                output: None,
                reference_prompt: "The same prompt for the reference group. ".repeat(5),
                reference_p_yes: 0.5,
                reference_output: None,
            });
        }
    }
    let results = Results {
        schema: "probity.results/v1".into(),
        audit: AuditIdentity {
            name: "render benchmark".into(),
            seed: 1,
            confidence: 0.95,
            n_boot: 9999,
            min_mass: 0.5,
            min_scenarios: 5,
        },
        model: Some(ModelIdentity {
            name: "synthetic".into(),
            architecture: "llama".into(),
            parameters: 134_515_008,
            quantisation: "Q4_1".into(),
            precision: "f32".into(),
            vocab_size: 49_152,
            sha256: "0".repeat(64),
            licence: Some("Apache-2.0".into()),
            chunk_sensitivity: None,
        }),
        thresholds: ThresholdSummary {
            max_abs_gap: 0.05,
            alpha: 0.05,
            rule: "significant_and_large".into(),
            correction: "holm".into(),
        },
        summary: Summary::of(&findings, 100_000, 0, 0.9),
        probe_sets: vec![ProbeSetSummary {
            id: "decisions".into(),
            kind: "decision".into(),
            version: 1,
            variants: vec!["explicit".into()],
            n_probes: 100_000,
            n_scenarios: 31,
        }],
        axes,
        groups,
        findings,
        examples,
        fairness: None,
        kinds: Vec::new(),
    };
    let manifest = Manifest {
        schema: "probity.manifest/v1".into(),
        audit_id: Some("f".repeat(64)),
        audit_name: "render benchmark".into(),
        tool: ToolIdentity {
            name: "probity".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        seed: 1,
        precision: Some("f32".into()),
        model: None,
        parameters: json!({ "audit": { "intended_use": "benchmarking" } }),
        training_data: json!([{ "name": "corpus", "kind": "crawled" }]),
        training_summary: json!({ "provider": "nobody" }),
        prev: None,
        signature: None,
        responses_tree: None,
        files: vec![FileEntry {
            role: FileRole::Spec,
            path: "audit.toml".into(),
            sha256: "1".repeat(64),
            size: 1,
        }],
    };
    (results, manifest)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut n = 10_000;
    let mut repeats = 3;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repeats" => repeats = it.next().map_or(Ok(3), |v| v.parse())?,
            v => n = v.parse()?,
        }
    }
    let (results, manifest) = synthetic(n);
    let mut out = serde_json::Map::new();
    for format in [
        Format::Html,
        Format::Md,
        Format::Junit,
        Format::ModelCard,
        Format::Cyclonedx,
    ] {
        let first = render(format, &results, &manifest)?;
        let mut seconds = Vec::new();
        for _ in 0..repeats {
            let t = Instant::now();
            let text = render(format, &results, &manifest)?;
            seconds.push(t.elapsed().as_secs_f64());
            assert_eq!(text.len(), first.len());
        }
        seconds.sort_by(f64::total_cmp);
        out.insert(
            format.file_name().into(),
            json!({ "median_seconds": seconds[seconds.len() / 2], "bytes": first.len() }),
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(
            &json!({ "findings": n, "repeats": repeats, "formats": out })
        )?
    );
    Ok(())
}
