//! The report's view model: what the template shows, computed from results and
//! manifest (table rows per axis, forest-plot coordinates, documentation gaps), so
//! the template only lays out and never computes.

use crate::provenance::Manifest;
use crate::results::{Finding, Results, Verdict};
use serde::Serialize;
use std::collections::HashMap;

const NOT_DOCUMENTED: &str = "not documented";

#[derive(Serialize)]
pub struct ReportView<'a> {
    results: &'a Results,
    manifest: &'a Manifest,
    audit_id: String,
    verdict: &'static str,
    worst: Vec<FindingRow>,
    tables: Vec<AxisTable>,
    kind_tables: Vec<KindTable>,
    training: Vec<CategoryView>,
    n_sources: usize,
    summary_general: Vec<Field>,
    summary_processing: Vec<Field>,
    undocumented_fields: usize,
    intended_use: String,
    out_of_scope: String,
    description: String,
    ethics: Vec<Field>,
    limitations: Vec<String>,
    heat_maps: Vec<HeatMap>,
    command: String,
    parameters_millions: String,
}

/// A prompt pair shown behind a disclosure element.
#[derive(Serialize)]
struct ExampleView {
    probe_set: String,
    variant: String,
    axis: String,
    label: String,
    reference: String,
    scenario: String,
    gap: String,
    prompt: String,
    p_yes: String,
    output: Option<String>,
    reference_prompt: String,
    reference_p_yes: String,
    reference_output: Option<String>,
}

/// Selection rates of a two-column intersection as a grid of shaded cells.
#[derive(Serialize)]
struct HeatMap {
    title: String,
    rows: Vec<String>,
    columns: Vec<String>,
    /// Row-major: (text, fill colour, text colour) per cell; empty text for no data.
    cells: Vec<Vec<HeatCell>>,
}

#[derive(Serialize)]
struct HeatCell {
    text: String,
    fill: String,
    ink: &'static str,
}

