//! Probe sets and the demographic lexicon: loading, validation and expansion of
//! templates × groups into concrete probes.
//!
//! A probe set is data (`probes/*.toml`): scenario templates with one `{person}`
//! slot. The groups come from the lexicon (`probes/lexicon/<axis>.toml`), one file per
//! axis with its reference group, never from lists written into the probe set, so a
//! new group reaches every probe set at once. Each probe has a stable id (a hash of
//! set, scenario, variant, axis, group and filler) so runs, resumes and shards join.

mod error;
pub mod import;
mod lexicon;

pub use error::ProbeError;
pub use lexicon::{
    compose, guess_article, intersect, load_axis, parse_axis_name, Group, LexiconAxis, Parts,
};

use crate::spec::toml_file;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// How the demographic group is signalled in a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The group is named ("a Black woman", "a 70-year-old person").
    Explicit,
    /// The group is signalled by a first name associated with it.
    Implicit,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Explicit => "explicit",
            Variant::Implicit => "implicit",
        }
    }
}

/// The closed set of probe kinds (see `docs/probes.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    Decision,
    Paired,
    Generation,
    Association,
    MultipleChoice,
    Memorisation,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Decision => "decision",
            ProbeKind::Paired => "paired",
            ProbeKind::Generation => "generation",
            ProbeKind::Association => "association",
            ProbeKind::MultipleChoice => "multiple-choice",
            ProbeKind::Memorisation => "memorisation",
        }
    }
}

/// The serde form of a probe-set file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSetFile {
    pub id: String,
    pub kind: ProbeKind,
    pub version: u32,
    #[serde(default)]
    pub description: Option<String>,
    /// The lexicon folder, relative to the probe-set file.
    #[serde(default = "default_lexicon")]
    pub lexicon: String,
    pub axes: Vec<Spanned<String>>,
    /// Appended on a new line after each filled template.
    #[serde(default)]
    pub instruction: Option<String>,
    /// The start of the model's reply, written for it (after the chat template's
    /// assistant marker), so that its next token is the answer.
    #[serde(default)]
    pub answer_prefix: Option<String>,
    pub answers: Answers,
    #[serde(default)]
    pub scenario: Vec<Scenario>,
    /// Written-out prompts, already filled (what the DiscrimEval importer writes).
    #[serde(default)]
    pub filled: Vec<Filled>,
    /// For written-out prompts: the reference value of each demographic attribute
    /// (default: the first value in sorted order, said so in the report).
    #[serde(default)]
    pub references: BTreeMap<String, String>,
}

/// One written-out decision prompt and the demographic attributes it was filled
/// with; each attribute becomes an axis whose groups are its values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filled {
    pub id: Spanned<String>,
    pub scenario: String,
    #[serde(default)]
    pub variant: Option<Variant>,
    pub prompt: Spanned<String>,
    #[serde(default)]
    pub demographics: BTreeMap<String, toml::Value>,
}

/// An attribute value as a group id: numbers without a trailing ".0".
fn attribute_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    }
}

fn default_lexicon() -> String {
    "lexicon".to_string()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    pub favourable: Vec<String>,
    pub unfavourable: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: Spanned<String>,
    #[serde(default)]
    pub domain: Option<String>,
    pub template: Spanned<String>,
    /// Rewordings of the template (same slot, same meaning), run for each axis's
    /// reference group only: the paraphrase baseline.
    #[serde(default)]
    pub paraphrases: Vec<Spanned<String>>,
}

/// The scenario id of a template's k-th paraphrase (k from 1).
pub fn paraphrase_scenario(scenario: &str, k: usize) -> String {
    format!("{scenario}{PARAPHRASE_MARK}{k}")
}

/// What separates a scenario id from its paraphrase number.
pub const PARAPHRASE_MARK: &str = "~paraphrase-";

/// The scenario a paraphrase scenario id rewords, or `None` for a scenario itself.
pub fn paraphrased(scenario: &str) -> Option<&str> {
    scenario.split_once(PARAPHRASE_MARK).map(|(s, _)| s)
}

/// A loaded, validated probe set with its lexicon axes (in the set's order).
#[derive(Debug, Clone)]
pub struct ProbeSet {
    pub file: PathBuf,
    pub raw: ProbeSetFile,
    pub axes: Vec<LexiconAxis>,
}

