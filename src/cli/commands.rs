//! One function per command: typed options in, library calls, text out.

use super::progress::TerminalProgress;
use super::{Cli, Command, ModelCommand, ProbesCommand};
use crate::audit::{self, AuditOptions};
use crate::backend::{Backend, BackendError, GgufModel, KnownModel};
use crate::probe::{ProbeSet, Selection, Variant};
use crate::provenance;
use crate::report;
use crate::results::Verdict;
use crate::spec::Precision;
use crate::{Classify, FailureKind};
use anyhow::Context;
use clap::Parser;
use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// How a command ended, when it ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every threshold holds / everything verified.
    Ok,
    /// A threshold is breached / a file changed.
    Failed,
}

/// A command that could not complete, with the kind of failure for the exit code.
#[derive(Debug)]
pub struct CliError {
    pub kind: FailureKind,
    pub error: anyhow::Error,
}

impl<E> From<E> for CliError
where
    E: Classify + std::error::Error + Send + Sync + 'static,
{
    fn from(e: E) -> CliError {
        CliError {
            kind: e.kind(),
            error: e.into(),
        }
    }
}

/// The in-process model a `model score` or `model generate` names, at the
/// precision asked for, with a replacement chat template when one is given.
pub(super) fn open_cli_model(
    model: &str,
    precision: &str,
    chat_template: Option<&Path>,
) -> Result<GgufModel, CliError> {
    let precision = parse_precision(precision)?;
    let (path, sha, _) = resolve_model_arg(model)?;
    let mut gguf = GgufModel::open(&path, &sha, precision)?;
    if let Some(t) = chat_template {
        gguf.set_chat_template(t)?;
    }
    Ok(gguf)
}

fn parse_precision(precision: &str) -> Result<Precision, CliError> {
    match precision {
        "f32" => Ok(Precision::F32),
        "bf16" => Ok(Precision::Bf16),
        "quantized" => Ok(Precision::Quantized),
        other => Err(bad_input(anyhow::anyhow!(
            "--precision `{other}`: use f32, bf16 or quantized"
        ))),
    }
}

pub(super) fn bad_input(error: anyhow::Error) -> CliError {
    CliError {
        kind: FailureKind::BadInput,
        error,
    }
}

/// Parses the arguments and runs the command. `Err` of clap's own (help, version,
/// usage) is returned as is so `main` can print it with clap's formatting.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
) -> Result<Result<Status, CliError>, clap::Error> {
    let cli = Cli::try_parse_from(args)?;
    Ok(dispatch(cli.command))
}

fn dispatch(command: Command) -> Result<Status, CliError> {
    match command {
        Command::Audit {
            spec,
            out,
            seed,
            threads,
            force,
            sign,
        } => {
            set_threads(threads)?;
            audit_command(
                &spec,
                AuditOptions {
                    out,
                    seed,
                    force,
                    sign,
                },
            )
        }
        Command::Keygen { output } => {
            let public = provenance::signing::keygen(&output)?;
            println!("secret key: {} (keep it private)", output.display());
            println!("public key: {public}");
            Ok(Status::Ok)
        }
        Command::Probes(cmd) => probes_command(cmd),
        Command::Model(cmd) => model_command(cmd),
        Command::Report {
            dir,
            mut formats,
            output,
        } => {
            if formats.is_empty() {
                formats.push(report::Format::Html);
            }
            if output.is_some() && formats.len() > 1 {
                return Err(bad_input(anyhow::anyhow!(
                    "-o/--output takes one --format; give several formats without -o to write each to its default file"
                )));
            }
            for format in formats {
                let to = report::render_dir(&dir, format, output.as_deref())?;
                if to != "standard output" {
                    println!("report: {to}");
                }
            }
            Ok(Status::Ok)
        }
        Command::Verify { dir, key } => verify_command(&dir, key.as_deref()),
        Command::Fairness(args) => super::fairness::fairness_command(args),
        Command::Corpus(cmd) => super::corpus::corpus_command(cmd),
        Command::Fingerprint(cmd) => super::trace::fingerprint_command(cmd),
        Command::Trace(args) => super::trace::trace_command(args),
    }
}

