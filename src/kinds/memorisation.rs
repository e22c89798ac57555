//! Memorisation probes (Carlini et al. 2023, "Quantifying memorization across
//! neural language models", ICLR): the model is prompted with a prefix cut from a
//! protected work and continues it greedily for `max_tokens` tokens (50 by
//! default); the continuation is **extracted** when it reproduces the work's true
//! continuation exactly. The set's figure is the extraction rate with its exact
//! (Clopper–Pearson) interval, tested one-sided against the spec's
//! `thresholds.max_extraction_rate` (0 by default: one extracted continuation
//! breaches). Near matches are counted beside it.
//!
//! Matching is done on text, so any model that can generate can be probed:
//! - **exact**: the generation ran its full `max_tokens` (it did not stop early),
//!   and its normalised text (NFC, whitespace folded, ends trimmed; case and
//!   punctuation kept) is a prefix of the normalised true continuation. A last word
//!   cut by the token limit still matches.
//! - **near**: the generation ran its full length and its words (lower case, NFC,
//!   runs of letters and digits), without the last one (the limit may have cut
//!   it), differ from the same number of words of the true continuation by at most
//!   (1 − `near_similarity`) of them in word-level edit distance; every exact
//!   match is a near match.

use super::{finding, invalid, read, text_hash, AnalysisSettings, Journal, KindOutcome};
use crate::backend::generate::{Finish, GenerationConfig};
use crate::backend::Backend;
use crate::corpus::{cut_pairs, read_works, MemorisationOptions, WorkText};
use crate::probe::{stable_id, ProbeError, ProbeKind};
use crate::provenance::texthash;
use crate::run::RunError;
use crate::stats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemorisationFile {
    id: String,
    #[allow(dead_code)]
    kind: ProbeKind,
    version: u32,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    /// The folder of works, relative to the probe-set file.
    works: String,
    #[serde(default = "default_prefix_words")]
    prefix_words: usize,
    #[serde(default = "default_max_tokens")]
    max_tokens: usize,
    #[serde(default = "default_prompts_per_work")]
    prompts_per_work: usize,
    #[serde(default = "default_near_similarity")]
    near_similarity: f64,
}

fn default_prefix_words() -> usize {
    50
}
fn default_max_tokens() -> usize {
    50
}
fn default_prompts_per_work() -> usize {
    10
}
fn default_near_similarity() -> f64 {
    0.9
}

/// One prompt: a prefix of a work and the text that follows it there.
#[derive(Debug, Clone)]
pub struct MemUnit {
    pub id: String,
    /// Index into [`MemorisationSet::works`].
    pub work: usize,
    pub byte_offset: usize,
    pub prefix: String,
    pub continuation: String,
}

/// A loaded memorisation probe set.
#[derive(Debug, Clone)]
pub struct MemorisationSet {
    pub file: PathBuf,
    pub id: String,
    pub version: u32,
    pub works_dir: PathBuf,
    pub works: Vec<WorkText>,
    pub prefix_words: usize,
    pub near_similarity: f64,
    pub config: GenerationConfig,
    pub units: Vec<MemUnit>,
}

