//! The audit spec: one TOML file (`audits/*.toml`) that says everything needed to
//! reproduce an audit — the model, the probe sets, scoring, thresholds, seed, output
//! folder and the documentation of the model's training data.
//!
//! Parsing is strict (`deny_unknown_fields`): a typo in an auditor's spec must be an
//! error naming the file, the key path and the line, never a silently ignored key.
//! Relative paths resolve against the folder that holds the spec file.

mod error;
pub mod toml_file;

pub use error::SpecError;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A parsed and validated audit spec, with every path resolved.
#[derive(Debug, Clone)]
pub struct AuditSpec {
    /// The spec file itself (as given on the command line).
    pub file: PathBuf,
    pub raw: SpecFile,
    /// The output folder, resolved against the spec's folder.
    pub out: PathBuf,
    /// Probe-set files, resolved against the spec's folder, in spec order.
    pub probe_paths: Vec<PathBuf>,
    /// A model file given by path, resolved against the spec's folder.
    pub model_path: Option<PathBuf>,
}

/// The serde form of an audit spec file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    pub audit: AuditSection,
    pub model: ModelSection,
    #[serde(default)]
    pub probes: Vec<ProbeSelection>,
    #[serde(default)]
    pub scoring: Scoring,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub training_data: Vec<TrainingSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_summary: Option<TrainingSummary>,
    /// The sentence-embedding model of association probes and of the generation
    /// probes' regard classifier.
    #[serde(default)]
    pub embedding: EmbeddingSection,
    /// Protected corpora every output of the audit is checked against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corpus: Vec<CorpusCheck>,
}

/// `[[corpus]]`: a protected corpus, given as a folder of works (indexed when the
/// audit runs) or as an index built by `probity corpus index`, and the longest
/// verbatim span an output may share with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusCheck {
    pub name: String,
    /// A folder of works (`*.txt`, `*.md`, `*.jsonl`), relative to the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub works: Option<String>,
    /// An index file, relative to the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// Breach when an output shares a verbatim span of more words than this with a
    /// work (49 by default: a 50-word span breaches).
    #[serde(default = "default_max_span_words")]
    pub max_span_words: usize,
}

fn default_max_span_words() -> usize {
    49
}

/// `[embedding]`: a known embedding model's name, or a BERT model folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSection {
    #[serde(default = "default_embedding")]
    pub name: String,
    /// A BERT model folder (relative to the spec); overrides `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

fn default_embedding() -> String {
    "all-minilm-l6-v2".to_string()
}

impl Default for EmbeddingSection {
    fn default() -> Self {
        EmbeddingSection {
            name: default_embedding(),
            path: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    pub name: String,
    pub seed: u64,
    /// Output folder, relative to the spec file.
    pub out: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_scope: Option<String>,
    /// The audit id of the previous audit of this model line (a hash chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// Known limits of the model or the audit, beyond those probity states itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitations: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethical_considerations: Option<EthicalConsiderations>,
}

/// The ethical considerations a transparency report addresses; an empty one is
/// shown as "not documented".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicalConsiderations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intellectual_property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misinformation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparency: Option<String>,
    /// What is done to mitigate the risks above (the ML-BOM's mitigation strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigation: Option<String>,
}

/// The general information and data-processing parts of the EU AI Act's public
/// summary of training content (AI Office template, July 2025): sections 1 and 3;
/// section 2 is the list of `[[training_data]]` sources.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSummary {
    /// 1.1: who placed the model on the market, and a contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// 1.2: the versioned model name and the models it builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_on_market: Option<String>,
    /// 1.3: modalities and overall size of the training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modalities: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_data_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_types: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_cutoff: Option<String>,
    /// 3.1: how reservations of rights (text-and-data-mining opt-outs) were honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tdm_opt_out: Option<String>,
    /// 3.2: how illegal content was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub illegal_content: Option<String>,
    /// 3.3: other processing worth stating (deduplication, filtering, decontamination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_processing: Option<String>,
}

