//! Protected-corpus overlap of an audit's outputs: every text the model wrote
//! during the audit (the `output` of each line of its responses files) is checked
//! against each corpus the spec names in `[[corpus]]`. Each corpus gives one
//! finding, the longest verbatim span (in words) any output shares with one of its
//! works, which breaches when it is longer than the corpus's `max_span_words`.
//! That is a count over every output, not an estimate: it has no interval and no
//! p-value, and it is not part of the Holm family.

use crate::corpus::{
    build_index, BuildOptions, CorpusIndex, Overlap, DEFAULT_NGRAM, DEFAULT_STRIDE,
};
use crate::results::{Finding, KindSection, Verdict};
use crate::spec::{AuditSpec, CorpusCheck};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The `kind` of a corpus finding and of its section of results.json.
pub const KIND: &str = "corpus_overlap";
/// Near-duplicate candidates at or above this estimated Jaccard similarity are
/// counted in the figures.
pub const NEAR_DUPLICATE_JACCARD: f64 = 0.5;

/// One text the model wrote in the audit.
#[derive(Debug, Clone)]
pub struct OutputText {
    /// The responses file it is in (its name in the out dir).
    pub file: String,
    pub probe_id: String,
    pub text: String,
}

/// Every non-empty `output` string of the responses files, in file and line order.
/// A line that cannot be read or parsed is an error naming the file and line:
/// every output must be checked.
pub fn collect_outputs(files: &[PathBuf]) -> Result<Vec<OutputText>, std::io::Error> {
    let mut out = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let at = |n: usize, e: &dyn std::fmt::Display| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} line {}: {e}", path.display(), n + 1),
            )
        };
        let file = std::fs::File::open(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| at(n, &e))?;
            if line.trim().is_empty() {
                continue;
            }
            let value = serde_json::from_str::<serde_json::Value>(&line).map_err(|e| at(n, &e))?;
            let Some(text) = value.get("output").and_then(|o| o.as_str()) else {
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            out.push(OutputText {
                file: name.clone(),
                probe_id: value
                    .get("probe_id")
                    .and_then(|p| p.as_str())
                    .unwrap_or_default()
                    .to_string(),
                text: text.to_string(),
            });
        }
    }
    Ok(out)
}

/// A corpus's index: the one the spec names, or one built from its works in the
/// out dir (`corpus-<name>.index`). Returns the index and the files to list in
/// the manifest as read (the index the spec names) or written (the built one).
pub fn open_index(
    spec: &AuditSpec,
    check: &CorpusCheck,
    out_dir: &Path,
) -> Result<(CorpusIndex, Vec<PathBuf>, Vec<PathBuf>), String> {
    let base = spec.file.parent().unwrap_or(Path::new("."));
    let field = |f: &str| format!("{}: corpus `{}` ({f})", spec.file.display(), check.name);
    if let Some(index) = &check.index {
        let path = base.join(index);
        let opened = CorpusIndex::open(&path).map_err(|e| format!("{}: {e}", field("index")))?;
        let p = opened.params();
        let g = p.ngram + p.stride - 1;
        if g > check.max_span_words + 1 {
            let fit = options_for(check.max_span_words);
            return Err(format!(
                "{}: the index {} is sure to find only spans of {g} words or more (n = {}, stride {}), so it cannot tell whether a span exceeds max_span_words = {}; rebuild it with `--ngram {} --stride {}` or raise max_span_words",
                field("index"),
                path.display(),
                p.ngram,
                p.stride,
                check.max_span_words,
                fit.ngram,
                fit.stride
            ));
        }
        return Ok((opened, vec![path], Vec::new()));
    }
    let works = base.join(check.works.as_deref().unwrap_or_default());
    let out = out_dir.join(index_file_name(&check.name));
    let options = options_for(check.max_span_words);
    build_index(&works, &out, &options).map_err(|e| format!("{}: {e}", field("works")))?;
    let opened = CorpusIndex::open(&out).map_err(|e| format!("{}: {e}", field("works")))?;
    // The files the build read (listed in the manifest), found without reading
    // them again.
    let read =
        crate::corpus::corpus_files(&works).map_err(|e| format!("{}: {e}", field("works")))?;
    Ok((opened, read, vec![out]))
}

