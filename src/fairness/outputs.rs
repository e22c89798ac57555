//! A decision-table audit as the out dir every probity audit writes:
//! `results.json` (groups and findings in the `probity.results/v1` schema, with the
//! full figures under `fairness`), `manifest.json` and `report.html`, so one report
//! and one CI gate serve model audits and decision tables alike.
//!
//! The gated finding per group is AIF360's `statistical_parity_difference` (its
//! selection rate minus the reference group's), with its bootstrap interval and its
//! Holm-adjusted test; the verdict follows the same rule as a model audit.

use super::{FairnessReport, GroupMetrics};
use crate::provenance::{self, FileRole, Manifest, ProvenanceError, ToolIdentity};
use crate::results::{
    AuditIdentity, Finding, GroupLevel, Results, Summary, ThresholdSummary, Verdict, RESULTS_FILE,
    RESULTS_SCHEMA,
};
use crate::spec::Thresholds;
use std::path::{Path, PathBuf};

pub const KIND: &str = "decision_table";
pub const GAP_METRIC: &str = "selection_rate_difference";

/// What the published summary of a NYC Local Law 144 bias audit states besides the
/// figures (§5-303).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Ll144Summary {
    pub audit_date: Option<String>,
    pub data_source: Option<String>,
    pub data_explanation: Option<String>,
    pub distribution_date: Option<String>,
}

fn key(parts: &[String]) -> String {
    parts.join(" × ")
}

fn levels(
    report: &FairnessReport,
    grouping: &super::GroupingReport,
    g: &GroupMetrics,
) -> Vec<GroupLevel> {
    let rates = [
        ("selection_rate", g.selection_rate),
        ("true_positive_rate", g.true_positive_rate),
        ("false_positive_rate", g.false_positive_rate),
    ];
    rates
        .into_iter()
        .filter_map(|(metric, rate)| {
            let rate = rate?;
            Some(GroupLevel {
                probe_set: report.file_stem(),
                kind: KIND.into(),
                variant: "table".into(),
                axis: key(&grouping.columns),
                group: key(&g.group),
                label: key(&g.group),
                metric: metric.into(),
                estimate: rate.value,
                ci_low: Some(rate.interval.low),
                ci_high: Some(rate.interval.high),
                n: g.n as usize,
                n_scenarios: 0,
                n_low_mass: 0,
                flag: g.unknown.then(|| "unknown_category".to_string()),
            })
        })
        .collect()
}

/// Per grouping, the smallest difference in selection rate the table could detect
/// between its smallest known group and the reference group, with 80% power at the
/// strictest Holm level (α / m): "this audit could not have seen a smaller gap".
fn detectable_gaps(
    report: &FairnessReport,
    thresholds: &Thresholds,
    m: usize,
) -> Vec<crate::results::AxisSummary> {
    const POWER: f64 = 0.8;
    let alpha = thresholds.alpha / m.max(1) as f64;
    report
        .groupings
        .iter()
        .map(|grouping| {
            let reference = grouping
                .groups
                .iter()
                .find(|g| g.group == grouping.reference_group);
            let smallest = grouping
                .groups
                .iter()
                .filter(|g| !g.unknown && g.group != grouping.reference_group && g.n > 0)
                .min_by_key(|g| g.n);
            let mde = match (reference, smallest) {
                (Some(r), Some(s)) => r.selection_rate.and_then(|rate| {
                    crate::stats::min_detectable_proportion_difference(
                        rate.value,
                        s.n as usize,
                        r.n as usize,
                        alpha,
                        POWER,
                    )
                    .ok()
                }),
                _ => None,
            };
            crate::results::AxisSummary {
                probe_set: report.file_stem(),
                variant: "table".into(),
                axis: key(&grouping.columns),
                reference: key(&grouping.reference_group),
                reference_why: match grouping.reference_rule {
                    super::disparities::ReferenceRule::Given => "given on the command line".into(),
                    super::disparities::ReferenceRule::HighestSelectionRate => {
                        "the group with the highest selection rate".into()
                    }
                },
                n_groups: grouping.groups.len(),
                n_scenarios: smallest.map_or(0, |s| s.n as usize),
                sd_gap: None,
                min_detectable_gap: mde,
                mde_alpha: alpha,
                mde_power: POWER,
                names_source: None,
            }
        })
        .collect()
}