/// Sets the worker threads for rayon and candle's matrix products (both read
/// RAYON_NUM_THREADS). Must run before any parallel work starts.
pub(super) fn set_threads(threads: Option<usize>) -> Result<(), CliError> {
    if let Some(n) = threads {
        if n == 0 {
            return Err(bad_input(anyhow::anyhow!("--threads must be at least 1")));
        }
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        // Ignore "already initialised": only possible when embedded in a program
        // that started rayon itself, which then owns the pool size.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(())
}

fn audit_command(spec: &Path, options: AuditOptions) -> Result<Status, CliError> {
    let mut progress = TerminalProgress::new();
    let started = std::time::Instant::now();
    let outcome = audit::run_audit(spec, &options, &mut progress)?;
    let s = &outcome.results.summary;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} probes in {seconds:.1} s; {} comparisons, {} breach{}, {} with too few scenarios",
        s.n_probes,
        s.n_findings,
        s.n_breaches,
        if s.n_breaches == 1 { "" } else { "es" },
        s.n_insufficient
    );
    println!("verdict: {}", s.verdict.as_str());
    println!(
        "audit id: {}",
        outcome.manifest.audit_id.as_deref().unwrap_or("")
    );
    println!(
        "results: {}",
        outcome.out_dir.join(crate::results::RESULTS_FILE).display()
    );
    println!("report: {}", outcome.report.display());
    Ok(if s.verdict == Verdict::Breach {
        Status::Failed
    } else {
        Status::Ok
    })
}

fn verify_command(dir: &Path, key: Option<&Path>) -> Result<Status, CliError> {
    let v = provenance::verify_with_key(dir, key)?;
    for problem in &v.problems {
        println!("{problem}");
    }
    if v.problems.is_empty() {
        println!("ok: {} files match manifest {}", v.checked, v.audit_id);
        if let Some(signer) = &v.signed_by {
            println!(
                "signed by {signer}{}",
                if key.is_some() {
                    " (the key given)"
                } else {
                    " (give --key to require this key)"
                }
            );
        }
        Ok(Status::Ok)
    } else {
        println!(
            "FAILED: {} problem(s) in {}",
            v.problems.len(),
            dir.display()
        );
        Ok(Status::Failed)
    }
}

fn set_path(id: &str, dir: &Path) -> PathBuf {
    let p = PathBuf::from(id);
    if p.extension().is_some_and(|e| e == "toml") || p.is_file() {
        p
    } else {
        dir.join(format!("{id}.toml"))
    }
}

