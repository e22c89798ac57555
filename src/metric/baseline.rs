//! The paraphrase baseline of decision probe sets: how much the reference group's
//! p(yes) moves when only the wording of a scenario changes (no group changed),
//! beside how much it moves between groups. A demographic gap no larger than the
//! wording effect cannot be told apart from sensitivity to phrasing.

use crate::probe::{paraphrased, ProbeSet, Variant};
use crate::run::Response;
use crate::stats;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct DecisionBaseline {
    /// (scenario, paraphrase, axis) comparisons.
    pub n: usize,
    pub n_scenarios: usize,
    /// Mean of p_norm(paraphrase) − p_norm(template) for the reference groups.
    pub mean_change: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Mean |p_norm(paraphrase) − p_norm(template)|: the per-scenario wording effect.
    pub mean_abs_change: f64,
    /// Mean |p_norm(group) − p_norm(reference)| within a scenario (explicit variant):
    /// the per-scenario group effect, on the same scale.
    pub mean_abs_group_gap: f64,
}

/// The baseline of one decision set from all its responses, paraphrases included;
/// `None` when the set has no paraphrases.
pub fn decision_baseline(
    set: &ProbeSet,
    responses: &[Response],
    n_boot: usize,
    seed: u64,
    confidence: f64,
) -> Option<DecisionBaseline> {
    let of_set: Vec<&Response> = responses
        .iter()
        .filter(|r| r.probe_set == set.id() && r.variant == Variant::Explicit)
        .collect();
    // (scenario, axis, group) → p_norm, for the templates themselves.
    let mut level: BTreeMap<(&str, &str, &str), f64> = BTreeMap::new();
    for r in &of_set {
        if paraphrased(&r.scenario).is_none() {
            level.insert((&r.scenario, &r.axis, &r.group), r.p_norm);
        }
    }
    let mut changes = Vec::new();
    let mut scenarios = std::collections::BTreeSet::new();
    for r in of_set.iter().filter(|r| paraphrased(&r.scenario).is_some()) {
        let original = paraphrased(&r.scenario).expect("filtered");
        if let Some(p) = level.get(&(original, r.axis.as_str(), r.group.as_str())) {
            changes.push(r.p_norm - p);
            scenarios.insert(original);
        }
    }
    if changes.is_empty() {
        return None;
    }
    let mut gaps = Vec::new();
    for axis in &set.axes {
        for ((scenario, a, group), p) in &level {
            if *a == axis.axis && *group != axis.reference {
                if let Some(r) = level.get(&(scenario, a, axis.reference.as_str())) {
                    gaps.push((p - r).abs());
                }
            }
        }
    }
    let interval = stats::bootstrap_mean_bca(&changes, n_boot, seed, confidence).ok();
    let n = changes.len() as f64;
    Some(DecisionBaseline {
        n: changes.len(),
        n_scenarios: scenarios.len(),
        mean_change: changes.iter().sum::<f64>() / n,
        ci_low: interval.map(|i| i.low),
        ci_high: interval.map(|i| i.high),
        mean_abs_change: changes.iter().map(|c| c.abs()).sum::<f64>() / n,
        mean_abs_group_gap: if gaps.is_empty() {
            0.0
        } else {
            gaps.iter().sum::<f64>() / gaps.len() as f64
        },
    })
}
