//! The audit pipeline: spec → probes → backend → run → metric → results, manifest
//! and report, written into the out dir. This is the one place that knows the order
//! of the stages; each stage only sees the previous stage's data.

use crate::backend::{gguf, Backend, BackendError, GgufModel, KnownModel};
use crate::kinds::{self, KindOutcome};
use crate::probe::{ProbeError, ProbeKind, ProbeSet, Selection};
use crate::provenance::{self, FileRole, Manifest, ProvenanceError, ToolIdentity};
use crate::results::{
    AuditIdentity, ChunkSensitivity, ModelIdentity, ProbeSetSummary, Results, Summary,
    ThresholdSummary, RESULTS_FILE, RESULTS_SCHEMA,
};
use crate::run::{self, PromptStyle, RunError, RESPONSES_FILE};
use crate::spec::{AuditSpec, ModelKind, Precision, SpecError};
use crate::{metric, report, Classify, FailureKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Marks an out dir as holding one audit, so another is not mixed into it.
const MARKER_FILE: &str = provenance::AUDIT_MARKER;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Metric(#[from] metric::MetricError),
    #[error(transparent)]
    Provenance(#[from] ProvenanceError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error("{}: {message}", dir.display())]
    OutDir { dir: PathBuf, message: String },
    /// A `[[corpus]]` of the spec that cannot be read or indexed.
    #[error("{0}")]
    Corpus(String),
}

impl Classify for AuditError {
    fn kind(&self) -> FailureKind {
        match self {
            AuditError::Spec(e) => e.kind(),
            AuditError::Probe(e) => e.kind(),
            AuditError::Backend(e) => e.kind(),
            AuditError::Run(e) => e.kind(),
            AuditError::Metric(e) => e.kind(),
            AuditError::Provenance(e) => e.kind(),
            AuditError::Report(e) => e.kind(),
            AuditError::OutDir { .. } | AuditError::Corpus(_) => FailureKind::BadInput,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    pub force: bool,
    /// An Ed25519 secret key file to sign the manifest with.
    pub sign: Option<PathBuf>,
}

pub struct AuditOutcome {
    pub out_dir: PathBuf,
    pub results: Results,
    pub manifest: Manifest,
    pub report: PathBuf,
}

/// Hooks for the caller to show progress; the library itself prints nothing.
pub trait Progress {
    fn message(&mut self, text: &str);
    fn start(&mut self, total: usize);
    fn advance(&mut self, done: usize);
    fn finish(&mut self);
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Marker {
    audit_name: String,
    model_sha256: String,
    precision: String,
}

/// A model resolved to a file whose hash has been checked against its pin.
pub struct ResolvedModel {
    pub path: PathBuf,
    pub sha256: String,
    pub known: Option<KnownModel>,
}

/// Finds the model file the spec names (pulling a known model if it is not cached)
/// and checks its sha256 against the pin.
pub fn resolve_model(
    spec: &AuditSpec,
    progress: &mut dyn Progress,
) -> Result<ResolvedModel, BackendError> {
    match (&spec.raw.model.name, &spec.model_path) {
        (Some(name), _) => {
            let known = KnownModel::find(name)?;
            // A known model that is not one model file is refused before any fetch.
            let pinned = known.file_sha256()?.to_string();
            let path = match known.cached() {
                Some(p) => p,
                None => known.pull(&mut |m| progress.message(m))?,
            };
            let sha256 = crate::backend::known::sha256_file(&path)?;
            let expected = spec.raw.model.sha256.clone().unwrap_or(pinned);
            if sha256 != expected {
                return Err(BackendError::HashMismatch {
                    file: path,
                    expected,
                    actual: sha256,
                });
            }
            Ok(ResolvedModel {
                path,
                sha256,
                known: Some(known),
            })
        }
        (None, Some(path)) => {
            let folder = spec.raw.model.kind == ModelKind::Safetensors;
            if folder && !path.is_dir() || !folder && !path.is_file() {
                return Err(BackendError::MissingModel(path.clone()));
            }
            let sha256 = if folder {
                crate::backend::gguf::hf_sha256(path)?
            } else {
                crate::backend::known::sha256_file(path)?
            };
            if let Some(expected) = &spec.raw.model.sha256 {
                if &sha256 != expected {
                    return Err(BackendError::HashMismatch {
                        file: path.clone(),
                        expected: expected.clone(),
                        actual: sha256,
                    });
                }
            }
            Ok(ResolvedModel {
                path: path.clone(),
                sha256,
                known: None,
            })
        }
        (None, None) => unreachable!("the spec requires a model name or path"),
    }
}

/// Scenarios whose chunking [`chunk_sensitivity`] measures, and the tokens it compares.
const CHUNK_SCENARIOS: usize = 8;
const CHUNK_TOP_K: usize = 20;

/// At `precision = "quantized"`, how far chunking moved this audit's scores: up to
/// eight scenarios spread over the run, each scenario's prompts grouped as scoring
/// grouped them ([`GgufModel::chunk_shifts`]). `None` when no scenario has a prompt
/// long enough to split.
fn chunk_sensitivity(
    model: &GgufModel,
    responses: &[run::Response],
) -> Result<Option<ChunkSensitivity>, BackendError> {
    let mut scenarios: Vec<Vec<String>> = Vec::new();
    let mut index: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in responses {
        let next = scenarios.len();
        let i = *index.entry((&r.probe_set, &r.scenario)).or_insert(next);
        if i == next {
            scenarios.push(Vec::new());
        }
        scenarios[i].push(r.prompt.clone());
    }
    let step = scenarios.len().div_ceil(CHUNK_SCENARIOS).max(1);
    let chosen: Vec<Vec<String>> = scenarios.into_iter().step_by(step).collect();
    let shifts = model.chunk_shifts(&chosen, CHUNK_TOP_K)?;
    if shifts.is_empty() {
        return Ok(None);
    }
    Ok(Some(ChunkSensitivity {
        scenarios: chosen.len(),
        top_k: CHUNK_TOP_K,
        mean_abs_logprob_diff: shifts.iter().sum::<f64>() / shifts.len() as f64,
        max_abs_logprob_diff: shifts.iter().fold(0f64, |m, &x| m.max(x)),
    }))
}

/// Opens the backend the spec selects.
pub fn open_backend(
    model: &ResolvedModel,
    kind: ModelKind,
    precision: Precision,
) -> Result<Backend, BackendError> {
    match kind {
        ModelKind::Gguf => {
            let mut m = GgufModel::open(&model.path, &model.sha256, precision)?;
            if let Some(known) = &model.known {
                let info = m.info_mut();
                info.name = known.name.clone();
                info.licence = Some(known.licence.clone());
                info.upstream = Some(known.upstream.clone());
            }
            Ok(Backend::Gguf(Box::new(m)))
        }
        ModelKind::Safetensors => Ok(Backend::Gguf(Box::new(GgufModel::open_hf(
            &model.path,
            &model.sha256,
            precision,
        )?))),
        ModelKind::Subprocess | ModelKind::Openai => Err(BackendError::Unsupported {
            file: model.path.clone(),
            message: "a model command is started with `start_subprocess`, not loaded".into(),
        }),
        ModelKind::Replay => Err(BackendError::Unsupported {
            file: model.path.clone(),
            message: "a replayed recording is not a model to load; the audit replays it".into(),
        }),
    }
}

/// The file that identifies a subprocess model: the first element of its command
/// naming a file (relative to the spec's folder), else the program found on PATH.
pub fn resolve_command(spec: &AuditSpec) -> Result<ResolvedModel, BackendError> {
    let command = spec.raw.model.command.clone().unwrap_or_default();
    let base = spec.file.parent().unwrap_or(Path::new("."));
    let shown = command.join(" ");
    let on_path = |program: &str| -> Option<PathBuf> {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    let path = command
        .iter()
        .skip(1)
        .map(|arg| base.join(arg))
        .find(|p| p.is_file())
        .or_else(|| {
            let program = command.first()?;
            let local = base.join(program);
            if program.contains('/') {
                local.is_file().then_some(local)
            } else {
                on_path(program)
            }
        })
        .ok_or_else(|| BackendError::Subprocess {
            command: shown.clone(),
            message: "neither its program nor any argument names a file to run (checked the spec's folder and PATH)".into(),
        })?;
    let sha256 = crate::backend::known::sha256_file(&path)?;
    Ok(ResolvedModel {
        path,
        sha256,
        known: None,
    })
}

/// An HTTP model has no file: it is identified by the sha256 of its URL and model
/// name (so a resumed audit talks to the same server and model).
fn resolve_endpoint(spec: &AuditSpec) -> ResolvedModel {
    let url = spec.raw.model.url.clone().unwrap_or_default();
    let api_model = spec.raw.model.api_model.clone().unwrap_or_default();
    ResolvedModel {
        path: PathBuf::new(),
        sha256: provenance::sha256_bytes(format!("{url}\n{api_model}").as_bytes()),
        known: None,
    }
}

/// Connects to the spec's OpenAI-compatible server.
fn connect_endpoint(spec: &AuditSpec, model: &ResolvedModel) -> Result<Backend, BackendError> {
    let m = &spec.raw.model;
    let base = spec.file.parent().unwrap_or(Path::new("."));
    let url = m.url.clone().unwrap_or_default();
    let api_key = match &m.api_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| BackendError::Endpoint {
            url: url.clone(),
            message: format!(
                "`api_key_env` names the environment variable `{var}`, which is not set"
            ),
        })?),
        None => None,
    };
    let settings = crate::backend::openai::HttpSettings {
        base_url: url.clone(),
        api_model: m.api_model.clone().unwrap_or_default(),
        api_key,
        endpoint: m.endpoint.unwrap_or_default(),
        concurrency: m.concurrency.unwrap_or(4),
        timeout: std::time::Duration::from_secs_f64(m.timeout_seconds.unwrap_or(120.0)),
        max_retries: m.max_retries.unwrap_or(5),
        top_logprobs: m.top_logprobs.unwrap_or(20),
        max_backoff: std::time::Duration::from_secs(60),
    };
    let info = crate::backend::ModelInfo::opaque(
        m.label
            .clone()
            .unwrap_or_else(|| format!("{} at {url}", settings.api_model)),
        "openai-compatible server",
        "not known (a model behind a server)",
        model.sha256.clone(),
        0,
        m.chat_template.is_some(),
    );
    let template = m.chat_template.as_ref().map(|t| base.join(t));
    let model = crate::backend::openai::OpenAiModel::connect(settings, template.as_deref(), info)?;
    Ok(Backend::OpenAi(Box::new(model)))
}

/// Starts the spec's model command in the spec's folder.
fn start_subprocess(spec: &AuditSpec, model: &ResolvedModel) -> Result<Backend, BackendError> {
    let base = spec.file.parent().unwrap_or(Path::new("."));
    let command = spec.raw.model.command.clone().unwrap_or_default();
    let template = spec.raw.model.chat_template.as_ref().map(|t| base.join(t));
    let size_bytes = std::fs::metadata(&model.path)
        .map_err(|e| BackendError::io(&model.path, e))?
        .len();
    let info = crate::backend::ModelInfo::opaque(
        spec.raw
            .model
            .label
            .clone()
            .unwrap_or_else(|| command.join(" ")),
        "subprocess",
        "not known (a model behind a command)",
        model.sha256.clone(),
        size_bytes,
        template.is_some(),
    );
    let timeout =
        std::time::Duration::from_secs_f64(spec.raw.model.timeout_seconds.unwrap_or(120.0));
    let model = crate::backend::subprocess::SubprocessModel::start_in(
        &command,
        base,
        timeout,
        template.as_deref(),
        info,
    )?;
    Ok(Backend::Subprocess(Box::new(model)))
}

fn prepare_out_dir(dir: &Path, marker: &Marker, force: bool) -> Result<(), AuditError> {
    let out_err = |message: String| AuditError::OutDir {
        dir: dir.to_path_buf(),
        message,
    };
    if dir.exists() {
        let marker_path = dir.join(MARKER_FILE);
        let previous: Option<Marker> = std::fs::read_to_string(&marker_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| out_err(e.to_string()))?
            .next()
            .is_some();
        match previous {
            Some(prev) if prev.audit_name == marker.audit_name => {
                // The same audit: resume, unless the model or precision changed,
                // in which case no earlier response may be reused.
                if prev != *marker {
                    let _ = std::fs::remove_file(dir.join(RESPONSES_FILE));
                }
            }
            Some(prev) if !force => {
                return Err(out_err(format!(
                "holds another audit (\"{}\"); choose another --out, or pass --force to replace it",
                prev.audit_name
            )))
            }
            None if non_empty && !force => return Err(out_err(
                "is not empty and holds no probity audit; choose another --out, or pass --force"
                    .into(),
            )),
            _ => {
                let _ = std::fs::remove_file(dir.join(RESPONSES_FILE));
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| out_err(format!("cannot create: {e}")))?;
    let path = dir.join(MARKER_FILE);
    provenance::write_atomic(
        &path,
        serde_json::to_string_pretty(marker)
            .expect("json")
            .as_bytes(),
    )
    .map_err(|e| ProvenanceError::io(&path, e))?;
    Ok(())
}

/// Runs the audit a spec describes. The caller maps the outcome to an exit status.
pub fn run_audit(
    spec_path: &Path,
    options: &AuditOptions,
    progress: &mut dyn Progress,
) -> Result<AuditOutcome, AuditError> {
    let spec = AuditSpec::load(spec_path)?;
    let seed = options.seed.unwrap_or(spec.raw.audit.seed);
    let out_dir = options.out.clone().unwrap_or_else(|| spec.out.clone());

    // Probes first: a bad probe file should fail before a model is loaded.
    let mut sets = Vec::new();
    let mut selections: Vec<Selection> = Vec::new();
    let mut n_probes = 0usize;
    let mut answers = BTreeMap::new();
    let mut others: Vec<OtherSet> = Vec::new();
    let mut set_ids: BTreeSet<String> = BTreeSet::new();
    for (selection, path) in spec.raw.probes.iter().zip(&spec.probe_paths) {
        let (id, set) = match OtherSet::load(path, &selection.variants)? {
            Some(other) => (other.id().to_string(), Err(other)),
            None => {
                let set = ProbeSet::load(path)?;
                (set.id().to_string(), Ok(set))
            }
        };
        if !set_ids.insert(id.clone()) {
            return Err(SpecError::Invalid {
                file: spec.file.clone(),
                field: "probes".into(),
                message: format!("probe set `{id}` is listed twice"),
            }
            .into());
        }
        let set = match set {
            Err(other) => {
                others.push(other);
                continue;
            }
            Ok(set) => set,
        };
        let chosen = Selection {
            variants: selection.variants.clone(),
            axes: selection.axes.clone(),
            scenarios: selection.scenarios.clone(),
        };
        // Expansion is lazy: count the probes now (the selection checked, an empty
        // one refused), generate them again as the run consumes them.
        let count = set.iter(&chosen)?.count();
        if count == 0 {
            set.expand(&chosen)?; // the error naming the file
        }
        n_probes += count;
        answers.insert(set.id().to_string(), set.raw.answers.clone());
        sets.push((set, selection.variants.clone()));
        selections.push(chosen);
    }
    // The corpora too: a missing folder or a bad index fails before the model runs.
    for check in &spec.raw.corpus {
        crate::overlap::preflight(&spec, check).map_err(AuditError::Corpus)?;
    }
    let stream = || -> Result<Vec<_>, ProbeError> {
        sets.iter()
            .zip(&selections)
            .map(|((set, _), sel)| set.iter(sel))
            .collect()
    };

    let precision = spec.raw.model.precision;
    let (model, info, responses, missing, precision_name, outcomes, chunking) = if spec
        .raw
        .model
        .kind
        == ModelKind::Replay
    {
        if let Some(other) = others.first() {
            return Err(SpecError::Invalid {
                file: spec.file.clone(),
                field: "probes".into(),
                message: format!(
                    "a replay recomputes decision probe sets only; `{}` is a {} probe set",
                    other.id(),
                    other.kind().as_str()
                ),
            }
            .into());
        }
        let path = spec
            .model_path
            .clone()
            .expect("validated: a replay has a path");
        let sha256 = crate::backend::known::sha256_file(&path)?;
        let marker = Marker {
            audit_name: spec.raw.audit.name.clone(),
            model_sha256: sha256.clone(),
            precision: "replay".into(),
        };
        prepare_out_dir(&out_dir, &marker, options.force)?;
        progress.message(&format!("replaying {}", path.display()));
        let probes: Vec<crate::probe::Probe> = stream()?.into_iter().flatten().collect();
        let replayed = if run::replay::is_foreign_recording(&path)? {
            let defaults = run::replay::ForeignFields::default();
            let m = &spec.raw.model;
            let fields = run::replay::ForeignFields {
                prompt: m.prompt_field.clone().unwrap_or(defaults.prompt),
                output: m.output_field.clone().unwrap_or(defaults.output),
                p_yes: m.p_yes_field.clone().unwrap_or(defaults.p_yes),
            };
            run::replay::replay_foreign(&path, &probes, &answers, &fields)?
        } else {
            run::replay_probes(&path, &probes)?
        };
        if !replayed.missing.is_empty() {
            progress.message(&format!(
                "{} of {} probes have no recorded response (first: {}){}; they are reported as missing, not scored",
                replayed.missing.len(),
                probes.len(),
                replayed.missing[0],
                if replayed.unanswered > 0 {
                    format!(
                        ", {} of them because the recorded output answers neither way",
                        replayed.unanswered
                    )
                } else {
                    String::new()
                }
            ));
        }
        let responses_path = out_dir.join(RESPONSES_FILE);
        provenance::write_atomic(&responses_path, &run::to_jsonl(&replayed.responses))
            .map_err(|e| ProvenanceError::io(&responses_path, e))?;
        let size_bytes = std::fs::metadata(&path)
            .map_err(|e| ProvenanceError::io(&path, e))?
            .len();
        let info = crate::backend::ModelInfo::opaque(
            spec.raw.model.label.clone().unwrap_or_else(|| {
                format!(
                    "replay of {}",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )
            }),
            "replay",
            "not applicable (replayed responses)",
            sha256.clone(),
            size_bytes,
            false,
        );
        let model = ResolvedModel {
            path,
            sha256,
            known: None,
        };
        (
            model,
            info,
            replayed.responses,
            replayed.missing.len(),
            "replay",
            Vec::new(),
            None,
        )
    } else {
        let kind = spec.raw.model.kind;
        let model = match kind {
            ModelKind::Subprocess => resolve_command(&spec)?,
            ModelKind::Openai => resolve_endpoint(&spec),
            _ => resolve_model(&spec, progress)?,
        };
        let precision_name = match kind {
            ModelKind::Subprocess => "subprocess",
            ModelKind::Openai => "server",
            _ => precision.as_str(),
        };
        let marker = Marker {
            audit_name: spec.raw.audit.name.clone(),
            model_sha256: model.sha256.clone(),
            precision: precision_name.into(),
        };
        prepare_out_dir(&out_dir, &marker, options.force)?;
        let mut backend = if kind == ModelKind::Subprocess {
            progress.message(&format!("starting {}", model.path.display()));
            start_subprocess(&spec, &model)?
        } else if kind == ModelKind::Openai {
            connect_endpoint(&spec, &model)?
        } else {
            progress.message(&format!(
                "loading {} ({} weights)",
                model.path.display(),
                precision.as_str()
            ));
            let mut backend = open_backend(&model, spec.raw.model.kind, precision)?;
            if let (Backend::Gguf(m), Some(t)) = (&mut backend, &spec.raw.model.chat_template) {
                m.set_chat_template(&spec.file.parent().unwrap_or(Path::new(".")).join(t))?;
            }
            backend
        };

        let units: usize = others.iter().map(OtherSet::n_units).sum();
        progress.start(n_probes + units);
        let style = PromptStyle {
            chat: spec.raw.scoring.chat,
        };
        let probes = stream()?.into_iter().flatten();
        let responses = run::run_probes(&mut backend, probes, &answers, &style, &out_dir, |n| {
            progress.advance(n)
        })?;
        let outcomes = run_other_kinds(&others, &mut backend, &spec, seed, &out_dir, progress)?;
        progress.finish();
        let chunking = match (&backend, precision) {
            (Backend::Gguf(m), Precision::Quantized) => chunk_sensitivity(m, &responses)?,
            _ => None,
        };
        let info = backend.info().clone();
        (
            model,
            info,
            responses,
            0,
            precision_name,
            outcomes,
            chunking,
        )
    };

    // Paraphrase probes are the baseline's, not any group's: analysed apart.
    let all_responses = responses;
    let responses: Vec<run::Response> = all_responses
        .iter()
        .filter(|r| crate::probe::paraphrased(&r.scenario).is_none())
        .cloned()
        .collect();
    let baselines: Vec<crate::results::KindSection> = sets
        .iter()
        .filter_map(|(set, _)| {
            metric::baseline::decision_baseline(
                set,
                &all_responses,
                spec.raw.scoring.n_boot,
                metric::derive_seed(seed, &[set.id(), "paraphrase-baseline"]),
                spec.raw.scoring.confidence,
            )
            .map(|b| crate::results::KindSection {
                probe_set: set.id().to_string(),
                kind: "decision".into(),
                detail: serde_json::json!({ "paraphrase_baseline": b }),
            })
        })
        .collect();
    let set_refs: Vec<(&ProbeSet, Vec<crate::probe::Variant>)> =
        sets.iter().map(|(s, v)| (s, v.clone())).collect();
    let analysis = metric::analyse(
        &set_refs,
        &responses,
        &spec.raw.scoring,
        &spec.raw.thresholds,
        seed,
    )?;
    let examples = metric::examples(&responses, &analysis.findings);
    let mut analysis = analysis;
    // Every output of the audit against each protected corpus.
    let mut corpus_sections = Vec::new();
    let mut corpus_findings = Vec::new();
    let mut corpus_read: Vec<PathBuf> = Vec::new();
    let mut corpus_written: Vec<PathBuf> = Vec::new();
    if !spec.raw.corpus.is_empty() {
        let mut written = vec![out_dir.join(RESPONSES_FILE)];
        written.extend(outcomes.iter().map(|(_, o)| o.responses.clone()));
        let outputs = crate::overlap::collect_outputs(&written)
            .map_err(|e| ProvenanceError::io(&out_dir, e))?;
        for check in &spec.raw.corpus {
            progress.message(&format!(
                "checking {} outputs against corpus `{}`",
                outputs.len(),
                check.name
            ));
            let (index, read, built) =
                crate::overlap::open_index(&spec, check, &out_dir).map_err(AuditError::Corpus)?;
            let (finding, section) = crate::overlap::check_corpus(check, &index, &outputs);
            corpus_findings.push(finding);
            corpus_sections.push(section);
            corpus_read.extend(read);
            corpus_written.extend(built);
        }
    }
    if !outcomes.is_empty() || !corpus_findings.is_empty() {
        for (_, outcome) in &outcomes {
            analysis.findings.extend(outcome.findings.iter().cloned());
        }
        analysis.findings.extend(corpus_findings);
        // One Holm family: every comparison of the audit, whatever its kind.
        kinds::adjust(&mut analysis.findings, &spec.raw.thresholds);
        let extra: usize = outcomes.iter().map(|(_, o)| o.n_probes).sum();
        analysis.summary = Summary::of(
            &analysis.findings,
            analysis.summary.n_probes + extra,
            analysis.summary.n_low_mass,
            analysis.summary.mean_mass,
        );
    }
    let results = Results {
        schema: RESULTS_SCHEMA.to_string(),
        audit: AuditIdentity {
            name: spec.raw.audit.name.clone(),
            seed,
            confidence: spec.raw.scoring.confidence,
            n_boot: spec.raw.scoring.n_boot,
            min_mass: spec.raw.scoring.min_mass,
            min_scenarios: spec.raw.scoring.min_scenarios,
        },
        model: Some(ModelIdentity {
            name: info.name.clone(),
            architecture: info.architecture.clone(),
            parameters: info.parameters,
            quantisation: info.quantisation.clone(),
            precision: precision_name.to_string(),
            vocab_size: info.vocab_size,
            sha256: info.sha256.clone(),
            licence: info.licence.clone(),
            chunk_sensitivity: chunking,
        }),
        thresholds: ThresholdSummary {
            max_abs_gap: spec.raw.thresholds.max_abs_gap,
            alpha: spec.raw.thresholds.alpha,
            rule: spec.raw.thresholds.rule.as_str().to_string(),
            correction: "holm".to_string(),
        },
        summary: Summary {
            n_missing: missing,
            ..analysis.summary
        },
        probe_sets: sets
            .iter()
            .map(|(set, variants)| {
                let of_set: Vec<_> = responses
                    .iter()
                    .filter(|r| r.probe_set == set.id())
                    .collect();
                let scenarios: BTreeSet<_> = of_set.iter().map(|r| r.scenario.as_str()).collect();
                let mut variants: Vec<String> =
                    variants.iter().map(|v| v.as_str().to_string()).collect();
                variants.sort();
                variants.dedup();
                ProbeSetSummary {
                    id: set.id().to_string(),
                    kind: set.raw.kind.as_str().to_string(),
                    version: set.raw.version,
                    variants,
                    n_probes: of_set.len(),
                    n_scenarios: scenarios.len(),
                }
            })
            .chain(
                others
                    .iter()
                    .zip(&outcomes)
                    .map(|(set, (_, o))| ProbeSetSummary {
                        id: set.id().to_string(),
                        kind: set.kind().as_str().to_string(),
                        version: set.version(),
                        variants: Vec::new(),
                        n_probes: o.n_probes,
                        n_scenarios: o.n_scenarios,
                    }),
            )
            .collect(),
        axes: analysis.axes,
        groups: analysis.groups,
        findings: analysis.findings,
        examples,
        fairness: None,
        kinds: baselines
            .into_iter()
            .chain(outcomes.iter().map(|(set, o)| crate::results::KindSection {
                probe_set: set.id().to_string(),
                kind: set.kind().as_str().to_string(),
                detail: o.detail.clone(),
            }))
            .chain(corpus_sections)
            .collect(),
    };
    let results_path = out_dir.join(RESULTS_FILE);
    provenance::write_atomic(&results_path, &results.to_bytes())
        .map_err(|e| ProvenanceError::io(&results_path, e))?;

    let mut files = Vec::new();
    // A model behind a server has no file to list.
    if model.path.is_dir() {
        // A Hugging Face folder: each file probity read.
        for f in crate::backend::gguf::hf_files(&model.path)? {
            files.push(provenance::entry(FileRole::Model, &f, &out_dir)?);
        }
    } else if !model.path.as_os_str().is_empty() {
        files.push(provenance::entry(FileRole::Model, &model.path, &out_dir)?);
    }
    files.push(provenance::entry(FileRole::Spec, &spec.file, &out_dir)?);
    for (set, _) in &sets {
        files.push(provenance::entry(FileRole::ProbeSet, &set.file, &out_dir)?);
        for file in set.axes.iter().flat_map(|a| &a.files) {
            files.push(provenance::entry(FileRole::Lexicon, file, &out_dir)?);
        }
    }
    for set in &others {
        let mut own = set.files();
        let first = own.remove(0);
        files.push(provenance::entry(FileRole::ProbeSet, &first, &out_dir)?);
        for f in own {
            let role = if matches!(set, OtherSet::Memorisation(_)) {
                FileRole::Corpus
            } else if f.extension().is_some_and(|e| e == "toml") {
                FileRole::Lexicon
            } else {
                FileRole::ProbeSet
            };
            files.push(provenance::entry(role, &f, &out_dir)?);
        }
    }
    files.push(provenance::entry(
        FileRole::Output,
        &out_dir.join(RESPONSES_FILE),
        &out_dir,
    )?);
    for f in &corpus_read {
        files.push(provenance::entry(FileRole::Corpus, f, &out_dir)?);
    }
    for (_, o) in &outcomes {
        files.push(provenance::entry(FileRole::Output, &o.responses, &out_dir)?);
    }
    for f in &corpus_written {
        files.push(provenance::entry(FileRole::Output, f, &out_dir)?);
    }
    files.push(provenance::entry(
        FileRole::Output,
        &results_path,
        &out_dir,
    )?);
    let manifest = Manifest {
        schema: provenance::MANIFEST_SCHEMA.to_string(),
        audit_id: None,
        audit_name: spec.raw.audit.name.clone(),
        tool: ToolIdentity {
            name: "probity".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        seed,
        precision: Some(precision_name.to_string()),
        model: Some(info),
        parameters: serde_json::json!({
            "scoring": spec.raw.scoring,
            "thresholds": spec.raw.thresholds,
            "audit": spec.raw.audit,
            "probes": spec.raw.probes,
            "corpus": spec.raw.corpus,
        }),
        training_data: serde_json::to_value(&spec.raw.training_data).expect("json"),
        training_summary: serde_json::to_value(&spec.raw.training_summary).expect("json"),
        prev: spec.raw.audit.prev.clone(),
        signature: None,
        responses_tree: Some(provenance::merkle::LineTree::of(
            RESPONSES_FILE,
            &std::fs::read(out_dir.join(RESPONSES_FILE))
                .map_err(|e| ProvenanceError::io(&out_dir.join(RESPONSES_FILE), e))?,
        )),
        files,
    }
    .write_signed(&out_dir, options.sign.as_deref())?;
    let report = report::write_html(&out_dir, &results, &manifest)?;
    Ok(AuditOutcome {
        out_dir,
        results,
        manifest,
        report,
    })
}

/// A loaded probe set of a kind other than decision.
pub enum OtherSet {
    Paired(kinds::paired::PairedSet),
    Choice(kinds::choice::ChoiceSet),
    Generation(kinds::generation::GenerationSet),
    Association(crate::metric::association::AssociationSet),
    Memorisation(kinds::memorisation::MemorisationSet),
}

impl OtherSet {
    /// Loads a probe set of a non-decision kind (`None` for a decision set).
    pub fn load(
        path: &Path,
        variants: &[crate::probe::Variant],
    ) -> Result<Option<OtherSet>, ProbeError> {
        let set = match kinds::peek_kind(path)? {
            ProbeKind::Decision => None,
            ProbeKind::Paired => Some(OtherSet::Paired(kinds::paired::PairedSet::load(path)?)),
            ProbeKind::MultipleChoice => {
                Some(OtherSet::Choice(kinds::choice::ChoiceSet::load(path)?))
            }
            ProbeKind::Generation => Some(OtherSet::Generation(
                kinds::generation::GenerationSet::load(path, variants)?,
            )),
            ProbeKind::Association => Some(OtherSet::Association(
                crate::metric::association::AssociationSet::load(path)?,
            )),
            ProbeKind::Memorisation => Some(OtherSet::Memorisation(
                kinds::memorisation::MemorisationSet::load(path)?,
            )),
        };
        // The id names the set's responses file (`responses-<id>.jsonl`).
        if let Some(id) = set.as_ref().map(OtherSet::id) {
            let safe = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !safe {
                return Err(kinds::invalid(
                    path,
                    format!("`id = {id:?}`: use letters, digits, `-` and `_` only (it names the set's responses file)"),
                ));
            }
        }
        Ok(set)
    }

    pub fn id(&self) -> &str {
        match self {
            OtherSet::Paired(s) => &s.id,
            OtherSet::Choice(s) => &s.id,
            OtherSet::Generation(s) => &s.id,
            OtherSet::Association(s) => &s.id,
            OtherSet::Memorisation(s) => &s.id,
        }
    }

    pub fn kind(&self) -> ProbeKind {
        match self {
            OtherSet::Paired(_) => ProbeKind::Paired,
            OtherSet::Choice(_) => ProbeKind::MultipleChoice,
            OtherSet::Generation(_) => ProbeKind::Generation,
            OtherSet::Association(_) => ProbeKind::Association,
            OtherSet::Memorisation(_) => ProbeKind::Memorisation,
        }
    }

    pub fn version(&self) -> u32 {
        match self {
            OtherSet::Paired(s) => s.version,
            OtherSet::Choice(s) => s.version,
            OtherSet::Generation(s) => s.version,
            OtherSet::Association(s) => s.version,
            OtherSet::Memorisation(s) => s.version,
        }
    }

    /// The set's file first, then every file it read (lexicon, word lists).
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            OtherSet::Paired(s) => s.files(),
            OtherSet::Choice(s) => s.files(),
            OtherSet::Generation(s) => s.files(),
            OtherSet::Association(s) => s.files(),
            OtherSet::Memorisation(s) => s.files(),
        }
    }

    /// Units of work, for the progress bar.
    pub fn n_units(&self) -> usize {
        match self {
            OtherSet::Paired(s) => s.units.len(),
            OtherSet::Choice(s) => s.items.len(),
            OtherSet::Generation(s) => s.n_samples(),
            OtherSet::Association(s) => s.tests.len(),
            OtherSet::Memorisation(s) => s.units.len(),
        }
    }
}

/// Runs and analyses the non-decision probe sets over the audit's model (and the
/// embedding model, loaded once when a set needs it).
fn run_other_kinds<'a>(
    others: &'a [OtherSet],
    backend: &mut Backend,
    spec: &AuditSpec,
    seed: u64,
    out_dir: &Path,
    progress: &mut dyn Progress,
) -> Result<Vec<(&'a OtherSet, KindOutcome)>, AuditError> {
    let settings = kinds::AnalysisSettings {
        scoring: &spec.raw.scoring,
        thresholds: &spec.raw.thresholds,
        seed,
    };
    let mut embedder: Option<crate::backend::BertEmbedder> = None;
    let mut scorers: Option<crate::metric::scorers::Scorers> = None;
    let mut outcomes = Vec::new();
    for set in others {
        let outcome = match set {
            OtherSet::Paired(s) => {
                let (lines, path) =
                    kinds::paired::run(s, backend, out_dir, |n| progress.advance(n))?;
                kinds::paired::analyse(s, &lines, &settings, path)
            }
            OtherSet::Choice(s) => {
                let (lines, path) =
                    kinds::choice::run(s, backend, spec.raw.scoring.chat, out_dir, |n| {
                        progress.advance(n)
                    })?;
                kinds::choice::analyse(s, &lines, &settings, path)
            }
            OtherSet::Generation(s) => {
                if scorers.is_none() {
                    let folder = embedding_folder(spec, progress)?;
                    progress.message("training the regard classifier on its anchor sentences");
                    scorers = Some(
                        crate::metric::scorers::Scorers::load_model(
                            &folder,
                            &scorer_dir(spec),
                            seed,
                        )
                        .map_err(|m| RunError::Internal(format!("generation scorers: {m}")))?,
                    );
                }
                let sc = scorers.as_ref().expect("loaded above");
                let mut score = |texts: &[String]| -> Result<Vec<BTreeMap<String, f64>>, String> {
                    Ok(sc
                        .score(texts)?
                        .iter()
                        .map(kinds::generation::named_scores)
                        .collect())
                };
                let (lines, path) =
                    kinds::generation::run(s, backend, &mut score, seed, out_dir, |n| {
                        progress.advance(n)
                    })?;
                let mut outcome = kinds::generation::analyse(s, &lines, &settings, path);
                outcome.detail["scorer_control"] =
                    kinds::generation::control_gaps(s, &mut score)
                        .map_err(|m| RunError::Internal(format!("generation scorers: {m}")))?;
                outcome.detail["classifier"] = serde_json::to_value(sc.classifier_report())
                    .expect("classifier report serialises");
                outcome
            }
            OtherSet::Association(s) => {
                if embedder.is_none() {
                    let folder = embedding_folder(spec, progress)?;
                    embedder = Some(crate::backend::BertEmbedder::open(&folder)?);
                }
                let e = embedder.as_ref().expect("opened above");
                let outcome = kinds::association::run(s, e, &settings, out_dir)
                    .map_err(|m| RunError::Internal(format!("association `{}`: {m}", s.id)))?;
                progress.advance(s.tests.len());
                outcome
            }
            OtherSet::Memorisation(s) => {
                let (lines, path) =
                    kinds::memorisation::run(s, backend, out_dir, |n| progress.advance(n))?;
                kinds::memorisation::analyse(s, &lines, &settings, path)
            }
        };
        outcomes.push((set, outcome));
    }
    Ok(outcomes)
}

/// The folder of the generation scorers' shipped data (anchor sentences, insult
/// list): `probes/scorers` beside the spec's probe sets.
fn scorer_dir(spec: &AuditSpec) -> PathBuf {
    spec.probe_paths
        .iter()
        .filter_map(|p| p.parent())
        .map(|d| d.join("scorers"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("probes/scorers"))
}

/// The folder of the spec's embedding model (pulled when not cached).
fn embedding_folder(spec: &AuditSpec, progress: &mut dyn Progress) -> Result<PathBuf, AuditError> {
    let folder = match &spec.raw.embedding.path {
        Some(p) => spec.file.parent().unwrap_or(Path::new(".")).join(p),
        None => crate::backend::known::resolve_embedding(&spec.raw.embedding.name, &mut |m| {
            progress.message(m)
        })?,
    };
    progress.message(&format!("embedding model: {}", folder.display()));
    Ok(folder)
}

/// Describes a model file (for `probity model info`).
pub fn describe_model(path: &Path) -> Result<crate::backend::ModelInfo, BackendError> {
    let sha256 = crate::backend::known::sha256_file(path)?;
    gguf::describe(path, &sha256)
}