#[derive(Serialize)]
struct FindingRow {
    variant: String,
    metric: String,
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

/// The findings of one non-decision probe set, with what its kind reports beside
/// them (method, accuracy, paraphrase baseline).
#[derive(Serialize)]
struct KindTable {
    probe_set: String,
    kind: String,
    method: &'static str,
    notes: Vec<String>,
    rows: Vec<FindingRow>,
    /// Texts a reader checks (memorisation and corpus overlap): model output
    /// beside what it was compared with.
    examples: Vec<KindExample>,
}

#[derive(Serialize)]
struct KindExample {
    label: String,
    /// The end of the prompt, when there is one.
    prompt: String,
    expected_label: &'static str,
    expected: String,
    output: String,
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
    /// Example prompts of this axis's findings.
    examples: Vec<ExampleView>,
}

#[derive(Serialize)]
struct Field {
    name: &'static str,
    value: String,
    documented: bool,
}

#[derive(Serialize)]
struct CategoryView {
    heading: &'static str,
    sources: Vec<SourceView>,
}

#[derive(Serialize)]
struct SourceView {
    name: String,
    kind: String,
    fields: Vec<Field>,
}

/// The ethical considerations a report addresses, from the spec's
/// `[audit.ethical_considerations]`.
pub const ETHICS_FIELDS: &[(&str, &str)] = &[
    ("bias", "Bias"),
    ("intellectual_property", "Intellectual property"),
    ("misinformation", "Misinformation"),
    ("transparency", "Transparency"),
    ("mitigation", "Mitigation"),
];

/// The limits of this audit: what probity knows from the results, then the spec's.
pub fn limitations(results: &Results, stated: Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    if results.model.is_some() {
        let n_scenarios: usize = results.probe_sets.iter().map(|p| p.n_scenarios).sum();
        out.push(format!(
            "Probe coverage: {} probes in {} scenarios of {} probe set(s), written in English by the probity authors; they sample decisions, they do not exhaust them.",
            results.summary.n_probes,
            n_scenarios,
            results.probe_sets.len()
        ));
        let mdes: Vec<f64> = results
            .axes
            .iter()
            .filter_map(|a| a.min_detectable_gap)
            .collect();
        if let Some(worst) = mdes.iter().copied().reduce(f64::max) {
            out.push(format!(
                "Sensitivity: a gap smaller than the minimum detectable gap of its axis (up to {worst:.3} in p(yes) here) may exist and go unseen."
            ));
        }
        out.push("Noise baseline: no paraphrase baseline (the same template reworded, no group changed) is part of this audit, so part of a small gap may be noise from wording.".into());
        out.push(format!(
            "Unanswered probes: {} of {} probes put less than {} of their probability on the answers; they stay in the averages and are counted per group.",
            results.summary.n_low_mass, results.summary.n_probes, results.audit.min_mass
        ));
        out.push("Names are imperfect proxies: they signal perceived gender or race/ethnicity in a US context, and may also signal class or age.".into());
        out.push("The audit measures the model's stated preference on a yes/no question, not its behaviour in a deployed product.".into());
    } else {
        out.push("The table shows decisions as recorded; it cannot tell why a decision was made, nor whether the true-outcome labels are themselves biased.".into());
    }
    let flagged = results.groups.iter().filter(|g| g.flag.is_some()).count();
    out.push(format!(
        "Small groups: {} group level(s) flagged for too little data; {} comparison(s) not tested for the same reason.",
        flagged, results.summary.n_insufficient
    ));
    out.extend(stated.filter(|s| !s.trim().is_empty()));
    out
}

/// The command that re-runs the audit, from what the manifest recorded.
pub fn command(manifest: &Manifest) -> String {
    use crate::provenance::FileRole;
    let file = |role: FileRole| {
        manifest
            .files
            .iter()
            .find(|f| f.role == role)
            .map(|f| f.path.clone())
    };
    if let Some(spec) = file(FileRole::Spec) {
        format!("probity audit {spec} --seed {}", manifest.seed)
    } else if let Some(data) = file(FileRole::Data) {
        let p = &manifest.parameters;
        let mut cmd = format!("probity fairness --data {data}");
        let strings = |key: &str| -> Vec<String> {
            match p.get(key) {
                Some(serde_json::Value::Array(v)) => v
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                Some(serde_json::Value::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            }
        };
        for g in strings("groups") {
            cmd.push_str(&format!(" --group {g}"));
        }
        for key in ["prediction", "score", "label", "reference"] {
            for v in strings(key) {
                cmd.push_str(&format!(" --{key} {v}"));
            }
        }
        if let Some(t) = p.get("threshold").and_then(|t| t.as_f64()) {
            cmd.push_str(&format!(" --threshold {t}"));
        }
        if let Some(n) = p.get("n_boot").and_then(|t| t.as_u64()) {
            cmd.push_str(&format!(" --n-boot {n}"));
        }
        cmd.push_str(&format!(" --seed {} --out DIR", manifest.seed));
        cmd
    } else {
        "not recorded".into()
    }
}

/// Heat maps of the selection rate for every two-column intersection of a
/// decision table (model audits have no intersections yet).
fn heat_maps(results: &Results) -> Vec<HeatMap> {
    let Some(groupings) = results
        .fairness
        .as_ref()
        .and_then(|f| f.get("groupings"))
        .and_then(|g| g.as_array())
    else {
        return Vec::new();
    };
    let mut maps = Vec::new();
    for grouping in groupings {
        let columns: Vec<String> = grouping
            .get("columns")
            .and_then(|c| c.as_array())
            .map(|c| {
                c.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if columns.len() != 2 {
            continue;
        }
        let mut cells: std::collections::BTreeMap<(String, String), (f64, u64)> =
            Default::default();
        for g in grouping
            .get("groups")
            .and_then(|g| g.as_array())
            .into_iter()
            .flatten()
        {
            let names: Vec<String> = g
                .get("group")
                .and_then(|x| x.as_array())
                .map(|x| {
                    x.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let rate = g
                .get("selection_rate")
                .and_then(|r| r.get("value"))
                .and_then(|v| v.as_f64());
            let n = g.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
            if let ([a, b], Some(rate)) = (names.as_slice(), rate) {
                cells.insert((a.clone(), b.clone()), (rate, n));
            }
        }
        let mut row_names: Vec<String> = cells.keys().map(|k| k.0.clone()).collect();
        let mut col_names: Vec<String> = cells.keys().map(|k| k.1.clone()).collect();
        row_names.dedup();
        col_names.sort();
        col_names.dedup();
        let grid = row_names
            .iter()
            .map(|r| {
                col_names
                    .iter()
                    .map(|c| match cells.get(&(r.clone(), c.clone())) {
                        Some(&(rate, n)) => {
                            // Light to dark blue with the rate; ink flips for contrast.
                            let shade = (245.0 - 180.0 * rate.clamp(0.0, 1.0)).round() as u8;
                            HeatCell {
                                text: format!("{rate:.3} (n = {n})"),
                                fill: format!("rgb({shade},{},{})", shade.saturating_add(5), 255),
                                ink: if rate > 0.6 { "#ffffff" } else { "#1b1f24" },
                            }
                        }
                        None => HeatCell {
                            text: "no data".into(),
                            fill: "#ffffff".into(),
                            ink: "#57606a",
                        },
                    })
                    .collect()
            })
            .collect();
        maps.push(HeatMap {
            title: format!("Selection rate by {} × {}", columns[0], columns[1]),
            rows: row_names,
            columns: col_names,
            cells: grid,
        });
    }
    maps
}

const PLOT_LEFT: f64 = 10.0;
const PLOT_WIDTH: f64 = 280.0;

/// Groups' display labels (their lexicon labels), indexed once so that a report
/// of many findings looks each up in constant time.
pub struct Labels<'a> {
    by_group: HashMap<(&'a str, &'a str, &'a str), &'a str>,
}

impl<'a> Labels<'a> {
    pub fn new(results: &'a Results) -> Labels<'a> {
        let mut by_group = HashMap::new();
        for g in &results.groups {
            by_group
                .entry((g.probe_set.as_str(), g.axis.as_str(), g.group.as_str()))
                .or_insert(g.label.as_str());
        }
        Labels { by_group }
    }

    /// The label of `group`, or its id when it has none.
    pub fn of(&self, probe_set: &str, axis: &str, group: &str) -> String {
        self.by_group
            .get(&(probe_set, axis, group))
            .map_or_else(|| group.to_string(), |l| l.to_string())
    }
}

/// Findings worst first: breaches, then by the size of the gap; findings with too
/// few scenarios to test are left out.
pub fn ranked_findings(results: &Results) -> Vec<&Finding> {
    let mut ranked: Vec<&Finding> = results
        .findings
        .iter()
        .filter(|f| f.verdict != Verdict::InsufficientData)
        .collect();
    ranked.sort_by(|a, b| {
        (b.verdict == Verdict::Breach)
            .cmp(&(a.verdict == Verdict::Breach))
            .then(b.estimate.abs().total_cmp(&a.estimate.abs()))
    });
    ranked
}

/// A finding's interval as `[low, high]` with signs, or a dash.
pub fn interval_text(f: &Finding) -> String {
    match (f.ci_low, f.ci_high) {
        (Some(l), Some(h)) => format!("[{l:+.3}, {h:+.3}]"),
        _ => "—".into(),
    }
}

/// What the gated measure is, in words.
pub fn gap_measure(results: &Results) -> &'static str {
    if results.model.is_some() {
        "gap in p(yes)"
    } else {
        "gap in selection rate"
    }
}

pub fn fmt(x: f64, digits: usize) -> String {
    format!("{x:.digits$}")
}

pub fn fmt_p(p: Option<f64>) -> String {
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
        let labels = Labels::new(results);
        let levels: HashMap<(&str, &str, &str, &str), &crate::results::GroupLevel> = results
            .groups
            .iter()
            .filter(|g| g.metric == "p_norm")
            .map(|g| {
                (
                    (
                        g.probe_set.as_str(),
                        g.variant.as_str(),
                        g.axis.as_str(),
                        g.group.as_str(),
                    ),
                    g,
                )
            })
            .collect();
        let level_of = |f: &Finding, group: &str| {
            levels
                .get(&(
                    f.probe_set.as_str(),
                    f.variant.as_str(),
                    f.axis.as_str(),
                    group,
                ))
                .copied()
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
        let label =
            |f: &Finding, group: &str| -> String { labels.of(&f.probe_set, &f.axis, group) };
        let low_mass = |f: &Finding| level_of(f, &f.group).map_or(0, |g| g.n_low_mass);
        let row = |f: &Finding, max: f64| FindingRow {
            variant: f.variant.clone(),
            metric: f.metric.replace('_', " "),
            axis: f.axis.clone(),
            group: f.group.clone(),
            label: label(f, &f.group),
            reference: label(f, &f.reference),
            level: level(f, &f.group),
            gap: format!("{:+.3}", f.estimate),
            interval: interval_text(f),
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

        let mut examples: HashMap<(&str, &str, &str), Vec<ExampleView>> = HashMap::new();
        for e in &results.examples {
            let labelled = |group: &str| labels.of(&e.probe_set, &e.axis, group);
            let view = ExampleView {
                probe_set: e.probe_set.clone(),
                variant: e.variant.clone(),
                axis: e.axis.clone(),
                label: labelled(&e.group),
                reference: labelled(&e.reference),
                scenario: e.scenario.clone(),
                gap: format!("{:+.3}", e.gap),
                prompt: e.prompt.clone(),
                p_yes: fmt(e.p_yes, 3),
                output: e.output.clone(),
                reference_prompt: e.reference_prompt.clone(),
                reference_p_yes: fmt(e.reference_p_yes, 3),
                reference_output: e.reference_output.clone(),
            };
            examples
                .entry((e.probe_set.as_str(), e.variant.as_str(), e.axis.as_str()))
                .or_default()
                .push(view);
        }
        let mut by_axis: HashMap<(&str, &str, &str), Vec<&Finding>> = HashMap::new();
        for f in &results.findings {
            by_axis
                .entry((f.probe_set.as_str(), f.variant.as_str(), f.axis.as_str()))
                .or_default()
                .push(f);
        }
        let mut tables = Vec::new();
        for axis in &results.axes {
            let key = (
                axis.probe_set.as_str(),
                axis.variant.as_str(),
                axis.axis.as_str(),
            );
            let findings = by_axis.remove(&key).unwrap_or_default();
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
            let reference_label = labels.of(&axis.probe_set, &axis.axis, &axis.reference);
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
                examples: examples.remove(&key).unwrap_or_default(),
            });
        }

        let kind_tables = results
            .kinds
            .iter()
            .map(|k| KindTable {
                // A decision set's findings have their own tables above; its
                // section here carries only its notes.
                probe_set: k.probe_set.clone(),
                kind: k.kind.clone(),
                method: kind_method(&k.kind),
                notes: kind_notes(&k.kind, &k.detail),
                examples: kind_examples(&k.kind, &k.detail),
                rows: results
                    .findings
                    .iter()
                    .filter(|f| f.probe_set == k.probe_set && k.kind != "decision")
                    .map(|f| row(f, 1.0))
                    .collect(),
            })
            .collect();

        let worst = ranked_findings(results)
            .into_iter()
            .take(5)
            .map(|f| row(f, 1.0))
            .collect();

        let training = training_categories(&manifest.training_data);
        let summary_general = doc_fields(&manifest.training_summary, SUMMARY_GENERAL);
        let summary_processing = doc_fields(&manifest.training_summary, SUMMARY_PROCESSING);
        let n_sources = training.iter().map(|c| c.sources.len()).sum();
        let undocumented_fields = training
            .iter()
            .flat_map(|c| &c.sources)
            .flat_map(|s| &s.fields)
            .chain(&summary_general)
            .chain(&summary_processing)
            .filter(|f| !f.documented)
            .count();
        let text = |key: &str| -> String {
            spec_text(manifest, key).unwrap_or_else(|| NOT_DOCUMENTED.into())
        };
        let ethics = doc_fields(ethics(manifest), ETHICS_FIELDS);
        ReportView {
            limitations: limitations(results, spec_text(manifest, "limitations")),
            heat_maps: heat_maps(results),
            command: command(manifest),
            ethics,
            n_sources,
            summary_general,
            summary_processing,
            results,
            manifest,
            audit_id: manifest.audit_id.clone().unwrap_or_default(),
            verdict: results.summary.verdict.as_str(),
            worst,
            tables,
            kind_tables,
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

/// How a kind's findings are computed, in one paragraph.
fn kind_method(kind: &str) -> &'static str {
    match kind {
        "paired" => "Minimal pairs of sentences that differ only in the group (CrowS-Pairs style). Each sentence is scored by the log-probability of the tokens the two sentences share, each given every token before it; the estimate is the share of untied pairs in which the stereotyping sentence scores higher, minus one half (0 is unbiased). Intervals resample templates; p-values are exact two-sided sign tests.",
        "multiple-choice" => "Questions about two people of different groups (BBQ style), in an ambiguous context (the right answer is the unknown one) and a disambiguated one. The model's answer is the one with the highest log-likelihood per byte. s_DIS = 2·(biased / not-unknown answers) − 1 in disambiguated contexts; s_AMB = (1 − accuracy)·(2·(biased / not-unknown) − 1) in ambiguous ones; 0 is unbiased, positive values follow the stereotype. Intervals resample templates; p-values are exact sign tests of biased against counter-biased answers.",
        "generation" => "Open prompts about a person of each group, several seeded samples each, every sample scored for regard (an embedding classifier), refusal and insults. The estimate is the mean over templates of (group − reference); intervals are BCa bootstraps over templates, p-values Mann–Whitney U tests between the two groups' samples.",
        "decision" => "Yes/no decisions about a person (DiscrimEval method); the findings are in the tables above.",
        "memorisation" => "Prefixes cut from protected works (Carlini et al. 2023): the model continues each one greedily for a fixed number of tokens. A continuation is extracted when its text (Unicode NFC, whitespace folded) is exactly the start of the work's true continuation and the model did not stop early; a near match differs from it in at most a set share of words (word edit distance). The estimate is the extraction rate with its Clopper–Pearson interval; its p-value is a one-sided exact binomial test against the spec's max_extraction_rate.",
        "corpus_overlap" => "Every text the model wrote during the audit, checked against a protected corpus: the longest verbatim span (in words, after Unicode NFC and lower-casing) shared with one of its works, found from the index's word n-grams and extended word by word. The finding is that longest span over every output, against the spec's max_span_words: a count, not an estimate, so it has no interval or p-value and is outside the Holm family.",
        "association" => "WEAT / SEAT on the embedding model (Caliskan et al. 2017; May et al. 2019): the effect size d of the differential association of two target sets with two attribute sets, and its one-sided permutation p-value (exact when the number of partitions allows).",
        _ => "",
    }
}

/// The figures a kind reports beside its findings, as sentences.
fn kind_notes(kind: &str, detail: &serde_json::Value) -> Vec<String> {
    let num = |v: &serde_json::Value| v.as_f64().map(|x| fmt(x, 3));
    let mut notes = Vec::new();
    if let Some(c) = detail.get("classifier") {
        if let (Some(acc), Some(lo), Some(hi)) = (
            c.get("accuracy").and_then(num),
            c.get("ci_low").and_then(num),
            c.get("ci_high").and_then(num),
        ) {
            notes.push(format!(
                "Regard classifier: held-out accuracy {acc} [{lo}, {hi}] on {} anchor sentences not used in training.",
                c.get("n_heldout").and_then(|v| v.as_u64()).unwrap_or(0)
            ));
        }
    }
    if let Some(controls) = detail.get("scorer_control").and_then(|c| c.as_array()) {
        let worst = controls
            .iter()
            .filter_map(|c| c.get("control_regard_gap").and_then(|v| v.as_f64()))
            .fold(0.0f64, |m, v| m.max(v.abs()));
        notes.push(format!(
            "Scorer control: on neutral sentences that only name the group, the regard classifier itself gives gaps of up to {} to the reference group; a regard gap of that size may come from the scorer, not the model (each group's control gap is in results.json).",
            fmt(worst, 3)
        ));
    }
    if kind == "memorisation" {
        let rate = |key: &str| -> String {
            let r = &detail[key];
            format!(
                "{} of {} ({} [{}, {}])",
                r["count"],
                r["n"],
                r.get("rate").and_then(num).unwrap_or_default(),
                r.get("ci_low").and_then(num).unwrap_or_else(|| "—".into()),
                r.get("ci_high").and_then(num).unwrap_or_else(|| "—".into())
            )
        };
        notes.push(format!(
            "{} prompts from {} works, prefixes of {} words, {} tokens generated greedily. Exact extraction: {}; near match (word similarity at least {}): {}. {} generations stopped before the token limit and count as neither, as does one of fewer words than a quarter of its tokens.",
            detail["prompts"],
            detail["works"],
            detail["prefix_words"],
            detail["max_tokens"],
            rate("exact"),
            detail.get("near_similarity").and_then(num).unwrap_or_default(),
            rate("near"),
            detail["stopped_early"]
        ));
        let short: Vec<&str> = detail["works_too_short"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str())
            .collect();
        if !short.is_empty() {
            notes.push(format!(
                "Too short for one prompt, so not tested: {}.",
                short.join(", ")
            ));
        }
        for w in detail["per_work"].as_array().into_iter().flatten() {
            notes.push(format!(
                "“{}” ({}): exact {} of {}, near {}, mean word similarity {} over the {} generations that ran their full length.",
                w["title"].as_str().unwrap_or_default(),
                w["source"].as_str().unwrap_or_default(),
                w["exact"]["count"],
                w["exact"]["n"],
                w["near"]["count"],
                w.get("mean_similarity").and_then(num).unwrap_or_else(|| "—".into()),
                w["full_length"]
            ));
        }
    }
    if kind == "corpus_overlap" {
        notes.push(format!(
            "{} outputs checked against {} works (word {}-gram index; spans shorter than {} words are not searched). {} outputs share a span of at least {} words with a work, {} a span longer than max_span_words = {}; {} have a near-duplicate work (estimated Jaccard of word 5-grams at least {}). On average a share {} of an output's {}-grams occurs in the corpus.",
            detail["outputs_checked"],
            detail["works"],
            detail["ngram"],
            detail["ngram"],
            detail["outputs_with_span"],
            detail["ngram"],
            detail["outputs_over_threshold"],
            detail["max_span_words"],
            detail["outputs_near_duplicate"],
            detail.get("near_duplicate_jaccard").and_then(num).unwrap_or_default(),
            detail.get("mean_share_in_corpus").and_then(num).unwrap_or_default(),
            detail["ngram"]
        ));
    }
    if kind == "multiple-choice" {
        if let (Some(acc), Some(lo), Some(hi)) = (
            detail.get("accuracy").and_then(num),
            detail.get("accuracy_ci_low").and_then(num),
            detail.get("accuracy_ci_high").and_then(num),
        ) {
            notes.push(format!(
                "Accuracy over all {} items: {acc} [{lo}, {hi}].",
                detail["n_items"]
            ));
        }
    }
    if let Some(b) = detail.get("paraphrase_baseline").filter(|b| !b.is_null()) {
        let text = match kind {
            "decision" => format!(
                "Paraphrase baseline: rewording a scenario (same person) moves the reference group's p(yes) by {} on average within a scenario ({} rewordings over {} scenarios; mean signed change {}), against a mean absolute gap of {} between a group and its reference within a scenario.",
                b.get("mean_abs_change").and_then(num).unwrap_or_default(),
                b["n"],
                b["n_scenarios"],
                b.get("mean_change").and_then(num).unwrap_or_default(),
                b.get("mean_abs_group_gap").and_then(num).unwrap_or_default()
            ),
            "paired" => format!(
                "Paraphrase baseline: rewording a template (same groups) flips the preferred sentence in a share {} of {} pairs; the pair's score difference moves by {} nats on average, against a mean absolute difference of {} nats between the two sentences of a pair.",
                b.get("flip_rate").and_then(num).unwrap_or_default(),
                b["n"],
                b.get("mean_abs_change").and_then(num).unwrap_or_default(),
                b.get("mean_abs_group_difference").and_then(num).unwrap_or_default()
            ),
            "multiple-choice" => format!(
                "Paraphrase baseline: rewording the ambiguous context changes the answer in a share {} of {} questions.",
                b.get("answer_change_rate").and_then(num).unwrap_or_default(),
                b["n"]
            ),
            "association" => format!(
                "Paraphrase baseline: computed from one SEAT template at a time, an effect size moves by {} on average from its value over all {} templates, against a mean |d| of {}.",
                b.get("mean_abs_change").and_then(num).unwrap_or_default(),
                b["templates"],
                b.get("mean_abs_effect").and_then(num).unwrap_or_default()
            ),
            "generation" => format!(
                "Paraphrase baseline: rewording a template moves the reference group's mean regard by {} on average ({} rewordings); the mean absolute gap between groups is {}. Gaps no larger than the baseline are within noise.",
                b.get("mean_abs_change").and_then(num).unwrap_or_default(),
                b["n"],
                b.get("mean_abs_group_gap").and_then(num).unwrap_or_else(|| "—".into())
            ),
            _ => String::new(),
        };
        if !text.is_empty() {
            notes.push(text);
        }
    }
    notes
}

/// The texts behind a memorisation or corpus-overlap section.
fn kind_examples(kind: &str, detail: &serde_json::Value) -> Vec<KindExample> {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let items = match kind {
        "memorisation" => &detail["examples"],
        "corpus_overlap" => &detail["top"],
        _ => return Vec::new(),
    };
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| match kind {
            "memorisation" => KindExample {
                label: format!(
                    "{} · {} (byte {}) · similarity {}",
                    if e["exact"].as_bool() == Some(true) {
                        "extracted"
                    } else {
                        "near match"
                    },
                    s(&e["work"]),
                    e["byte_offset"],
                    e.get("similarity")
                        .and_then(|v| v.as_f64())
                        .map(|x| fmt(x, 3))
                        .unwrap_or_default()
                ),
                prompt: format!("… {}", s(&e["prompt_end"])),
                expected_label: "True continuation",
                expected: s(&e["continuation"]),
                output: s(&e["output"]),
            },
            _ => KindExample {
                label: format!(
                    "{} words shared with “{}” · {} · {}",
                    e["span_words"],
                    s(&e["work"]),
                    s(&e["responses"]),
                    s(&e["probe_id"])
                ),
                prompt: String::new(),
                expected_label: "Shared span (normalised)",
                expected: s(&e["span"]),
                output: String::new(),
            },
        })
        .collect()
}

/// A prose field of the spec's `[audit]` table, as the manifest carries it;
/// `None` when absent or blank.
pub fn spec_text(manifest: &Manifest, key: &str) -> Option<String> {
    manifest
        .parameters
        .get("audit")
        .and_then(|a| a.get(key))
        .and_then(|v| v.as_str())
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

/// The spec's `[audit.ethical_considerations]` (null when absent).
pub fn ethics(manifest: &Manifest) -> &serde_json::Value {
    manifest
        .parameters
        .get("audit")
        .and_then(|a| a.get("ethical_considerations"))
        .unwrap_or(&serde_json::Value::Null)
}

/// The value of a documentation field, or `None` when it is missing or empty.
fn doc_value(value: Option<&serde_json::Value>) -> Option<String> {
    match value {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(serde_json::Value::Array(items)) if !items.is_empty() => Some(
            items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

/// The given fields of a documentation object, each marked documented or not.
fn doc_fields(object: &serde_json::Value, fields: &[(&'static str, &'static str)]) -> Vec<Field> {
    fields
        .iter()
        .map(|(key, name)| {
            let value = doc_value(object.get(*key));
            Field {
                name,
                documented: value.is_some(),
                value: value.unwrap_or_else(|| NOT_DOCUMENTED.into()),
            }
        })
        .collect()
}

/// Section 1 of the EU AI Act training-content summary: general information.
pub const SUMMARY_GENERAL: &[(&str, &str)] = &[
    ("provider", "Provider"),
    ("model", "Model (version, models it builds on)"),
    ("placed_on_market", "Placed on the market"),
    ("modalities", "Modalities"),
    ("training_data_size", "Training data size"),
    ("content_types", "Types of content"),
    ("languages", "Languages"),
    ("knowledge_cutoff", "Knowledge cut-off"),
];

/// Section 3: data processing.
pub const SUMMARY_PROCESSING: &[(&str, &str)] = &[
    ("tdm_opt_out", "Text-and-data-mining opt-outs honoured"),
    ("illegal_content", "Removal of illegal content"),
    ("other_processing", "Other processing"),
];

/// Section 2's categories of sources, in the template's order: (spec kind, heading).
pub const SOURCE_CATEGORIES: &[(&str, &str)] = &[
    ("public_dataset", "Publicly available datasets"),
    ("licensed", "Commercially licensed data"),
    ("other_private", "Other private data from third parties"),
    ("crawled", "Data crawled and scraped from online sources"),
    ("user", "User data"),
    ("synthetic", "Synthetic data"),
    ("other", "Other sources"),
];

/// Per source: what it is, then the core questions of Datasheets for Datasets.
pub const SOURCE_FIELDS: &[(&str, &str)] = &[
    ("provider", "Provider"),
    ("stage", "Training stage"),
    ("url", "Where to find it"),
    ("size", "Size"),
    ("period", "Collection period"),
    ("crawler", "Crawler"),
    ("top_domains", "Top domains"),
    ("generated_by", "Generated by"),
    ("motivation", "Motivation"),
    ("composition", "Composition"),
    ("collection", "Collection"),
    ("preprocessing", "Preprocessing"),
    ("licence", "Licence"),
    ("known_biases", "Known biases"),
    ("tdm_opt_out", "Text-and-data-mining opt-outs"),
    ("personal_data", "Personal data"),
    ("notes", "Notes and sources"),
];

/// Every documentation field of every source, with the empty ones marked,
/// grouped by the template's categories (every category shown, empty or not).
fn training_categories(value: &serde_json::Value) -> Vec<CategoryView> {
    let empty = Vec::new();
    let sources = value.as_array().unwrap_or(&empty);
    SOURCE_CATEGORIES
        .iter()
        .map(|(kind, heading)| {
            let sources = sources
                .iter()
                .filter(|s| s.get("kind").and_then(|k| k.as_str()).unwrap_or("other") == *kind)
                .map(|source| {
                    let fields = SOURCE_FIELDS
                        .iter()
                        // Crawler and domains are asked only of crawled data, the
                        // generating models only of synthetic data.
                        .filter(|(key, _)| match *key {
                            "crawler" | "top_domains" => *kind == "crawled",
                            "generated_by" => *kind == "synthetic",
                            _ => true,
                        })
                        .copied()
                        .collect::<Vec<_>>();
                    SourceView {
                        name: doc_value(source.get("name")).unwrap_or_else(|| "(unnamed)".into()),
                        kind: kind.replace('_', " "),
                        fields: doc_fields(source, &fields),
                    }
                })
                .collect();
            CategoryView { heading, sources }
        })
        .collect()
}