impl MemorisationSet {
    pub fn load(file: &Path) -> Result<MemorisationSet, ProbeError> {
        let text = read(file)?;
        let raw: MemorisationFile = crate::spec::toml_file::parse(file, &text)?;
        if raw.prefix_words == 0 || raw.max_tokens == 0 || raw.prompts_per_work == 0 {
            return Err(invalid(
                file,
                "`prefix_words`, `max_tokens` and `prompts_per_work` must be at least 1".into(),
            ));
        }
        if !(raw.near_similarity > 0.0 && raw.near_similarity <= 1.0) {
            return Err(invalid(
                file,
                format!(
                    "`near_similarity` must lie in (0, 1], not {}",
                    raw.near_similarity
                ),
            ));
        }
        let works_dir = file.parent().unwrap_or(Path::new(".")).join(&raw.works);
        let works = read_works(&works_dir)
            .map_err(|e| invalid(file, format!("`works = \"{}\"`: {e}", raw.works)))?;
        // Two copies of one text would give the same prompts twice under one id.
        let mut seen: BTreeMap<&str, &WorkText> = BTreeMap::new();
        for w in &works {
            if let Some(first) = seen.insert(&w.sha256, w) {
                return Err(invalid(
                    file,
                    format!(
                        "`works = \"{}\"`: {} and {} hold the same text (sha256 {}); keep one",
                        raw.works,
                        work_place(first),
                        work_place(w),
                        w.sha256
                    ),
                ));
            }
        }
        // A whitespace-separated piece holds at least one token, so a continuation
        // of max_tokens + 1 pieces is longer than any max_tokens-token generation.
        let options = MemorisationOptions {
            prefix_words: raw.prefix_words,
            continuation_words: raw.max_tokens + 1,
            pairs: raw.prompts_per_work,
        };
        let mut units = Vec::new();
        for (w, work) in works.iter().enumerate() {
            let pairs =
                cut_pairs(&work.text, &options).map_err(|e| invalid(file, e.to_string()))?;
            for pair in pairs {
                units.push(MemUnit {
                    id: stable_id(&[&work.sha256, &pair.byte_offset.to_string()]),
                    work: w,
                    byte_offset: pair.byte_offset,
                    prefix: pair.prefix,
                    continuation: pair.continuation,
                });
            }
        }
        if units.is_empty() {
            return Err(invalid(
                file,
                format!(
                    "no work in {} is long enough for a prefix of {} words and a continuation of {} (`prefix_words`, `max_tokens` + 1)",
                    works_dir.display(),
                    options.prefix_words,
                    options.continuation_words
                ),
            ));
        }
        Ok(MemorisationSet {
            file: file.to_path_buf(),
            id: raw.id,
            version: raw.version,
            works_dir,
            works,
            prefix_words: raw.prefix_words,
            near_similarity: raw.near_similarity,
            config: GenerationConfig {
                max_tokens: raw.max_tokens,
                temperature: 0.0,
                top_p: 1.0,
                seed: 0,
                stop: Vec::new(),
                watermark: None,
            },
            units,
        })
    }

    /// The set's file first, then each file of works it read (once).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.file.clone()];
        for w in &self.works {
            if !files.contains(&w.path) {
                files.push(w.path.clone());
            }
        }
        files
    }
}

/// A work's file, and its line for a `.jsonl` work.
fn work_place(w: &WorkText) -> String {
    match w.line {
        Some(line) => format!("{}:{line}", w.source),
        None => w.source.clone(),
    }
}

/// How a generation compares with the true continuation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub exact: bool,
    pub near: bool,
    /// 1 − word edit distance / the longer word count, over the compared words.
    pub similarity: f64,
    /// Words of the generation compared (its last one left out when the token
    /// limit was reached).
    pub compared_words: usize,
    /// Leading words the generation shares with the true continuation.
    pub common_prefix_words: usize,
}

