//! The demographic lexicon: one file per axis (`probes/lexicon/<axis>.toml`) naming
//! its groups, the phrase that names each group explicitly, the first names that
//! signal it implicitly (only where names are a recognised proxy), and the
//! reference group against which the axis's gaps are measured, with the reason.
//!
//! Two axes can be crossed into an intersection (`gender×race_ethnicity`): its groups
//! are generated from the two files, never listed by hand ([`intersect`],
//! [`load_axis`]). How the phrase of a pair is composed is documented in
//! `docs/lexicon.md`.

use super::{line_of, ProbeError, Variant};
use crate::spec::toml_file;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The separator of an intersection's name (`gender×race_ethnicity`); `*` is accepted
/// in its place for keyboards without it.
pub const CROSS: char = '×';

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisFile {
    axis: Spanned<String>,
    #[serde(default)]
    reference: Option<Spanned<String>>,
    #[serde(default)]
    reference_why: Option<Spanned<String>>,
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
    explicit: Spanned<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    adjective: Option<Spanned<String>>,
    #[serde(default)]
    noun: Option<Spanned<String>>,
    #[serde(default)]
    qualifier: Option<Spanned<String>>,
    #[serde(default)]
    names_by: BTreeMap<String, BTreeMap<String, Spanned<Vec<String>>>>,
    #[serde(default)]
    excludes: Vec<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub struct LexiconAxis {
    /// The file the axis was read from; for an intersection, the first axis's file
    /// (every file read is in `files`).
    pub file: PathBuf,
    /// Every file the axis was read from: one, or two for an intersection.
    pub files: Vec<PathBuf>,
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
    /// How the group's phrase combines with another axis's group in an intersection.
    pub parts: Parts,
    /// Names split by the groups of another axis: `names_by[axis][group]` lists the
    /// names (a subset of `names`) that also signal that other group.
    pub names_by: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Groups of other axes (`"axis.group"`) this group is never crossed with.
    pub excludes: Vec<String>,
}

/// The pieces of a group's explicit phrase that an intersection recombines: the
/// article it takes, an `adjective` placed before another group's noun ("Black"), a
/// `noun` heading the phrase ("woman"), and a `qualifier` placed after it ("who uses a
/// wheelchair"). Derived from `explicit` unless the file gives any of the three, which
/// then replace all derived ones (docs/lexicon.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    pub article: Option<String>,
    pub adjective: Option<String>,
    pub noun: Option<String>,
    pub qualifier: Option<String>,
}

impl Parts {
    /// The parts read off an explicit phrase: `a|an X person` gives the adjective X,
    /// `a|an person Y` the qualifier Y, any other `a|an Z` the noun Z. A phrase that
    /// does not start with "a" or "an" gives no parts.
    pub fn derive(explicit: &str) -> Parts {
        let Some((article, rest)) = split_article(explicit) else {
            return Parts::default();
        };
        let mut parts = Parts {
            article: Some(article.to_string()),
            ..Parts::default()
        };
        if let Some(adjective) = rest.strip_suffix(" person") {
            parts.adjective = Some(adjective.to_string());
        } else if let Some(qualifier) = rest.strip_prefix("person ") {
            parts.qualifier = Some(qualifier.to_string());
        } else if rest != "person" {
            parts.noun = Some(rest.to_string());
        }
        parts
    }

    fn modifies(&self) -> bool {
        self.adjective.is_some() || self.qualifier.is_some()
    }
}

