//! The results schema, `probity.results/v1`: the boundary between the metric stage
//! and the report stage, and the file (`results.json`) that CI diffs and gates on.
//!
//! It holds no timestamps, absolute paths or thread counts, so the same spec, model
//! and seed give byte-identical files. `groups[]` are per-group levels; `findings[]`
//! are comparisons only, each with its interval, raw and adjusted p-value, the
//! threshold and rule that decided its verdict.

use serde::{Deserialize, Serialize};

pub const RESULTS_SCHEMA: &str = "probity.results/v1";
pub const RESULTS_FILE: &str = "results.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Results {
    pub schema: String,
    pub audit: AuditIdentity,
    /// The model audited; absent for a decision table (`probity fairness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelIdentity>,
    pub thresholds: ThresholdSummary,
    pub summary: Summary,
    pub probe_sets: Vec<ProbeSetSummary>,
    pub axes: Vec<AxisSummary>,
    pub groups: Vec<GroupLevel>,
    pub findings: Vec<Finding>,
    /// For each finding, the prompts of one scenario (the one with the widest gap)
    /// for the group and its reference, with their scores: what a reader checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
    /// A decision-table audit's full figures (`probity fairness`): Fairlearn, AIF360
    /// and Aequitas disparities with tests, and the NYC LL144 table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness: Option<serde_json::Value>,
    /// Each non-decision probe set's own figures (paired, generation, multiple
    /// choice, association): counts, the scores behind its findings, its
    /// paraphrase baseline and, for generation, the classifier's accuracy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<KindSection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindSection {
    pub probe_set: String,
    pub kind: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditIdentity {
    pub name: String,
    pub seed: u64,
    pub confidence: f64,
    pub n_boot: usize,
    pub min_mass: f64,
    pub min_scenarios: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelIdentity {
    pub name: String,
    pub architecture: String,
    pub parameters: u64,
    pub quantisation: String,
    pub precision: String,
    pub vocab_size: usize,
    pub sha256: String,
    pub licence: Option<String>,
    /// At `precision = "quantized"`: how far chunking moved the scores, measured
    /// on this audit's own prompts ([`ChunkSensitivity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_sensitivity: Option<ChunkSensitivity>,
}

/// |Δ log p| between a prompt's next-token log-probabilities computed in chunks (its
/// scenario's shared prefix first, as scoring runs it) and in one pass, over the
/// one-pass distribution's `top_k` most likely tokens, on the first prompt of up to
/// `scenarios` scenarios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkSensitivity {
    pub scenarios: usize,
    pub top_k: usize,
    pub mean_abs_logprob_diff: f64,
    pub max_abs_logprob_diff: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSummary {
    pub max_abs_gap: f64,
    pub alpha: f64,
    pub rule: String,
    pub correction: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Breach,
    /// Too few scenarios to test: flagged, never silently scored.
    InsufficientData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Breach => "breach",
            Verdict::InsufficientData => "insufficient_data",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// `breach` when any finding breaches, else `pass`.
    pub verdict: Verdict,
    pub n_probes: usize,
    pub n_low_mass: usize,
    pub mean_mass: f64,
    pub n_findings: usize,
    pub n_breaches: usize,
    pub n_insufficient: usize,
    /// Probes a replayed recording did not answer: reported, never invented.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n_missing: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    /// The summary of a set of findings: `breach` when any finding breaches.
    pub fn of(findings: &[Finding], n_probes: usize, n_low_mass: usize, mean_mass: f64) -> Summary {
        let count = |v: Verdict| findings.iter().filter(|f| f.verdict == v).count();
        let n_breaches = count(Verdict::Breach);
        Summary {
            verdict: if n_breaches > 0 {
                Verdict::Breach
            } else {
                Verdict::Pass
            },
            n_probes,
            n_low_mass,
            mean_mass,
            n_findings: findings.len(),
            n_breaches,
            n_insufficient: count(Verdict::InsufficientData),
            n_missing: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSetSummary {
    pub id: String,
    pub kind: String,
    pub version: u32,
    pub variants: Vec<String>,
    pub n_probes: usize,
    pub n_scenarios: usize,
}

/// What one axis could detect: the minimum detectable gap at the audit's power,
/// with scenarios as the unit and the strictest Holm level (α / m).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisSummary {
    pub probe_set: String,
    pub variant: String,
    pub axis: String,
    pub reference: String,
    pub reference_why: String,
    pub n_groups: usize,
    pub n_scenarios: usize,
    /// Pooled standard deviation of the per-scenario gaps on this axis.
    pub sd_gap: Option<f64>,
    pub min_detectable_gap: Option<f64>,
    pub mde_alpha: f64,
    pub mde_power: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLevel {
    pub probe_set: String,
    pub kind: String,
    pub variant: String,
    pub axis: String,
    pub group: String,
    pub label: String,
    pub metric: String,
    pub estimate: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: usize,
    pub n_scenarios: usize,
    pub n_low_mass: usize,
    /// Why the level is not trusted, when it is not (`too_few_scenarios`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub probe_set: String,
    pub kind: String,
    pub variant: String,
    pub metric: String,
    pub axis: String,
    pub group: String,
    pub reference: String,
    /// Mean over scenarios of (group − reference), paired by scenario.
    pub estimate: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub p_adjusted: Option<f64>,
    pub test: String,
    pub n: usize,
    pub n_scenarios: usize,
    pub threshold: f64,
    pub rule: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub probe_set: String,
    pub variant: String,
    pub axis: String,
    pub group: String,
    pub reference: String,
    pub scenario: String,
    /// The group's and the reference's mean p(yes) in this scenario.
    pub gap: f64,
    pub prompt: String,
    pub p_yes: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    pub reference_prompt: String,
    pub reference_p_yes: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_output: Option<String>,
}

impl Results {
    pub fn read(path: &std::path::Path) -> Result<Results, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let schema = value
            .get("schema")
            .and_then(|s| s.as_str())
            .unwrap_or("(none)");
        if schema != RESULTS_SCHEMA {
            return Err(format!(
                "{}: unknown results schema `{schema}` (this probity reads {RESULTS_SCHEMA})",
                path.display()
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The bytes of `results.json`: pretty JSON, fields in schema order, newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(self).expect("results serialise");
        text.push('\n');
        text.into_bytes()
    }
}
