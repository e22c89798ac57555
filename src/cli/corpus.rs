//! `probity corpus`: build an overlap index of a folder of works, and check model
//! outputs against it.

use super::commands::{bad_input, set_threads, CliError, Status};
use crate::corpus::{self, BuildOptions, CorpusError, CorpusIndex, Overlap};
use clap::Subcommand;
use rayon::prelude::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Index a folder of works (*.txt, *.md, *.jsonl with `text` and optional `title`) for verbatim and near-duplicate overlap.
    #[command(
        after_help = "Example:\n  probity corpus index protected/ -o protected.idx\n  probity corpus index protected/ -o protected.idx --ngram 8 --stride 4 --threads 2"
    )]
    Index {
        /// The folder of works (read recursively; hidden entries are skipped).
        dir: PathBuf,
        /// The index file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// n of the verbatim n-gram index, in words.
        #[arg(long, default_value_t = corpus::DEFAULT_NGRAM)]
        ngram: usize,
        /// Index the n-gram starting at every S-th word of each work: every shared span of at least n + S − 1 words is found (1: every n-gram).
        #[arg(long, default_value_t = corpus::DEFAULT_STRIDE)]
        stride: usize,
        /// Worker threads (default: all cores). The index does not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Longest verbatim span, share of n-grams in the corpus and near-duplicate works of each output.
    #[command(
        after_help = "Examples:\n  probity corpus check --index protected.idx 'text of a model output'\n  probity corpus check --index protected.idx --file outputs.jsonl --json"
    )]
    Check {
        /// The index (`probity corpus index`).
        #[arg(long)]
        index: PathBuf,
        /// An output to check (repeat for several).
        texts: Vec<String>,
        /// A file of outputs: `.jsonl` with `text` (and optional `id`) per line, else the whole file is one output.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

pub fn corpus_command(cmd: CorpusCommand) -> Result<Status, CliError> {
    match cmd {
        CorpusCommand::Index {
            dir,
            output,
            ngram,
            stride,
            threads,
            json,
        } => {
            set_threads(threads)?;
            let started = std::time::Instant::now();
            let s = corpus::build_index(&dir, &output, &BuildOptions { ngram, stride })?;
            let seconds = started.elapsed().as_secs_f64();
            if json {
                let mut v = serde_json::to_value(&s).expect("a summary serialises");
                v["index"] = output.display().to_string().into();
                v["seconds"] = seconds.into();
                println!("{v}");
            } else {
                println!(
                    "{} works ({} files, {:.1} MB, {} words) in {seconds:.2} s ({:.1} MB/s)",
                    s.works,
                    s.files,
                    s.bytes as f64 / 1e6,
                    s.tokens,
                    s.bytes as f64 / 1e6 / seconds.max(1e-9)
                );
                println!(
                    "index: {} ({:.1} MB; {} {}-grams at stride {}: every shared span of {} words or more is found; MinHash LSH {} bands × {} rows)",
                    output.display(),
                    s.index_bytes as f64 / 1e6,
                    s.ngrams,
                    s.ngram,
                    s.stride,
                    s.guaranteed_span,
                    s.bands,
                    s.rows
                );
            }
            Ok(Status::Ok)
        }
        CorpusCommand::Check {
            index,
            texts,
            file,
            json,
            threads,
        } => {
            set_threads(threads)?;
            let mut outputs: Vec<(String, String)> = texts
                .into_iter()
                .enumerate()
                .map(|(i, t)| ((i + 1).to_string(), t))
                .collect();
            if let Some(f) = &file {
                outputs.extend(read_outputs(f)?);
            }
            if outputs.is_empty() {
                return Err(bad_input(anyhow::anyhow!(
                    "nothing to check: give a TEXT or --file FILE"
                )));
            }
            let idx = CorpusIndex::open(&index)?;
            let results: Vec<Overlap> = outputs.par_iter().map(|(_, t)| idx.check(t)).collect();
            if json {
                print_json(&idx, &outputs, &results);
            } else {
                for ((id, _), r) in outputs.iter().zip(&results) {
                    print_text(id, &idx, r);
                }
            }
            Ok(Status::Ok)
        }
    }
}

/// The outputs in a file, with their ids.
fn read_outputs(path: &Path) -> Result<Vec<(String, String)>, CorpusError> {
    let io = |e| CorpusError::io(path, e);
    if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
        let text = std::fs::read_to_string(path).map_err(io)?;
        return Ok(vec![(path.display().to_string(), text)]);
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        let bad = |message: String| CorpusError::BadWork {
            file: path.to_path_buf(),
            line: Some(i + 1),
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let text = match v.get("text") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(bad("`text` is not a string".into())),
            None => return Err(bad("no `text` field".into())),
        };
        let id = match v.get("id") {
            None | Some(serde_json::Value::Null) => (i + 1).to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        out.push((id, text));
    }
    Ok(out)
}

fn print_json(idx: &CorpusIndex, outputs: &[(String, String)], results: &[Overlap]) {
    let p = idx.params();
    let list: Vec<serde_json::Value> = outputs
        .iter()
        .zip(results)
        .map(|((id, _), r)| {
            let mut v = serde_json::to_value(r).expect("an overlap serialises");
            let obj = v.as_object_mut().expect("an object");
            obj.insert("id".into(), id.clone().into());
            v
        })
        .collect();
    let v = serde_json::json!({
        "index": {
            "path": idx.path().display().to_string(),
            "body_sha256": idx.body_sha256(),
            "works": p.works,
            "ngram": p.ngram,
            "stride": p.stride,
            "guaranteed_span_words": p.ngram + p.stride - 1,
            "shingle_words": p.shingle,
            "minhash_values": p.num_perm,
            "lsh_bands": p.bands,
            "lsh_rows": p.rows,
            "lsh_threshold": (1.0 / p.bands as f64).powf(1.0 / p.rows as f64),
        },
        "outputs": list,
    });
    println!("{v}");
}

fn print_text(id: &str, idx: &CorpusIndex, r: &Overlap) {
    let n = idx.params().ngram;
    let g = r.guaranteed_span;
    println!("output {id}: {} words", r.tokens);
    match &r.longest_span {
        Some(s) => println!(
            "  longest verbatim span: {} words from \"{}\" ({}{}, sha256 {}, word {})",
            s.tokens,
            s.work.title,
            s.work.source,
            s.work.line.map(|l| format!(":{l}")).unwrap_or_default(),
            s.work.sha256,
            s.work_offset
        ),
        None => println!("  longest verbatim span: none of {g} words or more"),
    }
    println!(
        "  {n}-grams in a span found in the corpus: {}/{} ({:.1}%)",
        r.ngrams_in_corpus,
        r.ngrams,
        100.0 * r.share_in_corpus
    );
    if r.near_duplicates.is_empty() {
        println!("  near duplicates: none");
    }
    for d in &r.near_duplicates {
        println!(
            "  near duplicate: \"{}\" ({}, sha256 {}), estimated Jaccard {:.2}",
            d.work.title, d.work.source, d.work.sha256, d.estimated_jaccard
        );
    }
}
