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
use std::collections::BTreeSet;
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
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Decision => "decision",
            ProbeKind::Paired => "paired",
            ProbeKind::Generation => "generation",
            ProbeKind::Association => "association",
            ProbeKind::MultipleChoice => "multiple-choice",
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
        if raw.scenario.is_empty() {
            return Err(whole(
                "the probe set has no scenarios: add at least one [[scenario]] with an id and a template".into(),
            ));
        }
        if raw.axes.is_empty() {
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
            check_template(scenario.template.get_ref()).map_err(|message| {
                at(
                    scenario.template.span().start,
                    format!("scenario `{id}`: {message}"),
                )
            })?;
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
    pub fn expand(&self, selection: &Selection) -> Result<Vec<Probe>, ProbeError> {
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
                if !self.raw.scenario.iter().any(|s| s.id.get_ref() == id) {
                    return Err(invalid(format!(
                        "the spec selects scenario `{id}`, which this probe set does not have"
                    )));
                }
            }
        }
        let mut variants = selection.variants.clone();
        variants.sort();
        variants.dedup();
        let mut probes = Vec::new();
        for scenario in &self.raw.scenario {
            let scenario_id = scenario.id.get_ref();
            if let Some(ids) = &selection.scenarios {
                if !ids.iter().any(|id| id == scenario_id) {
                    continue;
                }
            }
            for &variant in &variants {
                for axis in &self.axes {
                    if let Some(axes) = &selection.axes {
                        if !axes.contains(&axis.axis) {
                            continue;
                        }
                    }
                    for group in &axis.groups {
                        for filler in group.fillers(variant) {
                            probes.push(self.probe(scenario, variant, axis, group, filler));
                        }
                    }
                }
            }
        }
        if probes.is_empty() {
            return Err(invalid(
                "the selection expands to no probes (no scenario, axis or name matches)".into(),
            ));
        }
        Ok(probes)
    }

    fn probe(
        &self,
        scenario: &Scenario,
        variant: Variant,
        axis: &LexiconAxis,
        group: &Group,
        filler: &str,
    ) -> Probe {
        let filled = scenario
            .template
            .get_ref()
            .replace(&format!("{{{SLOT}}}"), filler);
        let prompt = match &self.raw.instruction {
            Some(instruction) => format!("{filled}\n{instruction}"),
            None => filled,
        };
        let scenario_id = scenario.id.get_ref().clone();
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
