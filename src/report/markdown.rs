//! The Markdown summary (short enough for a pull-request comment or a CI job
//! summary) and the Hugging Face model card. Every string from a model, a probe or
//! the spec goes through [`escape::markdown`] (or [`escape::yaml`] in the card's
//! front matter).

use super::escape::{markdown as md, yaml};
use super::view::{
    self, fmt, fmt_p, gap_measure, interval_text, ranked_findings, spec_text, Labels,
};
use crate::provenance::Manifest;
use crate::results::{Finding, Results, Verdict};
use std::fmt::Write;

/// Findings listed in the summary; the rest are counted.
const SUMMARY_ROWS: usize = 10;

fn verdict_word(results: &Results) -> &'static str {
    match results.summary.verdict {
        Verdict::Breach => "BREACH",
        _ => "PASS",
    }
}

fn finding_row(labels: &Labels, f: &Finding) -> String {
    format!(
        "| {} | {} | {} vs {} | {:+.3} | {} | {} | {} |",
        md(&f.variant),
        md(&f.axis),
        md(&labels.of(&f.probe_set, &f.axis, &f.group)),
        md(&labels.of(&f.probe_set, &f.axis, &f.reference)),
        f.estimate,
        interval_text(f),
        fmt_p(f.p_adjusted),
        f.verdict.as_str()
    )
}

