//! Association probes (`kind = "association"`): the Word Embedding Association
//! Test (WEAT; Caliskan, Bryson & Narayanan 2017, *Science* 356:183) and its
//! sentence form (SEAT; May, Wang, Bordia, Bowman & Rudinger 2019, NAACL), run on
//! an embedding model.
//!
//! A test has two target sets X and Y (e.g. two groups' names) and two attribute
//! sets A and B (e.g. career and family words). With cos the cosine similarity,
//!
//! * s(w, A, B) = mean_{a∈A} cos(w, a) − mean_{b∈B} cos(w, b)
//! * S = Σ_{x∈X} s(x, A, B) − Σ_{y∈Y} s(y, A, B)
//! * d = (mean_{x∈X} s(x) − mean_{y∈Y} s(y)) / sd_{w∈X∪Y} s(w)   (sample sd, ddof 1)
//! * p = the one-sided permutation p-value of S: the share of the splits (X_i, Y_i)
//!   of X ∪ Y with |X_i| = |X| whose S_i is at least S.
//!
//! All of it is computed in f64 from the embeddings as given (cosines divide by
//! both norms; nothing assumes unit vectors).
//!
//! **The p-value.** Caliskan et al. define p = Pr_i[S_i > S] over the equal-size
//! partitions of X ∪ Y. Here the splits keep the observed sizes |X| and |Y| (so
//! unequal sets are allowed: the labels X/Y are permuted), and "at least" counts
//! ties: S_i ≥ S − τ with τ = 200 ε Σ_{w∈X∪Y} |s(w)| (ε the f64 machine epsilon),
//! so splits whose S_i differs from S only by rounding count as ties. The observed
//! split is one of the splits, so p > 0. Since S_i = 2 Σ_{X_i} s − Σ_{X∪Y} s, the
//! comparison is made on the sum over X_i: Σ_{X_i} s ≥ Σ_X s − τ/2.
//!
//! * **Exact** when C(|X| + |Y|, |X|) ≤ [`MAX_EXACT_SPLITS`]: every split is
//!   enumerated and p = #{i : S_i ≥ S − τ} / C(|X| + |Y|, |X|).
//! * **Sampled** otherwise: [`N_SAMPLED_SPLITS`] splits drawn uniformly (a partial
//!   Fisher–Yates shuffle choosing |X| of the pooled items, from one seeded
//!   [`Rng`]), and p = (1 + #{i : S_i ≥ S − τ}) / (1 + N) (Phipson & Smyth 2010: the
//!   observed split counts once more, so p is never 0).
//!
//! A small p says that X is more associated with A (and Y with B) than a random
//! relabelling of the targets would be; a negative d gives p near 1 (the opposite
//! direction is tested by swapping X and Y or A and B).
//!
//! **SEAT.** With `templates`, each term becomes one sentence per template, and
//! each sentence is one item of its set, as May et al. do: a set of t terms and m
//! templates has t·m items. The sentences of one term are not independent, so the
//! permutation p-value treats more items as independent than there are and is
//! optimistic; d is unaffected by that.

use crate::probe::{LexiconAxis, ProbeError};
use crate::spec::toml_file;
use crate::stats::descriptive::NeumaierSum;
use crate::stats::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Exact enumeration of the splits of X ∪ Y when there are at most this many.
pub const MAX_EXACT_SPLITS: u64 = 100_000;
/// Random splits drawn when exact enumeration is too large.
pub const N_SAMPLED_SPLITS: u64 = 100_000;
/// The slot of a SEAT template.
pub const SLOT: &str = "term";

// ------------------------------------------------------------------ file format

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssociationFile {
    id: String,
    kind: Spanned<String>,
    version: u32,
    #[serde(default)]
    description: Option<String>,
    #[serde(default = "default_lexicon")]
    lexicon: String,
    #[serde(default)]
    axes: Vec<Spanned<String>>,
    #[serde(default)]
    templates: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    test: Vec<TestFile>,
}

