//! StereoSet (`dev.json`: `{"data": {"intrasentence": [...], "intersentence": [...]}}`)
//! → written-out `[[pair]]`s.
//!
//! Each example offers three sentences labelled `stereotype`, `anti-stereotype` and
//! `unrelated`. A pair is (stereotype, anti-stereotype) with `direction = "stereo"`
//! and `axis = bias_type`; the `unrelated` option (StereoSet's language-modelling
//! control) is dropped and counted. An intrasentence sentence is already complete;
//! an intersentence one continues the example's context, so its text is
//! `context + " " + sentence`.
//!
//! The file is one JSON document: a syntax error names its line; a bad example names
//! the line of its `id` (found in the text) and its path in the document.

use super::{json_message, line_of_str, Pair, Rows};
use crate::probe::ProbeError;
use serde::Deserialize;
use std::collections::BTreeSet;

#[derive(Debug, Deserialize)]
struct File {
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    intrasentence: Vec<serde_json::Value>,
    #[serde(default)]
    intersentence: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Example {
    id: String,
    bias_type: String,
    context: String,
    sentences: Vec<Sentence>,
}

#[derive(Debug, Deserialize)]
struct Sentence {
    sentence: String,
    gold_label: String,
}

/// The pairs and the number of `unrelated` options dropped.
pub(super) fn convert(text: &str, rows: &mut Rows) -> Result<(Vec<Pair>, usize), ProbeError> {
    let file: File = {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = (inner.line() > 0).then_some(inner.line());
            if inner.is_syntax() || inner.is_eof() {
                rows.error(line, format!("bad JSON: {}", json_message(&inner)))
            } else {
                rows.error(
                    line,
                    format!(
                        "field `{path}`: {} (StereoSet's file is {{\"data\": {{\"intrasentence\": [...], \"intersentence\": [...]}}}})",
                        json_message(&inner)
                    ),
                )
            }
        })?
    };
    let mut pairs = Vec::new();
    let mut dropped = 0;
    let mut seen = BTreeSet::new();
    for (section, examples, joined) in [
        ("intrasentence", &file.data.intrasentence, false),
        ("intersentence", &file.data.intersentence, true),
    ] {
        for (i, value) in examples.iter().enumerate() {
            let path = format!("data.{section}[{i}]");
            let line = value
                .get("id")
                .and_then(|v| v.as_str())
                .and_then(|id| line_of_str(text, &serde_json::to_string(id).ok()?));
            let example: Example = match serde_path_to_error::deserialize(value) {
                Ok(e) => e,
                Err(e) => {
                    let field = e.path().to_string();
                    rows.bad(line, format!("{path}.{field}: {}", e.into_inner()))?;
                    continue;
                }
            };
            let pick = |label: &str| -> Vec<&Sentence> {
                example
                    .sentences
                    .iter()
                    .filter(|s| s.gold_label == label)
                    .collect()
            };
            if let Some(other) = example.sentences.iter().find(|s| {
                !matches!(
                    s.gold_label.as_str(),
                    "stereotype" | "anti-stereotype" | "unrelated"
                )
            }) {
                rows.bad(
                    line,
                    format!(
                        "{path} (id {}): gold_label `{}`: expected stereotype, anti-stereotype or unrelated",
                        example.id, other.gold_label
                    ),
                )?;
                continue;
            }
            let (stereo, anti) = (pick("stereotype"), pick("anti-stereotype"));
            if stereo.len() != 1 || anti.len() != 1 {
                rows.bad(
                    line,
                    format!(
                        "{path} (id {}): {} stereotype and {} anti-stereotype sentences; expected one of each",
                        example.id,
                        stereo.len(),
                        anti.len()
                    ),
                )?;
                continue;
            }
            let id = format!("ss-{}-{}", &section[..5], example.id);
            if !seen.insert(id.clone()) {
                rows.bad(line, format!("{path}: duplicate id `{}`", example.id))?;
                continue;
            }
            let text_of = |s: &Sentence| {
                if joined {
                    format!("{} {}", example.context.trim(), s.sentence.trim())
                } else {
                    s.sentence.trim().to_string()
                }
            };
            dropped += pick("unrelated").len();
            pairs.push(Pair {
                id,
                axis: example.bias_type.clone(),
                stereotyped: text_of(stereo[0]),
                contrast: text_of(anti[0]),
                direction: "stereo".into(),
            });
        }
    }
    Ok((pairs, dropped))
}
