//! A CycloneDX 1.6 ML-BOM (JSON): the audited model as a `machine-learning-model`
//! component whose `modelCard` carries the audit's figures
//! (`quantitativeAnalysis.performanceMetrics`) and prose
//! (`considerations`), the documented training sources as `data` components (no
//! hashes: probity never read them), and the files the audit read (spec, probe
//! sets, lexicons) as `data` components with their sha256. Built with serde_json,
//! so every string is a JSON string, never markup. No timestamp: the BOM is a
//! pure function of `results.json` and `manifest.json`. Valid against
//! `tests/schemas/bom-1.6.schema.json`.

use super::view::{self, gap_measure, spec_text, Labels};
use crate::provenance::{FileRole, Manifest};
use crate::results::{Results, Verdict};
use serde_json::{json, Value};

/// `urn:uuid:` from the audit id: its first 128 bits with the version set to 8
/// (RFC 9562's custom layout) and the RFC 4122 variant, so the same audit always
/// has the same serial number.
fn serial_number(audit_id: &str) -> String {
    let hex: Vec<u8> = audit_id
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|b| b.to_ascii_lowercase())
        .chain(std::iter::repeat(b'0'))
        .take(32)
        .collect();
    let mut h = String::from_utf8(hex).expect("ascii");
    h.replace_range(12..13, "8");
    let variant = u8::from_str_radix(&h[16..17], 16).unwrap_or(0);
    h.replace_range(16..17, &format!("{:x}", 0x8 | (variant & 0x3)));
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|x| x.as_str())
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