fn default_lexicon() -> String {
    "lexicon".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    x: Spanned<SetFile>,
    y: Spanned<SetFile>,
    a: Spanned<SetFile>,
    b: Spanned<SetFile>,
}

/// Either `{ name, terms }` or `{ axis, group }` (with an optional `name`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    terms: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    axis: Option<Spanned<String>>,
    #[serde(default)]
    group: Option<Spanned<String>>,
}

/// Where a set's terms came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum SetSource {
    /// Written out in the probe-set file.
    Listed,
    /// A lexicon group: its first names, or its explicit phrase when it has none.
    Lexicon {
        axis: String,
        group: String,
        /// `"names"` or `"explicit"`.
        filler: String,
    },
}

/// One resolved set of terms.
#[derive(Debug, Clone, PartialEq)]
pub struct TermSet {
    pub name: String,
    pub terms: Vec<String>,
    pub source: SetSource,
}

/// One WEAT/SEAT test: targets X, Y and attributes A, B.
#[derive(Debug, Clone, PartialEq)]
pub struct AssociationTest {
    pub id: String,
    pub description: Option<String>,
    pub x: TermSet,
    pub y: TermSet,
    pub a: TermSet,
    pub b: TermSet,
}

/// A loaded, validated association probe set.
#[derive(Debug, Clone)]
pub struct AssociationSet {
    pub file: PathBuf,
    pub id: String,
    pub version: u32,
    pub description: Option<String>,
    /// SEAT sentence templates with one `{term}` slot; empty: bare words (WEAT).
    pub templates: Vec<String>,
    pub tests: Vec<AssociationTest>,
    /// The lexicon files the sets were resolved from, sorted.
    pub lexicon_files: Vec<PathBuf>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A template must use `{term}` exactly once and no other slot.
fn check_template(template: &str) -> Result<(), String> {
    let mut slots = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("an opening `{` has no closing `}`".into());
        };
        slots.push(after[..close].to_string());
        rest = &after[close + 1..];
    }
    if let Some(other) = slots.iter().find(|s| s.as_str() != SLOT) {
        return Err(format!(
            "template slot `{{{other}}}` has no value (the only slot is `{{{SLOT}}}`)"
        ));
    }
    match slots.len() {
        0 => Err(format!("the template has no `{{{SLOT}}}` slot")),
        1 => Ok(()),
        n => Err(format!(
            "the template uses `{{{SLOT}}}` {n} times; use it once"
        )),
    }
}

/// Fills a template's `{term}` slot. A template that starts with the slot gets the
/// term's first letter in upper case ("{term} is here." → "A blind person is here.").
pub fn fill(template: &str, term: &str) -> String {
    let slot = format!("{{{SLOT}}}");
    let filler = if template.starts_with(&slot) {
        let mut chars = term.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    } else {
        term.to_string()
    };
    template.replacen(&slot, &filler, 1)
}