/// Splits "a X" / "an X" into the article and X.
fn split_article(phrase: &str) -> Option<(&str, &str)> {
    let (first, rest) = phrase.split_once(' ')?;
    let rest = rest.trim_start();
    (matches!(first, "a" | "an") && !rest.is_empty()).then_some((first, rest))
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
        let axis_at = Some(raw.axis.span().start);
        if raw.axis.get_ref() != expected_axis {
            return Err(at(
                axis_at,
                format!(
                    "the file declares axis `{}` but is loaded for axis `{expected_axis}`",
                    raw.axis.get_ref()
                ),
            ));
        }
        let Some(reference) = raw.reference else {
            return Err(at(
                axis_at,
                "`reference` is missing: name the group every other group is compared with".into(),
            ));
        };
        let reference_why = match raw.reference_why {
            None => {
                return Err(at(
                    Some(reference.span().start),
                    "`reference_why` is missing: say why this group is the reference".into(),
                ))
            }
            Some(why) if why.get_ref().trim().is_empty() => {
                return Err(at(
                    Some(why.span().start),
                    "`reference_why` is empty: say why this group is the reference".into(),
                ))
            }
            Some(why) => why.into_inner(),
        };
        if raw.group.len() < 2 {
            return Err(at(
                None,
                "an axis needs at least two groups (a reference and one to compare)".into(),
            ));
        }
        let mut ids = BTreeSet::new();
        for g in &raw.group {
            let id = g.id.get_ref();
            let id_at = Some(g.id.span().start);
            if id.trim().is_empty() || id.contains(CROSS) || id.contains('*') || id.contains('.') {
                return Err(at(
                    id_at,
                    format!("group id `{id}` is empty or contains `×`, `*` or `.`"),
                ));
            }
            if !ids.insert(id.clone()) {
                return Err(at(id_at, format!("duplicate group id `{id}`")));
            }
            if g.label.trim().is_empty() {
                return Err(at(id_at, format!("group `{id}` has an empty `label`")));
            }
            let explicit = g.explicit.get_ref();
            let explicit_at = Some(g.explicit.span().start);
            if explicit.trim().is_empty() {
                return Err(at(
                    explicit_at,
                    format!("group `{id}` has an empty `explicit` phrase"),
                ));
            }
            if explicit.contains(['{', '}']) {
                return Err(at(
                    explicit_at,
                    format!("group `{id}`: the `explicit` phrase may not contain `{{` or `}}`"),
                ));
            }
            check_parts(g).map_err(|(offset, message)| {
                at(Some(offset), format!("group `{id}`: {message}"))
            })?;
            check_names_by(g).map_err(|(offset, message)| {
                at(Some(offset), format!("group `{id}`: {message}"))
            })?;
            check_excludes(g, expected_axis).map_err(|(offset, message)| {
                at(Some(offset), format!("group `{id}`: {message}"))
            })?;
        }
        if !ids.contains(reference.get_ref()) {
            return Err(at(
                Some(reference.span().start),
                format!(
                    "the reference group `{}` is not one of the axis's groups",
                    reference.get_ref()
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
                .find(|g| g.id.get_ref() == reference.get_ref())
                .is_some_and(|g| g.names.is_empty())
        {
            return Err(at(
                Some(reference.span().start),
                "the implicit variant compares names with the reference group's names, but the reference group has none".into(),
            ));
        }
        Ok(LexiconAxis {
            file: file.to_path_buf(),
            files: vec![file.to_path_buf()],
            axis: raw.axis.into_inner(),
            reference: reference.into_inner(),
            reference_why,
            names_source: raw.names_source,
            groups: raw
                .group
                .into_iter()
                .map(|g| {
                    let mut parts = Parts::derive(g.explicit.get_ref());
                    // Parts given in the file replace every derived part.
                    if g.adjective.is_some() || g.noun.is_some() || g.qualifier.is_some() {
                        parts.adjective = g.adjective.map(Spanned::into_inner);
                        parts.noun = g.noun.map(Spanned::into_inner);
                        parts.qualifier = g.qualifier.map(Spanned::into_inner);
                    }
                    Group {
                        id: g.id.into_inner(),
                        label: g.label,
                        explicit: g.explicit.into_inner(),
                        names: g.names,
                        parts,
                        names_by: g
                            .names_by
                            .into_iter()
                            .map(|(axis, split)| {
                                let split = split
                                    .into_iter()
                                    .map(|(other, names)| (other, names.into_inner()))
                                    .collect();
                                (axis, split)
                            })
                            .collect(),
                        excludes: g.excludes.into_iter().map(Spanned::into_inner).collect(),
                    }
                })
                .collect(),
        })
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }
}

/// The `adjective`, `noun` and `qualifier` a file gives: each non-empty, trimmed, the
/// first two without an article, and not an adjective and a qualifier at once.
fn check_parts(g: &GroupFile) -> Result<(), (usize, String)> {
    if let (Some(_), Some(q)) = (&g.adjective, &g.qualifier) {
        return Err((
            q.span().start,
            "give an `adjective` or a `qualifier`, not both (one modifies the other group's noun from before, the other from after)".into(),
        ));
    }
    for (key, part) in [
        ("adjective", &g.adjective),
        ("noun", &g.noun),
        ("qualifier", &g.qualifier),
    ] {
        let Some(part) = part else { continue };
        let text = part.get_ref();
        if text.trim().is_empty() || text.trim() != text || text.contains("  ") {
            return Err((
                part.span().start,
                format!("`{key}` is empty or has stray spaces: {text:?}"),
            ));
        }
        if text.contains(['{', '}']) {
            return Err((
                part.span().start,
                format!("`{key}` may not contain `{{` or `}}`"),
            ));
        }
        if key != "qualifier" && split_article(text).is_some() {
            return Err((
                part.span().start,
                format!("`{key}` {text:?} starts with an article: the intersection adds its own"),
            ));
        }
    }
    Ok(())
}

/// `excludes` entries are `axis.group` pairs naming another axis.
fn check_excludes(g: &GroupFile, own_axis: &str) -> Result<(), (usize, String)> {
    for ex in &g.excludes {
        let entry = ex.get_ref();
        let problem = match entry.split_once('.') {
            Some((axis, group)) if !axis.is_empty() && !group.is_empty() => {
                (axis == own_axis).then_some("names this file's own axis")
            }
            _ => Some("is not of the form `axis.group`"),
        };
        if let Some(problem) = problem {
            return Err((
                ex.span().start,
                format!("`excludes` entry `{entry}` {problem}"),
            ));
        }
    }
    Ok(())
}

/// `names_by` lists, per other axis, disjoint non-empty subsets of the group's names.
fn check_names_by(g: &GroupFile) -> Result<(), (usize, String)> {
    for (axis, split) in &g.names_by {
        let mut seen = BTreeSet::new();
        for (other, names) in split {
            let offset = names.span().start;
            if names.get_ref().is_empty() {
                return Err((offset, format!("`names_by.{axis}.{other}` is empty")));
            }
            for name in names.get_ref() {
                if !g.names.contains(name) {
                    return Err((
                        offset,
                        format!("`names_by.{axis}.{other}` lists `{name}`, which is not in the group's `names`"),
                    ));
                }
                if !seen.insert(name) {
                    return Err((
                        offset,
                        format!("`names_by.{axis}` lists `{name}` under more than one group"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Splits an axis name at `×` (or `*`): `"gender×race_ethnicity"` gives
/// `["gender", "race_ethnicity"]`, a plain name gives itself. Parts are trimmed;
/// empty parts are kept so that [`load_axis`] can reject them by name.
pub fn parse_axis_name(s: &str) -> Vec<&str> {
    s.split([CROSS, '*']).map(str::trim).collect()
}

fn is_axis_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Loads the axis `name` from the lexicon folder `dir`: a plain axis from
/// `<dir>/<name>.toml`, or the intersection of exactly two axes (`a×b` or `a*b`),
/// generated by [`intersect`] after checking that the two files agree on each
/// other's group ids (`excludes`, `names_by`).
pub fn load_axis(dir: &Path, name: &str) -> Result<LexiconAxis, ProbeError> {
    let bad = |message: String| ProbeError::Invalid {
        file: dir.to_path_buf(),
        line: None,
        message,
    };
    let parts = parse_axis_name(name);
    if parts.len() > 2 {
        return Err(bad(format!(
            "axis `{name}` crosses {} axes: an intersection names exactly two (`a{CROSS}b`)",
            parts.len()
        )));
    }
    for part in &parts {
        if !is_axis_name(part) {
            return Err(bad(format!(
                "axis `{name}`: `{part}` is not an axis name (letters, digits, `_` and `-` only)"
            )));
        }
    }
    let load_one = |axis: &str| {
        let file = dir.join(format!("{axis}.toml"));
        if !file.is_file() {
            return Err(ProbeError::Invalid {
                file,
                line: None,
                message: format!("axis `{axis}` has no lexicon file"),
            });
        }
        LexiconAxis::load(&file, axis)
    };
    match parts[..] {
        [one] => load_one(one),
        [x, y] if x == y => Err(bad(format!("axis `{name}` crosses `{x}` with itself"))),
        [x, y] => {
            let (a, b) = (load_one(x)?, load_one(y)?);
            check_pair(&a, &b)?;
            check_pair(&b, &a)?;
            if a.group(&a.reference)
                .is_some_and(|g| excluded(g, &b.axis, &b.reference))
                || b.group(&b.reference)
                    .is_some_and(|g| excluded(g, &a.axis, &a.reference))
            {
                return Err(bad(format!(
                    "axis `{name}`: the reference pair `{}{CROSS}{}` is excluded",
                    a.reference, b.reference
                )));
            }
            Ok(intersect(&a, &b))
        }
        _ => unreachable!("split yields at least one part"),
    }
}

/// Every group id that `a`'s groups name in `b` (in `excludes` and `names_by`) exists.
fn check_pair(a: &LexiconAxis, b: &LexiconAxis) -> Result<(), ProbeError> {
    let bad = |message: String| ProbeError::Invalid {
        file: a.file.clone(),
        line: None,
        message,
    };
    for g in &a.groups {
        for ex in &g.excludes {
            if let Some((axis, other)) = ex.split_once('.') {
                if axis == b.axis && b.group(other).is_none() {
                    return Err(bad(format!(
                        "group `{}`: `excludes` entry `{ex}` names no group of axis `{}`",
                        g.id, b.axis
                    )));
                }
            }
        }
        if let Some(split) = g.names_by.get(&b.axis) {
            for other in split.keys() {
                if b.group(other).is_none() {
                    return Err(bad(format!(
                        "group `{}`: `names_by.{}.{other}` names no group of axis `{}`",
                        g.id, b.axis, b.axis
                    )));
                }
            }
        }
    }
    Ok(())
}

fn excluded(g: &Group, axis: &str, other: &str) -> bool {
    g.excludes
        .iter()
        .any(|ex| ex.split_once('.') == Some((axis, other)))
}

/// The intersection of two axes: axis `a×b`, one group per pair of groups (`ga×gb`,
/// in `a`'s then `b`'s order) except pairs that either group `excludes`, the
/// reference being the pair of references. A pair's explicit phrase is composed by
/// [`compose`]; its names are those one axis lists for the other's group under
/// `names_by` (none when neither does, and none at all when the reference pair has
/// none). The rules are documented in docs/lexicon.md.
pub fn intersect(a: &LexiconAxis, b: &LexiconAxis) -> LexiconAxis {
    let reference = format!("{}{CROSS}{}", a.reference, b.reference);
    let mut groups = Vec::new();
    let mut name_axes = BTreeSet::new();
    for ga in &a.groups {
        for gb in &b.groups {
            let id = format!("{}{CROSS}{}", ga.id, gb.id);
            if id != reference && (excluded(ga, &b.axis, &gb.id) || excluded(gb, &a.axis, &ga.id)) {
                continue;
            }
            let mut names: Vec<String> = Vec::new();
            let from_a = ga.names_by.get(&b.axis).and_then(|m| m.get(&gb.id));
            let from_b = gb.names_by.get(&a.axis).and_then(|m| m.get(&ga.id));
            for (axis, list) in [(&a.axis, from_a), (&b.axis, from_b)] {
                let Some(list) = list else { continue };
                name_axes.insert(axis.clone());
                for n in list {
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
            }
            groups.push(Group {
                id,
                label: format!("{} {CROSS} {}", ga.label, gb.label),
                explicit: compose(ga, gb),
                names,
                parts: Parts::default(),
                names_by: BTreeMap::new(),
                excludes: Vec::new(),
            });
        }
    }
    let reference_named = groups
        .iter()
        .any(|g| g.id == reference && !g.names.is_empty());
    if !reference_named {
        groups.iter_mut().for_each(|g| g.names.clear());
        name_axes.clear();
    }
    let names_source = (!name_axes.is_empty()).then(|| {
        [a, b]
            .iter()
            .filter(|x| name_axes.contains(&x.axis))
            .map(|x| {
                let other = if x.axis == a.axis { &b.axis } else { &a.axis };
                format!(
                    "{} (each pair's names: the `{}` group's names listed under `names_by.{other}`)",
                    x.names_source.as_deref().unwrap_or("uncited"),
                    x.axis
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    });
    LexiconAxis {
        file: a.file.clone(),
        files: a.files.iter().chain(&b.files).cloned().collect(),
        axis: format!("{}{CROSS}{}", a.axis, b.axis),
        reference_why: format!(
            "The reference is the pair of the two axes' references ({} and {}). {}: {} {}: {}",
            a.reference, b.reference, a.axis, a.reference_why, b.axis, b.reference_why
        ),
        reference,
        names_source,
        groups,
    }
}

/// The explicit phrase of the pair (`a`, `b`), in this order of preference:
/// 1. one group heads the phrase with its noun and the other modifies it:
///    article + adjective + noun, or article + noun + qualifier ("a Black woman",
///    "a woman who uses a wheelchair"); `a` heads when both could;
/// 2. neither has a noun and both modify: article + adjectives (`a`'s first) +
///    "person" + qualifiers ("a 25-year-old Black person");
/// 3. otherwise: "{explicit of the group with a noun} who is {explicit of the other}"
///    ("a woman who is a military veteran").
///
/// The article is the one the first word takes in either group's own explicit phrase,
/// else [`guess_article`]'s.
pub fn compose(a: &Group, b: &Group) -> String {
    let (pa, pb) = (&a.parts, &b.parts);
    let head = if pa.noun.is_some() && pb.modifies() {
        Some((a, b))
    } else if pb.noun.is_some() && pa.modifies() {
        Some((b, a))
    } else {
        None
    };
    if let Some((h, m)) = head {
        let words: Vec<&str> = [&m.parts.adjective, &h.parts.noun, &m.parts.qualifier]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        return with_article(&words.join(" "), [a, b]);
    }
    if pa.noun.is_none() && pb.noun.is_none() && pa.modifies() && pb.modifies() {
        let mut words: Vec<&str> = [&pa.adjective, &pb.adjective]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        words.push("person");
        let mut qualifiers: Vec<&str> = [&pa.qualifier, &pb.qualifier]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        // "from a low-income family who has never served", but
        // "who uses a wheelchair and who has never served".
        qualifiers.sort_by_key(|q| is_relative(q));
        let joint = match qualifiers[..] {
            [x, y] if is_relative(x) == is_relative(y) => format!("{x} and {y}"),
            _ => qualifiers.join(" "),
        };
        if !joint.is_empty() {
            words.push(&joint);
        }
        return with_article(&words.join(" "), [a, b]);
    }
    let (x, y) = if pa.noun.is_none() && pb.noun.is_some() {
        (b, a)
    } else {
        (a, b)
    };
    format!("{} who is {}", x.explicit, y.explicit)
}

fn is_relative(qualifier: &str) -> bool {
    matches!(
        qualifier.split(' ').next(),
        Some("who" | "whose" | "that" | "which")
    )
}

fn with_article(body: &str, groups: [&Group; 2]) -> String {
    let first = body.split(' ').next().unwrap_or_default();
    let article = groups
        .iter()
        .find_map(|g| {
            split_article(&g.explicit)
                .filter(|(_, rest)| rest.split(' ').next() == Some(first))
                .map(|(article, _)| article)
        })
        .unwrap_or_else(|| guess_article(first));
    format!("{article} {body}")
}

/// "a" or "an" before `word`, by its spelling: "an" before a vowel letter except
/// where it sounds like a consonant (uni-, use-, eu-, one), before a silent h
/// (hour, honest, honour, heir), before an initialism whose first letter's name
/// starts with a vowel sound (an LGBT, an MBA) and before numbers read with a vowel
/// (8, 11, 18, 80–89, 800…).
pub fn guess_article(word: &str) -> &'static str {
    let lower = word.to_lowercase();
    let letters: String = word.chars().take_while(|c| c.is_alphabetic()).collect();
    let an = if word.starts_with(|c: char| c.is_ascii_digit()) {
        let digits: String = word.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.starts_with('8') || digits == "11" || digits == "18"
    } else if letters.chars().count() >= 2 && letters.chars().all(|c| c.is_uppercase()) {
        lower.starts_with(['a', 'e', 'f', 'h', 'i', 'l', 'm', 'n', 'o', 'r', 's', 'x'])
    } else if ["hour", "honest", "honor", "honour", "heir"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        true
    } else if [
        "uni", "use", "usu", "uti", "ure", "eu", "ewe", "one", "once",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        false
    } else {
        lower.starts_with(['a', 'e', 'i', 'o', 'u'])
    };
    if an {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: &str = r#"axis = "age"
reference = "old"
reference_why = "x"
[[group]]
id = "young"
label = "y"
explicit = "a young person"
[[group]]
id = "old"
label = "o"
explicit = "an old person"
"#;

    fn write(dir: &Path, axis: &str, text: &str) -> PathBuf {
        let f = dir.join(format!("{axis}.toml"));
        std::fs::write(&f, text).unwrap();
        f
    }

    fn load_err(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "age", text);
        LexiconAxis::load(&f, "age").unwrap_err().to_string()
    }

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("probes/lexicon")
    }

    fn group(id: &str, explicit: &str) -> Group {
        Group {
            id: id.into(),
            label: id.into(),
            explicit: explicit.into(),
            names: vec![],
            parts: Parts::derive(explicit),
            names_by: BTreeMap::new(),
            excludes: vec![],
        }
    }

    #[test]
    fn reference_must_be_a_group() {
        let err = load_err(&AGE.replace("reference = \"old\"", "reference = \"elder\""));
        assert!(err.contains("age.toml, line 2"), "{err}");
        assert!(
            err.contains("`elder`") && err.contains("not one of"),
            "{err}"
        );
    }

    #[test]
    fn reference_must_be_present() {
        let err = load_err(&AGE.replace("reference = \"old\"\n", "\n"));
        assert!(err.contains("age.toml, line 1:"), "{err}");
        assert!(err.contains("`reference` is missing"), "{err}");
    }

    #[test]
    fn reference_why_must_be_present_and_said() {
        let err = load_err(&AGE.replace("reference_why = \"x\"\n", ""));
        assert!(
            err.contains("age.toml, line 2:") && err.contains("`reference_why` is missing"),
            "{err}"
        );
        let err = load_err(&AGE.replace("reference_why = \"x\"", "reference_why = \" \""));
        assert!(
            err.contains("age.toml, line 3:") && err.contains("`reference_why` is empty"),
            "{err}"
        );
    }

    #[test]
    fn group_ids_must_be_unique() {
        let err = load_err(&AGE.replace("id = \"old\"", "id = \"young\""));
        assert!(err.contains("age.toml, line 9:"), "{err}");
        assert!(err.contains("duplicate group id `young`"), "{err}");
    }

    #[test]
    fn explicit_phrase_must_not_be_empty() {
        let err = load_err(&AGE.replace("\"an old person\"", "\"  \""));
        assert!(err.contains("age.toml, line 11:"), "{err}");
        assert!(
            err.contains("group `old` has an empty `explicit` phrase"),
            "{err}"
        );
        let err = load_err(&AGE.replace("\"an old person\"", "\"an {person}\""));
        assert!(
            err.contains("line 11:") && err.contains("may not contain"),
            "{err}"
        );
    }

    #[test]
    fn parts_are_checked() {
        let err = load_err(&AGE.replace(
            "explicit = \"an old person\"\n",
            "explicit = \"an old person\"\nadjective = \"an old\"\n",
        ));
        assert!(
            err.contains("line 12:") && err.contains("starts with an article"),
            "{err}"
        );
        let err = load_err(&AGE.replace(
            "explicit = \"an old person\"\n",
            "explicit = \"an old person\"\nadjective = \"old\"\nqualifier = \"of old age\"\n",
        ));
        assert!(
            err.contains("line 13:") && err.contains("not both"),
            "{err}"
        );
        let err = load_err(&AGE.replace(
            "explicit = \"an old person\"\n",
            "explicit = \"an old person\"\nnoun = \"\"\n",
        ));
        assert!(
            err.contains("line 12:") && err.contains("`noun` is empty"),
            "{err}"
        );
        let err = load_err(&AGE.replace(
            "explicit = \"an old person\"\n",
            "explicit = \"an old person\"\nexcludes = [\"gender\"]\n",
        ));
        assert!(
            err.contains("line 12:") && err.contains("`axis.group`"),
            "{err}"
        );
    }

    #[test]
    fn names_by_must_split_the_names() {
        let named = AGE
            .replace(
                "reference_why = \"x\"\n",
                "reference_why = \"x\"\nnames_source = \"s\"\n",
            )
            .replace(
                "young person\"\n",
                "young person\"\nnames = [\"Ann\", \"Bob\"]\n",
            )
            .replace(
                "old person\"\n",
                "old person\"\nnames = [\"Cy\", \"Di\"]\nnames_by.gender.man = [\"Cy\"]\n",
            );
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "age", &named);
        let axis = LexiconAxis::load(&f, "age").unwrap();
        assert_eq!(axis.group("old").unwrap().names_by["gender"]["man"], ["Cy"]);
        let err = load_err(&named.replace("man = [\"Cy\"]", "man = [\"Zed\"]"));
        assert!(
            err.contains("line 15:") && err.contains("`Zed`, which is not in"),
            "{err}"
        );
        let err = load_err(&named.replace(
            "names_by.gender.man = [\"Cy\"]",
            "names_by.gender.man = [\"Cy\"]\nnames_by.gender.woman = [\"Cy\", \"Di\"]",
        ));
        assert!(
            err.contains("line 16:") && err.contains("`Cy` under more than one group"),
            "{err}"
        );
    }

    #[test]
    fn parts_are_read_off_the_explicit_phrase() {
        let p = Parts::derive("a Black person");
        assert_eq!(
            (p.article.as_deref(), p.adjective.as_deref()),
            (Some("a"), Some("Black"))
        );
        assert_eq!(p.noun, None);
        let p = Parts::derive("a person who uses a wheelchair");
        assert_eq!(p.qualifier.as_deref(), Some("who uses a wheelchair"));
        let p = Parts::derive("an atheist");
        assert_eq!(
            (p.article.as_deref(), p.noun.as_deref()),
            (Some("an"), Some("atheist"))
        );
        assert_eq!(Parts::derive("someone tall"), Parts::default());
        assert_eq!(Parts::derive("a person").article.as_deref(), Some("a"));
        assert!(!Parts::derive("a person").modifies());
    }

    #[test]
    fn phrases_compose_by_the_documented_rules() {
        let woman = group("woman", "a woman");
        let black = group("black", "a Black person");
        let wheel = group("w", "a person who uses a wheelchair");
        let young = group("y", "a 25-year-old person");
        let poor = group("p", "a person from a low-income family");
        let never = group("n", "a person who has never served in the military");
        let vet = group("v", "a military veteran");
        let autistic = group("a", "an autistic person");
        let mut atheist = group("at", "an atheist");
        // Rule 1, in both orders.
        assert_eq!(compose(&woman, &black), "a Black woman");
        assert_eq!(compose(&black, &woman), "a Black woman");
        assert_eq!(compose(&woman, &wheel), "a woman who uses a wheelchair");
        assert_eq!(
            compose(&wheel, &vet),
            "a military veteran who uses a wheelchair"
        );
        assert_eq!(compose(&woman, &autistic), "an autistic woman");
        // Rule 2: adjectives in axis order; a "who" clause after a prepositional one.
        assert_eq!(compose(&young, &black), "a 25-year-old Black person");
        assert_eq!(
            compose(&never, &poor),
            "a person from a low-income family who has never served in the military"
        );
        assert_eq!(
            compose(&wheel, &never),
            "a person who uses a wheelchair and who has never served in the military"
        );
        assert_eq!(
            compose(&autistic, &poor),
            "an autistic person from a low-income family"
        );
        // Rule 3, with the noun group first.
        assert_eq!(compose(&woman, &atheist), "a woman who is an atheist");
        assert_eq!(compose(&atheist, &woman), "an atheist who is a woman");
        assert_eq!(compose(&woman, &vet), "a woman who is a military veteran");
        // An adjective given in the file takes rule 1 and keeps the file's article.
        atheist.parts.adjective = Some("atheist".into());
        assert_eq!(compose(&woman, &atheist), "an atheist woman");
    }

    #[test]
    fn articles_follow_the_sound_of_the_first_word() {
        for (word, article) in [
            ("Asian", "an"),
            ("American", "an"),
            ("older", "an"),
            ("Black", "a"),
            ("European", "a"),
            ("unionised", "a"),
            ("university", "a"),
            ("hourly", "an"),
            ("honest", "an"),
            ("LGBT", "an"),
            ("MBA", "an"),
            ("US", "a"),
            ("8-year-old", "an"),
            ("18-year-old", "an"),
            ("80-year-old", "an"),
            ("25-year-old", "a"),
            ("1-year-old", "a"),
        ] {
            assert_eq!(guess_article(word), article, "{word}");
        }
    }

    #[test]
    fn axis_names_split_at_the_cross() {
        assert_eq!(
            parse_axis_name("gender×race_ethnicity"),
            ["gender", "race_ethnicity"]
        );
        assert_eq!(
            parse_axis_name("gender*race_ethnicity"),
            ["gender", "race_ethnicity"]
        );
        assert_eq!(parse_axis_name(" gender × age "), ["gender", "age"]);
        assert_eq!(parse_axis_name("gender"), ["gender"]);
        assert_eq!(parse_axis_name("a×b*c"), ["a", "b", "c"]);
        assert_eq!(parse_axis_name("gender×"), ["gender", ""]);
    }

    #[test]
    fn load_axis_rejects_bad_names_by_name() {
        let dir = shipped();
        for (name, expect) in [
            ("gender×age×religion", "crosses 3 axes"),
            ("gender×", "`` is not an axis name"),
            ("gender*../secrets", "`../secrets` is not an axis name"),
            ("gender×gender", "crosses `gender` with itself"),
            ("gender×zodiac", "axis `zodiac` has no lexicon file"),
        ] {
            let err = load_axis(&dir, name).unwrap_err().to_string();
            assert!(err.contains(expect), "{name}: {err}");
        }
        let err = load_axis(&dir, "gender×zodiac").unwrap_err().to_string();
        assert!(err.contains("zodiac.toml"), "{err}");
    }

    #[test]
    fn cross_references_between_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "age", AGE);
        let other = r#"axis = "tone"
reference = "calm"
reference_why = "x"
[[group]]
id = "calm"
label = "c"
explicit = "a calm person"
[[group]]
id = "loud"
label = "l"
explicit = "a loud person"
excludes = ["age.EXCL"]
"#;
        write(dir.path(), "tone", &other.replace("EXCL", "ancient"));
        let err = load_axis(dir.path(), "age×tone").unwrap_err().to_string();
        assert!(
            err.contains("tone.toml") && err.contains("`age.ancient` names no group of axis `age`"),
            "{err}"
        );
        write(dir.path(), "tone", &other.replace("EXCL", "young"));
        let axis = load_axis(dir.path(), "age×tone").unwrap();
        let ids: Vec<&str> = axis.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["young×calm", "old×calm", "old×loud"]);
        assert_eq!(
            axis.group("young×calm").unwrap().explicit,
            "a young calm person"
        );
        // Excluding the reference pair is an error.
        write(
            dir.path(),
            "tone",
            &other.replace("excludes = [\"age.EXCL\"]\n", "").replace(
                "id = \"calm\"\n",
                "id = \"calm\"\nexcludes = [\"age.old\"]\n",
            ),
        );
        let err = load_axis(dir.path(), "age*tone").unwrap_err().to_string();
        assert!(
            err.contains("reference pair `old×calm` is excluded"),
            "{err}"
        );
    }

    #[test]
    fn gender_by_race_takes_names_from_the_race_file() {
        let axis = load_axis(&shipped(), "gender×race_ethnicity").unwrap();
        assert_eq!(axis.axis, "gender×race_ethnicity");
        assert_eq!(axis.reference, "man×white");
        assert_eq!(axis.groups.len(), 3 * 6);
        assert_eq!(axis.files.len(), 2);
        let g = |id: &str| axis.group(id).unwrap();
        assert_eq!(g("woman×black").explicit, "a Black woman");
        assert_eq!(
            g("woman×black").names,
            ["Lakisha", "Latoya", "Latonya", "Tamika"]
        );
        assert_eq!(g("man×white").names, ["Greg", "Brad", "Todd", "Brett"]);
        assert_eq!(g("man×asian").explicit, "an Asian man");
        assert_eq!(
            g("non_binary×hispanic").explicit,
            "a Hispanic non-binary person"
        );
        assert!(g("non_binary×white").names.is_empty());
        assert!(g("woman×middle_eastern").names.is_empty());
        let source = axis.names_source.as_deref().unwrap();
        assert!(
            source.contains("Bertrand") && source.contains("names_by.gender"),
            "{source}"
        );
        assert!(
            axis.reference_why.contains("man and white"),
            "{}",
            axis.reference_why
        );
        // An axis whose reference pair has no names has none at all.
        let axis = load_axis(&shipped(), "gender×age").unwrap();
        assert!(axis.groups.iter().all(|g| g.names.is_empty()));
        assert_eq!(axis.names_source, None);
        // Lesbians are never crossed with men.
        let axis = load_axis(&shipped(), "gender×sexual_orientation").unwrap();
        assert!(axis.group("man×lesbian").is_none());
        assert_eq!(
            axis.group("woman×lesbian").unwrap().explicit,
            "a lesbian woman"
        );
        assert_eq!(axis.groups.len(), 3 * 6 - 1);
    }

    /// Every shipped axis, and its intersection with gender in both orders: every
    /// explicit phrase fills "The candidate is {person}." as one noun phrase with one
    /// article, no empty part, both groups' words, and a distinct phrase per group.
    #[test]
    fn every_shipped_phrase_reads_as_one_noun_phrase() {
        let dir = shipped();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 12, "{names:?}");
        // The article the shipped files themselves give each first word.
        let mut article_of: BTreeMap<String, String> = BTreeMap::new();
        let mut plain = Vec::new();
        for name in &names {
            let axis = load_axis(&dir, name).unwrap();
            for g in &axis.groups {
                if let Some((art, rest)) = split_article(&g.explicit) {
                    article_of.insert(rest.split(' ').next().unwrap().into(), art.into());
                }
            }
            plain.push(axis);
        }
        let mut axes = Vec::new();
        for name in names.iter().filter(|n| *n != "gender") {
            axes.push(load_axis(&dir, &format!("gender×{name}")).unwrap());
            axes.push(load_axis(&dir, &format!("{name}*gender")).unwrap());
        }
        let mut checked = 0;
        for axis in plain.iter().chain(&axes) {
            assert!(axis.group(&axis.reference).is_some(), "{}", axis.axis);
            let mut seen = BTreeSet::new();
            for g in &axis.groups {
                let p = &g.explicit;
                assert!(seen.insert(p.clone()), "{}: `{p}` twice", axis.axis);
                let sentence = "The candidate is {person}.".replace("{person}", p);
                let words: Vec<&str> = sentence.trim_end_matches('.').split(' ').collect();
                assert!(
                    words.iter().all(|w| !w.is_empty()),
                    "empty part: {sentence}"
                );
                assert_eq!(sentence.trim(), sentence, "{sentence}");
                let (art, first) = (words[3], words[4]);
                assert!(matches!(art, "a" | "an"), "no article: {sentence}");
                assert!(
                    !matches!(first, "a" | "an" | "the"),
                    "doubled article: {sentence}"
                );
                let expected = article_of
                    .get(first)
                    .map(String::as_str)
                    .unwrap_or_else(|| {
                        if first.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
                            "an"
                        } else {
                            "a"
                        }
                    });
                assert_eq!(art, expected, "article: {sentence}");
                for pair in words.windows(2) {
                    assert_ne!(pair[0], pair[1], "repeated word: {sentence}");
                }
                assert!(
                    !p.ends_with(" who is") && !p.ends_with(" and"),
                    "{sentence}"
                );
                // An intersection's phrase carries what distinguishes both groups.
                if let Some((ga, gb)) = g.id.split_once(CROSS) {
                    let (x, y) = axis.axis.split_once(CROSS).unwrap();
                    for (axis_name, id) in [(x, ga), (y, gb)] {
                        let source = plain.iter().find(|a| a.axis == axis_name).unwrap();
                        let parts = &source.group(id).unwrap().parts;
                        let marks: Vec<&String> = [&parts.adjective, &parts.noun, &parts.qualifier]
                            .into_iter()
                            .flatten()
                            .collect();
                        assert!(!marks.is_empty(), "{axis_name}.{id} has no parts");
                        assert!(
                            marks.iter().any(|m| p.contains(m.as_str())),
                            "`{p}` lacks {axis_name}.{id}"
                        );
                    }
                }
                checked += 1;
            }
        }
        // Within a gender intersection, the phrases of one group of the other axis
        // differ only in the gender noun, so a gender gap there compares like with
        // like ("a woman who is a military veteran", "a non-binary person who is a
        // military veteran").
        let gender = plain.iter().find(|a| a.axis == "gender").unwrap();
        let noun = |id: &str| gender.group(id).unwrap().parts.noun.clone().unwrap();
        for axis in &axes {
            let (x, _) = axis.axis.split_once(CROSS).unwrap();
            for g in &axis.groups {
                let (ga, gb) = g.id.split_once(CROSS).unwrap();
                let (gender_id, other) = if x == "gender" { (ga, gb) } else { (gb, ga) };
                let base = if gender_id == "man" { "woman" } else { "man" };
                let pair = |gid: &str| {
                    if x == "gender" {
                        format!("{gid}{CROSS}{other}")
                    } else {
                        format!("{other}{CROSS}{gid}")
                    }
                };
                let Some(twin) = axis.group(&pair(base)) else {
                    continue;
                };
                let swapped: Vec<String> = twin
                    .explicit
                    .split(' ')
                    .map(|w| {
                        if w == noun(base) {
                            noun(gender_id)
                        } else {
                            w.to_string()
                        }
                    })
                    .collect();
                assert_eq!(
                    g.explicit,
                    swapped.join(" "),
                    "{}: {} vs {}",
                    axis.axis,
                    g.id,
                    twin.id
                );
            }
        }
        // 51 plain groups; gender (3 groups) × each of the 11 others, both orders,
        // less man×lesbian twice.
        let others: usize = plain
            .iter()
            .filter(|a| a.axis != "gender")
            .map(|a| a.groups.len())
            .sum();
        assert_eq!(checked, others + 3 + 2 * (3 * others - 1));
    }
}