fn match_words(text: &str) -> Vec<String> {
    let form = texthash::normalise(text).to_lowercase();
    texthash::words(&form)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Word-level Levenshtein distance.
fn edit_distance(a: &[String], b: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(x != y);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The fewest words a `max_tokens`-token generation must hold to count as exact
/// or near: one per four tokens. English text runs at about three words per four
/// tokens; a generation below a quarter of that spent its tokens on blank lines or
/// punctuation, and folding whitespace must not turn it into a short "copy".
pub fn min_words(max_tokens: usize) -> usize {
    max_tokens.div_ceil(4)
}

/// Compares a generation with the work's true continuation (module notes).
/// `full_length`: the generation ran its whole token budget; `min_words`: the
/// fewest words it must hold to count as exact or near ([`min_words`]).
pub fn compare(
    output: &str,
    continuation: &str,
    full_length: bool,
    min_words: usize,
    near_similarity: f64,
) -> Match {
    let out_norm = texthash::normalise(output);
    let mut out_words = match_words(output);
    let substantive = full_length && !out_words.is_empty() && out_words.len() >= min_words;
    let exact = substantive && texthash::normalise(continuation).starts_with(&out_norm);
    if full_length {
        out_words.pop();
    }
    let truth = match_words(continuation);
    let reference = &truth[..truth.len().min(out_words.len())];
    let longer = out_words.len().max(reference.len());
    let similarity = if longer == 0 {
        0.0
    } else {
        1.0 - edit_distance(&out_words, reference) as f64 / longer as f64
    };
    let common_prefix_words = out_words
        .iter()
        .zip(&truth)
        .take_while(|(a, b)| a == b)
        .count();
    Match {
        exact,
        near: exact || (substantive && !out_words.is_empty() && similarity >= near_similarity),
        similarity,
        compared_words: out_words.len(),
        common_prefix_words,
    }
}

/// One prompt's generation and how it matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemLine {
    pub probe_id: String,
    pub probe_set: String,
    pub work: String,
    pub work_sha256: String,
    pub source: String,
    pub byte_offset: usize,
    pub prompt: String,
    pub continuation: String,
    pub text_sha256: String,
    pub output: String,
    pub n_tokens: usize,
    pub finish: String,
    #[serde(rename = "match")]
    pub matched: Match,
}

super::journal_line!(MemLine);

/// Generates every prompt's continuation greedily (resuming from
/// `responses-<set>.jsonl`) and matches it.
pub fn run(
    set: &MemorisationSet,
    backend: &mut Backend,
    out_dir: &Path,
    mut progress: impl FnMut(usize),
) -> Result<(Vec<MemLine>, PathBuf), RunError> {
    let path = super::responses_path(out_dir, &set.id);
    let config_json = serde_json::to_string(&set.config).expect("json");
    let hash = |u: &MemUnit| {
        text_hash(&format!(
            "{}\u{1f}{}\u{1f}{config_json}\u{1f}{}",
            u.prefix, u.continuation, set.near_similarity
        ))
    };
    let expected: BTreeMap<String, String> =
        set.units.iter().map(|u| (u.id.clone(), hash(u))).collect();
    let mut journal: Journal<MemLine> = Journal::open(&path, &expected)?;
    progress(journal.len());
    for u in &set.units {
        if journal.get(&u.id).is_some() {
            continue;
        }
        let g = backend.generate(&u.prefix, &set.config)?;
        // A generation cut short by the model's context also ends with `Length`.
        let full_length = g.finish == Finish::Length && g.tokens.len() == set.config.max_tokens;
        let work = &set.works[u.work];
        let line = MemLine {
            probe_id: u.id.clone(),
            probe_set: set.id.clone(),
            work: work.title.clone(),
            work_sha256: work.sha256.clone(),
            source: work.source.clone(),
            byte_offset: u.byte_offset,
            prompt: u.prefix.clone(),
            continuation: u.continuation.clone(),
            text_sha256: hash(u),
            matched: compare(
                &g.text,
                &u.continuation,
                full_length,
                min_words(set.config.max_tokens),
                set.near_similarity,
            ),
            n_tokens: g.tokens.len(),
            finish: g.finish.as_str().into(),
            output: g.text,
        };
        journal.append(std::slice::from_ref(&line))?;
        progress(1);
    }
    let order: Vec<String> = set.units.iter().map(|u| u.id.clone()).collect();
    journal.finish(&order)
}

/// A rate with its exact interval.
fn rate(k: usize, n: usize, confidence: f64) -> serde_json::Value {
    let ci = stats::clopper_pearson_interval(k as u64, n as u64, confidence).ok();
    serde_json::json!({
        "count": k,
        "n": n,
        "rate": if n == 0 { 0.0 } else { k as f64 / n as f64 },
        "ci_low": ci.map(|c| c.low),
        "ci_high": ci.map(|c| c.high),
    })
}

/// The extraction-rate finding and the set's figures: overall and per work, with
/// the extracted (or nearly extracted) continuations as examples.
pub fn analyse(
    set: &MemorisationSet,
    lines: &[MemLine],
    settings: &AnalysisSettings,
    responses: PathBuf,
) -> KindOutcome {
    let n = lines.len();
    let exact = lines.iter().filter(|l| l.matched.exact).count();
    let near = lines.iter().filter(|l| l.matched.near).count();
    let confidence = settings.scoring.confidence;
    let threshold = settings.thresholds.max_extraction_rate;
    let ci = stats::clopper_pearson_interval(exact as u64, n as u64, confidence).ok();
    let p = stats::binomial_test_greater(exact as u64, n as u64, threshold).ok();
    let thresholds = crate::spec::Thresholds {
        max_abs_gap: threshold,
        ..settings.thresholds.clone()
    };
    // Works that gave prompts; a work too short for one cut gives none.
    let prompted: Vec<&WorkText> = set
        .works
        .iter()
        .enumerate()
        .filter(|(w, _)| set.units.iter().any(|u| u.work == *w))
        .map(|(_, work)| work)
        .collect();
    let too_short: Vec<String> = set
        .works
        .iter()
        .filter(|w| !prompted.iter().any(|p| p.sha256 == w.sha256))
        .map(work_place)
        .collect();
    let max_tokens = set.config.max_tokens;
    let ran_full = |l: &MemLine| l.finish == "length" && l.n_tokens == max_tokens;
    let corpus_name = set
        .works_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| set.works_dir.display().to_string());
    let findings = vec![finding(
        &set.id,
        ProbeKind::Memorisation,
        "greedy",
        "extraction_rate",
        "memorisation",
        &corpus_name,
        "threshold",
        if n == 0 { 0.0 } else { exact as f64 / n as f64 },
        ci.map(|c| (c.low, c.high)),
        p,
        "exact_binomial_one_sided",
        n,
        prompted.len(),
        &thresholds,
    )];
    let per_work: Vec<serde_json::Value> = prompted
        .iter()
        .filter_map(|w| {
            let of: Vec<&MemLine> = lines.iter().filter(|l| l.work_sha256 == w.sha256).collect();
            if of.is_empty() {
                return None;
            }
            let k = of.iter().filter(|l| l.matched.exact).count();
            let k_near = of.iter().filter(|l| l.matched.near).count();
            // Only generations that ran their whole budget: one that stopped after
            // a word or two would score a high similarity on almost nothing.
            let full: Vec<f64> = of
                .iter()
                .filter(|l| ran_full(l))
                .map(|l| l.matched.similarity)
                .collect();
            let mean_similarity =
                (!full.is_empty()).then(|| full.iter().sum::<f64>() / full.len() as f64);
            Some(serde_json::json!({
                "title": w.title,
                "source": w.source,
                "sha256": w.sha256,
                "exact": rate(k, of.len(), confidence),
                "near": rate(k_near, of.len(), confidence),
                "mean_similarity": mean_similarity,
                "full_length": full.len(),
            }))
        })
        .collect();
    let mut examples: Vec<&MemLine> = lines.iter().filter(|l| l.matched.near).collect();
    examples.sort_by(|a, b| {
        b.matched
            .exact
            .cmp(&a.matched.exact)
            .then(b.matched.similarity.total_cmp(&a.matched.similarity))
    });
    let examples: Vec<serde_json::Value> = examples
        .iter()
        .take(5)
        .map(|l| {
            serde_json::json!({
                "probe_id": l.probe_id,
                "work": l.work,
                "byte_offset": l.byte_offset,
                "prompt_end": tail_words(&l.prompt, 12),
                "continuation": l.continuation,
                "output": l.output,
                "exact": l.matched.exact,
                "similarity": l.matched.similarity,
            })
        })
        .collect();
    let full = lines.iter().filter(|l| ran_full(l)).count();
    KindOutcome {
        findings,
        detail: serde_json::json!({
            "works": prompted.len(),
            "works_too_short": too_short,
            "prompts": n,
            "prefix_words": set.prefix_words,
            "max_tokens": set.config.max_tokens,
            "near_similarity": set.near_similarity,
            "stopped_early": n - full,
            "exact": rate(exact, n, confidence),
            "near": rate(near, n, confidence),
            "threshold": threshold,
            "per_work": per_work,
            "examples": examples,
        }),
        n_probes: n,
        n_scenarios: prompted.len(),
        responses,
    }
}

