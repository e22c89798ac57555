//! CrowS-Pairs (`crows_pairs_anonymized.csv`) → written-out `[[pair]]`s.
//!
//! In CrowS-Pairs `sent_more` is always the more stereotypical sentence and
//! `sent_less` its minimal edit; `stereo_antistereo` says whether `sent_more`
//! demonstrates a stereotype of a disadvantaged group (`stereo`) or `sent_less`
//! violates one (`antistereo`, `sent_more` then being about the advantaged group).
//! The dataset's own metric counts a pair as stereotypical when the model prefers
//! `sent_more` in both directions, so `stereotyped = sent_more`,
//! `contrast = sent_less`, and the direction is kept as it is.

use super::{Pair, Rows};
use crate::probe::ProbeError;

const COLUMNS: [&str; 4] = ["sent_more", "sent_less", "stereo_antistereo", "bias_type"];

pub(super) fn convert(text: &str, rows: &mut Rows) -> Result<Vec<Pair>, ProbeError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| rows.error(csv_line(&e).or(Some(1)), format!("bad CSV header: {e}")))?
        .clone();
    let index = |name: &str| headers.iter().position(|h| h == name);
    let mut at = Vec::new();
    for name in COLUMNS {
        match index(name) {
            Some(i) => at.push(i),
            None => {
                return Err(rows.error(
                    Some(1),
                    format!("the header has no `{name}` column (CrowS-Pairs has sent_more, sent_less, stereo_antistereo, bias_type)"),
                ))
            }
        }
    }
    let id_column = index("id");
    let mut pairs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (n, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.bad(csv_line(&e), format!("bad CSV record: {}", csv_message(&e)))?;
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize);
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let (more, less, direction, bias) =
            (field(at[0]), field(at[1]), field(at[2]), field(at[3]));
        if let Some(empty) = COLUMNS
            .iter()
            .zip(&at)
            .find(|(_, &i)| field(i).is_empty())
            .map(|(name, _)| name)
        {
            rows.bad(line, format!("`{empty}` is empty"))?;
            continue;
        }
        if direction != "stereo" && direction != "antistereo" {
            rows.bad(
                line,
                format!("`stereo_antistereo` is `{direction}`: expected `stereo` or `antistereo`"),
            )?;
            continue;
        }
        let key = id_column
            .map(|i| field(i).to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| (n + 1).to_string());
        let id = format!("cp-{key}");
        if !seen.insert(id.clone()) {
            rows.bad(line, format!("duplicate id `{key}`"))?;
            continue;
        }
        pairs.push(Pair {
            id,
            axis: bias.to_string(),
            stereotyped: more.to_string(),
            contrast: less.to_string(),
            direction: direction.to_string(),
        });
    }
    Ok(pairs)
}

fn csv_line(e: &csv::Error) -> Option<usize> {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos: Some(p), .. } => Some(p.line() as usize),
        csv::ErrorKind::Utf8 { pos: Some(p), .. } => Some(p.line() as usize),
        _ => e.position().map(|p| p.line() as usize),
    }
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    }
}