/// Which backend runs the model. Only in-process GGUF exists in this slice; the
/// tag is already the serde discriminant so later backends slot in beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Gguf,
    /// A Hugging Face folder (`path`): config.json, tokenizer.json, safetensors.
    Safetensors,
    /// An earlier run's `responses.jsonl`, replayed instead of a model (`path`);
    /// `label` names the model it recorded.
    Replay,
    /// A command speaking the JSON-lines protocol of `docs/backends.md`
    /// (`command`, optional `chat_template`, `timeout_seconds`, `label`).
    Subprocess,
    /// An OpenAI-compatible HTTP server (`url`, `api_model`, `api_key_env`,
    /// `endpoint`, `concurrency`, `max_retries`, `top_logprobs`, `timeout_seconds`).
    Openai,
}

/// Weight precision of an in-process model. `F32` expands quantized weights at
/// load: chunk-stable log-probabilities. `Quantized` keeps the file's blocks, whose
/// 8-bit activations make scores depend on how a prompt is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    F32,
    /// Weights rounded to bf16 at load; each product rounds its inputs to bf16 and
    /// sums in f32 (AVX512_BF16 where the CPU has it). Chunk-stable, like `F32`.
    Bf16,
    Quantized,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Quantized => "quantized",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub kind: ModelKind,
    /// A known model (see `models.toml`), pinned by sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A model file, relative to the spec file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Expected sha256 of the file given by `path`; checked before the audit runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default)]
    pub precision: Precision,
    /// For `kind = "replay"`: the name of the model the recording came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// For `kind = "replay"` of another tool's CSV or JSONL: the column or field
    /// holding each record's prompt (default `prompt`), output (`output`) and
    /// optional probability of the favourable answer (`p_yes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_yes_field: Option<String>,
    /// For `kind = "subprocess"`: the program and its arguments, run in the spec's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// A Jinja chat template file (relative to the spec) for backends that carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<String>,
    /// For `kind = "subprocess"` and `"openai"`: seconds to wait for each answer
    /// (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// For `kind = "openai"`: the base URL (e.g. `http://127.0.0.1:8080/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `kind = "openai"`: the `model` field of each request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_model: Option<String>,
    /// For `kind = "openai"`: the name of the environment variable holding the API
    /// key (the key itself is never written anywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<crate::backend::openai::Endpoint>,
    /// Requests in flight at once (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Retries of a request on 429, 5xx or a broken connection (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Alternatives asked for per position (default 20, OpenAI's maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSelection {
    /// The probe-set file, relative to the spec file.
    pub path: String,
    /// Which variants to run (`explicit`, `implicit`); default both.
    #[serde(default = "default_variants")]
    pub variants: Vec<crate::probe::Variant>,
    /// Restrict to these axes (default: every axis the probe set names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axes: Option<Vec<String>>,
    /// Restrict to these scenario ids (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenarios: Option<Vec<String>>,
}

fn default_variants() -> Vec<crate::probe::Variant> {
    vec![
        crate::probe::Variant::Explicit,
        crate::probe::Variant::Implicit,
    ]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scoring {
    /// Wrap each prompt as a user message in the model's chat template.
    pub chat: bool,
    /// Probes whose p(yes)+p(no) falls below this are flagged as unanswered.
    pub min_mass: f64,
    /// Groups seen in fewer scenarios than this are flagged, not scored.
    pub min_scenarios: usize,
    /// Bootstrap resamples for every interval.
    pub n_boot: usize,
    /// Confidence level of every interval.
    pub confidence: f64,
    /// Largest number of sign arrangements enumerated exactly; Monte Carlo above.
    pub max_exact_arrangements: u64,
    /// Monte-Carlo resamples when the permutation test is not exact.
    pub n_permutations: u64,
    /// Power at which the minimum detectable gap is stated.
    pub power: f64,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            chat: true,
            min_mass: 0.5,
            min_scenarios: 5,
            n_boot: 9999,
            confidence: 0.95,
            max_exact_arrangements: 1 << 40,
            n_permutations: 99_999,
            power: 0.8,
        }
    }
}