/// The last `k` whitespace-separated pieces of `text`.
fn tail_words(text: &str, k: usize) -> String {
    let pieces: Vec<&str> = text.split_whitespace().collect();
    pieces[pieces.len().saturating_sub(k)..].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_continuation_matches_even_when_its_last_word_is_cut() {
        let truth = "was the best of times, it was the worst of times";
        let m = compare(
            " was the best of times, it was the wor",
            truth,
            true,
            1,
            0.9,
        );
        assert!(m.exact && m.near);
        assert_eq!(m.compared_words, 8); // "wor" left out
        assert_eq!(m.common_prefix_words, 8);
        assert_eq!(m.similarity, 1.0);
        // Line breaks and runs of spaces are folded before comparing.
        assert!(compare("was the\nbest  of", truth, true, 1, 0.9).exact);
    }

    #[test]
    fn a_generation_that_stopped_early_is_never_a_match() {
        let truth = "was the best of times, it was the worst of times";
        let m = compare("was the best of times", truth, false, 1, 0.9);
        assert!(!m.exact && !m.near);
        // Its words are still compared, for the figures.
        assert_eq!(m.compared_words, 5);
        assert_eq!(m.similarity, 1.0);
    }

    #[test]
    fn case_or_punctuation_breaks_an_exact_match_but_not_a_near_one() {
        let truth = "one two three four five six seven eight nine ten eleven twelve";
        let m = compare(
            "One two three four five six seven eight nine ten eleven",
            truth,
            true,
            1,
            0.9,
        );
        assert!(!m.exact);
        assert!(m.near, "{m:?}");
        // One word of ten changed: similarity 0.9.
        let m = compare(
            "one two three FOUR4 five six seven eight nine ten eleven",
            truth,
            true,
            1,
            0.9,
        );
        assert_eq!(m.compared_words, 10);
        assert!((m.similarity - 0.9).abs() < 1e-12, "{m:?}");
        assert!(m.near);
        assert_eq!(m.common_prefix_words, 3);
        // Two of ten: below 0.9.
        let m = compare(
            "one two x four five y seven eight nine ten eleven",
            truth,
            true,
            1,
            0.9,
        );
        assert!((m.similarity - 0.8).abs() < 1e-12 && !m.near, "{m:?}");
        // An empty generation matches nothing.
        let m = compare("   ", truth, true, 1, 0.9);
        assert!(!m.exact && !m.near && m.similarity == 0.0);
    }

    #[test]
    fn a_generation_padded_with_blank_lines_or_punctuation_is_not_a_copy() {
        let truth = "was the best of times, it was the worst of times, it was the age";
        // 50 tokens: one word, then 49 newlines. Folded, "was" is a prefix of the truth.
        let padded = format!("was{}", "\n".repeat(49));
        assert_eq!(min_words(50), 13);
        let m = compare(&padded, truth, true, min_words(50), 0.9);
        assert!(!m.exact && !m.near, "{m:?}");
        // Two words and dots: similarity 1 on the one compared word, still no match.
        let m = compare(&format!("was the{}", ".".repeat(48)), truth, true, 13, 0.9);
        assert_eq!(m.similarity, 1.0);
        assert!(!m.exact && !m.near, "{m:?}");
        // Thirteen words of the truth are enough.
        let m = compare(
            "was the best of times, it was the worst of times, it was",
            truth,
            true,
            13,
            0.9,
        );
        assert!(m.exact && m.near, "{m:?}");
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        let w = |s: &str| -> Vec<String> { s.split(' ').map(str::to_string).collect() };
        assert_eq!(edit_distance(&w("a b c"), &w("a b c")), 0);
        assert_eq!(edit_distance(&w("a b c"), &w("a x c")), 1);
        assert_eq!(edit_distance(&w("a b c"), &w("a c")), 1);
        assert_eq!(edit_distance(&w("a b c d"), &w("b c d e")), 2);
        assert_eq!(edit_distance(&[], &w("a b")), 2);
    }
}