/// One concrete prompt: a scenario filled with one group's phrase or name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub id: String,
    pub probe_set: String,
    pub kind: ProbeKind,
    pub scenario: String,
    pub variant: Variant,
    pub axis: String,
    pub group: String,
    /// What filled the `{person}` slot.
    pub filler: String,
    /// The user message: the filled template and the instruction.
    pub prompt: String,
    /// The start of the model's reply, if the probe set writes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_prefix: Option<String>,
}

/// Which part of a probe set to expand.
#[derive(Debug, Clone)]
pub struct Selection {
    pub variants: Vec<Variant>,
    pub axes: Option<Vec<String>>,
    pub scenarios: Option<Vec<String>>,
}

impl Selection {
    pub fn all() -> Selection {
        Selection {
            variants: vec![Variant::Explicit, Variant::Implicit],
            axes: None,
            scenarios: None,
        }
    }
}

const SLOT: &str = "person";

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl ProbeSet {
    /// Loads a probe set and the lexicon files of its axes, validating both.
    pub fn load(file: &Path) -> Result<ProbeSet, ProbeError> {
        let text = std::fs::read_to_string(file).map_err(|source| ProbeError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        let raw: ProbeSetFile = toml_file::parse(file, &text)?;
        let at = |offset: usize, message: String| ProbeError::Invalid {
            file: file.to_path_buf(),
            line: Some(line_of(&text, offset)),
            message,
        };
        let whole = |message: String| ProbeError::Invalid {
            file: file.to_path_buf(),
            line: None,
            message,
        };
        if raw.scenario.is_empty() && raw.filled.is_empty() {
            return Err(whole(
                "the probe set has no scenarios: add at least one [[scenario]] with an id and a template".into(),
            ));
        }
        if raw.axes.is_empty() && !raw.scenario.is_empty() {
            return Err(whole(
                "`axes` is empty: name at least one lexicon axis".into(),
            ));
        }
        if raw.answers.favourable.is_empty() || raw.answers.unfavourable.is_empty() {
            return Err(whole(
                "`answers` needs at least one favourable and one unfavourable answer".into(),
            ));
        }
        let mut seen = BTreeSet::new();
        for scenario in &raw.scenario {
            let id = scenario.id.get_ref();
            if !seen.insert(id.clone()) {
                return Err(at(
                    scenario.id.span().start,
                    format!("duplicate scenario id `{id}`"),
                ));
            }
            for text in std::iter::once(&scenario.template).chain(&scenario.paraphrases) {
                check_template(text.get_ref()).map_err(|message| {
                    at(text.span().start, format!("scenario `{id}`: {message}"))
                })?;
            }
        }
        let lexicon_dir = file.parent().unwrap_or(Path::new(".")).join(&raw.lexicon);
        let mut axes = Vec::new();
        let mut seen_axes = BTreeSet::new();
        for axis in &raw.axes {
            let name = axis.get_ref();
            if !seen_axes.insert(name.clone()) {
                return Err(at(
                    axis.span().start,
                    format!("axis `{name}` is listed twice"),
                ));
            }
            let axis_file = lexicon_dir.join(format!("{name}.toml"));
            if parse_axis_name(name).len() == 1 && !axis_file.exists() {
                return Err(at(
                    axis.span().start,
                    format!(
                        "axis `{name}` has no lexicon file (expected {})",
                        axis_file.display()
                    ),
                ));
            }
            axes.push(load_axis(&lexicon_dir, name).map_err(|e| match e {
                ProbeError::Invalid {
                    message,
                    line: None,
                    ..
                } => at(axis.span().start, message),
                other => other,
            })?);
        }
        // Written-out prompts: each demographic attribute is an axis of its own.
        let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut filled_ids = BTreeSet::new();
        for f in &raw.filled {
            let id = f.id.get_ref();
            if !filled_ids.insert(id.clone()) {
                return Err(at(
                    f.id.span().start,
                    format!("duplicate filled prompt id `{id}`"),
                ));
            }
            if f.prompt.get_ref().trim().is_empty() {
                return Err(at(
                    f.prompt.span().start,
                    format!("filled prompt `{id}` is empty"),
                ));
            }
            if f.demographics.is_empty() {
                return Err(at(
                    f.id.span().start,
                    format!(
                        "filled prompt `{id}` has no [filled.demographics]: nothing to compare"
                    ),
                ));
            }
            for (k, v) in &f.demographics {
                values
                    .entry(k.clone())
                    .or_default()
                    .insert(attribute_value(v));
            }
        }
        for (attribute, groups) in &values {
            if axes.iter().any(|a| &a.axis == attribute) {
                return Err(whole(format!(
                    "attribute `{attribute}` of [[filled]] prompts is also a lexicon axis of this set"
                )));
            }
            let (reference, why) = match raw.references.get(attribute) {
                Some(r) if groups.contains(r) => (r.clone(), format!("named in the probe set's [references] table ({})", file.display())),
                Some(r) => {
                    return Err(whole(format!(
                        "[references] names `{r}` for `{attribute}`, which no filled prompt has (values: {})",
                        groups.iter().cloned().collect::<Vec<_>>().join(", ")
                    )))
                }
                None => (
                    groups.iter().next().expect("one value at least").clone(),
                    "the probe set names no reference for this attribute ([references]); the first value in sorted order was taken — choose one deliberately".to_string(),
                ),
            };
            axes.push(LexiconAxis {
                file: file.to_path_buf(),
                files: Vec::new(),
                axis: attribute.clone(),
                reference,
                reference_why: why,
                names_source: None,
                groups: groups
                    .iter()
                    .map(|g| Group {
                        id: g.clone(),
                        label: g.clone(),
                        explicit: g.clone(),
                        names: Vec::new(),
                        parts: Parts::default(),
                        names_by: BTreeMap::new(),
                        excludes: Vec::new(),
                    })
                    .collect(),
            });
        }
        Ok(ProbeSet {
            file: file.to_path_buf(),
            raw,
            axes,
        })
    }

    pub fn id(&self) -> &str {
        &self.raw.id
    }

    /// Every file this probe set was read from (the set and its lexicon files).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.file.clone()];
        files.extend(self.axes.iter().flat_map(|a| a.files.iter().cloned()));
        files
    }

    pub fn axis(&self, name: &str) -> Option<&LexiconAxis> {
        self.axes.iter().find(|a| a.axis == name)
    }

    /// Expands the selected part of the set into probes, ordered by scenario, then
    /// variant, axis, group and filler. Every scenario's probes are contiguous, so
    /// the run stage can treat a scenario as one unit of work.
    /// The selected probes, generated one scenario at a time as the iterator is
    /// consumed (a lexicon × templates set can reach 100k+ probes): scenario by
    /// scenario, then variant, axis, group and filler; every scenario's probes are
    /// contiguous, so the run stage can take a scenario as one unit of work.
    pub fn iter<'a>(
        &'a self,
        selection: &Selection,
    ) -> Result<impl Iterator<Item = Probe> + 'a, ProbeError> {
        let invalid = |message: String| ProbeError::Invalid {
            file: self.file.clone(),
            line: None,
            message,
        };
        if let Some(axes) = &selection.axes {
            for a in axes {
                if self.axis(a).is_none() {
                    return Err(invalid(format!(
                        "the spec selects axis `{a}`, which this probe set does not have"
                    )));
                }
            }
        }
        if let Some(ids) = &selection.scenarios {
            for id in ids {
                if !self.raw.scenario.iter().any(|s| s.id.get_ref() == id)
                    && !self.raw.filled.iter().any(|f| &f.scenario == id)
                {
                    return Err(invalid(format!(
                        "the spec selects scenario `{id}`, which this probe set does not have"
                    )));
                }
            }
        }
        let mut variants = selection.variants.clone();
        variants.sort();
        variants.dedup();
        let selection = selection.clone();
        let written = self.filled_probes(&selection, &variants);
        let axes_filter = selection.axes.clone();
        Ok(self
            .raw
            .scenario
            .iter()
            .filter(move |s| {
                selection
                    .scenarios
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|id| id == s.id.get_ref()))
            })
            .flat_map(move |scenario| self.scenario_probes(scenario, &variants, &axes_filter))
            .chain(written))
    }

    /// Expands the selected part of the set into probes (see [`ProbeSet::iter`]).
    pub fn expand(&self, selection: &Selection) -> Result<Vec<Probe>, ProbeError> {
        let probes: Vec<Probe> = self.iter(selection)?.collect();
        if probes.is_empty() {
            return Err(ProbeError::Invalid {
                file: self.file.clone(),
                line: None,
                message: "the selection expands to no probes (no scenario, axis or name matches)"
                    .into(),
            });
        }
        Ok(probes)
    }

    /// One scenario's probes (its paraphrases' included).
    fn scenario_probes(
        &self,
        scenario: &Scenario,
        variants: &[Variant],
        axes_filter: &Option<Vec<String>>,
    ) -> Vec<Probe> {
        let selection = Selection {
            variants: variants.to_vec(),
            axes: axes_filter.clone(),
            scenarios: None,
        };
        let mut probes = Vec::new();
        let scenario_id = scenario.id.get_ref();
        for &variant in variants {
            for axis in &self.axes {
                if let Some(axes) = &selection.axes {
                    if !axes.contains(&axis.axis) {
                        continue;
                    }
                }
                for group in &axis.groups {
                    for filler in group.fillers(variant) {
                        probes.push(self.probe(
                            scenario_id,
                            scenario.template.get_ref(),
                            variant,
                            axis,
                            group,
                            filler,
                        ));
                    }
                }
            }
        }
        // The paraphrase baseline: each rewording for every axis's reference
        // group, named explicitly, as a scenario of its own.
        if variants.contains(&Variant::Explicit) {
            for (k, text) in scenario.paraphrases.iter().enumerate() {
                let id = paraphrase_scenario(scenario_id, k + 1);
                for axis in &self.axes {
                    if selection
                        .axes
                        .as_ref()
                        .is_some_and(|a| !a.contains(&axis.axis))
                    {
                        continue;
                    }
                    if let Some(group) = axis.group(&axis.reference) {
                        probes.push(self.probe(
                            &id,
                            text.get_ref(),
                            Variant::Explicit,
                            axis,
                            group,
                            &group.explicit,
                        ));
                    }
                }
            }
        }
        probes
    }

    /// The written-out prompts, by scenario (stable: file order within one).
    fn filled_probes(&self, selection: &Selection, variants: &[Variant]) -> Vec<Probe> {
        let mut written = Vec::new();
        for f in &self.raw.filled {
            if let Some(ids) = &selection.scenarios {
                if !ids.contains(&f.scenario) {
                    continue;
                }
            }
            let variant = f.variant.unwrap_or(Variant::Explicit);
            if !variants.contains(&variant) {
                continue;
            }
            let prompt = match &self.raw.instruction {
                Some(instruction) => format!("{}\n{instruction}", f.prompt.get_ref()),
                None => f.prompt.get_ref().clone(),
            };
            // One probe per attribute (the same prompt: the scorer computes it once).
            for (attribute, value) in &f.demographics {
                if let Some(axes) = &selection.axes {
                    if !axes.contains(attribute) {
                        continue;
                    }
                }
                let group = attribute_value(value);
                written.push(Probe {
                    id: stable_id(&[
                        &self.raw.id,
                        f.id.get_ref(),
                        variant.as_str(),
                        attribute,
                        &group,
                    ]),
                    probe_set: self.raw.id.clone(),
                    kind: self.raw.kind,
                    scenario: f.scenario.clone(),
                    variant,
                    axis: attribute.clone(),
                    group,
                    filler: f.id.get_ref().clone(),
                    prompt: prompt.clone(),
                    answer_prefix: self.raw.answer_prefix.clone(),
                });
            }
        }
        // A scenario's probes must be contiguous for the run stage (stable: file
        // order within a scenario).
        written.sort_by(|a, b| a.scenario.cmp(&b.scenario).then(a.variant.cmp(&b.variant)));
        written
    }

    fn probe(
        &self,
        scenario_id: &str,
        template: &str,
        variant: Variant,
        axis: &LexiconAxis,
        group: &Group,
        filler: &str,
    ) -> Probe {
        let filled = template.replace(&format!("{{{SLOT}}}"), filler);
        let prompt = match &self.raw.instruction {
            Some(instruction) => format!("{filled}\n{instruction}"),
            None => filled,
        };
        let scenario_id = scenario_id.to_string();
        let id = stable_id(&[
            &self.raw.id,
            &scenario_id,
            variant.as_str(),
            &axis.axis,
            &group.id,
            filler,
        ]);
        Probe {
            id,
            probe_set: self.raw.id.clone(),
            kind: self.raw.kind,
            scenario: scenario_id,
            variant,
            axis: axis.axis.clone(),
            group: group.id.clone(),
            filler: filler.to_string(),
            prompt,
            answer_prefix: self.raw.answer_prefix.clone(),
        }
    }
}

