//! `probity fairness`: typed flags in, the fairness library, text or JSON out.

use super::commands::{bad_input, CliError, Status};
use super::FairnessArgs;
use crate::fairness::bootstrap::BootstrapOptions;
use crate::fairness::outputs::{self, Ll144Summary};
use crate::fairness::table::{Decision, OnBadRow, TableOptions};
use crate::fairness::{audit_csv, FairnessOptions, FairnessReport};
use crate::results::Verdict;
use crate::spec::{Rule, Thresholds};

pub fn fairness_command(args: FairnessArgs) -> Result<Status, CliError> {
    let decision = match (&args.prediction, &args.score) {
        (Some(column), None) => Decision::Prediction {
            column: column.clone(),
        },
        (None, Some(column)) => Decision::Score {
            column: column.clone(),
            threshold: args.threshold,
        },
        _ => {
            return Err(bad_input(anyhow::anyhow!(
                "give one of --prediction COLUMN or --score COLUMN"
            )))
        }
    };
    let mut reference = Vec::new();
    for r in &args.reference {
        match r.split_once('=') {
            Some((column, value)) => reference.push((column.to_string(), value.to_string())),
            None if args.groups.len() == 1 => reference.push((args.groups[0].clone(), r.clone())),
            None => {
                return Err(bad_input(anyhow::anyhow!(
                    "--reference `{r}`: with several --group columns write COLUMN=VALUE"
                )))
            }
        }
    }
    let valid = args.alpha > 0.0 && args.alpha < 1.0 && (0.0..=1.0).contains(&args.max_abs_gap);
    if !valid {
        return Err(bad_input(anyhow::anyhow!(
            "--alpha must be in (0, 1) and --max-abs-gap in [0, 1]"
        )));
    }
    let table = TableOptions {
        group_columns: args.groups.clone(),
        decision,
        label: args.label.clone(),
        on_bad_row: if args.on_bad_row == "skip" {
            OnBadRow::Skip
        } else {
            OnBadRow::Fail
        },
    };
    let mut options = FairnessOptions::new(table);
    options.reference = reference;
    options.bootstrap = (args.n_boot > 0).then_some(BootstrapOptions {
        resamples: args.n_boot,
        seed: args.seed,
        confidence: 0.95,
    });
    let report = audit_csv(&args.data, &options)?;
    let thresholds = Thresholds {
        max_abs_gap: args.max_abs_gap,
        alpha: args.alpha,
        rule: Rule::SignificantAndLarge,
        ..Thresholds::default()
    };
    let summary = Ll144Summary {
        audit_date: args.audit_date.clone(),
        data_source: args.data_source.clone(),
        data_explanation: args.data_explanation.clone(),
        distribution_date: args.distribution_date.clone(),
    };
    let results = outputs::to_results(&report, &thresholds, &summary, args.seed);
    if args.json {
        let value = results
            .fairness
            .clone()
            .expect("a fairness audit has its figures");
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    } else {
        print_text(&report, &summary);
    }
    if let Some(out) = &args.out {
        let parameters = serde_json::json!({
            "groups": args.groups, "prediction": args.prediction, "score": args.score,
            "threshold": args.threshold, "label": args.label, "reference": args.reference,
            "n_boot": args.n_boot, "on_bad_row": args.on_bad_row,
            "thresholds": thresholds,
        });
        let (manifest, path) = outputs::write(&results, &args.data, parameters, out)?;
        eprintln!("audit id: {}", manifest.audit_id.as_deref().unwrap_or(""));
        eprintln!("report: {}", path.display());
    }
    eprintln!(
        "verdict: {} ({} comparisons, {} breaches)",
        results.summary.verdict.as_str(),
        results.summary.n_findings,
        results.summary.n_breaches
    );
    Ok(if results.summary.verdict == Verdict::Breach {
        Status::Failed
    } else {
        Status::Ok
    })
}

fn pct(rate: Option<crate::fairness::metrics::Rate>) -> String {
    rate.map_or("—".into(), |r| {
        format!(
            "{:.3} [{:.3}, {:.3}]",
            r.value, r.interval.low, r.interval.high
        )
    })
}

fn print_text(report: &FairnessReport, summary: &Ll144Summary) {
    println!(
        "{}: {} rows used of {} read ({} skipped); decision: {} `{}`",
        report.file,
        report.rows_used,
        report.rows_read,
        report.skipped_rows,
        report.decision.kind,
        report.decision.column
    );
    for bad in &report.bad_rows {
        println!(
            "  skipped line {}, column `{}`: {}",
            bad.line, bad.column, bad.message
        );
    }
    for grouping in &report.groupings {
        println!(
            "\n== {} (reference: {})",
            grouping.columns.join(" × "),
            grouping.reference_group.join(" × ")
        );
        println!(
            "  {:<28} {:>8}  {:<24} {:<24} {:<24}",
            "group", "n", "selection rate", "TPR", "FPR"
        );
        for g in &grouping.groups {
            println!(
                "  {:<28} {:>8}  {:<24} {:<24} {:<24}",
                g.group.join(" × "),
                g.n,
                pct(g.selection_rate),
                pct(g.true_positive_rate),
                pct(g.false_positive_rate)
            );
        }
        for d in &grouping.disparities {
            let who = match (&d.group, &d.method) {
                (Some(g), _) => g.join(" × "),
                (None, Some(m)) => m.clone(),
                _ => String::new(),
            };
            let interval = d
                .interval
                .map_or(String::new(), |i| format!(" [{:.4}, {:.4}]", i.low, i.high));
            let p = match (d.p_value, d.p_adjusted) {
                (Some(p), Some(a)) => format!(
                    "  p {p:.3e}, Holm {a:.3e} ({})",
                    d.test.as_deref().unwrap_or("")
                ),
                _ => String::new(),
            };
            let flag = if d.flagged == Some(true) {
                "  FLAGGED"
            } else {
                ""
            };
            let value = d.value.map_or("undefined".into(), |v| format!("{v:.4}"));
            println!(
                "  {:<9} {:<32} {:<24} {value}{interval}{p}{flag}",
                d.library, d.name, who
            );
        }
    }
    println!("\n== NYC Local Law 144 bias audit ({})", report.ll144.rate);
    for (name, value) in [
        ("audit date", &summary.audit_date),
        ("source of the data", &summary.data_source),
        ("explanation of the data", &summary.data_explanation),
        ("distribution date of the tool", &summary.distribution_date),
    ] {
        println!("  {name}: {}", value.as_deref().unwrap_or("not stated"));
    }
    for section in &report.ll144.sections {
        println!("  -- {}", section.columns.join(" × "));
        for row in section.categories.iter().chain(&section.unknown_categories) {
            println!(
                "  {:<32} n {:>8}  rate {:.4}  impact ratio {:>5}{}{}{}",
                row.category.join(" × "),
                row.n,
                row.scoring_rate.or(row.selection_rate).unwrap_or(f64::NAN),
                row.impact_ratio_display.as_deref().unwrap_or("—"),
                row.p_value.map_or(String::new(), |p| format!(
                    "  p {p:.3e} ({})",
                    row.test.as_deref().unwrap_or("")
                )),
                if row.four_fifths_flag == Some(true) {
                    "  below four-fifths"
                } else {
                    ""
                },
                if row.under_2_percent {
                    "  (<2% of data)"
                } else {
                    ""
                }
            );
        }
    }
}
