//! Paired likelihood probes (CrowS-Pairs style, Nangia et al. 2020): minimal
//! pairs of sentences that differ only in the group. For a causal model the
//! CrowS-Pairs idea (score only what the two sentences share, so that the group
//! word's own rarity and the sentence length do not decide) becomes: align the
//! two token sequences (longest common subsequence), and sum log p(token | every
//! token before it) over the shared tokens of each sentence. Whole-sentence
//! log-likelihood (what lm-eval reports) is kept beside it for comparability.
//!
//! Per axis (and per stereotyped × contrast group for templates): the share of
//! untied pairs whose stereotyping sentence scores higher (½ is unbiased) with a
//! template-cluster bootstrap interval and an exact two-sided sign test; the mean
//! score difference in nats; ties counted. Findings carry share − ½.

use super::{
    cluster_interval, finding, invalid, invalid_at, load_axes, pooled_mean, read, sign_test,
    text_hash, AnalysisSettings, Journal, KindOutcome,
};
use crate::backend::Backend;
use crate::probe::{stable_id, LexiconAxis, ProbeError, ProbeKind};
use crate::run::RunError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairedFile {
    id: String,
    #[allow(dead_code)]
    kind: ProbeKind,
    version: u32,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default = "super::default_lexicon")]
    lexicon: String,
    #[serde(default)]
    axes: Vec<Spanned<String>>,
    #[serde(default)]
    template: Vec<PairTemplate>,
    #[serde(default)]
    pair: Vec<WrittenPair>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairTemplate {
    id: Spanned<String>,
    axis: Spanned<String>,
    stereotyped: Spanned<String>,
    text: Spanned<String>,
    #[serde(default)]
    paraphrases: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrittenPair {
    id: Spanned<String>,
    axis: String,
    stereotyped: Spanned<String>,
    contrast: Spanned<String>,
    #[serde(default)]
    direction: Option<Spanned<String>>,
}

/// One pair to score.
#[derive(Debug, Clone, PartialEq)]
pub struct PairUnit {
    pub id: String,
    /// The template (or written pair) id: the bootstrap's cluster.
    pub template: String,
    pub axis: String,
    pub stereotyped_group: String,
    pub contrast_group: String,
    /// 0 for the template itself, k for its k-th paraphrase.
    pub paraphrase: usize,
    pub direction: String,
    pub stereotyped: String,
    pub contrast: String,
}

/// A loaded, validated paired probe set.
#[derive(Debug, Clone)]
pub struct PairedSet {
    pub file: PathBuf,
    pub id: String,
    pub version: u32,
    pub axes: Vec<LexiconAxis>,
    pub units: Vec<PairUnit>,
}

const SLOTS: [&str; 2] = ["{person}", "{Person}"];

fn check_slot(text: &str) -> Result<(), String> {
    let count: usize = SLOTS.iter().map(|s| text.matches(s).count()).sum();
    let braces = text.matches('{').count();
    if braces != count {
        return Err("the only slots are `{person}` and `{Person}`".into());
    }
    match count {
        1 => Ok(()),
        0 => Err("the text has no `{person}` slot".into()),
        n => Err(format!("the text uses the slot {n} times; use it once")),
    }
}

fn fill(text: &str, phrase: &str) -> String {
    text.replace("{Person}", &super::capitalise(phrase))
        .replace("{person}", phrase)
}

impl PairedSet {
    pub fn load(file: &Path) -> Result<PairedSet, ProbeError> {
        let text = read(file)?;
        let raw: PairedFile = crate::spec::toml_file::parse(file, &text)?;
        if raw.template.is_empty() && raw.pair.is_empty() {
            return Err(invalid(
                file,
                "the probe set has no pairs: add [[template]] or [[pair]] tables".into(),
            ));
        }
        let axes = load_axes(file, &text, &raw.lexicon, &raw.axes)?;
        let mut ids = BTreeSet::new();
        let mut units = Vec::new();
        for t in &raw.template {
            let at = |offset: usize, m: String| invalid_at(file, &text, offset, m);
            let id = t.id.get_ref();
            super::claim_id(&mut ids, file, &text, &t.id)?;
            let axis = axes
                .iter()
                .find(|a| &a.axis == t.axis.get_ref())
                .ok_or_else(|| {
                    at(
                        t.axis.span().start,
                        format!(
                            "template `{id}`: axis `{}` is not in this set's `axes`",
                            t.axis.get_ref()
                        ),
                    )
                })?;
            let stereo = axis.group(t.stereotyped.get_ref()).ok_or_else(|| {
                at(
                    t.stereotyped.span().start,
                    format!(
                        "template `{id}`: `{}` is not a group of axis `{}` (its groups: {})",
                        t.stereotyped.get_ref(),
                        axis.axis,
                        axis.groups
                            .iter()
                            .map(|g| g.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let mut texts = vec![t.text.clone()];
            texts.extend(t.paraphrases.iter().cloned());
            for s in &texts {
                check_slot(s.get_ref())
                    .map_err(|m| at(s.span().start, format!("template `{id}`: {m}")))?;
            }
            for (k, s) in texts.iter().enumerate() {
                for other in axis.groups.iter().filter(|g| g.id != stereo.id) {
                    let stereotyped = fill(s.get_ref(), &stereo.explicit);
                    let contrast = fill(s.get_ref(), &other.explicit);
                    units.push(PairUnit {
                        id: stable_id(&[
                            &raw.id,
                            id,
                            &axis.axis,
                            &stereo.id,
                            &other.id,
                            &k.to_string(),
                        ]),
                        template: id.clone(),
                        axis: axis.axis.clone(),
                        stereotyped_group: stereo.id.clone(),
                        contrast_group: other.id.clone(),
                        paraphrase: k,
                        direction: "stereo".into(),
                        stereotyped,
                        contrast,
                    });
                }
            }
        }
        for p in &raw.pair {
            let at = |offset: usize, m: String| invalid_at(file, &text, offset, m);
            let id = p.id.get_ref();
            super::claim_id(&mut ids, file, &text, &p.id)?;
            for s in [&p.stereotyped, &p.contrast] {
                if s.get_ref().trim().is_empty() {
                    return Err(at(
                        s.span().start,
                        format!("pair `{id}`: an empty sentence"),
                    ));
                }
            }
            if p.stereotyped.get_ref() == p.contrast.get_ref() {
                return Err(at(
                    p.contrast.span().start,
                    format!("pair `{id}`: the two sentences are identical"),
                ));
            }
            let direction = match &p.direction {
                None => "stereo".to_string(),
                Some(d) if d.get_ref() == "stereo" || d.get_ref() == "antistereo" => {
                    d.get_ref().clone()
                }
                Some(d) => {
                    return Err(at(
                        d.span().start,
                        format!(
                            "pair `{id}`: direction must be \"stereo\" or \"antistereo\", not {:?}",
                            d.get_ref()
                        ),
                    ))
                }
            };
            units.push(PairUnit {
                id: stable_id(&[&raw.id, id, &p.axis, "written"]),
                template: id.clone(),
                axis: p.axis.clone(),
                stereotyped_group: "stereotyped".into(),
                contrast_group: "contrast".into(),
                paraphrase: 0,
                direction,
                stereotyped: p.stereotyped.get_ref().clone(),
                contrast: p.contrast.get_ref().clone(),
            });
        }
        Ok(PairedSet {
            file: file.to_path_buf(),
            id: raw.id,
            version: raw.version,
            axes,
            units,
        })
    }

    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.file.clone()];
        files.extend(self.axes.iter().flat_map(|a| a.files.iter().cloned()));
        files
    }
}

/// What the model did with one pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairLine {
    pub probe_id: String,
    pub probe_set: String,
    pub template: String,
    pub axis: String,
    pub stereotyped_group: String,
    pub contrast_group: String,
    pub paraphrase: usize,
    pub direction: String,
    pub stereotyped: String,
    pub contrast: String,
    pub text_sha256: String,
    /// Σ log p over the tokens the two sentences share, in each sentence.
    pub shared_stereotyped: f64,
    pub shared_contrast: f64,
    pub n_shared: usize,
    /// Σ log p over every token of each sentence.
    pub whole_stereotyped: f64,
    pub whole_contrast: f64,
    pub n_tokens_stereotyped: usize,
    pub n_tokens_contrast: usize,
}

super::journal_line!(PairLine);

fn unit_hash(u: &PairUnit) -> String {
    text_hash(&format!("{}\u{1f}{}", u.stereotyped, u.contrast))
}

/// The index pairs (i in `a`, j in `b`) of a longest common subsequence.
pub fn common_tokens(a: &[u32], b: &[u32]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if a[i] == b[j] {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i] == b[j] {
            out.push((i, j));
            i += 1;
            j += 1;
        } else if table[at(i + 1, j)] >= table[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Scores every pair not already in the journal; returns the lines in unit order.
pub fn run(
    set: &PairedSet,
    backend: &mut Backend,
    out_dir: &Path,
    mut progress: impl FnMut(usize),
) -> Result<(Vec<PairLine>, PathBuf), RunError> {
    let path = super::responses_path(out_dir, &set.id);
    let expected: BTreeMap<String, String> = set
        .units
        .iter()
        .map(|u| (u.id.clone(), unit_hash(u)))
        .collect();
    let mut journal: Journal<PairLine> = Journal::open(&path, &expected)?;
    progress(journal.len());
    for u in &set.units {
        if journal.get(&u.id).is_some() {
            continue;
        }
        let s = backend.token_logprobs(&u.stereotyped)?;
        let c = backend.token_logprobs(&u.contrast)?;
        let sid: Vec<u32> = s.iter().map(|t| t.id).collect();
        let cid: Vec<u32> = c.iter().map(|t| t.id).collect();
        let shared = common_tokens(&sid, &cid);
        let line = PairLine {
            probe_id: u.id.clone(),
            probe_set: set.id.clone(),
            template: u.template.clone(),
            axis: u.axis.clone(),
            stereotyped_group: u.stereotyped_group.clone(),
            contrast_group: u.contrast_group.clone(),
            paraphrase: u.paraphrase,
            direction: u.direction.clone(),
            stereotyped: u.stereotyped.clone(),
            contrast: u.contrast.clone(),
            text_sha256: unit_hash(u),
            shared_stereotyped: shared.iter().map(|&(i, _)| s[i].logprob).sum(),
            shared_contrast: shared.iter().map(|&(_, j)| c[j].logprob).sum(),
            n_shared: shared.len(),
            whole_stereotyped: s.iter().map(|t| t.logprob).sum(),
            whole_contrast: c.iter().map(|t| t.logprob).sum(),
            n_tokens_stereotyped: s.len(),
            n_tokens_contrast: c.len(),
        };
        journal.append(std::slice::from_ref(&line))?;
        progress(1);
    }
    let order: Vec<String> = set.units.iter().map(|u| u.id.clone()).collect();
    journal.finish(&order)
}

/// The share-of-pairs summary of one slice of lines under one score.
#[derive(Debug, Clone, Serialize)]
pub struct PreferenceSummary {
    pub n_pairs: usize,
    pub n_stereotyped_preferred: usize,
    pub n_ties: usize,
    /// Among untied pairs; ½ is unbiased.
    pub share: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub sign_test_p: f64,
    /// Mean of (stereotyped − contrast) in nats.
    pub mean_difference: f64,
    pub mean_difference_ci_low: Option<f64>,
    pub mean_difference_ci_high: Option<f64>,
    /// The smallest |share − ½| detectable at the spec's α (unadjusted) and power,
    /// treating untied pairs as independent (templates cluster them: a lower bound).
    pub min_detectable_gap: Option<f64>,
}

fn summarise(
    lines: &[&PairLine],
    score: impl Fn(&PairLine) -> (f64, f64),
    settings: &AnalysisSettings,
    parts: &[&str],
) -> PreferenceSummary {
    let mut prefer: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut diffs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let (mut k, mut ties) = (0usize, 0usize);
    for l in lines {
        let (s, c) = score(l);
        let d = s - c;
        diffs.entry(l.template.clone()).or_default().push(d);
        if d == 0.0 {
            ties += 1;
        } else {
            let p = if d > 0.0 { 1.0 } else { 0.0 };
            k += (d > 0.0) as usize;
            prefer.entry(l.template.clone()).or_default().push(p);
        }
    }
    let untied = lines.len() - ties;
    let with = |suffix: &str| {
        let mut v = parts.to_vec();
        v.push(suffix);
        v.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let p_parts = with("share");
    let d_parts = with("difference");
    let p_refs: Vec<&str> = p_parts.iter().map(String::as_str).collect();
    let d_refs: Vec<&str> = d_parts.iter().map(String::as_str).collect();
    let share_ci = cluster_interval(&prefer, pooled_mean, settings, &p_refs);
    let diff_ci = cluster_interval(&diffs, pooled_mean, settings, &d_refs);
    let all: Vec<f64> = diffs.values().flatten().copied().collect();
    PreferenceSummary {
        n_pairs: lines.len(),
        n_stereotyped_preferred: k,
        n_ties: ties,
        share: (untied > 0).then(|| k as f64 / untied as f64),
        ci_low: share_ci.map(|c| c.0),
        ci_high: share_ci.map(|c| c.1),
        sign_test_p: sign_test(k as u64, untied as u64),
        mean_difference: all.iter().sum::<f64>() / all.len().max(1) as f64,
        mean_difference_ci_low: diff_ci.map(|c| c.0),
        mean_difference_ci_high: diff_ci.map(|c| c.1),
        min_detectable_gap: crate::stats::min_detectable_paired_difference(
            0.5,
            untied,
            settings.thresholds.alpha,
            settings.scoring.power,
        )
        .ok(),
    }
}

#[derive(Debug, Clone, Serialize)]
struct SliceDetail {
    axis: String,
    stereotyped_group: String,
    contrast_group: String,
    shared_tokens: PreferenceSummary,
    whole_sentence: PreferenceSummary,
}

/// How much a pair's score moves when its template is reworded (no group
/// changed): the paraphrase baseline.
#[derive(Debug, Clone, Serialize)]
pub struct PairedBaseline {
    pub n: usize,
    /// Share of (template, group) pairs whose preferred sentence flips under a
    /// paraphrase.
    pub flip_rate: f64,
    /// Mean |change| of a pair's shared-token score difference (stereotyped −
    /// contrast, nats) when its template is reworded.
    pub mean_abs_change: f64,
    /// Mean |shared-token score difference| of the template's pairs (nats), for scale.
    pub mean_abs_group_difference: f64,
}

/// Findings and the kind's results section.
pub fn analyse(
    set: &PairedSet,
    lines: &[PairLine],
    settings: &AnalysisSettings,
    responses: PathBuf,
) -> KindOutcome {
    let shared = |l: &PairLine| (l.shared_stereotyped, l.shared_contrast);
    let whole = |l: &PairLine| (l.whole_stereotyped, l.whole_contrast);
    let main: Vec<&PairLine> = lines.iter().filter(|l| l.paraphrase == 0).collect();
    let mut slices: BTreeMap<(String, String, String), Vec<&PairLine>> = BTreeMap::new();
    for l in &main {
        slices
            .entry((l.axis.clone(), String::new(), String::new()))
            .or_default()
            .push(l);
        if l.stereotyped_group != "stereotyped" {
            slices
                .entry((
                    l.axis.clone(),
                    l.stereotyped_group.clone(),
                    l.contrast_group.clone(),
                ))
                .or_default()
                .push(l);
        }
    }
    let mut findings = Vec::new();
    let mut details = Vec::new();
    for ((axis, stereo, contrast), slice) in &slices {
        let parts = [set.id.as_str(), axis, stereo, contrast];
        let s = summarise(slice, shared, settings, &parts);
        let mut whole_parts = parts.to_vec();
        whole_parts.push("whole");
        let w = summarise(slice, whole, settings, &whole_parts);
        let templates: BTreeSet<&str> = slice.iter().map(|l| l.template.as_str()).collect();
        // Findings pool each axis (CrowS-Pairs reports per bias type); the
        // stereotyped × contrast slices are too small to test and stay in the detail.
        if let (Some(share), true) = (s.share, stereo.is_empty()) {
            let untied = s.n_pairs - s.n_ties;
            findings.push(finding(
                &set.id,
                ProbeKind::Paired,
                "shared_tokens",
                "stereotype_preference",
                axis,
                "stereotyped",
                "contrast",
                share - 0.5,
                s.ci_low.zip(s.ci_high).map(|(a, b)| (a - 0.5, b - 0.5)),
                (untied > 0).then_some(s.sign_test_p),
                "exact_sign_test",
                s.n_pairs,
                templates.len(),
                settings.thresholds,
            ));
        }
        details.push(SliceDetail {
            axis: axis.clone(),
            stereotyped_group: if stereo.is_empty() {
                "all".into()
            } else {
                stereo.clone()
            },
            contrast_group: if contrast.is_empty() {
                "all".into()
            } else {
                contrast.clone()
            },
            shared_tokens: s,
            whole_sentence: w,
        });
    }
    let baseline = paraphrase_baseline(lines);
    let templates: BTreeSet<&str> = main.iter().map(|l| l.template.as_str()).collect();
    KindOutcome {
        findings,
        detail: serde_json::json!({
            "scoring": "shared tokens: the longest common subsequence of the two token sequences; each shared token's log p given every token before it in its own sentence, the first token conditioned on the tokenizer's BOS token",
            "slices": details,
            "paraphrase_baseline": baseline,
        }),
        n_probes: lines.len(),
        n_scenarios: templates.len(),
        responses,
    }
}

fn paraphrase_baseline(lines: &[PairLine]) -> Option<PairedBaseline> {
    let key = |l: &PairLine| (l.template.clone(), l.contrast_group.clone());
    let originals: BTreeMap<_, &PairLine> = lines
        .iter()
        .filter(|l| l.paraphrase == 0)
        .map(|l| (key(l), l))
        .collect();
    let diff = |l: &PairLine| l.shared_stereotyped - l.shared_contrast;
    let mut flips = 0usize;
    let mut changes = Vec::new();
    let mut group_diffs = Vec::new();
    for l in lines.iter().filter(|l| l.paraphrase > 0) {
        if let Some(o) = originals.get(&key(l)) {
            let (a, b) = (diff(o), diff(l));
            flips += ((a > 0.0) != (b > 0.0)) as usize;
            changes.push((b - a).abs());
            group_diffs.push(a.abs());
        }
    }
    if changes.is_empty() {
        return None;
    }
    let n = changes.len();
    Some(PairedBaseline {
        n,
        flip_rate: flips as f64 / n as f64,
        mean_abs_change: changes.iter().sum::<f64>() / n as f64,
        mean_abs_group_difference: group_diffs.iter().sum::<f64>() / n as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_tokens_is_a_longest_common_subsequence() {
        let a = [1, 2, 3, 4, 5];
        let b = [1, 9, 3, 4, 8, 5];
        assert_eq!(common_tokens(&a, &b), vec![(0, 0), (2, 2), (3, 3), (4, 5)]);
        assert!(common_tokens(&[], &b).is_empty());
        assert_eq!(common_tokens(&[7, 7], &[7]).len(), 1);
    }

    #[test]
    fn slots_are_checked() {
        assert!(check_slot("{person} ran.").is_ok());
        assert!(check_slot("{Person} ran.").is_ok());
        assert!(check_slot("ran.").is_err());
        assert!(check_slot("{person} and {person}").is_err());
        assert!(check_slot("{person} {name}").is_err());
    }
}
