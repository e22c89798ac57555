//! The demographic lexicon: one file per axis (`probes/lexicon/<axis>.toml`) naming
//! its groups, the phrase that names each group explicitly, the first names that
//! signal it implicitly (only where names are a recognised proxy), and the
//! reference group against which the axis's gaps are measured, with the reason.

use super::{line_of, ProbeError, Variant};
use crate::spec::toml_file;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisFile {
    axis: String,
    reference: Spanned<String>,
    reference_why: String,
    #[serde(default)]
    names_source: Option<String>,
    #[serde(default)]
    group: Vec<GroupFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    id: Spanned<String>,
    label: String,
    explicit: String,
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LexiconAxis {
    pub file: PathBuf,
    pub axis: String,
    pub reference: String,
    pub reference_why: String,
    pub names_source: Option<String>,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub label: String,
    pub explicit: String,
    pub names: Vec<String>,
}

impl Group {
    /// What fills the `{person}` slot for this group in a variant.
    pub fn fillers(&self, variant: Variant) -> Vec<&str> {
        match variant {
            Variant::Explicit => vec![self.explicit.as_str()],
            Variant::Implicit => self.names.iter().map(String::as_str).collect(),
        }
    }
}

impl LexiconAxis {
    pub fn load(file: &Path, expected_axis: &str) -> Result<LexiconAxis, ProbeError> {
        let text = std::fs::read_to_string(file).map_err(|source| ProbeError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        let raw: AxisFile = toml_file::parse(file, &text)?;
        let at = |offset: Option<usize>, message: String| ProbeError::Invalid {
            file: file.to_path_buf(),
            line: offset.map(|o| line_of(&text, o)),
            message,
        };
        if raw.axis != expected_axis {
            return Err(at(
                None,
                format!(
                    "the file declares axis `{}` but is loaded for axis `{expected_axis}`",
                    raw.axis
                ),
            ));
        }
        if raw.group.len() < 2 {
            return Err(at(
                None,
                "an axis needs at least two groups (a reference and one to compare)".into(),
            ));
        }
        let mut ids = BTreeSet::new();
        for g in &raw.group {
            if !ids.insert(g.id.get_ref().clone()) {
                return Err(at(
                    Some(g.id.span().start),
                    format!("duplicate group id `{}`", g.id.get_ref()),
                ));
            }
            if g.explicit.trim().is_empty() {
                return Err(at(
                    Some(g.id.span().start),
                    format!("group `{}` has an empty `explicit` phrase", g.id.get_ref()),
                ));
            }
        }
        if !ids.contains(raw.reference.get_ref()) {
            return Err(at(
                Some(raw.reference.span().start),
                format!(
                    "the reference group `{}` is not one of the axis's groups",
                    raw.reference.get_ref()
                ),
            ));
        }
        let has_names = raw.group.iter().any(|g| !g.names.is_empty());
        if has_names && raw.names_source.is_none() {
            return Err(at(
                None,
                "groups list first names but `names_source` does not cite where they come from"
                    .into(),
            ));
        }
        if has_names
            && raw
                .group
                .iter()
                .find(|g| g.id.get_ref() == raw.reference.get_ref())
                .is_some_and(|g| g.names.is_empty())
        {
            return Err(at(
                Some(raw.reference.span().start),
                "the implicit variant compares names with the reference group's names, but the reference group has none".into(),
            ));
        }
        Ok(LexiconAxis {
            file: file.to_path_buf(),
            axis: raw.axis,
            reference: raw.reference.into_inner(),
            reference_why: raw.reference_why,
            names_source: raw.names_source,
            groups: raw
                .group
                .into_iter()
                .map(|g| Group {
                    id: g.id.into_inner(),
                    label: g.label,
                    explicit: g.explicit,
                    names: g.names,
                })
                .collect(),
        })
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_must_be_a_group() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("age.toml");
        std::fs::write(
            &f,
            "axis = \"age\"\nreference = \"old\"\nreference_why = \"x\"\n[[group]]\nid = \"young\"\nlabel = \"y\"\nexplicit = \"a young person\"\n[[group]]\nid = \"mid\"\nlabel = \"m\"\nexplicit = \"a person\"\n",
        )
        .unwrap();
        let err = LexiconAxis::load(&f, "age").unwrap_err().to_string();
        assert!(err.contains("age.toml, line 2"), "{err}");
        assert!(err.contains("`old`"), "{err}");
    }
}