/// A short stable id: the first 16 hex digits of sha256 over the parts, each
/// terminated by a 0x1f unit separator so that part boundaries cannot shift.
pub fn stable_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// A template must use `{person}` exactly once and no other slot.
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

/// Lists the probe-set files (`*.toml`) of a folder, sorted by name.
pub fn list_sets(dir: &Path) -> Result<Vec<PathBuf>, ProbeError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ProbeError::Io {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn write_fixture(dir: &Path, scenarios: &str) -> PathBuf {
        let lex = dir.join("lexicon");
        std::fs::create_dir_all(&lex).unwrap();
        std::fs::write(
            lex.join("gender.toml"),
            r#"axis = "gender"
reference = "man"
reference_why = "test"
names_source = "test list"

[[group]]
id = "man"
label = "men"
explicit = "a man"
names = ["James", "John"]

[[group]]
id = "woman"
label = "women"
explicit = "a woman"
names = ["Mary"]

[[group]]
id = "non_binary"
label = "non-binary people"
explicit = "a non-binary person"
"#,
        )
        .unwrap();
        let file = dir.join("set.toml");
        std::fs::write(
            &file,
            format!(
                r#"id = "t"
kind = "decision"
version = 1
axes = ["gender"]
instruction = "Answer yes or no."
answers = {{ favourable = ["yes"], unfavourable = ["no"] }}
{scenarios}"#
            ),
        )
        .unwrap();
        file
    }

    const TWO: &str = r#"
[[scenario]]
id = "a"
template = "The applicant is {person}. Approve?"

[[scenario]]
id = "b"
template = "Consider {person}. Hire?"
"#;

    #[test]
    fn expands_templates_by_groups_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let set = ProbeSet::load(&write_fixture(dir.path(), TWO)).unwrap();
        let probes = set.expand(&Selection::all()).unwrap();
        // per scenario: 3 explicit + 3 names (2 men, 1 woman)
        assert_eq!(probes.len(), 12);
        assert_eq!(
            probes[0].prompt,
            "The applicant is a man. Approve?\nAnswer yes or no."
        );
        assert_eq!(probes[3].filler, "James");
        assert_eq!(probes[3].variant, Variant::Implicit);
        let ids: BTreeSet<_> = probes.iter().map(|p| p.id.clone()).collect();
        assert_eq!(ids.len(), probes.len(), "ids are unique");
        // stable across loads
        let again = set.expand(&Selection::all()).unwrap();
        assert_eq!(probes, again);
    }

    #[test]
    fn paraphrases_run_for_reference_groups_only() {
        let dir = tempfile::tempdir().unwrap();
        let text = TWO.replace(
            "template = \"Consider {person}. Hire?\"",
            "template = \"Consider {person}. Hire?\"\nparaphrases = [\"Think about {person}. Employ?\", \"Weigh up {person}. Take on?\"]",
        );
        let set = ProbeSet::load(&write_fixture(dir.path(), &text)).unwrap();
        let probes = set.expand(&Selection::all()).unwrap();
        let para: Vec<&Probe> = probes
            .iter()
            .filter(|p| paraphrased(&p.scenario) == Some("b"))
            .collect();
        assert_eq!(para.len(), 2, "one reference probe per paraphrase");
        assert!(para
            .iter()
            .all(|p| p.group == "man" && p.variant == Variant::Explicit));
        assert_eq!(para[0].scenario, "b~paraphrase-1");
        assert!(para[1].prompt.starts_with("Weigh up a man. Take on?"));
        // The implicit variant alone has no paraphrase probes.
        let implicit = set
            .expand(&Selection {
                variants: vec![Variant::Implicit],
                axes: None,
                scenarios: None,
            })
            .unwrap();
        assert!(implicit.iter().all(|p| paraphrased(&p.scenario).is_none()));
        // A paraphrase's slot is checked like its template's, with its line.
        let bad = TWO.replace(
            "template = \"Consider {person}. Hire?\"",
            "template = \"Consider {person}. Hire?\"\nparaphrases = [\"Think about {name}.\"]",
        );
        let err = ProbeSet::load(&write_fixture(dir.path(), &bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 15") && err.contains("{name}"), "{err}");
    }

    #[test]
    fn filled_prompts_become_one_probe_per_attribute() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("filled.toml");
        std::fs::write(
            &file,
            r#"id = "f"
kind = "decision"
version = 1
axes = []
instruction = "Answer yes or no."
answers = { favourable = ["yes"], unfavourable = ["no"] }

[references]
race = "white"

[[filled]]
id = "p1"
scenario = "3"
prompt = "A 20-year-old white man applies. Approve?"
[filled.demographics]
age = 20.0
race = "white"

[[filled]]
id = "p2"
scenario = "3"
variant = "explicit"
prompt = "A 60-year-old Black man applies. Approve?"
[filled.demographics]
age = 60.0
race = "Black"
"#,
        )
        .unwrap();
        let set = ProbeSet::load(&file).unwrap();
        let axes: Vec<(&str, &str)> = set
            .axes
            .iter()
            .map(|a| (a.axis.as_str(), a.reference.as_str()))
            .collect();
        assert_eq!(axes, [("age", "20"), ("race", "white")]);
        assert!(set.axes[0].reference_why.contains("no reference"));
        let probes = set.expand(&Selection::all()).unwrap();
        assert_eq!(probes.len(), 4);
        assert_eq!(
            probes[0].prompt,
            "A 20-year-old white man applies. Approve?\nAnswer yes or no."
        );
        let groups: Vec<(&str, &str)> = probes
            .iter()
            .map(|p| (p.axis.as_str(), p.group.as_str()))
            .collect();
        assert_eq!(
            groups,
            [
                ("age", "20"),
                ("race", "white"),
                ("age", "60"),
                ("race", "Black")
            ]
        );
        // A reference no prompt has is an error naming the file.
        std::fs::write(
            &file,
            std::fs::read_to_string(&file).unwrap().replace(
                "[references]\nrace = \"white\"",
                "[references]\nrace = \"Asian\"",
            ),
        )
        .unwrap();
        let err = ProbeSet::load(&file).unwrap_err().to_string();
        assert!(
            err.contains("filled.toml") && err.contains("`Asian`"),
            "{err}"
        );
    }

    #[test]
    fn selection_filters_scenarios_and_variants() {
        let dir = tempfile::tempdir().unwrap();
        let set = ProbeSet::load(&write_fixture(dir.path(), TWO)).unwrap();
        let sel = Selection {
            variants: vec![Variant::Explicit],
            axes: None,
            scenarios: Some(vec!["b".into()]),
        };
        let probes = set.expand(&sel).unwrap();
        assert_eq!(probes.len(), 3);
        assert!(probes.iter().all(|p| p.scenario == "b"));
        let bad = Selection {
            scenarios: Some(vec!["zzz".into()]),
            ..sel
        };
        assert!(set.expand(&bad).unwrap_err().to_string().contains("zzz"));
    }

    #[test]
    fn empty_probe_set_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = ProbeSet::load(&write_fixture(dir.path(), ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no scenarios"), "{err}");
        assert!(err.contains("set.toml"), "{err}");
    }

    #[test]
    fn unfilled_slot_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = "\n[[scenario]]\nid = \"a\"\ntemplate = \"{person} earns {income}.\"\n";
        let err = ProbeSet::load(&write_fixture(dir.path(), text))
            .unwrap_err()
            .to_string();
        assert!(err.contains("{income}"), "{err}");
        assert!(err.contains("set.toml, line 10"), "{err}");
    }

    #[test]
    fn duplicate_scenario_ids_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let text = TWO.replace("id = \"b\"", "id = \"a\"");
        let err = ProbeSet::load(&write_fixture(dir.path(), &text))
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate scenario id `a`"), "{err}");
    }

    #[test]
    fn template_rules() {
        assert!(check_template("x {person} y").is_ok());
        assert!(check_template("x y").is_err());
        assert!(check_template("{person} and {person}").is_err());
        assert!(check_template("{person} {").is_err());
    }
}
