//! HolisticBias (`descriptors.json`: `{axis: {bucket: [descriptor, ...]}}`, each
//! descriptor a string or `{"descriptor": ..., "preference": ..., "gender": ...,
//! "article": ...}`) → one lexicon axis file per HolisticBias axis.
//!
//! Each descriptor becomes one group: `id` = its slug, `label` = "<descriptor>
//! people", `explicit` = "<article> <descriptor> person" (HolisticBias's own noun
//! phrase, `{article} {descriptor} {noun}`, with the neutral noun "person"; the
//! article is the descriptor's `article` when given, else "an" before a vowel letter
//! and "a" otherwise, as HolisticBias does). The bucket and the `preference` flag
//! (`dispreferred`, `polarizing`, ...) are kept as a comment above each group: the
//! lexicon format has no field for them, and a dispreferred term should be reviewed
//! before use. The reference is the axis's first descriptor unless given.
//! `nouns.json` and the sentence templates are not imported: the probe sets supply
//! the sentences, the lexicon only the groups.
//!
//! The published v1.1 file has trailing commas (`},\n ]`), which strict JSON
//! rejects; they are blanked (one space for one comma, so line numbers hold) before
//! parsing.

use super::{json_message, slug, Rows};
use crate::probe::ProbeError;
use serde::Serialize;
use std::collections::BTreeSet;

pub(super) struct AxisOut {
    pub axis: String,
    file: AxisFile,
    comments: Vec<String>,
}

#[derive(Debug, Serialize)]
struct AxisFile {
    axis: String,
    reference: String,
    reference_why: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group: Vec<Group>,
}

#[derive(Debug, Clone, Serialize)]
struct Group {
    id: String,
    label: String,
    explicit: String,
}

#[derive(Serialize)]
struct OneGroup<'a> {
    group: [&'a Group; 1],
}

impl AxisOut {
    pub fn group_count(&self) -> usize {
        self.file.group.len()
    }

    /// The axis file, each group preceded by its bucket/preference comment.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        let head = AxisFile {
            group: Vec::new(),
            axis: self.file.axis.clone(),
            reference: self.file.reference.clone(),
            reference_why: self.file.reference_why.clone(),
        };
        let mut out = toml::to_string(&head)?;
        for (g, comment) in self.file.group.iter().zip(&self.comments) {
            out.push('\n');
            out.push_str(comment);
            out.push_str(&toml::to_string(&OneGroup { group: [g] })?);
        }
        Ok(out)
    }
}

