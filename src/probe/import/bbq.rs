//! BBQ (`data/<Category>.jsonl`, one example per line) → written-out `[[item]]`s.
//!
//! Which answer names the targeted group is not a field of BBQ: its authors derive
//! it in their analysis script by matching each answer's `answer_info` tag against
//! `additional_metadata.stereotyped_groups`. probity applies this rule, in its own
//! words (docs/importers.md):
//! - a tag is lower-cased; `man`/`boy` become `m`, `woman`/`girl` become `f`, and a
//!   leading `m-`/`f-` (gender prefix of a named person, `F-Black`) is dropped;
//! - a stereotyped group is lower-cased with spaces removed; `man`/`men`/`boy`/`boys`
//!   become `m`, `woman`/`women`/`girl`/`girls` become `f`, and any group starting
//!   with `trans` becomes `trans`;
//! - an answer (other than the "unknown" one) is the target when its normalised tag,
//!   its full lower-cased tag, or its lower-cased `answer_info` text (with spaces
//!   removed: Nationality tags are regions, its groups countries) equals a normalised
//!   group, or when the group is `trans` and the tag starts with `trans`;
//! - exactly one answer must match; none or several is a bad row ("cannot tell which
//!   answer is the targeted group").

use super::{json_lines, slug, Rows};
use crate::probe::ProbeError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Deserialize)]
struct Row {
    example_id: serde_json::Value,
    question_polarity: String,
    context_condition: String,
    category: String,
    answer_info: BTreeMap<String, (String, String)>,
    additional_metadata: Metadata,
    context: String,
    question: String,
    ans0: String,
    ans1: String,
    ans2: String,
    label: usize,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    stereotyped_groups: Vec<String>,
}

/// One written-out multiple-choice item (docs/probes.md, "Multiple choice").
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Item {
    pub id: String,
    pub axis: String,
    pub context: String,
    pub condition: String,
    pub polarity: String,
    pub question: String,
    pub answers: Vec<String>,
    pub correct: usize,
    pub target: usize,
    pub unknown: usize,
}

pub(super) fn convert(text: &str, rows: &mut Rows) -> Result<Vec<Item>, ProbeError> {
    let mut items = Vec::new();
    let mut seen = BTreeSet::new();
    for (line, row) in json_lines::<Row>(text, rows)? {
        match item(row) {
            Ok(item) => {
                if !seen.insert(item.id.clone()) {
                    rows.bad(
                        Some(line),
                        format!("duplicate example `{}` (category and example_id)", item.id),
                    )?;
                    continue;
                }
                items.push(item);
            }
            Err(message) => rows.bad(Some(line), message)?,
        }
    }
    Ok(items)
}

fn item(row: Row) -> Result<Item, String> {
    let condition = match row.context_condition.as_str() {
        "ambig" => "ambiguous",
        "disambig" => "disambiguated",
        other => {
            return Err(format!(
                "`context_condition` is `{other}`: expected `ambig` or `disambig`"
            ))
        }
    };
    let polarity = match row.question_polarity.as_str() {
        "neg" => "negative",
        "nonneg" => "non-negative",
        other => {
            return Err(format!(
                "`question_polarity` is `{other}`: expected `neg` or `nonneg`"
            ))
        }
    };
    if row.label > 2 {
        return Err(format!("`label` is {}: expected 0, 1 or 2", row.label));
    }
    let example = match &row.example_id {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        other => return Err(format!("`example_id` is {other}: expected a number")),
    };
    let mut info = Vec::new();
    for key in ["ans0", "ans1", "ans2"] {
        match row.answer_info.get(key) {
            Some(v) => info.push(v),
            None => return Err(format!("`answer_info` has no `{key}`")),
        }
    }
    let unknowns: Vec<usize> = (0..3).filter(|&i| info[i].1 == "unknown").collect();
    let unknown = match unknowns.as_slice() {
        [u] => *u,
        _ => {
            return Err(format!(
                "`answer_info` tags {} answers `unknown`: expected exactly one",
                unknowns.len()
            ))
        }
    };
    let groups: BTreeSet<String> = row
        .additional_metadata
        .stereotyped_groups
        .iter()
        .map(|g| normalise_group(g))
        .collect();
    let targets: Vec<usize> = (0..3)
        .filter(|&i| i != unknown && is_target(&info[i].0, &info[i].1, &groups))
        .collect();
    let target = match targets.as_slice() {
        [t] => *t,
        _ => {
            return Err(format!(
                "cannot tell which answer is the targeted group: {} of the answer tags [{}] match stereotyped_groups {:?} (expected exactly one)",
                targets.len(),
                info.iter().map(|(_, tag)| tag.as_str()).collect::<Vec<_>>().join(", "),
                row.additional_metadata.stereotyped_groups
            ))
        }
    };
    Ok(Item {
        id: format!("bbq-{}-{example}", slug(&row.category)),
        axis: row.category,
        context: row.context,
        condition: condition.into(),
        polarity: polarity.into(),
        question: row.question,
        answers: vec![row.ans0, row.ans1, row.ans2],
        correct: row.label,
        target,
        unknown,
    })
}

fn normalise_tag(tag: &str) -> String {
    let t = tag.trim().to_lowercase();
    match t.as_str() {
        "man" | "boy" => "m".into(),
        "woman" | "girl" => "f".into(),
        _ => t
            .strip_prefix("m-")
            .or_else(|| t.strip_prefix("f-"))
            .unwrap_or(&t)
            .to_string(),
    }
}

fn normalise_group(group: &str) -> String {
    let g: String = group
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    match g.as_str() {
        "man" | "men" | "boy" | "boys" => "m".into(),
        "woman" | "women" | "girl" | "girls" => "f".into(),
        _ if g.starts_with("trans") => "trans".into(),
        _ => g,
    }
}

fn is_target(text: &str, tag: &str, groups: &BTreeSet<String>) -> bool {
    let normal = normalise_tag(tag);
    let full = tag.trim().to_lowercase();
    let text: String = text
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    groups.contains(&normal)
        || groups.contains(&full)
        || groups.contains(&text)
        || (groups.contains("trans") && normal.starts_with("trans"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(g: &[&str]) -> BTreeSet<String> {
        g.iter().map(|s| normalise_group(s)).collect()
    }

    #[test]
    fn target_rule() {
        // Gender words, named people with a gender prefix, and exact tags.
        assert!(is_target("the girl", "girl", &groups(&["women", "girls"])));
        assert!(!is_target("the boy", "boy", &groups(&["women", "girls"])));
        assert!(is_target("Ayesha", "F-Arab", &groups(&["Arab"])));
        // `old` does not match inside `nonOld`.
        assert!(!is_target("grandson", "nonOld", &groups(&["old"])));
        assert!(is_target("grandma", "nonOld", &groups(&["nonOld"])));
        // Nationality: the group is the answer's text, not its region tag.
        assert!(is_target(
            "Sri Lankan",
            "AsiaPacific",
            &groups(&["Sri Lankan"])
        ));
        assert!(is_target("x", "trans_F", &groups(&["transgender women"])));
        assert!(is_target("x", "lowSES", &groups(&["low SES"])));
    }
}