fn import_command(
    format: crate::probe::import::Format,
    file: &Path,
    output: &Path,
    id: Option<String>,
    reference: &[String],
    on_bad_row: &str,
) -> Result<Status, CliError> {
    use crate::probe::import::{import, ImportOptions, OnBadRow};
    let mut references = Vec::new();
    for r in reference {
        let Some((axis, descriptor)) = r.split_once('=') else {
            return Err(bad_input(anyhow::anyhow!(
                "--reference `{r}`: use AXIS=DESCRIPTOR"
            )));
        };
        references.push((axis.to_string(), descriptor.to_string()));
    }
    let options = ImportOptions {
        on_bad_row: if on_bad_row == "skip" {
            OnBadRow::Skip
        } else {
            OnBadRow::Fail
        },
        id,
        references,
    };
    let report = import(format, file, output, &options)?;
    for skipped in &report.skipped {
        match skipped.line {
            Some(line) => eprintln!(
                "skipped {}, line {line}: {}",
                file.display(),
                skipped.message
            ),
            None => eprintln!("skipped {}: {}", file.display(), skipped.message),
        }
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    println!(
        "{}: {} {} written to {} ({} rows skipped)",
        format.as_str(),
        report.entries,
        report.unit,
        report
            .written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        report.skipped.len()
    );
    Ok(Status::Ok)
}

fn probes_command(cmd: ProbesCommand) -> Result<Status, CliError> {
    match cmd {
        ProbesCommand::List { dir } => {
            for file in crate::probe::list_sets(&dir)? {
                let variants = [Variant::Explicit, Variant::Implicit];
                if let Some(other) = crate::audit::OtherSet::load(&file, &variants)? {
                    println!(
                        "{:<16} {:<15} v{}  {:>5} units  ({})",
                        other.id(),
                        other.kind().as_str(),
                        other.version(),
                        other.n_units(),
                        file.display()
                    );
                    continue;
                }
                let set = ProbeSet::load(&file)?;
                let probes = set.expand(&Selection::all())?;
                println!(
                    "{:<16} {:<9} v{}  {:>3} scenarios  {:>5} probes  axes: {}  ({})",
                    set.id(),
                    set.raw.kind.as_str(),
                    set.raw.version,
                    set.raw.scenario.len(),
                    probes.len(),
                    set.axes
                        .iter()
                        .map(|a| a.axis.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    file.display()
                );
            }
            Ok(Status::Ok)
        }
        ProbesCommand::Show { id, dir } => {
            let path = set_path(&id, &dir);
            let variants = [Variant::Explicit, Variant::Implicit];
            if let Some(other) = crate::audit::OtherSet::load(&path, &variants)? {
                println!(
                    "{} ({}, version {}): {} units",
                    other.id(),
                    other.kind().as_str(),
                    other.version(),
                    other.n_units()
                );
                for f in other.files() {
                    println!("  reads {}", f.display());
                }
                return Ok(Status::Ok);
            }
            let set = ProbeSet::load(&path)?;
            println!(
                "{} ({}, version {})",
                set.id(),
                set.raw.kind.as_str(),
                set.raw.version
            );
            if let Some(d) = &set.raw.description {
                println!("{d}");
            }
            println!("\naxes:");
            for axis in &set.axes {
                println!(
                    "  {} (reference: {}; {})",
                    axis.axis, axis.reference, axis.reference_why
                );
                for g in &axis.groups {
                    let names = if g.names.is_empty() {
                        String::new()
                    } else {
                        format!("  names: {}", g.names.join(", "))
                    };
                    println!("    {:<18} \"{}\"{names}", g.id, g.explicit);
                }
            }
            println!("\nscenarios:");
            for s in &set.raw.scenario {
                println!(
                    "  {:<28} {}",
                    s.id.get_ref(),
                    s.domain.as_deref().unwrap_or("")
                );
            }
            let probes = set.expand(&Selection::all())?;
            println!(
                "\n{} probes; the first:\n{}",
                probes.len(),
                probes[0].prompt
            );
            Ok(Status::Ok)
        }
        ProbesCommand::Import {
            format,
            file,
            output,
            id,
            reference,
            on_bad_row,
        } => import_command(format, &file, &output, id, &reference, &on_bad_row),
        ProbesCommand::Validate { files, dir } => {
            let files = if files.is_empty() {
                crate::probe::list_sets(&dir)?
            } else {
                files
            };
            if files.is_empty() {
                return Err(bad_input(anyhow::anyhow!(
                    "no probe-set files to validate in {}",
                    dir.display()
                )));
            }
            for file in files {
                let variants = [Variant::Explicit, Variant::Implicit];
                if let Some(other) = crate::audit::OtherSet::load(&file, &variants)? {
                    println!(
                        "ok {}: {} probe set, {} units",
                        file.display(),
                        other.kind().as_str(),
                        other.n_units()
                    );
                    continue;
                }
                let set = ProbeSet::load(&file)?;
                let probes = set.expand(&Selection::all())?;
                println!(
                    "ok {}: {} scenarios, {} probes",
                    file.display(),
                    set.raw.scenario.len(),
                    probes.len()
                );
            }
            Ok(Status::Ok)
        }
    }
}

/// A model argument: a known model's name (pulled if not cached) or a GGUF path.
fn resolve_model_arg(model: &str) -> Result<(PathBuf, String, Option<KnownModel>), CliError> {
    if let Ok(known) = KnownModel::find(model) {
        let pinned = known.file_sha256()?.to_string();
        let path = match known.cached() {
            Some(p) => p,
            None => known.pull(&mut |m| eprintln!("{m}"))?,
        };
        let sha = crate::backend::known::sha256_file(&path)?;
        if sha != pinned {
            return Err(BackendError::HashMismatch {
                file: path,
                expected: pinned,
                actual: sha,
            }
            .into());
        }
        return Ok((path, sha, Some(known)));
    }
    let path = PathBuf::from(model);
    if !path.is_file() {
        return Err(BackendError::MissingModel(path).into());
    }
    let sha = crate::backend::known::sha256_file(&path)?;
    Ok((path, sha, None))
}

fn model_command(cmd: ModelCommand) -> Result<Status, CliError> {
    match cmd {
        ModelCommand::Pull { name } => {
            let known = KnownModel::find(&name)?;
            let path = known.pull(&mut |m| eprintln!("{m}"))?;
            println!("{}", path.display());
            Ok(Status::Ok)
        }
        ModelCommand::Info { model, json } => {
            let (path, sha, known) = resolve_model_arg(&model)?;
            let mut info = crate::backend::gguf::describe(&path, &sha)?;
            if let Some(k) = known {
                info.name = k.name;
                info.licence = Some(k.licence);
                info.upstream = Some(k.upstream);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&info).expect("json"));
            } else {
                println!("name:          {}", info.name);
                println!("file:          {}", path.display());
                println!("architecture:  {}", info.architecture);
                println!(
                    "parameters:    {} ({:.1} M)",
                    info.parameters,
                    info.parameters as f64 / 1e6
                );
                println!("quantisation:  {}", info.quantisation);
                println!("vocabulary:    {}", info.vocab_size);
                if let Some(c) = info.context_length {
                    println!("context:       {c}");
                }
                println!(
                    "chat template: {}",
                    if info.has_chat_template { "yes" } else { "no" }
                );
                println!(
                    "licence:       {}",
                    info.licence.as_deref().unwrap_or("not stated in the file")
                );
                println!("size:          {} bytes", info.size_bytes);
                println!("sha256:        {}", info.sha256);
            }
            Ok(Status::Ok)
        }
        ModelCommand::Generate {
            model,
            prompt,
            chat,
            chat_template,
            max_tokens,
            temperature,
            top_p,
            seed,
            stop,
            json,
            precision,
            threads,
            watermark_key,
            gamma,
            delta,
        } => {
            set_threads(threads)?;
            let watermark = watermark_key
                .map(|k| super::watermark::config(&k, gamma, delta))
                .transpose()?;
            let model = open_cli_model(&model, &precision, chat_template.as_deref())?;
            let text = if chat || chat_template.is_some() {
                model.chat_prompt(&prompt)?
            } else {
                prompt
            };
            let config = crate::backend::generate::GenerationConfig {
                max_tokens,
                temperature,
                top_p,
                seed,
                stop,
                watermark,
            };
            let g = model.generate(&text, &config)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&g).expect("json"));
            } else {
                println!("{}", g.text);
                eprintln!("{} tokens; stopped: {}", g.tokens.len(), g.finish.as_str());
            }
            Ok(Status::Ok)
        }
        ModelCommand::DetectWatermark {
            model,
            text,
            file,
            watermark_key,
            gamma,
            z_threshold,
            json,
        } => super::watermark::detect_command(super::watermark::DetectArgs {
            model,
            text,
            file,
            key: watermark_key,
            gamma,
            z_threshold,
            json,
        }),
        ModelCommand::Score {
            model,
            prompt,
            prompt_file,
            prompts,
            continuation,
            chat,
            chat_template,
            json,
            precision,
            threads,
        } => {
            set_threads(threads)?;
            let gguf = open_cli_model(&model, &precision, chat_template.as_deref())?;
            let chat = chat || chat_template.is_some();
            let mut backend = Backend::Gguf(Box::new(gguf));
            let wrap = |backend: &Backend, text: String| -> Result<String, CliError> {
                if chat {
                    Ok(backend.chat_prompt(&text)?)
                } else {
                    Ok(text)
                }
            };
            if let Some(file) = prompts {
                let reader = std::io::BufReader::new(
                    std::fs::File::open(&file)
                        .with_context(|| format!("cannot read {}", file.display()))
                        .map_err(bad_input)?,
                );
                for (i, line) in reader.lines().enumerate() {
                    let line = line
                        .with_context(|| format!("{}: line {}", file.display(), i + 1))
                        .map_err(bad_input)?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let value: serde_json::Value = serde_json::from_str(&line)
                        .with_context(|| format!("{}: line {}: not JSON", file.display(), i + 1))
                        .map_err(bad_input)?;
                    let text = value
                        .get("prompt")
                        .and_then(|p| p.as_str())
                        .ok_or_else(|| {
                            bad_input(anyhow::anyhow!(
                                "{}: line {}: no string field `prompt`",
                                file.display(),
                                i + 1
                            ))
                        })?;
                    let id = value.get("id").cloned().unwrap_or(serde_json::Value::Null);
                    let text = wrap(&backend, text.to_string())?;
                    let scores = backend
                        .score(&[crate::backend::ScorePrompt::raw(text)], &continuation)?
                        .remove(0);
                    println!(
                        "{}",
                        serde_json::json!({ "id": id, "continuations": scores })
                    );
                }
                return Ok(Status::Ok);
            }
            let text = match (prompt, prompt_file) {
                (Some(p), _) => p,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))
                    .map_err(bad_input)?,
                (None, None) => {
                    return Err(bad_input(anyhow::anyhow!(
                        "give --prompt, --prompt-file or --prompts"
                    )))
                }
            };
            let text = wrap(&backend, text)?;
            let scores = backend
                .score(&[crate::backend::ScorePrompt::raw(text)], &continuation)?
                .remove(0);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "continuations": scores }))
                        .expect("json")
                );
            } else {
                for c in &scores {
                    println!("{:>12.6}  {:?}", c.logprob, c.text);
                    for t in &c.tokens {
                        println!(
                            "              {:>12.6}  {:>6}  {:?}",
                            t.logprob, t.id, t.piece
                        );
                    }
                }
            }
            Ok(Status::Ok)
        }
        ModelCommand::Embed {
            model,
            text,
            json,
            threads,
        } => {
            set_threads(threads)?;
            embed_command(&model, &text, json)
        }
    }
}

