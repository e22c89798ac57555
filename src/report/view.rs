//! The report's view model: what the template shows, computed from results and
//! manifest (table rows per axis, forest-plot coordinates, documentation gaps), so
//! the template only lays out and never computes.

use crate::provenance::Manifest;
use crate::results::{Finding, Results, Verdict};
use serde::Serialize;

const NOT_DOCUMENTED: &str = "not documented";

#[derive(Serialize)]
pub struct ReportView<'a> {
    results: &'a Results,
    manifest: &'a Manifest,
    audit_id: String,
    verdict: &'static str,
    worst: Vec<FindingRow>,
    tables: Vec<AxisTable>,
    training: Vec<SourceView>,
    undocumented_fields: usize,
    intended_use: String,
    out_of_scope: String,
    description: String,
    parameters_millions: String,
}

#[derive(Serialize)]
struct FindingRow {
    variant: String,
    axis: String,
    group: String,
    label: String,
    reference: String,
    level: String,
    gap: String,
    interval: String,
    p_value: String,
    p_adjusted: String,
    verdict: &'static str,
    n: usize,
    n_scenarios: usize,
    n_low_mass: usize,
    test: String,
    /// Forest plot: x of the estimate and the interval ends, in the SVG's units.
    x_est: f64,
    x_low: f64,
    x_high: f64,
    has_interval: bool,
}

#[derive(Serialize)]
struct AxisTable {
    probe_set: String,
    variant: String,
    axis: String,
    reference: String,
    reference_label: String,
    reference_level: String,
    reference_why: String,
    names_source: Option<String>,
    mde: String,
    n_scenarios: usize,
    rows: Vec<FindingRow>,
    /// Forest-plot scale: the gap at the left and right edges, and x of zero and of ±threshold.
    scale_max: String,
    x_zero: f64,
    x_threshold_low: f64,
    x_threshold_high: f64,
    plot_height: usize,
}

#[derive(Serialize)]
struct Field {
    name: &'static str,
    value: String,
    documented: bool,
}

#[derive(Serialize)]
struct SourceView {
    name: String,
    kind: String,
    fields: Vec<Field>,
}

const PLOT_LEFT: f64 = 10.0;
const PLOT_WIDTH: f64 = 280.0;

fn fmt(x: f64, digits: usize) -> String {
    format!("{x:.digits$}")
}

fn fmt_p(p: Option<f64>) -> String {
    match p {
        None => "—".into(),
        Some(p) if p < 1e-4 => format!("{p:.1e}"),
        Some(p) => format!("{p:.4}"),
    }
}

fn x_of(value: f64, max: f64) -> f64 {
    PLOT_LEFT + PLOT_WIDTH * (value + max) / (2.0 * max)
}

impl<'a> ReportView<'a> {
    pub fn build(results: &'a Results, manifest: &'a Manifest) -> ReportView<'a> {
        let threshold = results.thresholds.max_abs_gap;
        // The p_norm level of `group` in the finding's probe set, variant and axis.
        let level_of = |f: &Finding, group: &str| {
            results.groups.iter().find(|g| {
                g.probe_set == f.probe_set
                    && g.variant == f.variant
                    && g.axis == f.axis
                    && g.group == group
                    && g.metric == "p_norm"
            })
        };
        let level = |f: &Finding, group: &str| -> String {
            level_of(f, group)
                .map(|g| match (g.ci_low, g.ci_high) {
                    (Some(l), Some(h)) => {
                        format!("{} [{}, {}]", fmt(g.estimate, 3), fmt(l, 3), fmt(h, 3))
                    }
                    _ => format!("{} (too few scenarios)", fmt(g.estimate, 3)),
                })
                .unwrap_or_else(|| "—".into())
        };
        let label = |f: &Finding, group: &str| -> String {
            results
                .groups
                .iter()
                .find(|g| g.probe_set == f.probe_set && g.axis == f.axis && g.group == group)
                .map(|g| g.label.clone())
                .unwrap_or_else(|| group.to_string())
        };
        let low_mass = |f: &Finding| level_of(f, &f.group).map_or(0, |g| g.n_low_mass);
        let row = |f: &Finding, max: f64| FindingRow {
            variant: f.variant.clone(),
            axis: f.axis.clone(),
            group: f.group.clone(),
            label: label(f, &f.group),
            reference: label(f, &f.reference),
            level: level(f, &f.group),
            gap: format!("{:+.3}", f.estimate),
            interval: match (f.ci_low, f.ci_high) {
                (Some(l), Some(h)) => format!("[{l:+.3}, {h:+.3}]"),
                _ => "—".into(),
            },
            p_value: fmt_p(f.p_value),
            p_adjusted: fmt_p(f.p_adjusted),
            verdict: f.verdict.as_str(),
            n: f.n,
            n_scenarios: f.n_scenarios,
            n_low_mass: low_mass(f),
            test: f.test.replace('_', " "),
            x_est: x_of(f.estimate.clamp(-max, max), max),
            x_low: x_of(f.ci_low.unwrap_or(f.estimate).clamp(-max, max), max),
            x_high: x_of(f.ci_high.unwrap_or(f.estimate).clamp(-max, max), max),
            has_interval: f.ci_low.is_some(),
        };

