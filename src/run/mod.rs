//! The run stage: schedules probes over a backend and records what the model did.
//!
//! A scenario is the unit of work: its probes share their text up to the person, so
//! they are scored together and the shared prefix is computed once; no scenario's
//! figures depend on another's, so a resumed (or later a sharded) run reproduces a
//! single run. Each response is appended to `responses.jsonl` and flushed as soon as
//! its scenario is done; an interrupted audit resumes from what is there, keeping
//! only lines whose probe id and prompt hash still match. At the end the file is
//! rewritten atomically in probe order, so it is byte-identical across runs.

mod error;
pub mod replay;

pub use error::RunError;
pub use replay::{replay_probes, Replayed};

use crate::backend::{log_sum_exp, Backend, ScorePrompt};
use crate::probe::{Answers, Probe, Variant};
use crate::provenance::{sha256_bytes, write_atomic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

pub const RESPONSES_FILE: &str = "responses.jsonl";

/// What the model did with one decision probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    pub probe_id: String,
    pub probe_set: String,
    pub scenario: String,
    pub variant: Variant,
    pub axis: String,
    pub group: String,
    pub filler: String,
    /// The exact text scored (chat template applied when the spec asks for it).
    pub prompt: String,
    pub prompt_sha256: String,
    /// log p(favourable answer): log-sum-exp over its surface forms.
    pub logp_yes: f64,
    pub logp_no: f64,
    /// p(yes) + p(no): how much the model answered the question at all.
    pub mass: f64,
    /// log p(yes) − log p(no), finite by construction.
    pub logit: f64,
    /// p(yes) / (p(yes) + p(no)).
    pub p_norm: f64,
    /// Text the model produced, when the response has any (a replayed recording
    /// from another tool); data, never markup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Answer forms the server did not list among its most likely tokens: their
    /// probability entered as an upper bound (the smallest listed), not a value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub censored: Vec<String>,
}

impl Response {
    pub fn new(probe: &Probe, prompt: String, logp_yes: f64, logp_no: f64) -> Response {
        let logit = logp_yes - logp_no;
        Response {
            probe_id: probe.id.clone(),
            probe_set: probe.probe_set.clone(),
            scenario: probe.scenario.clone(),
            variant: probe.variant,
            axis: probe.axis.clone(),
            group: probe.group.clone(),
            filler: probe.filler.clone(),
            prompt_sha256: sha256_bytes(prompt.as_bytes()),
            prompt,
            logp_yes,
            logp_no,
            mass: logp_yes.exp() + logp_no.exp(),
            logit,
            p_norm: 1.0 / (1.0 + (-logit).exp()),
            output: None,
            censored: Vec::new(),
        }
    }
}

