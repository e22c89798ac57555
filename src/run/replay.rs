//! The replay backend: an audit recomputed from an earlier run's
//! `responses.jsonl` instead of a model. A recorded line answers the probe with
//! the same id, provided it still describes that probe (same probe set, axis,
//! group, scenario and variant, and a prompt that contains the probe's text); a
//! probe with no recorded line is reported as missing, never invented.

use super::{Response, RunError};
use crate::probe::Probe;
use std::collections::BTreeMap;
use std::path::Path;

/// What a replay found.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// One response per probe that has one, in probe order.
    pub responses: Vec<Response>,
    /// Ids of the probes the recording does not answer, in probe order.
    pub missing: Vec<String>,
    /// Recorded lines that answer no probe of this audit.
    pub unused: usize,
    /// Of the missing, probes whose recorded output answers neither way (another
    /// tool's recording).
    pub unanswered: usize,
}

/// A recording's text; bytes that are not UTF-8 are an error naming their line.
fn read_text(recording: &Path) -> Result<String, RunError> {
    let bytes = std::fs::read(recording).map_err(|e| RunError::io(recording, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        RunError::Recording {
            file: recording.to_path_buf(),
            line,
            message: "not UTF-8 text".into(),
        }
    })
}

/// Why a recorded response's scores cannot have come from a model, if they cannot:
/// `p_norm` outside [0, 1], `mass` outside [0, 1], or `p_norm` that is not the
/// logistic of `logit` (to 1e-6).
fn impossible_scores(r: &Response) -> Option<String> {
    const TOLERANCE: f64 = 1e-6;
    if !(0.0..=1.0).contains(&r.p_norm) {
        return Some(format!("p_norm {} is not a probability", r.p_norm));
    }
    if !(-TOLERANCE..=1.0 + TOLERANCE).contains(&r.mass) {
        return Some(format!(
            "mass {} is not a probability (the answer forms' total)",
            r.mass
        ));
    }
    let from_logit = 1.0 / (1.0 + (-r.logit).exp());
    if (from_logit - r.p_norm).abs() > TOLERANCE {
        return Some(format!(
            "p_norm {} disagrees with logit {} (whose logistic is {from_logit})",
            r.p_norm, r.logit
        ));
    }
    None
}

/// Whether `needle` occurs in `hay` without cutting a word: where the needle
/// starts or ends with a letter or digit, the character beside it in `hay` is not
/// one ("hire Jo" is not in "hire Joe?").
fn contains_as_words(hay: &str, needle: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (first, last) = (needle.chars().next(), needle.chars().next_back());
    hay.match_indices(needle).any(|(at, _)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + needle.len()..].chars().next();
        !(word(first) && word(before) || word(last) && word(after))
    })
}

#[cfg(test)]
mod tests {
    use super::contains_as_words;

    #[test]
    fn a_prompt_is_found_only_as_whole_words() {
        assert!(contains_as_words(
            "Q: should we hire Jo? yes",
            "should we hire Jo?"
        ));
        assert!(contains_as_words("should we hire Jo", "should we hire Jo"));
        assert!(!contains_as_words(
            "should we hire Joe?",
            "should we hire Jo"
        ));
        assert!(!contains_as_words(
            "reshould we hire Jo",
            "should we hire Jo"
        ));
        // An edge that is punctuation may touch anything.
        assert!(contains_as_words("Answer:yes", "Answer:"));
        // A later occurrence can qualify when the first does not.
        assert!(contains_as_words("hire Joe, or hire Jo.", "hire Jo"));
    }
}

/// Replays `recording` (JSON lines of [`Response`]) for `probes`.
pub fn replay_probes(recording: &Path, probes: &[Probe]) -> Result<Replayed, RunError> {
    let text = read_text(recording)?;
    let bad = |line: usize, message: String| RunError::Recording {
        file: recording.to_path_buf(),
        line,
        message,
    };
    let mut recorded: BTreeMap<String, (usize, Response)> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let response: Response = serde_json::from_str(line)
            .map_err(|e| bad(i + 1, format!("not a recorded response: {e}")))?;
        if !(response.mass.is_finite() && response.logit.is_finite() && response.p_norm.is_finite())
        {
            return Err(bad(i + 1, "scores must be finite numbers".into()));
        }
        if let Some(problem) = impossible_scores(&response) {
            return Err(bad(i + 1, problem));
        }
        if let Some((first, _)) = recorded.get(&response.probe_id) {
            return Err(bad(
                i + 1,
                format!(
                    "probe {} is recorded twice (first on line {first})",
                    response.probe_id
                ),
            ));
        }
        recorded.insert(response.probe_id.clone(), (i + 1, response));
    }
    let mut responses = Vec::with_capacity(probes.len());
    let mut missing = Vec::new();
    for probe in probes {
        let Some((line, r)) = recorded.remove(&probe.id) else {
            missing.push(probe.id.clone());
            continue;
        };
        let same = r.probe_set == probe.probe_set
            && r.scenario == probe.scenario
            && r.variant == probe.variant
            && r.axis == probe.axis
            && r.group == probe.group
            && r.prompt.contains(&probe.prompt);
        if !same {
            return Err(bad(
                line,
                format!(
                    "the recording of probe {} no longer matches it (probe set, scenario, group or prompt text changed since it was recorded)",
                    probe.id
                ),
            ));
        }
        responses.push(r);
    }
    Ok(Replayed {
        responses,
        missing,
        unused: recorded.len(),
        unanswered: 0,
    })
}

