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
    // Paraphrase baseline: SEAT's templates are rewordings of one bleached
    // sentence, so the spread of d across single templates is the wording effect.
    // A test too small for one template alone (a lexicon group of one term needs
    // several templates to have three items) has no single-template d (null).
    let mut per_template: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    if set.templates.len() >= 2 {
        for template in &set.templates {
            let mut ds = Vec::new();
            for test in &set.tests {
                let single = AssociationSet {
                    templates: vec![template.clone()],
                    tests: vec![test.clone()],
                    ..set.clone()
                };
                ds.push(
                    run_association(&single, &mut embed, settings.seed)
                        .ok()
                        .map(|r| r[0].effect_size),
                );
            }
            per_template.push((template.clone(), ds));
        }
    }
    let baseline = (!per_template.is_empty()).then(|| {
        let mut changes = Vec::new();
        for (i, r) in results.iter().enumerate() {
            for (_, ds) in &per_template {
                if let Some(d) = ds[i] {
                    changes.push((d - r.effect_size).abs());
                }
            }
        }
        let gaps: Vec<f64> = results.iter().map(|r| r.effect_size.abs()).collect();
        serde_json::json!({
            "metric": "weat_effect_size",
            "n": changes.len(),
            "templates": per_template.len(),
            "mean_abs_change": changes.iter().sum::<f64>() / changes.len().max(1) as f64,
            "mean_abs_effect": gaps.iter().sum::<f64>() / gaps.len().max(1) as f64,
            "per_template": per_template.iter().map(|(t, ds)| serde_json::json!({
                "template": t,
                "effect_sizes": ds,
            })).collect::<Vec<_>>(),
        })
    });
    Ok(KindOutcome {
        findings,
        detail: serde_json::json!({ "tests": results, "paraphrase_baseline": baseline }),
        n_probes: results.iter().map(|r| r.sentences).sum(),
        n_scenarios: results.len(),
        responses: path,
    })
}