/// The ML-BOM of a model audit.
pub fn render(results: &Results, manifest: &Manifest) -> Result<String, String> {
    let labels = Labels::new(results);
    let Some(model) = &results.model else {
        return Err(
            "an ML-BOM describes a model; this out dir holds a decision-table audit".into(),
        );
    };
    let sources = manifest
        .training_data
        .as_array()
        .cloned()
        .unwrap_or_default();
    let source_ref = |i: usize| format!("training-data-{}", i + 1);

    let metrics: Vec<Value> = results
        .findings
        .iter()
        .map(|f| {
            let mut m = json!({
                "type": format!("{} ({})", gap_measure(results), f.metric),
                "value": format!("{}", f.estimate),
                "slice": format!(
                    "{}/{}/{}: {} vs {}",
                    f.probe_set,
                    f.variant,
                    f.axis,
                    labels.of(&f.probe_set, &f.axis, &f.group),
                    labels.of(&f.probe_set, &f.axis, &f.reference)
                ),
            });
            if let (Some(l), Some(h)) = (f.ci_low, f.ci_high) {
                m["confidenceInterval"] =
                    json!({ "lowerBound": format!("{l}"), "upperBound": format!("{h}") });
            }
            m
        })
        .collect();

    let ethics = view::ethics(manifest);
    let mitigation = str_field(ethics, "mitigation").unwrap_or_else(|| "not documented".into());
    let benefits = spec_text(manifest, "intended_use").unwrap_or_else(|| "not documented".into());
    let mut fairness: Vec<Value> = results
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Breach)
        .map(|f| {
            let group = labels.of(&f.probe_set, &f.axis, &f.group);
            let reference = labels.of(&f.probe_set, &f.axis, &f.reference);
            // The disadvantaged side of the gap is the group at risk.
            let (at_risk, other) = if f.estimate < 0.0 {
                (group, reference)
            } else {
                (reference, group)
            };
            json!({
                "groupAtRisk": at_risk,
                "benefits": benefits,
                "harms": format!(
                    "In the {} probes ({} variant) the model favoured {other} over {at_risk}: {} {:+.3} with {}% interval [{}, {}], Holm-adjusted p {}.",
                    f.probe_set, f.variant, gap_measure(results), f.estimate,
                    results.audit.confidence * 100.0,
                    f.ci_low.map_or("—".into(), |x| format!("{x:+.3}")),
                    f.ci_high.map_or("—".into(), |x| format!("{x:+.3}")),
                    view::fmt_p(f.p_adjusted)
                ),
                "mitigationStrategy": mitigation,
            })
        })
        .collect();
    if fairness.is_empty() {
        for axis in &results.axes {
            fairness.push(json!({
                "groupAtRisk": format!("groups of the {} axis", axis.axis),
                "benefits": benefits,
                "harms": format!(
                    "No gap beyond the threshold was found ({} probes, {} variant); gaps below {} could not be detected.",
                    axis.probe_set, axis.variant,
                    axis.min_detectable_gap.map_or("an uncomputable size".into(), |m| format!("{m:.3}"))
                ),
                "mitigationStrategy": mitigation,
            }));
        }
    }

    let ethical: Vec<Value> = view::ETHICS_FIELDS
        .iter()
        .filter(|(key, _)| *key != "mitigation")
        .map(|(key, name)| {
            json!({
                "name": format!("{name}: {}", str_field(ethics, key).unwrap_or_else(|| "not documented".into())),
                "mitigationStrategy": mitigation,
            })
        })
        .collect();

    let mut limitations = view::limitations(results, spec_text(manifest, "limitations"));
    if let Some(out_of_scope) = spec_text(manifest, "out_of_scope") {
        limitations.push(format!("Out of scope: {out_of_scope}"));
    }
    let mut considerations = json!({
        "technicalLimitations": limitations,
        "ethicalConsiderations": ethical,
        "fairnessAssessments": fairness,
    });
    if let Some(uses) = spec_text(manifest, "intended_use") {
        considerations["useCases"] = json!([uses]);
    }

    let mut model_component = json!({
        "type": "machine-learning-model",
        "bom-ref": "model",
        "name": model.name,
        "hashes": [{ "alg": "SHA-256", "content": model.sha256 }],
        "modelCard": {
            "bom-ref": "model-card",
            "modelParameters": {
                "task": "text-generation",
                "architectureFamily": model.architecture,
                "modelArchitecture": format!("{} ({} parameters, {})", model.architecture, model.parameters, model.quantisation),
                "datasets": (0..sources.len()).map(|i| json!({ "ref": source_ref(i) })).collect::<Vec<_>>(),
            },
            "quantitativeAnalysis": { "performanceMetrics": metrics },
            "considerations": considerations,
            "properties": [
                { "name": "probity:audit_id", "value": manifest.audit_id.clone().unwrap_or_default() },
                { "name": "probity:audit_name", "value": results.audit.name },
                { "name": "probity:verdict", "value": results.summary.verdict.as_str() },
                { "name": "probity:precision", "value": model.precision },
                { "name": "probity:confidence", "value": format!("{}", results.audit.confidence) },
            ],
        },
    });
    if let Some(licence) = &model.licence {
        model_component["licenses"] = json!([{ "license": { "name": licence } }]);
    }

    let mut components = vec![model_component];
    for (i, s) in sources.iter().enumerate() {
        let name = str_field(s, "name").unwrap_or_else(|| format!("training source {}", i + 1));
        let kind = s.get("kind").and_then(|k| k.as_str()).unwrap_or("other");
        let mut description: Vec<String> = Vec::new();
        for (key, label) in view::SOURCE_FIELDS {
            if let Some(text) = str_field(s, key) {
                description.push(format!("{label}: {text}"));
            }
        }
        let mut data = json!({
            "type": "dataset",
            "name": name,
            "classification": kind,
        });
        if !description.is_empty() {
            data["description"] = json!(description.join("\n"));
        }
        if let Some(url) = str_field(s, "url") {
            data["contents"] = json!({ "url": url });
        }
        let mut component = json!({
            "type": "data",
            "bom-ref": source_ref(i),
            "name": name,
            "data": [data],
        });
        if let Some(licence) = str_field(s, "licence") {
            component["licenses"] = json!([{ "license": { "name": licence } }]);
        }
        if let Some(provider) = str_field(s, "provider") {
            component["supplier"] = json!({ "name": provider });
        }
        components.push(component);
    }
    for (i, f) in manifest
        .files
        .iter()
        .filter(|f| {
            matches!(
                f.role,
                FileRole::Spec | FileRole::ProbeSet | FileRole::Lexicon | FileRole::Corpus
            )
        })
        .enumerate()
    {
        let kind = match f.role {
            FileRole::Spec => "configuration",
            _ => "dataset",
        };
        components.push(json!({
            "type": "data",
            "bom-ref": format!("audit-input-{}", i + 1),
            "name": f.path,
            "hashes": [{ "alg": "SHA-256", "content": f.sha256 }],
            "data": [{ "type": kind, "name": f.path, "classification": "audit input" }],
        }));
    }

    let bom = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(manifest.audit_id.as_deref().unwrap_or("")),
        "version": 1,
        "metadata": {
            "tools": { "components": [{
                "type": "application",
                "name": manifest.tool.name,
                "version": manifest.tool.version,
            }] },
        },
        "components": components,
        "dependencies": [{
            "ref": "model",
            "dependsOn": (0..sources.len()).map(source_ref).collect::<Vec<_>>(),
        }],
    });
    let mut text = serde_json::to_string_pretty(&bom).expect("json");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::serial_number;

    #[test]
    fn serial_number_is_a_version_8_uuid_urn() {
        let id = "f26d5ea2c4b1e0ff00112233445566778899aabbccddeeff0011223344556677";
        let s = serial_number(id);
        assert_eq!(s, "urn:uuid:f26d5ea2-c4b1-80ff-8011-223344556677");
        assert_eq!(serial_number(id), s);
    }
}