pub(super) fn convert(
    text: &str,
    references: &[(String, String)],
    rows: &mut Rows,
    notes: &mut Vec<String>,
) -> Result<Vec<AxisOut>, ProbeError> {
    let cleaned = blank_trailing_commas(text);
    let doc: serde_json::Value = serde_json::from_str(&cleaned).map_err(|e| {
        rows.error(
            (e.line() > 0).then_some(e.line()),
            format!("bad JSON: {}", json_message(&e)),
        )
    })?;
    let Some(axes) = doc.as_object() else {
        return Err(rows.error(
            Some(1),
            "expected an object of axes ({\"axis\": {\"bucket\": [descriptors]}})".into(),
        ));
    };
    for (axis, _) in references {
        if !axes.contains_key(axis) {
            return Err(rows.error(
                None,
                format!("--reference names axis `{axis}`, which the file does not have"),
            ));
        }
    }
    let mut out = Vec::new();
    let mut files = BTreeSet::new();
    for (axis, buckets) in axes {
        let Some(buckets) = buckets.as_object() else {
            rows.bad(
                None,
                format!("field `{axis}`: expected an object of buckets"),
            )?;
            continue;
        };
        let mut groups: Vec<Group> = Vec::new();
        let mut comments = Vec::new();
        let mut descriptors: Vec<String> = Vec::new();
        let mut ids = BTreeSet::new();
        for (bucket, list) in buckets {
            let Some(list) = list.as_array() else {
                rows.bad(
                    None,
                    format!("field `{axis}.{bucket}`: expected a list of descriptors"),
                )?;
                continue;
            };
            for (i, entry) in list.iter().enumerate() {
                let (descriptor, preference, article) = match entry {
                    serde_json::Value::String(s) => (s.clone(), None, None),
                    serde_json::Value::Object(o) => {
                        match o.get("descriptor").and_then(|d| d.as_str()) {
                            Some(d) => (
                                d.to_string(),
                                o.get("preference")
                                    .and_then(|p| p.as_str())
                                    .map(str::to_string),
                                o.get("article")
                                    .and_then(|p| p.as_str())
                                    .map(str::to_string),
                            ),
                            None => {
                                rows.bad(
                                None,
                                format!("field `{axis}.{bucket}[{i}]`: an object without a `descriptor` string"),
                            )?;
                                continue;
                            }
                        }
                    }
                    other => {
                        rows.bad(
                            None,
                            format!("field `{axis}.{bucket}[{i}]`: expected a string or an object, found {other}"),
                        )?;
                        continue;
                    }
                };
                let descriptor = descriptor.trim().to_string();
                if descriptor.is_empty() {
                    rows.bad(
                        None,
                        format!("field `{axis}.{bucket}[{i}]`: empty descriptor"),
                    )?;
                    continue;
                }
                if descriptors.contains(&descriptor) {
                    notes.push(format!(
                        "axis `{axis}`: descriptor `{descriptor}` listed again in bucket `{bucket}`; kept once"
                    ));
                    continue;
                }
                let base = slug(&descriptor);
                let mut id = base.clone();
                let mut k = 2;
                while !ids.insert(id.clone()) {
                    id = format!("{base}_{k}");
                    k += 1;
                }
                let article = article.unwrap_or_else(|| article_for(&descriptor).into());
                comments.push(format!(
                    "# bucket: {bucket}; preference: {}\n",
                    preference.as_deref().unwrap_or("no data")
                ));
                groups.push(Group {
                    id,
                    label: format!("{descriptor} people"),
                    explicit: format!("{article} {descriptor} person"),
                });
                descriptors.push(descriptor);
            }
        }
        if groups.len() < 2 {
            notes.push(format!(
                "axis `{axis}` skipped: {} descriptor(s), and a lexicon axis needs at least two",
                groups.len()
            ));
            continue;
        }
        let chosen = references.iter().find(|(a, _)| a == axis).map(|(_, d)| d);
        let (reference, why) = match chosen {
            Some(d) => match descriptors.iter().position(|x| x == d) {
                Some(i) => (
                    groups[i].id.clone(),
                    format!("imported from HolisticBias; reference chosen with --reference ({d}) — review before use"),
                ),
                None => {
                    return Err(rows.error(
                        None,
                        format!("--reference {axis}={d}: axis `{axis}` has no descriptor `{d}`"),
                    ))
                }
            },
            None => (
                groups[0].id.clone(),
                format!(
                    "imported from HolisticBias; reference chosen by default as the axis's first descriptor in the file ({}) — review before use",
                    descriptors[0]
                ),
            ),
        };
        let file_name = slug(axis);
        if !files.insert(file_name.clone()) {
            return Err(rows.error(
                None,
                format!("axes `{axis}` and another share the file name `{file_name}.toml`"),
            ));
        }
        out.push(AxisOut {
            axis: file_name.clone(),
            file: AxisFile {
                axis: file_name,
                reference,
                reference_why: why,
                group: groups,
            },
            comments,
        });
    }
    Ok(out)
}

fn article_for(descriptor: &str) -> &'static str {
    match descriptor.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Replaces each comma that is followed (after whitespace) by `]` or `}` with a
/// space, outside strings; everything else, and so every line number, is unchanged.
fn blank_trailing_commas(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' => {
                let next = bytes[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
                if matches!(next, Some(b']' | b'}')) {
                    out[i] = b' ';
                }
            }
            _ => {}
        }
    }
    // Only ASCII commas were replaced by ASCII spaces: still valid UTF-8.
    String::from_utf8(out).expect("ASCII-for-ASCII replacement keeps UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_are_blanked_outside_strings() {
        let t = "{\"a\": [\"x,]\", 1,\n ],\n}";
        let c = blank_trailing_commas(t);
        assert_eq!(c, "{\"a\": [\"x,]\", 1 \n ] \n}");
        assert!(serde_json::from_str::<serde_json::Value>(&c).is_ok());
    }

    #[test]
    fn articles() {
        assert_eq!(article_for("autistic"), "an");
        assert_eq!(article_for("Deaf"), "a");
    }
}