impl AssociationSet {
    /// Loads an association probe set and resolves its lexicon-backed sets,
    /// validating both. Every error names the file and, where it can, the line.
    pub fn load(file: &Path) -> Result<AssociationSet, ProbeError> {
        let text = std::fs::read_to_string(file).map_err(|source| ProbeError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        let raw: AssociationFile = toml_file::parse(file, &text)?;
        let at = |offset: usize, message: String| ProbeError::Invalid {
            file: file.to_path_buf(),
            line: Some(line_of(&text, offset)),
            message,
        };
        if raw.kind.get_ref() != "association" {
            return Err(at(
                raw.kind.span().start,
                format!(
                    "kind is `{}`, but this file is read as an association probe set (kind = \"association\")",
                    raw.kind.get_ref()
                ),
            ));
        }
        if raw.test.is_empty() {
            return Err(ProbeError::Invalid {
                file: file.to_path_buf(),
                line: None,
                message: "the probe set has no tests: add at least one [[test]] with an id and the sets x, y, a and b".into(),
            });
        }

        let mut templates = Vec::new();
        if let Some(list) = &raw.templates {
            if list.get_ref().is_empty() {
                return Err(at(
                    list.span().start,
                    "`templates` is empty: list at least one sentence with a `{term}` slot, or leave `templates` out to embed the bare terms (WEAT)".into(),
                ));
            }
            let mut seen = BTreeSet::new();
            for t in list.get_ref() {
                check_template(t.get_ref())
                    .map_err(|m| at(t.span().start, format!("template `{}`: {m}", t.get_ref())))?;
                if !seen.insert(t.get_ref().clone()) {
                    return Err(at(
                        t.span().start,
                        format!("template `{}` is listed twice", t.get_ref()),
                    ));
                }
                templates.push(t.get_ref().clone());
            }
        }

        let lexicon_dir = file.parent().unwrap_or(Path::new(".")).join(&raw.lexicon);
        let mut axes: BTreeMap<String, LexiconAxis> = BTreeMap::new();
        let mut listed_axes = BTreeSet::new();
        for axis in &raw.axes {
            let name = axis.get_ref();
            if !listed_axes.insert(name.clone()) {
                return Err(at(
                    axis.span().start,
                    format!("axis `{name}` is listed twice"),
                ));
            }
            let axis_file = lexicon_dir.join(format!("{name}.toml"));
            if !axis_file.is_file() {
                return Err(at(
                    axis.span().start,
                    format!(
                        "axis `{name}` has no lexicon file (expected {})",
                        axis_file.display()
                    ),
                ));
            }
            axes.insert(name.clone(), LexiconAxis::load(&axis_file, name)?);
        }

        let mut tests = Vec::new();
        let mut ids = BTreeSet::new();
        for t in &raw.test {
            let id = t.id.get_ref();
            if id.trim().is_empty() {
                return Err(at(t.id.span().start, "a test has an empty id".into()));
            }
            if !ids.insert(id.clone()) {
                return Err(at(t.id.span().start, format!("duplicate test id `{id}`")));
            }
            let mut resolve = |key: &str, set: &Spanned<SetFile>| {
                resolve_set(set.get_ref(), &lexicon_dir, &raw.axes, &mut axes).map_err(
                    |(offset, message)| {
                        at(
                            offset.unwrap_or(set.span().start),
                            format!("test `{id}`, set `{key}`: {message}"),
                        )
                    },
                )
            };
            let x = resolve("x", &t.x)?;
            let y = resolve("y", &t.y)?;
            let a = resolve("a", &t.a)?;
            let b = resolve("b", &t.b)?;
            for (k1, s1, k2, s2, span) in [("x", &x, "y", &y, &t.y), ("a", &a, "b", &b, &t.b)] {
                if let Some(shared) = s1.terms.iter().find(|w| s2.terms.contains(w)) {
                    return Err(at(
                        span.span().start,
                        format!("test `{id}`: `{shared}` is in both `{k1}` and `{k2}`; the two sets must not share a term"),
                    ));
                }
            }
            tests.push(AssociationTest {
                id: id.clone(),
                description: t.description.clone(),
                x,
                y,
                a,
                b,
            });
        }
        let lexicon_files = axes.values().map(|a| a.file.clone()).collect();
        Ok(AssociationSet {
            file: file.to_path_buf(),
            id: raw.id,
            version: raw.version,
            description: raw.description,
            templates,
            tests,
            lexicon_files,
        })
    }

    /// Every file this probe set was read from (the set and its lexicon files).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.file.clone()];
        files.extend(self.lexicon_files.iter().cloned());
        files
    }

    /// The items a set is embedded as: its terms (WEAT), or for each term, in
    /// order, one sentence per template (SEAT).
    pub fn items(&self, set: &TermSet) -> Vec<String> {
        if self.templates.is_empty() {
            return set.terms.clone();
        }
        set.terms
            .iter()
            .flat_map(|term| self.templates.iter().map(move |t| fill(t, term)))
            .collect()
    }
}

