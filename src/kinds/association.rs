//! Association probes in an audit: the WEAT / SEAT statistics of
//! `metric::association` run over the audit's embedding model, each test a
//! finding (effect size d, one-sided permutation p-value), its results one line of
//! `responses-<set>.jsonl`. The verdict's size threshold for d is the spec's
//! `thresholds.max_abs_effect_size` (0.5 by default: a medium effect in Cohen's
//! terms), not the gap threshold of the probability-scale kinds.

use super::{finding, AnalysisSettings, KindOutcome};
use crate::backend::BertEmbedder;
use crate::metric::association::{run_association, AssociationSet};
use crate::probe::ProbeKind;
use std::path::Path;

pub fn run(
    set: &AssociationSet,
    embedder: &BertEmbedder,
    settings: &AnalysisSettings,
    out_dir: &Path,
) -> Result<KindOutcome, String> {
    let mut embed = |texts: &[String]| -> Result<Vec<Vec<f32>>, String> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed(&refs).map_err(|e| e.to_string())
    };
    let results = run_association(set, &mut embed, settings.seed)?;
    let path = super::responses_path(out_dir, &set.id);
    let mut lines = Vec::new();
    for r in &results {
        serde_json::to_writer(&mut lines, r).map_err(|e| e.to_string())?;
        lines.push(b'\n');
    }
    crate::provenance::write_atomic(&path, &lines)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut thresholds = settings.thresholds.clone();
    thresholds.max_abs_gap = settings.thresholds.max_abs_effect_size;
    let findings = results
        .iter()
        .map(|r| {
            finding(
                &set.id,
                ProbeKind::Association,
                if set.templates.is_empty() {
                    "weat"
                } else {
                    "seat"
                },
                "weat_effect_size",
                &r.test,
                &r.x.name,
                &r.y.name,
                r.effect_size,
                None,
                Some(r.p_value),
                if r.exact {
                    "permutation_exact_one_sided"
                } else {
                    "permutation_sampled_one_sided"
                },
                r.sentences,
                1,
                &thresholds,
            )
        })
        .collect();
    Ok(KindOutcome {
        findings,
        detail: serde_json::json!({ "tests": results }),
        n_probes: results.iter().map(|r| r.sentences).sum(),
        n_scenarios: results.len(),
        responses: path,
    })
}