/// The n and stride a corpus with this `max_span_words` is indexed with: n =
/// min(13, M + 1) and the largest stride up to the default (8) with n + s − 1 ≤
/// M + 1, so every span of M + 1 words, the shortest that breaches, is found.
pub fn options_for(max_span_words: usize) -> BuildOptions {
    let ngram = DEFAULT_NGRAM.min(max_span_words + 1);
    let stride = DEFAULT_STRIDE.min(max_span_words + 2 - ngram);
    BuildOptions { ngram, stride }
}

/// Checks a `[[corpus]]` before the model runs: its index opens and can see spans
/// of `max_span_words` + 1 words, or its folder exists and holds corpus files.
pub fn preflight(spec: &AuditSpec, check: &CorpusCheck) -> Result<(), String> {
    let base = spec.file.parent().unwrap_or(Path::new("."));
    let field = |f: &str| format!("{}: corpus `{}` ({f})", spec.file.display(), check.name);
    if check.index.is_some() {
        // With an index given, nothing is written: the out dir is not used.
        return open_index(spec, check, base).map(|_| ());
    }
    // A folder of works: that it exists and holds corpus files. Their contents are
    // checked when the index is built, after the run (whose responses are kept).
    let works = base.join(check.works.as_deref().unwrap_or_default());
    crate::corpus::corpus_files(&works)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", field("works")))
}

/// The file name of a corpus index built during an audit.
pub fn index_file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("corpus-{safe}.index")
}