/// An embedding model argument: a known BERT model's name (pulled if not cached;
/// its files checked against their pins) or a model folder.
fn resolve_embedding_model(model: &str) -> Result<PathBuf, CliError> {
    Ok(crate::backend::known::resolve_embedding(model, &mut |m| {
        eprintln!("{m}")
    })?)
}

fn embed_command(model: &str, texts: &[String], json: bool) -> Result<Status, CliError> {
    let folder = resolve_embedding_model(model)?;
    let embedder = crate::backend::BertEmbedder::open(&folder)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encoded = embedder.encode(&refs)?;
    for (i, e) in encoded.iter().enumerate() {
        if e.truncated {
            eprintln!(
                "note: text {} is longer than {} tokens; only its first {} are embedded",
                i + 1,
                embedder.max_tokens(),
                embedder.max_tokens()
            );
        }
    }
    let started = std::time::Instant::now();
    let embeddings = embedder.embed_encoded(&encoded)?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        println!("{}", serde_json::json!({ "embeddings": embeddings }));
    } else {
        const SHOWN: usize = 6;
        for (text, e) in texts.iter().zip(&embeddings) {
            let head: Vec<String> = e.iter().take(SHOWN).map(|v| format!("{v:+.5}")).collect();
            let more = if e.len() > SHOWN { " …" } else { "" };
            println!("{:>5}  [{}{more}]  {text:?}", e.len(), head.join(", "));
        }
    }
    eprintln!(
        "{} embedding{} of dimension {} in {seconds:.3} s ({:.0}/s)",
        embeddings.len(),
        if embeddings.len() == 1 { "" } else { "s" },
        embedder.dimension(),
        embeddings.len() as f64 / seconds.max(1e-9)
    );
    Ok(Status::Ok)
}