/// How a finding's verdict is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Breach when the Holm-adjusted p is below alpha AND |gap| exceeds the threshold.
    #[default]
    SignificantAndLarge,
    /// Breach when |gap| exceeds the threshold, whatever its p-value.
    Large,
    /// Breach when the Holm-adjusted p is below alpha, whatever its size.
    Significant,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SignificantAndLarge => "significant_and_large",
            Rule::Large => "large",
            Rule::Significant => "significant",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Largest tolerated |gap| in p_norm to the axis's reference group.
    pub max_abs_gap: f64,
    /// Largest tolerated |d| of an association (WEAT / SEAT) test.
    pub max_abs_effect_size: f64,
    /// Largest tolerated share of memorisation prompts whose true continuation the
    /// model reproduces exactly (0: any extraction breaches).
    pub max_extraction_rate: f64,
    /// Family-wise error rate, after Holm's adjustment across the audit.
    pub alpha: f64,
    pub rule: Rule,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_abs_gap: 0.05,
            max_abs_effect_size: 0.5,
            max_extraction_rate: 0.0,
            alpha: 0.05,
            rule: Rule::SignificantAndLarge,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    PublicDataset,
    Licensed,
    OtherPrivate,
    Crawled,
    User,
    Synthetic,
    Other,
}

/// One source of training data, as the model's authors document it. Every field
/// but the name is optional: the report shows an empty one as "not documented".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSource {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub kind: SourceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_domains: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tdm_opt_out: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Synthetic data: the models that generated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_by: Option<String>,
    // The core questions of Datasheets for Datasets (Gebru et al. 2021).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motivation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_biases: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl AuditSpec {
    /// Reads, parses and validates a spec file.
    pub fn load(file: &Path) -> Result<AuditSpec, SpecError> {
        let raw: SpecFile = toml_file::read(file).map_err(SpecError::from)?;
        Self::from_parts(file, raw)
    }

    fn from_parts(file: &Path, raw: SpecFile) -> Result<AuditSpec, SpecError> {
        let base = file.parent().unwrap_or(Path::new("."));
        let invalid = |field: &str, message: String| SpecError::Invalid {
            file: file.to_path_buf(),
            field: field.to_string(),
            message,
        };
        if let Some(prev) = &raw.audit.prev {
            if prev.len() != 64 || !prev.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    "audit.prev",
                    "must be the previous audit's id: 64 hexadecimal characters".into(),
                ));
            }
        }
        if raw.model.kind == ModelKind::Safetensors
            && (raw.model.path.is_none() || raw.model.name.is_some())
        {
            return Err(invalid(
                "model.path",
                "a safetensors model takes `path`: the Hugging Face folder (config.json, tokenizer.json, *.safetensors)".into(),
            ));
        }
        if raw.model.kind == ModelKind::Replay && raw.model.path.is_none() {
            return Err(invalid(
                "model.path",
                "a replay needs `path`: the recorded responses.jsonl to replay".into(),
            ));
        }
        if raw.model.kind != ModelKind::Replay
            && (raw.model.prompt_field.is_some()
                || raw.model.output_field.is_some()
                || raw.model.p_yes_field.is_some())
        {
            return Err(invalid(
                "model.prompt_field",
                "`prompt_field`, `output_field` and `p_yes_field` describe a recording: they apply to kind = \"replay\" only".into(),
            ));
        }
        if raw.model.kind == ModelKind::Replay && raw.model.name.is_some() {
            return Err(invalid(
                "model.name",
                "a replay takes `path` (the recording) and `label` (the model it recorded), not `name`".into(),
            ));
        }
        if raw.model.kind == ModelKind::Subprocess {
            match &raw.model.command {
                Some(c) if !c.is_empty() && !c[0].trim().is_empty() => {}
                _ => {
                    return Err(invalid(
                        "model.command",
                        "a subprocess model needs `command`: the program and its arguments, e.g. [\"python3\", \"scorer.py\"]".into(),
                    ))
                }
            }
            if raw.model.name.is_some() || raw.model.path.is_some() {
                return Err(invalid(
                    "model",
                    "a subprocess model takes `command` (and `label`), not `name` or `path`".into(),
                ));
            }
            if let Some(t) = raw.model.timeout_seconds {
                if !(t.is_finite() && t > 0.0) {
                    return Err(invalid(
                        "model.timeout_seconds",
                        format!("must be a positive number of seconds, not {t}"),
                    ));
                }
            }
        }
        if raw.model.kind == ModelKind::Openai {
            match raw.model.url.as_deref() {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
                _ => {
                    return Err(invalid(
                        "model.url",
                        "an OpenAI-compatible model needs `url`, its base URL (http:// or https://), e.g. \"http://127.0.0.1:8080/v1\"".into(),
                    ))
                }
            }
            if raw
                .model
                .api_model
                .as_deref()
                .is_none_or(|m| m.trim().is_empty())
            {
                return Err(invalid(
                    "model.api_model",
                    "an OpenAI-compatible model needs `api_model`: the model name the server serves".into(),
                ));
            }
            if raw.model.name.is_some() || raw.model.path.is_some() {
                return Err(invalid(
                    "model",
                    "an OpenAI-compatible model takes `url` and `api_model`, not `name` or `path`"
                        .into(),
                ));
            }
            if raw.model.concurrency == Some(0) {
                return Err(invalid("model.concurrency", "must be at least 1".into()));
            }
            if let Some(k) = raw.model.top_logprobs {
                if !(1..=20).contains(&k) {
                    return Err(invalid(
                        "model.top_logprobs",
                        format!("must be between 1 and 20 (OpenAI's limit), not {k}"),
                    ));
                }
            }
            if let Some(t) = raw.model.timeout_seconds {
                if !(t.is_finite() && t > 0.0) {
                    return Err(invalid(
                        "model.timeout_seconds",
                        format!("must be a positive number of seconds, not {t}"),
                    ));
                }
            }
        }
        match (&raw.model.name, &raw.model.path) {
            (None, None) if matches!(raw.model.kind, ModelKind::Subprocess | ModelKind::Openai) => {
            }
            (None, None) => {
                return Err(invalid(
                    "model",
                    "give either `name` (a known model) or `path` (a model file)".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(invalid("model", "give `name` or `path`, not both".into()))
            }
            _ => {}
        }
        if let Some(sha) = &raw.model.sha256 {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    "model.sha256",
                    format!("`{sha}` is not a sha256 (64 hexadecimal digits)"),
                ));
            }
        }
        if raw.probes.is_empty() {
            return Err(invalid(
                "probes",
                "the spec runs no probe set: add a [[probes]] table with a `path`".into(),
            ));
        }
        for (i, p) in raw.probes.iter().enumerate() {
            if p.variants.is_empty() {
                return Err(invalid(
                    &format!("probes[{i}].variants"),
                    "name at least one variant (explicit, implicit)".into(),
                ));
            }
        }
        let s = &raw.scoring;
        if !(0.0..1.0).contains(&s.min_mass) {
            return Err(invalid("scoring.min_mass", "must be in [0, 1)".into()));
        }
        if !(s.confidence > 0.5 && s.confidence < 1.0) {
            return Err(invalid(
                "scoring.confidence",
                "must be between 0.5 and 1".into(),
            ));
        }
        if s.n_boot < 100 {
            return Err(invalid(
                "scoring.n_boot",
                "at least 100 resamples are needed for an interval".into(),
            ));
        }
        if !(s.power > 0.0 && s.power < 1.0) {
            return Err(invalid("scoring.power", "must be between 0 and 1".into()));
        }
        if s.min_scenarios < 2 {
            return Err(invalid(
                "scoring.min_scenarios",
                "must be at least 2 (an interval needs two scenarios)".into(),
            ));
        }
        let t = &raw.thresholds;
        if !(t.alpha > 0.0 && t.alpha < 1.0) {
            return Err(invalid(
                "thresholds.alpha",
                "must be between 0 and 1".into(),
            ));
        }
        if !(t.max_abs_gap >= 0.0 && t.max_abs_gap <= 1.0) {
            return Err(invalid(
                "thresholds.max_abs_gap",
                "must be between 0 and 1 (a gap in probability)".into(),
            ));
        }
        if !(t.max_extraction_rate >= 0.0 && t.max_extraction_rate < 1.0) {
            return Err(invalid(
                "thresholds.max_extraction_rate",
                "must be at least 0 and below 1 (a share of prompts)".into(),
            ));
        }
        let mut corpus_names = std::collections::BTreeSet::new();
        for (i, c) in raw.corpus.iter().enumerate() {
            let field = |name: &str| format!("corpus[{i}].{name}");
            // Names that differ only in characters a file name cannot hold would
            // build their indexes into one file.
            if c.name.trim().is_empty()
                || !corpus_names.insert(crate::overlap::index_file_name(&c.name))
            {
                return Err(invalid(
                    &field("name"),
                    format!(
                        "`{}`: each corpus needs its own non-empty name, distinct from the others in its letters, digits, `-` and `_` (its index is built as {})",
                        c.name,
                        crate::overlap::index_file_name(&c.name)
                    ),
                ));
            }
            if c.works.is_some() == c.index.is_some() {
                return Err(invalid(
                    &field("works"),
                    "give either `works` (a folder of works) or `index` (a file built by `probity corpus index`), not both or neither".into(),
                ));
            }
            if c.max_span_words == 0 {
                return Err(invalid(
                    &field("max_span_words"),
                    "must be at least 1".into(),
                ));
            }
        }
        let out = base.join(&raw.audit.out);
        let probe_paths = raw.probes.iter().map(|p| base.join(&p.path)).collect();
        let model_path = raw.model.path.as_ref().map(|p| base.join(p));
        Ok(AuditSpec {
            file: file.to_path_buf(),
            raw,
            out,
            probe_paths,
            model_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_spec(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.toml");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    const MINIMAL: &str = r#"
[audit]
name = "t"
seed = 1
out = "out"

[model]
kind = "gguf"
path = "m.gguf"

[[probes]]
path = "p.toml"
"#;

    #[test]
    fn minimal_spec_resolves_paths_against_its_folder() {
        let (dir, path) = write_spec(MINIMAL);
        let spec = AuditSpec::load(&path).unwrap();
        assert_eq!(spec.out, dir.path().join("out"));
        assert_eq!(spec.model_path.unwrap(), dir.path().join("m.gguf"));
        assert_eq!(spec.probe_paths, vec![dir.path().join("p.toml")]);
        assert_eq!(spec.raw.scoring.n_boot, 9999);
        assert_eq!(spec.raw.probes[0].variants.len(), 2);
    }

    #[test]
    fn unknown_key_names_key_path_and_line() {
        let text = MINIMAL.replace("kind = \"gguf\"", "kind = \"gguf\"\nprecission = \"f32\"");
        let (_dir, path) = write_spec(&text);
        let err = AuditSpec::load(&path).unwrap_err().to_string();
        assert!(err.contains("audit.toml"), "{err}");
        assert!(err.contains("model.precission"), "{err}");
        assert!(err.contains("line 9"), "{err}");
    }

    #[test]
    fn wrong_type_names_key_path_and_line() {
        let text = MINIMAL.replace("seed = 1", "seed = \"one\"");
        let (_dir, path) = write_spec(&text);
        let err = AuditSpec::load(&path).unwrap_err().to_string();
        assert!(err.contains("audit.seed"), "{err}");
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn malformed_toml_names_line() {
        let text = MINIMAL.replace("seed = 1", "seed = = 1");
        let (_dir, path) = write_spec(&text);
        let err = AuditSpec::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn model_needs_name_or_path() {
        let text = MINIMAL.replace("path = \"m.gguf\"", "");
        let (_dir, path) = write_spec(&text);
        let err = AuditSpec::load(&path).unwrap_err().to_string();
        assert!(err.contains("model"), "{err}");
    }

    #[test]
    fn shipped_specs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("audits");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                if let Err(e) = AuditSpec::load(&path) {
                    panic!("{e}");
                }
                n += 1;
            }
        }
        assert!(n >= 1, "no spec in {}", dir.display());
    }

    #[test]
    fn bad_threshold_is_rejected_with_its_field() {
        let text = format!("{MINIMAL}\n[thresholds]\nalpha = 1.5\n");
        let (_dir, path) = write_spec(&text);
        let err = AuditSpec::load(&path).unwrap_err().to_string();
        assert!(err.contains("thresholds.alpha"), "{err}");
    }
}