/// The results of a decision-table audit, gated by `thresholds`.
pub fn to_results(
    report: &FairnessReport,
    thresholds: &Thresholds,
    summary: &Ll144Summary,
    seed: u64,
) -> Results {
    let mut groups = Vec::new();
    let mut findings = Vec::new();
    for grouping in &report.groupings {
        for g in &grouping.groups {
            groups.extend(levels(report, grouping, g));
        }
        for d in grouping
            .disparities
            .iter()
            .filter(|d| d.name == "statistical_parity_difference")
        {
            let (Some(group), Some(reference)) = (&d.group, &d.reference) else {
                continue;
            };
            let n = grouping
                .groups
                .iter()
                .find(|g| &g.group == group)
                .map_or(0, |g| g.n as usize);
            let verdict = match (d.value, d.p_adjusted) {
                (Some(v), Some(p)) => crate::metric::decide(thresholds, v, p),
                _ => Verdict::InsufficientData,
            };
            findings.push(Finding {
                probe_set: report.file_stem(),
                kind: KIND.into(),
                variant: "table".into(),
                metric: GAP_METRIC.into(),
                axis: key(&grouping.columns),
                group: key(group),
                reference: key(reference),
                estimate: d.value.unwrap_or(0.0),
                ci_low: d.interval.map(|i| i.low),
                ci_high: d.interval.map(|i| i.high),
                p_value: d.p_value,
                p_adjusted: d.p_adjusted,
                test: d.test.clone().unwrap_or_else(|| "none".into()),
                n,
                n_scenarios: 0,
                threshold: thresholds.max_abs_gap,
                rule: thresholds.rule.as_str().into(),
                verdict,
            });
        }
    }
    let axes = detectable_gaps(
        report,
        thresholds,
        findings.iter().filter(|f| f.p_value.is_some()).count(),
    );
    let mut fairness = serde_json::to_value(report).expect("the report serialises");
    fairness["ll144_summary"] = serde_json::to_value(summary).expect("json");
    Results {
        schema: RESULTS_SCHEMA.into(),
        audit: AuditIdentity {
            name: format!("decision table {}", report.file_name()),
            seed,
            confidence: 0.95,
            n_boot: report.bootstrap.as_ref().map_or(0, |b| b.resamples),
            min_mass: 0.0,
            min_scenarios: 0,
        },
        model: None,
        thresholds: ThresholdSummary {
            max_abs_gap: thresholds.max_abs_gap,
            alpha: thresholds.alpha,
            rule: thresholds.rule.as_str().into(),
            correction: "holm".into(),
        },
        summary: Summary::of(&findings, report.rows_used as usize, 0, 0.0),
        probe_sets: Vec::new(),
        axes,
        groups,
        findings,
        examples: Vec::new(),
        fairness: Some(fairness),
        kinds: Vec::new(),
    }
}

/// Writes `results.json`, `manifest.json` and `report.html` into `out_dir`.
pub fn write(
    results: &Results,
    data: &Path,
    parameters: serde_json::Value,
    out_dir: &Path,
) -> Result<(Manifest, PathBuf), crate::report::ReportError> {
    let io = |path: &Path, e| crate::report::ReportError::Manifest(ProvenanceError::io(path, e));
    std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
    let results_path = out_dir.join(RESULTS_FILE);
    provenance::write_atomic(&results_path, &results.to_bytes())
        .map_err(|e| io(&results_path, e))?;
    let manifest = Manifest {
        schema: provenance::MANIFEST_SCHEMA.into(),
        audit_id: None,
        audit_name: results.audit.name.clone(),
        tool: ToolIdentity {
            name: "probity".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        seed: results.audit.seed,
        precision: None,
        model: None,
        parameters,
        training_data: serde_json::Value::Array(Vec::new()),
        training_summary: serde_json::Value::Null,
        prev: None,
        signature: None,
        responses_tree: None,
        files: vec![
            provenance::entry(FileRole::Data, data, out_dir)?,
            provenance::entry(FileRole::Output, &results_path, out_dir)?,
        ],
    }
    .write(out_dir)?;
    let report = crate::report::write_html(out_dir, results, &manifest)?;
    Ok((manifest, report))
}

impl FairnessReport {
    fn file_name(&self) -> String {
        Path::new(&self.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.file.clone())
    }

    fn file_stem(&self) -> String {
        Path::new(&self.file)
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.file.clone())
    }
}