/// Where a recording made by another tool keeps each record's prompt, output
/// and, optionally, its probability of the favourable answer.
#[derive(Debug, Clone)]
pub struct ForeignFields {
    pub prompt: String,
    pub output: String,
    pub p_yes: String,
}

impl Default for ForeignFields {
    fn default() -> Self {
        ForeignFields {
            prompt: "prompt".into(),
            output: "output".into(),
            p_yes: "p_yes".into(),
        }
    }
}

/// The logit given to a hard answer read from an output (its p_norm is exactly 1
/// or 0): ±20, where the logistic function is within 2e-9 of 1 or 0.
pub const HARD_ANSWER_LOGIT: f64 = 20.0;

/// A probity recording (`responses.jsonl` of an earlier run) or another tool's:
/// a `.csv`, or a `.jsonl` whose first record has no `probe_id` and `logp_yes`.
pub fn is_foreign_recording(recording: &Path) -> Result<bool, RunError> {
    if recording
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Ok(true);
    }
    let file = std::fs::File::open(recording).map_err(|e| RunError::io(recording, e))?;
    use std::io::BufRead;
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else {
            return Ok(false); // not UTF-8: the replay names the line
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => return Ok(false),
        };
        return Ok(!(value.get("probe_id").is_some() && value.get("logp_yes").is_some()));
    }
    Ok(false)
}

/// One record of a foreign recording.
struct ForeignRecord {
    line: usize,
    prompt: String,
    output: String,
    p_yes: Option<f64>,
}

fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn read_foreign(recording: &Path, fields: &ForeignFields) -> Result<Vec<ForeignRecord>, RunError> {
    let bad = |line: usize, message: String| RunError::Recording {
        file: recording.to_path_buf(),
        line,
        message,
    };
    let text = read_text(recording)?;
    let p_yes_of = |line: usize, raw: &str| -> Result<Option<f64>, RunError> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        match raw.trim().parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(Some(p)),
            _ => Err(bad(
                line,
                format!(
                    "`{}` must be a probability between 0 and 1, not `{raw}`",
                    fields.p_yes
                ),
            )),
        }
    };
    let mut records = Vec::new();
    let is_csv = recording
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| bad(1, format!("no CSV header: {e}")))?
            .clone();
        let column = |name: &str| headers.iter().position(|h| h.trim() == name);
        let (Some(pi), Some(oi)) = (column(&fields.prompt), column(&fields.output)) else {
            return Err(bad(
                1,
                format!(
                    "the header needs columns `{}` and `{}` (found: {})",
                    fields.prompt,
                    fields.output,
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let yi = column(&fields.p_yes);
        for row in reader.records() {
            let row = row.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line() as usize);
                bad(line, format!("not a CSV row: {e}"))
            })?;
            let line = row.position().map_or(0, |p| p.line() as usize);
            records.push(ForeignRecord {
                line,
                prompt: row[pi].to_string(),
                output: row[oi].to_string(),
                p_yes: match yi {
                    Some(i) => p_yes_of(line, &row[i])?,
                    None => None,
                },
            });
        }
    } else {
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let line = i + 1;
            let value: serde_json::Value = serde_json::from_str(raw)
                .map_err(|e| bad(line, format!("not a JSON object: {e}")))?;
            let field = |name: &str| -> Result<String, RunError> {
                match value.get(name) {
                    Some(serde_json::Value::String(s)) => Ok(s.clone()),
                    Some(_) => Err(bad(line, format!("`{name}` is not a string"))),
                    None => Err(bad(line, format!("no `{name}` field"))),
                }
            };
            let p_yes = match value.get(&fields.p_yes) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Number(n)) => p_yes_of(line, &n.to_string())?,
                Some(other) => p_yes_of(line, &other.to_string())?,
            };
            records.push(ForeignRecord {
                line,
                prompt: field(&fields.prompt)?,
                output: field(&fields.output)?,
                p_yes,
            });
        }
    }
    Ok(records)
}

