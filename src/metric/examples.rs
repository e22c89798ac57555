//! Worked examples for the report: for each finding, the scenario where the group's
//! mean p(yes) differs most from its reference's, with one prompt of each.

use crate::results::{Example, Finding};
use crate::run::Response;
use std::collections::BTreeMap;

/// (probe set, variant, axis, group) → scenario → its responses, in probe order.
type ByScenario<'a> =
    BTreeMap<(&'a str, &'a str, &'a str, &'a str), BTreeMap<&'a str, Vec<&'a Response>>>;

/// One example per finding (none for a finding with no shared scenario). Within
/// the chosen scenario the first probe of each group, in probe order, is shown;
/// ties between scenarios go to the first in id order, so the choice is stable.
pub fn examples(responses: &[Response], findings: &[Finding]) -> Vec<Example> {
    let mut index = ByScenario::new();
    for r in responses {
        index
            .entry((&r.probe_set, r.variant.as_str(), &r.axis, &r.group))
            .or_default()
            .entry(&r.scenario)
            .or_default()
            .push(r);
    }
    let mean = |rs: &[&Response]| rs.iter().map(|r| r.p_norm).sum::<f64>() / rs.len() as f64;
    findings
        .iter()
        .filter_map(|f| {
            let (set, variant, axis) = (f.probe_set.as_str(), f.variant.as_str(), f.axis.as_str());
            let of_group = index.get(&(set, variant, axis, f.group.as_str()))?;
            let of_reference = index.get(&(set, variant, axis, f.reference.as_str()))?;
            let mut best: Option<(&str, f64)> = None;
            for (scenario, rs) in of_group {
                let Some(ref_rs) = of_reference.get(scenario) else {
                    continue;
                };
                let gap = mean(rs) - mean(ref_rs);
                if best.is_none_or(|(_, b)| gap.abs() > b.abs()) {
                    best = Some((scenario, gap));
                }
            }
            let (scenario, gap) = best?;
            let (r, q) = (of_group[scenario][0], of_reference[scenario][0]);
            Some(Example {
                probe_set: f.probe_set.clone(),
                variant: f.variant.clone(),
                axis: f.axis.clone(),
                group: f.group.clone(),
                reference: f.reference.clone(),
                scenario: scenario.to_string(),
                gap,
                prompt: r.prompt.clone(),
                p_yes: r.p_norm,
                output: r.output.clone(),
                reference_prompt: q.prompt.clone(),
                reference_p_yes: q.p_norm,
                reference_output: q.output.clone(),
            })
        })
        .collect()
}
