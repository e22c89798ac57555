//! The probe kinds beyond decisions: paired likelihood (CrowS-Pairs style),
//! generation (BOLD / regard style), multiple choice (BBQ style), association
//! (WEAT / SEAT) and memorisation (Carlini et al. 2023). Each kind is one module holding its file format, its expansion
//! into units, its run over a backend and its analysis into findings.
//!
//! What they share lives here: reading the kind of a probe-set file, the lexicon
//! axes a set names, a resumable journal of responses (one JSON line per unit,
//! `responses-<set>.jsonl`), the exact sign test, template-cluster bootstrap
//! intervals, and the building of a [`Finding`].

pub mod association;
pub mod choice;
pub mod generation;
pub mod memorisation;
pub mod paired;

use crate::probe::{LexiconAxis, ProbeError, ProbeKind};
use crate::provenance::{sha256_bytes, write_atomic};
use crate::results::{Finding, Verdict};
use crate::spec::{Scoring, Thresholds};
use crate::stats;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Reads only the `kind` of a probe-set file.
pub fn peek_kind(file: &Path) -> Result<ProbeKind, ProbeError> {
    #[derive(Deserialize)]
    struct Peek {
        kind: ProbeKind,
    }
    let text = read(file)?;
    let peek: Peek = crate::spec::toml_file::parse(file, &text)?;
    Ok(peek.kind)
}

pub(crate) fn read(file: &Path) -> Result<String, ProbeError> {
    std::fs::read_to_string(file).map_err(|source| ProbeError::Io {
        file: file.to_path_buf(),
        source,
    })
}

pub(crate) fn default_lexicon() -> String {
    "lexicon".to_string()
}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// An error at a byte offset of a probe-set file.
pub(crate) fn invalid_at(file: &Path, text: &str, offset: usize, message: String) -> ProbeError {
    ProbeError::Invalid {
        file: file.to_path_buf(),
        line: Some(line_of(text, offset)),
        message,
    }
}

pub(crate) fn invalid(file: &Path, message: String) -> ProbeError {
    ProbeError::Invalid {
        file: file.to_path_buf(),
        line: None,
        message,
    }
}

/// Records a template's or written entry's id, refusing a repeat at its line.
pub(crate) fn claim_id(
    ids: &mut std::collections::BTreeSet<String>,
    file: &Path,
    text: &str,
    id: &Spanned<String>,
) -> Result<(), ProbeError> {
    if ids.insert(id.get_ref().clone()) {
        Ok(())
    } else {
        Err(invalid_at(
            file,
            text,
            id.span().start,
            format!("duplicate id `{}`", id.get_ref()),
        ))
    }
}

/// Loads the lexicon axes a set names (plain axes or intersections such as
/// `gender×race_ethnicity`), each error naming the set's line.
pub(crate) fn load_axes(
    file: &Path,
    text: &str,
    lexicon: &str,
    axes: &[Spanned<String>],
) -> Result<Vec<LexiconAxis>, ProbeError> {
    let dir = file.parent().unwrap_or(Path::new(".")).join(lexicon);
    let mut out: Vec<LexiconAxis> = Vec::new();
    for axis in axes {
        let name = axis.get_ref();
        if out.iter().any(|a| &a.axis == name) {
            return Err(invalid_at(
                file,
                text,
                axis.span().start,
                format!("axis `{name}` is listed twice"),
            ));
        }
        let loaded = crate::probe::load_axis(&dir, name).map_err(|e| match e {
            ProbeError::Invalid {
                message,
                line: None,
                ..
            } => invalid_at(file, text, axis.span().start, message),
            other => other,
        })?;
        out.push(loaded);
    }
    Ok(out)
}

/// Replaces a leading indefinite article by "the" ("a woman" → "the woman"), for
/// answers and second mentions.
pub fn definite(phrase: &str) -> String {
    for article in ["a ", "an ", "A ", "An "] {
        if let Some(rest) = phrase.strip_prefix(article) {
            return format!("the {rest}");
        }
    }
    phrase.to_string()
}

/// Upper-cases the first letter (for a slot at the start of a sentence).
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The parameters every kind's analysis needs.
pub struct AnalysisSettings<'a> {
    pub scoring: &'a Scoring,
    pub thresholds: &'a Thresholds,
    pub seed: u64,
}

/// What one non-decision probe set contributes to an audit.
#[derive(Debug, Clone)]
pub struct KindOutcome {
    /// Findings with raw p-values; the audit adjusts them (Holm) with every other.
    pub findings: Vec<Finding>,
    /// The kind's own section of results.json.
    pub detail: serde_json::Value,
    pub n_probes: usize,
    pub n_scenarios: usize,
    /// The responses file written (listed in the manifest).
    pub responses: PathBuf,
}