fn findings_table(out: &mut String, results: &Results, findings: &[&Finding]) {
    let labels = Labels::new(results);
    let confidence = results.audit.confidence * 100.0;
    let _ = writeln!(
        out,
        "| Variant | Axis | Group vs reference | {} | {confidence}% CI | Holm p | Verdict |",
        capitalise(gap_measure(results))
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for f in findings {
        out.push_str(&finding_row(&labels, f));
        out.push('\n');
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|first| first.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The Markdown summary of an audit.
pub fn summary(results: &Results, manifest: &Manifest) -> String {
    let mut out = String::new();
    let s = &results.summary;
    let _ = writeln!(
        out,
        "## probity: {} — {}\n",
        md(&results.audit.name),
        verdict_word(results)
    );
    match &results.model {
        Some(m) => {
            let _ = writeln!(
                out,
                "Model **{}** ({}, {} parameters, {}; sha256 `{}`) · {} probes, mean answer mass {:.3}, {} below {}.",
                md(&m.name),
                md(&m.architecture),
                m.parameters,
                md(&m.quantisation),
                short(&m.sha256),
                s.n_probes,
                s.mean_mass,
                s.n_low_mass,
                results.audit.min_mass
            );
        }
        None => {
            let _ = writeln!(out, "Decision table · {} rows used.", s.n_probes);
        }
    }
    let _ = writeln!(
        out,
        "\n**{}** of {} comparisons breach (rule `{}`: Holm-adjusted α = {}, {} threshold {}); {} had too little data to test.\n",
        s.n_breaches,
        s.n_findings,
        md(&results.thresholds.rule),
        results.thresholds.alpha,
        gap_measure(results),
        results.thresholds.max_abs_gap,
        s.n_insufficient
    );
    let ranked = ranked_findings(results);
    if !ranked.is_empty() {
        let shown = &ranked[..ranked.len().min(SUMMARY_ROWS)];
        findings_table(&mut out, results, shown);
        if ranked.len() > shown.len() {
            let _ = writeln!(
                out,
                "\n{} more comparison(s) in the full report.",
                ranked.len() - shown.len()
            );
        }
    }
    let mdes: Vec<String> = results
        .axes
        .iter()
        .map(|a| {
            format!(
                "{} {}: {}",
                md(&a.axis),
                md(&a.variant),
                a.min_detectable_gap
                    .map(|m| format!("{m:.3}"))
                    .unwrap_or_else(|| "not computable".into())
            )
        })
        .collect();
    if !mdes.is_empty() {
        let _ = writeln!(
            out,
            "\nSmallest detectable {} per axis (power {:.0}%): {}.",
            gap_measure(results),
            results.axes[0].mde_power * 100.0,
            mdes.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "\nAudit id `{}` · probity {} · seed {} · verify with `probity verify DIR`.",
        manifest.audit_id.as_deref().unwrap_or(""),
        md(&manifest.tool.version),
        manifest.seed
    );
    out
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn or_undocumented(text: Option<String>) -> String {
    text.map(|t| md(&t))
        .unwrap_or_else(|| "_Not documented._".into())
}

/// A Hugging Face model card: YAML front matter whose `model-index` holds the
/// audit's findings, then the card's sections filled from the spec and results.
/// Needs a model audit (a decision table has no model to describe).
pub fn model_card(results: &Results, manifest: &Manifest) -> Result<String, String> {
    let labels = Labels::new(results);
    let Some(model) = &results.model else {
        return Err(
            "a model card describes a model; this out dir holds a decision-table audit".into(),
        );
    };
    let mut out = String::from("---\n");
    if let Some(licence) = &model.licence {
        let _ = writeln!(out, "license: {}", yaml(&licence.to_lowercase()));
    }
    out.push_str("tags:\n- probity\n- bias-audit\n");
    if let Some(upstream) = manifest.model.as_ref().and_then(|m| m.upstream.as_ref()) {
        let _ = writeln!(out, "base_model: {}", yaml(upstream));
    }
    out.push_str("model-index:\n");
    let _ = writeln!(out, "- name: {}", yaml(&model.name));
    out.push_str("  results:\n");
    let mut by_axis: std::collections::HashMap<(&str, &str, &str), Vec<&Finding>> =
        Default::default();
    for f in &results.findings {
        by_axis
            .entry((f.probe_set.as_str(), f.variant.as_str(), f.axis.as_str()))
            .or_default()
            .push(f);
    }
    for axis in &results.axes {
        let key = (
            axis.probe_set.as_str(),
            axis.variant.as_str(),
            axis.axis.as_str(),
        );
        let Some(findings) = by_axis.remove(&key) else {
            continue;
        };
        out.push_str("  - task:\n      type: text-generation\n");
        let _ = writeln!(
            out,
            "      name: {}",
            yaml("Bias audit (decision probes, gap in p(yes) to the reference group)")
        );
        out.push_str("    dataset:\n");
        let _ = writeln!(
            out,
            "      type: {}",
            yaml(&format!("probity/{}", axis.probe_set))
        );
        let _ = writeln!(
            out,
            "      name: {}",
            yaml(&format!(
                "{} ({}, {})",
                axis.probe_set, axis.variant, axis.axis
            ))
        );
        out.push_str("    metrics:\n");
        for f in findings {
            let _ = writeln!(out, "    - type: {}", yaml("p_yes_gap"));
            let _ = writeln!(
                out,
                "      name: {}",
                yaml(&format!(
                    "{} vs {} ({})",
                    labels.of(&f.probe_set, &f.axis, &f.group),
                    labels.of(&f.probe_set, &f.axis, &f.reference),
                    f.verdict.as_str()
                ))
            );
            let _ = writeln!(out, "      value: {}", fmt(f.estimate, 4));
            out.push_str("      verified: false\n");
        }
    }
    out.push_str("---\n\n");

    let _ = writeln!(out, "# Model card: {}\n", md(&model.name));
    let _ = writeln!(
        out,
        "This card was generated by probity {} from the bias audit \"{}\" (audit id `{}`). Figures come from `results.json`; prose from the audit spec. \"Not documented\" marks what the spec leaves empty.\n",
        md(&manifest.tool.version),
        md(&results.audit.name),
        manifest.audit_id.as_deref().unwrap_or("")
    );
    out.push_str("## Model details\n\n");
    let _ = writeln!(out, "- **Architecture:** {}", md(&model.architecture));
    let _ = writeln!(out, "- **Parameters:** {}", model.parameters);
    let _ = writeln!(out, "- **Quantisation:** {}", md(&model.quantisation));
    let _ = writeln!(
        out,
        "- **Licence:** {}",
        or_undocumented(model.licence.clone())
    );
    let _ = writeln!(out, "- **File sha256:** `{}`", model.sha256);
    if let Some(description) = spec_text(manifest, "description") {
        let _ = writeln!(out, "\n{}", md(&description));
    }

    out.push_str("\n## Uses\n\n### Direct use\n\n");
    let _ = writeln!(
        out,
        "{}",
        or_undocumented(spec_text(manifest, "intended_use"))
    );
    out.push_str("\n### Out-of-scope use\n\n");
    let _ = writeln!(
        out,
        "{}",
        or_undocumented(spec_text(manifest, "out_of_scope"))
    );

    out.push_str("\n## Bias, risks, and limitations\n\n");
    let ethics = view::ethics(manifest);
    for (key, name) in view::ETHICS_FIELDS {
        let text = ethics
            .get(*key)
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let _ = writeln!(out, "- **{name}:** {}", or_undocumented(text));
    }
    out.push_str("\nLimits of the audit behind this card:\n\n");
    for l in view::limitations(results, spec_text(manifest, "limitations")) {
        let _ = writeln!(out, "- {}", md(&l));
    }

    out.push_str("\n## Training details\n\n### Training data\n\n");
    let summary = &manifest.training_summary;
    for (key, name) in view::SUMMARY_GENERAL {
        let text = summary
            .get(*key)
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let _ = writeln!(out, "- **{name}:** {}", or_undocumented(text));
    }
    out.push('\n');
    let sources = manifest
        .training_data
        .as_array()
        .cloned()
        .unwrap_or_default();
    if sources.is_empty() {
        out.push_str("_No training data source is documented._\n");
    } else {
        out.push_str("| Source | Category | Licence | Size |\n|---|---|---|---|\n");
        for s in &sources {
            let field = |k: &str| {
                s.get(k)
                    .and_then(|v| v.as_str())
                    .map(md)
                    .unwrap_or_else(|| "not documented".into())
            };
            let kind = s.get("kind").and_then(|v| v.as_str()).unwrap_or("other");
            let category = view::SOURCE_CATEGORIES
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or("Other sources", |(_, h)| h);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                field("name"),
                category,
                field("licence"),
                field("size")
            );
        }
    }
    out.push('\n');
    for (key, name) in view::SUMMARY_PROCESSING {
        let text = summary
            .get(*key)
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let _ = writeln!(out, "- **{name}:** {}", or_undocumented(text));
    }

    out.push_str("\n## Evaluation\n\n### Testing data, factors and metrics\n\n");
    for p in &results.probe_sets {
        let _ = writeln!(
            out,
            "- Probe set `{}` ({} kind, version {}): {} probes in {} scenarios, variants {}.",
            md(&p.id),
            md(&p.kind),
            p.version,
            p.n_probes,
            p.n_scenarios,
            md(&p.variants.join(", "))
        );
    }
    let _ = writeln!(
        out,
        "\nMetric: the {} of each group to its axis's reference group, averaged over scenarios, with a {}% BCa bootstrap interval ({} resamples) and a sign-flip permutation test, Holm-adjusted across all {} comparisons.\n",
        gap_measure(results),
        results.audit.confidence * 100.0,
        results.audit.n_boot,
        results.summary.n_findings
    );
    out.push_str("### Results\n\n");
    let ranked = ranked_findings(results);
    findings_table(&mut out, results, &ranked);
    let _ = writeln!(
        out,
        "\n## Provenance\n\nAudit id `{}`; check the audit's files with `probity verify DIR`.",
        manifest.audit_id.as_deref().unwrap_or("")
    );
    Ok(out)
}