type SetError = (Option<usize>, String);

fn resolve_set(
    set: &SetFile,
    lexicon_dir: &Path,
    listed_axes: &[Spanned<String>],
    axes: &mut BTreeMap<String, LexiconAxis>,
) -> Result<TermSet, SetError> {
    match (&set.terms, &set.axis, &set.group) {
        (Some(terms), None, None) => {
            let Some(name) = set.name.clone() else {
                return Err((None, "a set of listed `terms` needs a `name`".into()));
            };
            if terms.is_empty() {
                return Err((None, "`terms` is empty".into()));
            }
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            for term in terms {
                let w = term.get_ref().trim();
                if w.is_empty() {
                    return Err((Some(term.span().start), "a term is empty".into()));
                }
                if !seen.insert(w.to_string()) {
                    return Err((
                        Some(term.span().start),
                        format!("term `{w}` is listed twice"),
                    ));
                }
                out.push(w.to_string());
            }
            Ok(TermSet {
                name,
                terms: out,
                source: SetSource::Listed,
            })
        }
        (None, Some(axis), Some(group)) => {
            let axis_name = axis.get_ref();
            if !listed_axes.is_empty() && !listed_axes.iter().any(|a| a.get_ref() == axis_name) {
                return Err((
                    Some(axis.span().start),
                    format!("axis `{axis_name}` is not one of the probe set's `axes`"),
                ));
            }
            if !axes.contains_key(axis_name) {
                let axis_file = lexicon_dir.join(format!("{axis_name}.toml"));
                if !axis_file.is_file() {
                    return Err((
                        Some(axis.span().start),
                        format!(
                            "axis `{axis_name}` has no lexicon file (expected {})",
                            axis_file.display()
                        ),
                    ));
                }
                // A broken lexicon file is reported with its own file and line.
                let loaded = LexiconAxis::load(&axis_file, axis_name)
                    .map_err(|e| (Some(axis.span().start), e.to_string()))?;
                axes.insert(axis_name.clone(), loaded);
            }
            let lexicon = &axes[axis_name];
            let Some(g) = lexicon.group(group.get_ref()) else {
                let known: Vec<&str> = lexicon.groups.iter().map(|g| g.id.as_str()).collect();
                return Err((
                    Some(group.span().start),
                    format!(
                        "axis `{axis_name}` has no group `{}` (its groups: {})",
                        group.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            let (terms, filler) = if g.names.is_empty() {
                (vec![g.explicit.trim().to_string()], "explicit")
            } else {
                (
                    g.names.iter().map(|n| n.trim().to_string()).collect(),
                    "names",
                )
            };
            if terms.iter().any(String::is_empty) {
                return Err((
                    Some(group.span().start),
                    format!("group `{}` of axis `{axis_name}` has an empty name", g.id),
                ));
            }
            let name = set.name.clone().unwrap_or_else(|| match filler {
                "names" => format!("{} (names)", g.label),
                _ => format!("{} (\"{}\")", g.label, g.explicit.trim()),
            });
            Ok(TermSet {
                name,
                terms,
                source: SetSource::Lexicon {
                    axis: axis_name.clone(),
                    group: g.id.clone(),
                    filler: filler.to_string(),
                },
            })
        }
        (Some(_), _, _) => Err((
            None,
            "a set is either `{ name, terms = [...] }` or `{ axis, group }`, not both".into(),
        )),
        (None, Some(_), None) => Err((None, "the set names an `axis` but no `group`".into())),
        (None, None, Some(_)) => Err((None, "the set names a `group` but no `axis`".into())),
        (None, None, None) => Err((
            None,
            "the set has neither `terms` nor `axis` and `group`".into(),
        )),
    }
}

// ------------------------------------------------------------------ statistics

/// Cosine similarity in f64; an error for vectors of different lengths or of
/// zero norm.
pub fn cosine(u: &[f32], v: &[f32]) -> Result<f64, String> {
    if u.len() != v.len() {
        return Err(format!(
            "embeddings of different lengths ({} and {})",
            u.len(),
            v.len()
        ));
    }
    let (mut dot, mut uu, mut vv) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in u.iter().zip(v) {
        let (a, b) = (f64::from(a), f64::from(b));
        dot += a * b;
        uu += a * a;
        vv += b * b;
    }
    if !(uu > 0.0 && vv > 0.0 && dot.is_finite() && uu.is_finite() && vv.is_finite()) {
        return Err("an embedding has zero norm or is not finite".into());
    }
    Ok(dot / (uu.sqrt() * vv.sqrt()))
}

/// s(w, A, B) = mean_a cos(w, a) − mean_b cos(w, b), for each w of `targets`.
pub fn association_scores(
    targets: &[Vec<f32>],
    a: &[Vec<f32>],
    b: &[Vec<f32>],
) -> Result<Vec<f64>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("an attribute set is empty".into());
    }
    let mean_cos = |w: &[f32], set: &[Vec<f32>]| -> Result<f64, String> {
        let mut acc = NeumaierSum::new();
        for v in set {
            acc.add(cosine(w, v)?);
        }
        Ok(acc.total() / set.len() as f64)
    };
    targets
        .iter()
        .map(|w| Ok(mean_cos(w, a)? - mean_cos(w, b)?))
        .collect()
}

fn compensated(values: &[f64]) -> f64 {
    let mut acc = NeumaierSum::new();
    acc.extend(values.iter().copied());
    acc.total()
}

/// S = Σ_x s(x) − Σ_y s(y).
pub fn test_statistic(s_x: &[f64], s_y: &[f64]) -> f64 {
    compensated(s_x) - compensated(s_y)
}

/// C(n, k) if it is at most `cap`, else None.
fn binomial_capped(n: u64, k: u64, cap: u64) -> Option<u64> {
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 0..k {
        // c · (n − i) / (i + 1) stays an integer at every step.
        c = c * u128::from(n - i) / u128::from(i + 1);
        if c > u128::from(cap) {
            return None;
        }
    }
    Some(c as u64)
}

/// Whether the permutation test of |X| = `nx`, |Y| = `ny` enumerates every split.
pub fn is_exact(nx: usize, ny: usize) -> bool {
    binomial_capped((nx + ny) as u64, nx as u64, MAX_EXACT_SPLITS).is_some()
}

/// The outcome of [`permutation_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PermutationOutcome {
    /// One-sided p-value of S (see the module documentation).
    pub p_value: f64,
    /// True when every split was enumerated.
    pub exact: bool,
    /// Splits the p-value is based on: C(|X|+|Y|, |X|) when exact, otherwise the
    /// number of random splits.
    pub n_permutations: u64,
}

/// The one-sided permutation p-value of S = Σ s_x − Σ s_y: exact over all
/// C(|X|+|Y|, |X|) splits when there are at most [`MAX_EXACT_SPLITS`], otherwise
/// over [`N_SAMPLED_SPLITS`] random splits drawn from `Rng::new(seed)`.
pub fn permutation_test(s_x: &[f64], s_y: &[f64], seed: u64) -> Result<PermutationOutcome, String> {
    permutation_test_with(s_x, s_y, MAX_EXACT_SPLITS, N_SAMPLED_SPLITS, seed)
}

/// [`permutation_test`] with explicit limits (used by the tests).
pub fn permutation_test_with(
    s_x: &[f64],
    s_y: &[f64],
    max_exact: u64,
    n_sampled: u64,
    seed: u64,
) -> Result<PermutationOutcome, String> {
    if s_x.is_empty() || s_y.is_empty() {
        return Err("a target set is empty".into());
    }
    if s_x.iter().chain(s_y).any(|v| !v.is_finite()) {
        return Err("an association score is not finite".into());
    }
    let pooled: Vec<f64> = s_x.iter().chain(s_y).copied().collect();
    let n = pooled.len();
    let k = s_x.len();
    let abs_total = compensated(&pooled.iter().map(|v| v.abs()).collect::<Vec<_>>());
    // τ on S is 200 ε Σ|s|; on the sum over X_i it is half that.
    let half_tau = 100.0 * f64::EPSILON * abs_total;
    let threshold = compensated(s_x) - half_tau;
    if let Some(total) = binomial_capped(n as u64, k as u64, max_exact) {
        let mut count = 0u64;
        let mut enumerated = 0u64;
        enumerate_splits(&pooled, k, 0, 0.0, &mut |sum| {
            enumerated += 1;
            count += u64::from(sum >= threshold);
        });
        debug_assert_eq!(enumerated, total);
        return Ok(PermutationOutcome {
            p_value: count as f64 / total as f64,
            exact: true,
            n_permutations: total,
        });
    }
    if n_sampled == 0 {
        return Err("the number of sampled splits must be positive".into());
    }
    let mut rng = Rng::new(seed);
    let mut indices: Vec<usize> = (0..n).collect();
    let mut count = 0u64;
    for _ in 0..n_sampled {
        // A partial Fisher–Yates shuffle picks a uniform k-subset from any
        // starting order, so the index vector is not reset between draws.
        let mut acc = NeumaierSum::new();
        for i in 0..k {
            let j = i + rng.below((n - i) as u64) as usize;
            indices.swap(i, j);
            acc.add(pooled[indices[i]]);
        }
        count += u64::from(acc.total() >= threshold);
    }
    Ok(PermutationOutcome {
        p_value: (1 + count) as f64 / (1 + n_sampled) as f64,
        exact: false,
        n_permutations: n_sampled,
    })
}

/// Calls `visit` with the sum of every `k`-subset of `values[start..]` (plus
/// `prefix`); each sum is built from at most k additions.
fn enumerate_splits(
    values: &[f64],
    k: usize,
    start: usize,
    prefix: f64,
    visit: &mut dyn FnMut(f64),
) {
    if k == 0 {
        visit(prefix);
        return;
    }
    for i in start..=values.len() - k {
        enumerate_splits(values, k - 1, i + 1, prefix + values[i], visit);
    }
}

/// The WEAT statistics of one test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeatStatistics {
    /// d: (mean_X s − mean_Y s) / sd_{X∪Y} s.
    pub effect_size: f64,
    /// S = Σ_X s − Σ_Y s.
    pub statistic: f64,
    pub mean_s_x: f64,
    pub mean_s_y: f64,
    pub p_value: f64,
    pub exact: bool,
    pub n_permutations: u64,
}