        let mut tables = Vec::new();
        for axis in &results.axes {
            let findings: Vec<&Finding> = results
                .findings
                .iter()
                .filter(|f| {
                    f.probe_set == axis.probe_set
                        && f.variant == axis.variant
                        && f.axis == axis.axis
                })
                .collect();
            let widest = findings
                .iter()
                .flat_map(|f| {
                    [
                        f.estimate.abs(),
                        f.ci_low.unwrap_or(0.0).abs(),
                        f.ci_high.unwrap_or(0.0).abs(),
                    ]
                })
                .fold(threshold * 1.5, f64::max);
            let max = (widest * 1.1).clamp(0.01, 1.0);
            let reference_label = results
                .groups
                .iter()
                .find(|g| {
                    g.probe_set == axis.probe_set
                        && g.axis == axis.axis
                        && g.group == axis.reference
                })
                .map(|g| g.label.clone())
                .unwrap_or_else(|| axis.reference.clone());
            let reference_level = findings
                .first()
                .map(|f| level(f, &axis.reference))
                .unwrap_or_else(|| "—".into());
            tables.push(AxisTable {
                probe_set: axis.probe_set.clone(),
                variant: axis.variant.clone(),
                axis: axis.axis.clone(),
                reference: axis.reference.clone(),
                reference_label,
                reference_level,
                reference_why: axis.reference_why.clone(),
                names_source: axis.names_source.clone(),
                mde: axis
                    .min_detectable_gap
                    .map(|m| format!("{m:.3}"))
                    .unwrap_or_else(|| "not computable (too few scenarios)".into()),
                n_scenarios: axis.n_scenarios,
                plot_height: 24 * findings.len() + 30,
                rows: findings.iter().map(|f| row(f, max)).collect(),
                scale_max: format!("{max:.2}"),
                x_zero: x_of(0.0, max),
                x_threshold_low: x_of(-threshold.min(max), max),
                x_threshold_high: x_of(threshold.min(max), max),
            });
        }

        let mut worst: Vec<&Finding> = results
            .findings
            .iter()
            .filter(|f| f.verdict != Verdict::InsufficientData)
            .collect();
        worst.sort_by(|a, b| {
            (b.verdict == Verdict::Breach)
                .cmp(&(a.verdict == Verdict::Breach))
                .then(b.estimate.abs().total_cmp(&a.estimate.abs()))
        });
        let worst = worst.into_iter().take(5).map(|f| row(f, 1.0)).collect();

        let training = training_sources(&manifest.training_data);
        let undocumented_fields = training
            .iter()
            .flat_map(|s| &s.fields)
            .filter(|f| !f.documented)
            .count();
        let audit = manifest.parameters.get("audit");
        let text = |key: &str| -> String {
            audit
                .and_then(|a| a.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| NOT_DOCUMENTED.into())
        };
        ReportView {
            results,
            manifest,
            audit_id: manifest.audit_id.clone().unwrap_or_default(),
            verdict: results.summary.verdict.as_str(),
            worst,
            tables,
            training,
            undocumented_fields,
            intended_use: text("intended_use"),
            out_of_scope: text("out_of_scope"),
            description: text("description"),
            parameters_millions: results
                .model
                .as_ref()
                .map(|m| format!("{:.1}", m.parameters as f64 / 1e6))
                .unwrap_or_default(),
        }
    }
}

/// Every documentation field of every source, with the empty ones marked.
fn training_sources(value: &serde_json::Value) -> Vec<SourceView> {
    const FIELDS: &[(&str, &str)] = &[
        ("provider", "Provider"),
        ("stage", "Training stage"),
        ("licence", "Licence"),
        ("url", "Where to find it"),
        ("size", "Size"),
        ("period", "Collection period"),
        ("crawler", "Crawler"),
        ("top_domains", "Top domains"),
        ("tdm_opt_out", "Text-and-data-mining opt-outs"),
        ("personal_data", "Personal data"),
        ("notes", "Notes and sources"),
    ];
    let empty = Vec::new();
    value
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|source| {
            let kind = source
                .get("kind")
                .and_then(|v| v.as_str())
                .unwrap_or("other")
                .to_string();
            let crawled = kind == "crawled";
            let fields = FIELDS
                .iter()
                // Crawler and domains are asked only of crawled data.
                .filter(|(key, _)| crawled || !matches!(*key, "crawler" | "top_domains"))
                .map(|(key, name)| {
                    let value = match source.get(*key) {
                        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                            Some(s.clone())
                        }
                        Some(serde_json::Value::Array(items)) if !items.is_empty() => Some(
                            items
                                .iter()
                                .filter_map(|i| i.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        _ => None,
                    };
                    Field {
                        name,
                        documented: value.is_some(),
                        value: value.unwrap_or_else(|| NOT_DOCUMENTED.into()),
                    }
                })
                .collect();
            SourceView {
                name: source
                    .get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("(unnamed)")
                    .to_string(),
                kind: kind.replace('_', " "),
                fields,
            }
        })
        .collect()
}