/// The surface forms of an answer word: as written, capitalised, and each with a
/// leading space ("yes", "Yes", " yes", " Yes"), without duplicates.
pub fn surface_forms(words: &[String]) -> Vec<String> {
    let mut forms: Vec<String> = Vec::new();
    for word in words {
        let mut capitalised = word.clone();
        if let Some(first) = capitalised.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        let lower = word.to_lowercase();
        for form in [
            lower.clone(),
            capitalised.clone(),
            format!(" {lower}"),
            format!(" {capitalised}"),
        ] {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

/// How to turn a probe into the text the model scores.
pub struct PromptStyle {
    pub chat: bool,
}

pub fn render_prompt(
    backend: &Backend,
    probe: &Probe,
    style: &PromptStyle,
) -> Result<String, RunError> {
    let mut text = if style.chat {
        backend.chat_prompt(&probe.prompt)?
    } else {
        probe.prompt.clone()
    };
    if let Some(prefix) = &probe.answer_prefix {
        text.push_str(prefix);
    }
    Ok(text)
}

/// Reads the responses an interrupted run left, keeping those that still match a
/// probe (same id, same prompt text); a torn last line is dropped.
pub fn read_existing(path: &Path) -> BTreeMap<String, Response> {
    let mut kept = BTreeMap::new();
    let Ok(file) = std::fs::File::open(path) else {
        return kept;
    };
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        if let Ok(r) = serde_json::from_str::<Response>(&line) {
            kept.insert(r.probe_id.clone(), r);
        }
    }
    kept
}

/// Serialises responses as JSON lines.
pub fn to_jsonl(responses: &[Response]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in responses {
        serde_json::to_writer(&mut out, r).expect("responses serialise");
        out.push(b'\n');
    }
    out
}

/// Runs every probe not already answered, scenario by scenario as `probes` yields
/// them (the probes are never all held at once; only the responses are),
/// appending each scenario's responses to `responses.jsonl`. A response left by an
/// earlier run is kept when its probe id and prompt text still match. Returns all
/// responses in probe order; the file is rewritten in that order at the end.
pub fn run_probes(
    backend: &mut Backend,
    probes: impl IntoIterator<Item = Probe>,
    answers: &BTreeMap<String, Answers>,
    style: &PromptStyle,
    out_dir: &Path,
    mut progress: impl FnMut(usize),
) -> Result<Vec<Response>, RunError> {
    let path = out_dir.join(RESPONSES_FILE);
    let mut done = read_existing(&path);
    // Start the file afresh with the earlier lines (a torn line would corrupt it);
    // each is kept only if its probe comes again with the same prompt.
    let earlier: Vec<Response> = done.values().cloned().collect();
    write_atomic(&path, &to_jsonl(&earlier)).map_err(|e| RunError::io(&path, e))?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| RunError::io(&path, e))?;

    let mut all: Vec<Response> = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    let mut probes = probes.into_iter().peekable();
    while let Some(first) = probes.next() {
        let mut chunk = vec![first];
        while let Some(next) =
            probes.next_if(|p| p.probe_set == chunk[0].probe_set && p.scenario == chunk[0].scenario)
        {
            chunk.push(next);
        }
        for p in &chunk {
            if !ids.insert(p.id.clone()) {
                return Err(RunError::Internal(format!(
                    "probe id {} appears twice (probe set `{}`)",
                    p.id, p.probe_set
                )));
            }
        }
        let rendered: Vec<String> = chunk
            .iter()
            .map(|p| render_prompt(backend, p, style))
            .collect::<Result<_, _>>()?;
        let mut kept = 0;
        let mut todo = Vec::new();
        for (i, p) in chunk.iter().enumerate() {
            match done.remove(&p.id) {
                Some(r) if r.prompt == rendered[i] => {
                    kept += 1;
                    all.push(r);
                }
                _ => {
                    todo.push(i);
                    all.push(Response::new(p, String::new(), 0.0, 0.0)); // placeholder
                }
            }
        }
        progress(kept);
        if !todo.is_empty() {
            let set_answers = answers.get(&chunk[0].probe_set).ok_or_else(|| {
                RunError::Internal(format!("no answers for probe set {}", chunk[0].probe_set))
            })?;
            let yes = surface_forms(&set_answers.favourable);
            let no = surface_forms(&set_answers.unfavourable);
            let continuations: Vec<String> = yes.iter().chain(&no).cloned().collect();
            let texts: Vec<ScorePrompt> = todo
                .iter()
                .map(|&i| ScorePrompt {
                    text: rendered[i].clone(),
                    user: chunk[i].prompt.clone(),
                    prefix: chunk[i].answer_prefix.clone().unwrap_or_default(),
                })
                .collect();
            let scores = backend.score(&texts, &continuations)?;
            let base = all.len() - chunk.len();
            let mut lines = Vec::new();
            for (&i, row) in todo.iter().zip(scores) {
                let logps: Vec<f64> = row.iter().map(|c| c.logprob).collect();
                let (y, n) = logps.split_at(yes.len());
                let mut response = Response::new(
                    &chunk[i],
                    rendered[i].clone(),
                    log_sum_exp(y),
                    log_sum_exp(n),
                );
                response.censored = row
                    .iter()
                    .filter(|c| c.censored)
                    .map(|c| c.text.clone())
                    .collect();
                lines.push(response.clone());
                all[base + i] = response;
            }
            file.write_all(&to_jsonl(&lines))
                .map_err(|e| RunError::io(&path, e))?;
            file.flush().map_err(|e| RunError::io(&path, e))?;
            progress(todo.len());
        }
    }
    write_atomic(&path, &to_jsonl(&all)).map_err(|e| RunError::io(&path, e))?;
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surface_forms_cover_case_and_space() {
        assert_eq!(
            surface_forms(&["yes".into()]),
            vec!["yes", "Yes", " yes", " Yes"]
        );
        assert_eq!(
            surface_forms(&["No".into()]),
            vec!["no", "No", " no", " No"]
        );
    }

    fn test_probe() -> Probe {
        Probe {
            id: "x".into(),
            probe_set: "s".into(),
            kind: crate::probe::ProbeKind::Decision,
            scenario: "a".into(),
            variant: Variant::Explicit,
            axis: "gender".into(),
            group: "woman".into(),
            filler: "a woman".into(),
            prompt: "p".into(),
            answer_prefix: None,
        }
    }

    #[test]
    fn response_figures_are_consistent() {
        let probe = test_probe();
        let r = Response::new(&probe, "p".into(), 0.6f64.ln(), 0.2f64.ln());
        assert!((r.mass - 0.8).abs() < 1e-12);
        assert!((r.p_norm - 0.75).abs() < 1e-12);
        assert!((r.logit - 3f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn torn_lines_are_dropped_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESPONSES_FILE);
        let probe = test_probe();
        let r = Response::new(&probe, "p".into(), -1.0, -2.0);
        let mut bytes = to_jsonl(std::slice::from_ref(&r));
        bytes.extend_from_slice(b"{\"probe_id\": \"y\", \"probe_se");
        std::fs::write(&path, bytes).unwrap();
        let kept = read_existing(&path);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept["x"], r);
    }
}