/// A finding before Holm adjustment: `verdict` is insufficient data until the
/// audit adjusts every p-value together.
#[allow(clippy::too_many_arguments)]
pub fn finding(
    set: &str,
    kind: ProbeKind,
    variant: &str,
    metric: &str,
    axis: &str,
    group: &str,
    reference: &str,
    estimate: f64,
    interval: Option<(f64, f64)>,
    p_value: Option<f64>,
    test: &str,
    n: usize,
    n_scenarios: usize,
    thresholds: &Thresholds,
) -> Finding {
    Finding {
        probe_set: set.to_string(),
        kind: kind.as_str().to_string(),
        variant: variant.to_string(),
        metric: metric.to_string(),
        axis: axis.to_string(),
        group: group.to_string(),
        reference: reference.to_string(),
        estimate,
        ci_low: interval.map(|i| i.0),
        ci_high: interval.map(|i| i.1),
        p_value,
        p_adjusted: None,
        test: test.to_string(),
        n,
        n_scenarios,
        threshold: thresholds.max_abs_gap,
        rule: thresholds.rule.as_str().to_string(),
        verdict: Verdict::InsufficientData,
    }
}

/// Holm over every finding with a p-value, then each verdict under the rule. A
/// finding without a p-value keeps the verdict it was given: insufficient data,
/// or the pass or breach of a count over every output (corpus overlap).
pub fn adjust(findings: &mut [Finding], thresholds: &Thresholds) {
    let raw: Vec<f64> = findings.iter().filter_map(|f| f.p_value).collect();
    let adjusted = stats::holm(&raw);
    let mut next = adjusted.into_iter();
    for f in findings.iter_mut() {
        if f.p_value.is_some() {
            let p = next.next().expect("one adjusted p per raw p");
            f.p_adjusted = Some(p);
            // Each finding carries its own size threshold (association effect sizes
            // are on another scale than gaps in probability).
            let own = Thresholds {
                max_abs_gap: f.threshold,
                ..thresholds.clone()
            };
            f.verdict = crate::metric::decide(&own, f.estimate, p);
        } else {
            f.p_adjusted = None;
        }
    }
}

/// Two-sided exact binomial test of `k` successes in `n` trials against p = ½
/// (the sign test): the total probability of every outcome no more likely than
/// the one observed (SciPy's `binomtest` rule). 1 when n = 0.
pub fn sign_test(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let ln_pmf = |i: u64| -> f64 {
        statrs::function::factorial::ln_binomial(n, i) - (n as f64) * std::f64::consts::LN_2
    };
    let observed = ln_pmf(k);
    // A relative tolerance as SciPy uses, so that equal probabilities computed
    // along different paths count as equal.
    let cutoff = observed + 1e-7f64.ln_1p();
    let total: f64 = (0..=n)
        .map(ln_pmf)
        .filter(|&lp| lp <= cutoff)
        .map(f64::exp)
        .sum();
    total.min(1.0)
}

/// A percentile interval for the mean of per-unit values, resampling whole
/// templates (clusters) with replacement; `None` with fewer than two clusters.
pub fn cluster_interval(
    clusters: &BTreeMap<String, Vec<f64>>,
    statistic: impl Fn(&[&[f64]]) -> f64 + Sync,
    settings: &AnalysisSettings,
    parts: &[&str],
) -> Option<(f64, f64)> {
    let slices: Vec<&[f64]> = clusters
        .values()
        .filter(|v| !v.is_empty())
        .map(Vec::as_slice)
        .collect();
    if slices.len() < 2 {
        return None;
    }
    let seed = crate::metric::derive_seed(settings.seed, parts);
    let replicates =
        stats::cluster_bootstrap_replicates(&slices, statistic, settings.scoring.n_boot, seed)
            .ok()?;
    let finite: Vec<f64> = replicates.into_iter().filter(|x| x.is_finite()).collect();
    let interval = stats::percentile_interval(&finite, settings.scoring.confidence).ok()?;
    Some((interval.low, interval.high))
}

