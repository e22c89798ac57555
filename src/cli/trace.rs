//! `probity fingerprint index` and `probity trace`.

use super::commands::{bad_input, CliError, Status};
use super::{FingerprintCommand, TraceArgs};
use crate::provenance::fingerprint::{self, FingerprintIndex, Match};

pub(super) fn fingerprint_command(cmd: FingerprintCommand) -> Result<Status, CliError> {
    match cmd {
        FingerprintCommand::Index { dirs, output } => {
            let started = std::time::Instant::now();
            let stats = fingerprint::write(&dirs, &output)?;
            eprintln!(
                "{} audit(s), {} responses file(s) in {:.1} s",
                stats.audits,
                stats.files,
                started.elapsed().as_secs_f64()
            );
            println!(
                "indexed {} text(s); {} line(s) without an output text (nothing to fingerprint)",
                stats.indexed, stats.without_output
            );
            println!("index: {}", output.display());
            Ok(Status::Ok)
        }
    }
}

/// Control characters of index strings (probe ids, paths) shown escaped: they
/// are data, not terminal commands.
fn shown(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn describe(m: &Match) -> String {
    let model = if m.model_name.is_empty() {
        "(no model)".to_string()
    } else if m.model_sha256.is_empty() {
        shown(&m.model_name)
    } else {
        format!(
            "{} (sha256 {})",
            shown(&m.model_name),
            shown(&m.model_sha256)
        )
    };
    format!(
        "audit {}  model {model}  probe {}  {}:{}",
        shown(&m.audit_id),
        shown(&m.probe_id),
        shown(&m.file),
        m.line
    )
}

pub(super) fn trace_command(args: TraceArgs) -> Result<Status, CliError> {
    if !(0.0..=1.0).contains(&args.min_jaccard) {
        return Err(bad_input(anyhow::anyhow!(
            "--min-jaccard {} must be between 0 and 1",
            args.min_jaccard
        )));
    }
    let text = match (&args.text, &args.file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| bad_input(anyhow::anyhow!("cannot read {}: {e}", f.display())))?,
        (None, None) => return Err(bad_input(anyhow::anyhow!("give a TEXT or --file"))),
    };
    if text.trim().is_empty() {
        return Err(bad_input(anyhow::anyhow!("the text to trace is empty")));
    }
    if let Some(key) = &args.watermark_key {
        let status = super::watermark::detect_command(super::watermark::DetectArgs {
            model: args.model.clone(),
            text: Some(text.clone()),
            file: None,
            key: key.clone(),
            gamma: args.gamma,
            z_threshold: 4.0,
            json: args.json,
        })?;
        if args.index.is_none() {
            return Ok(status);
        }
    }
    let Some(index_path) = &args.index else {
        return Err(bad_input(anyhow::anyhow!(
            "give --index or --watermark-key"
        )));
    };
    let index = FingerprintIndex::open(index_path)?;
    let trace = index.trace(&text, args.min_jaccard);
    let found = !trace.matches.is_empty();
    if args.json {
        let mut value = serde_json::to_value(&trace).expect("a trace serialises");
        value["found"] = found.into();
        value["index"] = index_path.display().to_string().into();
        value["indexed_texts"] = index.len().into();
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    } else if let Some(first) = trace.matches.first() {
        if first.kind == "exact" {
            println!("exact match in {} response(s):", trace.matches.len());
            for m in &trace.matches {
                println!("  {}", describe(m));
            }
        } else {
            println!(
                "no exact match; {} near match(es) with estimated Jaccard >= {} ({} candidate(s) checked):",
                trace.matches.len(),
                args.min_jaccard,
                trace.candidates
            );
            for m in &trace.matches {
                println!(
                    "  J~{:.3}  simhash distance {:>2}  {}",
                    m.jaccard_estimate,
                    m.simhash_distance,
                    describe(m)
                );
            }
        }
    } else {
        println!(
            "not found: no exact match and no near match with estimated Jaccard >= {} ({} candidate(s) checked) among {} indexed text(s)",
            args.min_jaccard,
            trace.candidates,
            index.len()
        );
    }
    Ok(if found { Status::Ok } else { Status::Failed })
}