/// WEAT on embeddings of X, Y, A and B (one vector per item).
pub fn weat(
    x: &[Vec<f32>],
    y: &[Vec<f32>],
    a: &[Vec<f32>],
    b: &[Vec<f32>],
    seed: u64,
) -> Result<WeatStatistics, String> {
    if x.is_empty() || y.is_empty() {
        return Err("a target set is empty".into());
    }
    let s_x = association_scores(x, a, b)?;
    let s_y = association_scores(y, a, b)?;
    if s_x.len() + s_y.len() < 3 {
        return Err("the effect size needs at least three target items in all".into());
    }
    let effect_size = crate::stats::weat_effect_size(&s_x, &s_y).map_err(|e| e.to_string())?;
    let perm = permutation_test(&s_x, &s_y, seed)?;
    Ok(WeatStatistics {
        effect_size,
        statistic: test_statistic(&s_x, &s_y),
        mean_s_x: compensated(&s_x) / s_x.len() as f64,
        mean_s_y: compensated(&s_y) / s_y.len() as f64,
        p_value: perm.p_value,
        exact: perm.exact,
        n_permutations: perm.n_permutations,
    })
}

// ------------------------------------------------------------------ runner

/// A set as reported: its name, its terms and its items (terms × templates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetSummary {
    pub name: String,
    pub n_terms: usize,
    pub n_items: usize,
    #[serde(flatten)]
    pub source: SetSource,
}