/// The mean of the pooled values of the drawn clusters.
pub fn pooled_mean(clusters: &[&[f64]]) -> f64 {
    let (sum, n) = clusters.iter().fold((0.0, 0usize), |(s, n), c| {
        (s + c.iter().sum::<f64>(), n + c.len())
    });
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// One response line of a non-decision kind: its unit id and the hash of the text
/// it was computed from, so a resumed run keeps it only if the text is unchanged.
pub trait JournalLine: Serialize + DeserializeOwned + Clone {
    fn unit_id(&self) -> &str;
    fn text_sha256(&self) -> &str;
}

/// Implements [`JournalLine`] for a line type with `probe_id` and `text_sha256`
/// fields.
macro_rules! journal_line {
    ($line:ty) => {
        impl $crate::kinds::JournalLine for $line {
            fn unit_id(&self) -> &str {
                &self.probe_id
            }
            fn text_sha256(&self) -> &str {
                &self.text_sha256
            }
        }
    };
}
pub(crate) use journal_line;

/// A resumable, append-only JSON-lines file of responses, rewritten in unit order
/// at the end so that it is byte-identical across runs.
pub struct Journal<T: JournalLine> {
    path: PathBuf,
    done: BTreeMap<String, T>,
    file: std::fs::File,
}

impl<T: JournalLine> Journal<T> {
    /// Opens `path`, keeping the lines whose unit id is expected with the same text
    /// hash; everything else (a torn line, a changed prompt) is dropped. An error
    /// names the file.
    pub fn open(
        path: &Path,
        expected: &BTreeMap<String, String>,
    ) -> Result<Self, crate::run::RunError> {
        Self::open_io(path, expected).map_err(|e| crate::run::RunError::io(path, e))
    }

    fn open_io(path: &Path, expected: &BTreeMap<String, String>) -> Result<Self, std::io::Error> {
        let mut done = BTreeMap::new();
        if let Ok(file) = std::fs::File::open(path) {
            for line in std::io::BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                if let Ok(item) = serde_json::from_str::<T>(&line) {
                    if expected.get(item.unit_id()).map(String::as_str) == Some(item.text_sha256())
                    {
                        done.insert(item.unit_id().to_string(), item);
                    }
                }
            }
        }
        let kept: Vec<T> = done.values().cloned().collect();
        write_atomic(path, &to_lines(&kept))?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            done,
            file,
        })
    }

    pub fn get(&self, unit: &str) -> Option<&T> {
        self.done.get(unit)
    }

    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Appends and flushes lines as soon as they are computed.
    pub fn append(&mut self, items: &[T]) -> Result<(), crate::run::RunError> {
        let io = |e| crate::run::RunError::io(&self.path, e);
        self.file.write_all(&to_lines(items)).map_err(io)?;
        self.file.flush().map_err(io)?;
        for item in items {
            self.done.insert(item.unit_id().to_string(), item.clone());
        }
        Ok(())
    }

    /// Rewrites the file in `order` and returns the lines in that order, with the
    /// file's path.
    pub fn finish(mut self, order: &[String]) -> Result<(Vec<T>, PathBuf), crate::run::RunError> {
        let all: Vec<T> = order.iter().filter_map(|id| self.done.remove(id)).collect();
        write_atomic(&self.path, &to_lines(&all))
            .map_err(|e| crate::run::RunError::io(&self.path, e))?;
        Ok((all, self.path))
    }
}

fn to_lines<T: Serialize>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        serde_json::to_writer(&mut out, item).expect("responses serialise");
        out.push(b'\n');
    }
    out
}

/// The responses file of a non-decision probe set.
pub fn responses_path(out_dir: &Path, set: &str) -> PathBuf {
    out_dir.join(format!("responses-{set}.jsonl"))
}

/// sha256 of a text, hex.
pub fn text_hash(text: &str) -> String {
    sha256_bytes(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two-sided binomial p-values from SciPy 1.17 (`scipy.stats.binomtest(k, n,
    /// 0.5).pvalue`), written by tests/fixtures/sign_test_reference.py.
    #[test]
    fn sign_test_matches_scipy() {
        let fixture: Vec<(u64, u64, f64)> = serde_json::from_str(include_str!(
            "../../tests/fixtures/sign_test_reference.json"
        ))
        .unwrap();
        assert!(fixture.len() >= 10);
        for (k, n, expected) in fixture {
            let p = sign_test(k, n);
            assert!(
                (p - expected).abs() <= 1e-12 + 1e-9 * expected,
                "k={k} n={n}: {p} vs SciPy {expected}"
            );
        }
    }

    #[test]
    fn definite_articles() {
        assert_eq!(definite("a woman"), "the woman");
        assert_eq!(definite("an older person"), "the older person");
        assert_eq!(definite("Muslims"), "Muslims");
        assert_eq!(capitalise("a man"), "A man");
    }
}
