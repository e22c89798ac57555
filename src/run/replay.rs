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
}

/// Replays `recording` (JSON lines of [`Response`]) for `probes`.
pub fn replay_probes(recording: &Path, probes: &[Probe]) -> Result<Replayed, RunError> {
    let text = std::fs::read(recording).map_err(|e| RunError::io(recording, e))?;
    let bad = |line: usize, message: String| RunError::Recording {
        file: recording.to_path_buf(),
        line,
        message,
    };
    let text = String::from_utf8(text).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        bad(line, "not UTF-8 text".into())
    })?;
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
    })
}