/// Checks every output against one corpus: its finding and its section.
pub fn check_corpus(
    check: &CorpusCheck,
    index: &CorpusIndex,
    outputs: &[OutputText],
) -> (Finding, KindSection) {
    let overlaps: Vec<Overlap> = outputs.iter().map(|o| index.check(&o.text)).collect();
    let n = outputs.len();
    let ngram = index.params().ngram;
    let longest = overlaps
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| {
            a.longest_span_tokens
                .cmp(&b.longest_span_tokens)
                .then(j.cmp(i)) // the first output among equals
        })
        .filter(|(_, o)| o.longest_span_tokens > 0);
    let longest_words = longest.map_or(0, |(_, o)| o.longest_span_tokens);
    let with_span = overlaps
        .iter()
        .filter(|o| o.longest_span_tokens > 0)
        .count();
    let over = overlaps
        .iter()
        .filter(|o| o.longest_span_tokens > check.max_span_words)
        .count();
    let near = overlaps
        .iter()
        .filter(|o| {
            o.near_duplicates
                .first()
                .is_some_and(|d| d.estimated_jaccard >= NEAR_DUPLICATE_JACCARD)
        })
        .count();
    let with_ngrams: Vec<&Overlap> = overlaps.iter().filter(|o| o.ngrams > 0).collect();
    let mean_share = if with_ngrams.is_empty() {
        0.0
    } else {
        with_ngrams.iter().map(|o| o.share_in_corpus).sum::<f64>() / with_ngrams.len() as f64
    };
    let mut ranked: Vec<usize> = (0..n)
        .filter(|&i| overlaps[i].longest_span_tokens > 0)
        .collect();
    ranked.sort_by(|&a, &b| {
        overlaps[b]
            .longest_span_tokens
            .cmp(&overlaps[a].longest_span_tokens)
            .then(a.cmp(&b))
    });
    let top: Vec<serde_json::Value> = ranked
        .iter()
        .take(10)
        .map(|&i| {
            let o = &overlaps[i];
            let span = o.longest_span.as_ref();
            serde_json::json!({
                "responses": outputs[i].file,
                "probe_id": outputs[i].probe_id,
                "span_words": o.longest_span_tokens,
                "work": span.map(|s| s.work.title.clone()),
                "work_sha256": span.map(|s| s.work.sha256.clone()),
                "span": span.map(|s| s.text.clone()),
                "share_in_corpus": o.share_in_corpus,
            })
        })
        .collect();
    let finding = Finding {
        probe_set: check.name.clone(),
        kind: KIND.into(),
        variant: "verbatim".into(),
        metric: "longest_shared_span_words".into(),
        axis: "corpus".into(),
        group: check.name.clone(),
        reference: "threshold".into(),
        estimate: longest_words as f64,
        ci_low: None,
        ci_high: None,
        p_value: None,
        p_adjusted: None,
        test: "every_output_checked".into(),
        n,
        n_scenarios: index.num_works(),
        threshold: check.max_span_words as f64,
        rule: "exceeds".into(),
        // No output to check (only decision probes, say) proves nothing.
        verdict: if n == 0 {
            Verdict::InsufficientData
        } else if longest_words > check.max_span_words {
            Verdict::Breach
        } else {
            Verdict::Pass
        },
    };
    let params = index.params();
    let section = KindSection {
        probe_set: check.name.clone(),
        kind: KIND.into(),
        detail: serde_json::json!({
            "index_body_sha256": index.body_sha256(),
            "works": index.num_works(),
            "ngram": ngram,
            "stride": params.stride,
            "guaranteed_span_words": ngram + params.stride - 1,
            "lsh_bands": params.bands,
            "lsh_rows": params.rows,
            "max_span_words": check.max_span_words,
            "outputs_checked": n,
            "outputs_with_span": with_span,
            "outputs_over_threshold": over,
            "outputs_near_duplicate": near,
            "near_duplicate_jaccard": NEAR_DUPLICATE_JACCARD,
            "mean_share_in_corpus": mean_share,
            "longest": top.first().cloned(),
            "top": top,
        }),
    };
    (finding, section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_keep_only_safe_characters() {
        assert_eq!(index_file_name("books"), "corpus-books.index");
        for m in 0..60 {
            let o = options_for(m);
            assert!(o.ngram >= 1 && o.stride >= 1, "{m}");
            assert!(o.guaranteed_span() <= m + 1, "{m}: {o:?}");
        }
        assert_eq!((options_for(49).ngram, options_for(49).stride), (13, 8));
        assert_eq!((options_for(15).ngram, options_for(15).stride), (13, 4));
        assert_eq!((options_for(5).ngram, options_for(5).stride), (6, 1));
        assert_eq!(index_file_name("../x y"), "corpus-___x_y.index");
    }

    #[test]
    fn outputs_are_read_from_every_line_that_has_one() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("responses.jsonl");
        std::fs::write(
            &a,
            "{\"probe_id\":\"p1\",\"output\":\"Yes\"}\n{\"probe_id\":\"p2\",\"p_norm\":0.5}\n{\"probe_id\":\"p3\",\"output\":\"  \"}\n",
        )
        .unwrap();
        let b = dir.path().join("responses-gen.jsonl");
        std::fs::write(
            &b,
            "{\"probe_id\":\"g1\",\"output\":\"Once upon a time\"}\n",
        )
        .unwrap();
        let outputs = collect_outputs(&[a, b]).unwrap();
        let got: Vec<(&str, &str, &str)> = outputs
            .iter()
            .map(|o| (o.file.as_str(), o.probe_id.as_str(), o.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("responses.jsonl", "p1", "Yes"),
                ("responses-gen.jsonl", "g1", "Once upon a time")
            ]
        );
        // A line that is not JSON is an error naming the file and line, not skipped.
        let c = dir.path().join("responses-bad.jsonl");
        std::fs::write(&c, "{\"output\":\"fine\"}\nnot json\n").unwrap();
        let e = collect_outputs(&[c]).unwrap_err().to_string();
        assert!(e.contains("responses-bad.jsonl line 2"), "{e}");
    }
}