/// The result of one association test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssociationResult {
    pub test: String,
    pub x: SetSummary,
    pub y: SetSummary,
    pub a: SetSummary,
    pub b: SetSummary,
    /// SEAT templates used (0: bare words, WEAT).
    pub templates: usize,
    /// Items embedded for this test: the sum of the four sets' `n_items`.
    pub sentences: usize,
    pub effect_size: f64,
    pub statistic: f64,
    pub mean_s_x: f64,
    pub mean_s_y: f64,
    /// One-sided: X with A (and Y with B).
    pub p_value: f64,
    pub exact: bool,
    pub n_permutations: u64,
    /// The seed of this test's permutation sample (derived from the run's seed and
    /// the set and test ids; unused when exact).
    pub seed: u64,
}

/// The embedder [`run_association`] calls: texts in, one vector per text out.
pub type EmbedFn<'a> = dyn FnMut(&[String]) -> Result<Vec<Vec<f32>>, String> + 'a;

/// Runs every test of the set. `embed` is called once, with every distinct item
/// of the set (in order of first appearance), and must return one vector per
/// text. Each test's permutation seed is derived from `seed` and the set and test
/// ids, so a test's figures do not depend on the other tests.
pub fn run_association(
    set: &AssociationSet,
    embed: &mut EmbedFn<'_>,
    seed: u64,
) -> Result<Vec<AssociationResult>, String> {
    let mut texts: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut plans = Vec::new();
    for test in &set.tests {
        let mut plan: Vec<Vec<usize>> = Vec::new();
        for term_set in [&test.x, &test.y, &test.a, &test.b] {
            let ids = set
                .items(term_set)
                .into_iter()
                .map(|text| {
                    *index.entry(text.clone()).or_insert_with(|| {
                        texts.push(text);
                        texts.len() - 1
                    })
                })
                .collect();
            plan.push(ids);
        }
        plans.push(plan);
    }
    let vectors = embed(&texts)?;
    if vectors.len() != texts.len() {
        return Err(format!(
            "the embedder returned {} vectors for {} texts",
            vectors.len(),
            texts.len()
        ));
    }
    let dim = vectors.first().map_or(0, Vec::len);
    if let Some(i) = vectors
        .iter()
        .position(|v| v.len() != dim || v.is_empty() || v.iter().any(|x| !x.is_finite()))
    {
        return Err(format!(
            "the embedding of {:?} is empty, not finite, or of another length than the others",
            texts[i]
        ));
    }
    let mut results = Vec::new();
    for (test, plan) in set.tests.iter().zip(&plans) {
        let pick = |ids: &Vec<usize>| -> Vec<Vec<f32>> {
            ids.iter().map(|&i| vectors[i].clone()).collect()
        };
        let test_seed = super::derive_seed(seed, &["association", &set.id, &test.id]);
        let stats = weat(
            &pick(&plan[0]),
            &pick(&plan[1]),
            &pick(&plan[2]),
            &pick(&plan[3]),
            test_seed,
        )
        .map_err(|e| format!("{}: test `{}`: {e}", set.file.display(), test.id))?;
        let summary = |s: &TermSet, ids: &Vec<usize>| SetSummary {
            name: s.name.clone(),
            n_terms: s.terms.len(),
            n_items: ids.len(),
            source: s.source.clone(),
        };
        results.push(AssociationResult {
            test: test.id.clone(),
            x: summary(&test.x, &plan[0]),
            y: summary(&test.y, &plan[1]),
            a: summary(&test.a, &plan[2]),
            b: summary(&test.b, &plan[3]),
            templates: set.templates.len(),
            sentences: plan.iter().map(Vec::len).sum(),
            effect_size: stats.effect_size,
            statistic: stats.statistic,
            mean_s_x: stats.mean_s_x,
            mean_s_y: stats.mean_s_y,
            p_value: stats.p_value,
            exact: stats.exact,
            n_permutations: stats.n_permutations,
            seed: test_seed,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests;
