//! JUnit XML for CI servers: one test suite per probe set, variant and axis (or
//! decision-table grouping), one test case per finding and threshold gate, a
//! failure for each breach carrying the finding, a skip for each comparison with
//! too little data. Valid against the Jenkins/Ant `junit-10.xsd`
//! (`tests/schemas/`).

use super::escape::xml;
use super::view::{fmt_p, gap_measure, interval_text, Labels};
use crate::provenance::Manifest;
use crate::results::{Finding, Results, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The gates a finding is tested against, as (name, description). Each gives one
/// test case per finding.
fn gates(results: &Results) -> Vec<(String, String)> {
    let t = &results.thresholds;
    vec![(
        t.rule.clone(),
        match t.rule.as_str() {
            "significant_and_large" => format!(
                "not both significant (Holm p < {}) and large (|gap| > {})",
                t.alpha, t.max_abs_gap
            ),
            "large" => format!("|gap| <= {}", t.max_abs_gap),
            _ => format!("not significant (Holm p >= {})", t.alpha),
        },
    )]
}

fn detail(results: &Results, f: &Finding) -> String {
    format!(
        "{} {:+.4}, {}% interval {}, p {}, Holm p {} ({}), {} probes in {} scenarios; probe set {}, variant {}, axis {}, group {} vs reference {}",
        gap_measure(results),
        f.estimate,
        results.audit.confidence * 100.0,
        interval_text(f),
        fmt_p(f.p_value),
        fmt_p(f.p_adjusted),
        f.test,
        f.n,
        f.n_scenarios,
        f.probe_set,
        f.variant,
        f.axis,
        f.group,
        f.reference
    )
}

/// The JUnit XML document of an audit.
pub fn render(results: &Results, manifest: &Manifest) -> String {
    let labels = Labels::new(results);
    let gates = gates(results);
    let mut suites: BTreeMap<(String, String, String), Vec<&Finding>> = BTreeMap::new();
    for f in &results.findings {
        suites
            .entry((f.probe_set.clone(), f.variant.clone(), f.axis.clone()))
            .or_default()
            .push(f);
    }
    let count =
        |v: Verdict| results.findings.iter().filter(|f| f.verdict == v).count() * gates.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"0\">",
        xml(&format!("probity: {}", results.audit.name)),
        results.findings.len() * gates.len(),
        count(Verdict::Breach)
    );
    for ((set, variant, axis), findings) in &suites {
        let failures = findings
            .iter()
            .filter(|f| f.verdict == Verdict::Breach)
            .count();
        let skipped = findings
            .iter()
            .filter(|f| f.verdict == Verdict::InsufficientData)
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"0\">",
            xml(&format!("{set}.{variant}.{axis}")),
            findings.len() * gates.len(),
            failures * gates.len(),
            skipped * gates.len()
        );
        out.push_str("    <properties>\n");
        let mut property = |name: &str, value: &str| {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                xml(name),
                xml(value)
            );
        };
        property("audit_id", manifest.audit_id.as_deref().unwrap_or(""));
        if let Some(m) = &results.model {
            property("model", &m.name);
            property("model_sha256", &m.sha256);
        }
        property("seed", &manifest.seed.to_string());
        property("correction", &results.thresholds.correction);
        out.push_str("    </properties>\n");
        for f in findings {
            for (gate, description) in &gates {
                let name = format!(
                    "{} vs {}: {description}",
                    labels.of(&f.probe_set, &f.axis, &f.group),
                    labels.of(&f.probe_set, &f.axis, &f.reference)
                );
                let _ = write!(
                    out,
                    "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
                    xml(&name),
                    xml(&format!("probity.{set}.{variant}.{axis}.{gate}"))
                );
                match f.verdict {
                    Verdict::Pass => out.push_str("/>\n"),
                    Verdict::Breach => {
                        let _ = writeln!(
                            out,
                            ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                            xml(gate),
                            xml(&format!(
                                "{} {:+.3} {}, Holm p {}",
                                gap_measure(results),
                                f.estimate,
                                interval_text(f),
                                fmt_p(f.p_adjusted)
                            )),
                            xml(&detail(results, f))
                        );
                    }
                    Verdict::InsufficientData => {
                        let _ = writeln!(
                            out,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                            xml(&format!(
                                "too few scenarios to test ({} of at least {})",
                                f.n_scenarios, results.audit.min_scenarios
                            ))
                        );
                    }
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