/// The answer an output gives: its first word (letters and digits, any case)
/// among the favourable or the unfavourable answers; `None` for anything else.
pub fn hard_answer(output: &str, answers: &crate::probe::Answers) -> Option<bool> {
    let first = output
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())?
        .to_lowercase();
    let is = |list: &[String]| list.iter().any(|a| a.trim().to_lowercase() == first);
    match (is(&answers.favourable), is(&answers.unfavourable)) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// Replays a recording made by another tool: records of a prompt and the
/// model's output (CSV with a header, or JSON lines), matched to probes by their
/// text: a record answers a probe when its prompt, with whitespace folded, is the
/// probe's prompt or contains it (the longest such probe prompt wins, so a chat
/// template around the question is fine). The decision is the record's `p_yes`
/// when it has one, else the output's first word (`hard_answer`); an output that
/// answers neither is reported as missing with the probes no record answers.
pub fn replay_foreign(
    recording: &Path,
    probes: &[Probe],
    answers: &BTreeMap<String, crate::probe::Answers>,
    fields: &ForeignFields,
) -> Result<Replayed, RunError> {
    let records = read_foreign(recording, fields)?;
    let bad = |line: usize, message: String| RunError::Recording {
        file: recording.to_path_buf(),
        line,
        message,
    };
    // Probe prompts, folded, longest first.
    let mut by_text: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in probes.iter().enumerate() {
        by_text.entry(fold(&p.prompt)).or_default().push(i);
    }
    let mut texts: Vec<&String> = by_text.keys().collect();
    texts.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    let mut answered: Vec<Option<(usize, Response)>> = vec![None; probes.len()];
    // The first record of each probe, answerable or not: a second is an error.
    let mut first_record: Vec<Option<usize>> = vec![None; probes.len()];
    let mut unused = 0;
    let mut unanswerable = 0;
    for rec in &records {
        let folded = fold(&rec.prompt);
        let key = if by_text.contains_key(&folded) {
            Some(&folded)
        } else {
            texts
                .iter()
                .copied()
                .find(|t| contains_as_words(&folded, t.as_str()))
        };
        let Some(key) = key else {
            unused += 1;
            continue;
        };
        for &i in &by_text[key] {
            let probe = &probes[i];
            if let Some(first) = first_record[i] {
                return Err(bad(
                    rec.line,
                    format!(
                        "probe {} is answered twice (first on line {first})",
                        probe.id
                    ),
                ));
            }
            first_record[i] = Some(rec.line);
            let p = match rec.p_yes {
                Some(p) => Some(p),
                None => answers
                    .get(&probe.probe_set)
                    .and_then(|a| hard_answer(&rec.output, a))
                    .map(|yes| if yes { 1.0 } else { 0.0 }),
            };
            let Some(p) = p else {
                unanswerable += 1;
                continue;
            };
            let logit = if p <= 0.0 {
                -HARD_ANSWER_LOGIT
            } else if p >= 1.0 {
                HARD_ANSWER_LOGIT
            } else {
                (p / (1.0 - p))
                    .ln()
                    .clamp(-HARD_ANSWER_LOGIT, HARD_ANSWER_LOGIT)
            };
            // A recorded decision, not a distribution over the answer words.
            let mut r = Response::new(probe, rec.prompt.clone(), 0.0, -logit);
            r.logp_yes = p.max(f64::MIN_POSITIVE).ln();
            r.logp_no = (1.0 - p).max(f64::MIN_POSITIVE).ln();
            r.mass = 1.0;
            r.logit = logit;
            r.p_norm = p;
            r.output = Some(rec.output.clone());
            answered[i] = Some((rec.line, r));
        }
    }
    if answered.iter().all(Option::is_none) && unanswerable == 0 {
        return Err(bad(
            records.first().map_or(1, |r| r.line),
            format!(
                "no record answers a probe of this audit ({} records; a record answers a probe when its `{}` contains the probe's prompt)",
                records.len(),
                fields.prompt
            ),
        ));
    }
    let mut responses = Vec::new();
    let mut missing = Vec::new();
    for (probe, a) in probes.iter().zip(answered) {
        match a {
            Some((_, r)) => responses.push(r),
            None => missing.push(probe.id.clone()),
        }
    }
    Ok(Replayed {
        responses,
        missing,
        unused,
        unanswered: unanswerable,
    })
}
