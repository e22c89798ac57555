//! Group-fairness audit of a table of decisions: the engine behind
//! `probity fairness`. A CSV with one row per person (sensitive columns, a
//! 0/1 decision or a score, optionally the true 0/1 outcome) is streamed once
//! into confusion counts per group ([`table`]); everything else is computed
//! from those counts: per-group rates with Wilson intervals ([`metrics`]),
//! the disparity measures of Fairlearn, AIF360 and Aequitas under their own
//! names and definitions ([`disparities`]), the NYC Local Law 144 bias-audit
//! table ([`ll144`]) and stratified-bootstrap intervals of every disparity
//! ([`bootstrap`]). The result is one serialisable [`FairnessReport`] whose
//! field names are the metric names, so `--json` can print it as is.
//!
//! Working from counts is what keeps ten million rows in bounded memory: the
//! only per-row storage is the score column, and only when a median score is
//! needed (LL144's scoring rate, or a score without a threshold).
//!
//! Bad input is never a panic: it is a [`FairnessError`] naming the file and,
//! where there is one, the line and column.

pub mod bootstrap;
pub mod disparities;
pub mod ll144;
pub mod metrics;
pub mod outputs;
pub mod significance;
pub mod table;

#[cfg(test)]
mod reference_tests;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::stats::StatsError;

pub use bootstrap::BootstrapOptions;
pub use disparities::{Disparity, ReferenceRule};
pub use ll144::{Ll144Row, Ll144Section, Ll144Table};
pub use metrics::{Cells, GroupMetrics, Rate};
pub use table::{
    is_unknown_value, read_table, read_table_from, BadRow, Decision, GroupTable, Grouping,
    OnBadRow, TableOptions,
};

/// Why an audit could not be computed. Every variant about the input names
/// the file; row-level ones add the line and the column.
#[derive(Debug, thiserror::Error)]
pub enum FairnessError {
    #[error("cannot read {}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: the file is empty (no header line)", file.display())]
    Empty { file: PathBuf },
    #[error("{}, line 1: the header has no column `{column}` (its columns: {})", file.display(), columns.join(", "))]
    MissingColumn {
        file: PathBuf,
        column: String,
        columns: Vec<String>,
    },
    #[error("{}, line {line}, column `{column}`: not valid UTF-8 (the file must be UTF-8 encoded)", file.display())]
    Encoding {
        file: PathBuf,
        line: u64,
        column: String,
    },
    #[error("{}, line {line}, column `{column}`: {message}", file.display())]
    BadRow {
        file: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{}, line {line}: malformed CSV: {message}", file.display())]
    Csv {
        file: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}: no usable data rows ({skipped} bad rows skipped)", file.display())]
    NoRows { file: PathBuf, skipped: u64 },
    #[error("{}: {message}", file.display())]
    Invalid { file: PathBuf, message: String },
    #[error("invalid fairness options: {0}")]
    Options(String),
    #[error("{0}")]
    Stats(#[from] StatsError),
}

/// Everything `probity fairness` needs besides the file.
#[derive(Debug, Clone)]
pub struct FairnessOptions {
    pub table: TableOptions,
    /// Reference (privileged) value per group column, e.g. `("sex", "M")`.
    /// A grouping whose columns all have one uses that key; any other
    /// grouping falls back to [`ReferenceRule::HighestSelectionRate`].
    pub reference: Vec<(String, String)>,
    /// Confidence level of the Wilson intervals of per-group rates.
    pub confidence: f64,
    /// Bootstrap intervals of the disparities; `None` skips them.
    pub bootstrap: Option<BootstrapOptions>,
}

impl FairnessOptions {
    pub fn new(table: TableOptions) -> Self {
        Self {
            table,
            reference: Vec::new(),
            confidence: 0.95,
            bootstrap: None,
        }
    }
}

/// The complete audit, ready for `serde_json::to_string_pretty`.
#[derive(Debug, Clone, Serialize)]
pub struct FairnessReport {
    pub file: String,
    pub group_columns: Vec<String>,
    /// Which column decided and how: see [`table::Decision`].
    pub decision: DecisionInfo,
    pub label_column: Option<String>,
    pub rows_read: u64,
    pub rows_used: u64,
    pub skipped_rows: u64,
    /// The first few bad rows (at most [`table::MAX_BAD_ROW_MESSAGES`]).
    pub bad_rows: Vec<BadRow>,
    /// All rows as one group.
    pub overall: GroupMetrics,
    /// One entry per single column, then per intersection of columns.
    pub groupings: Vec<GroupingReport>,
    /// AIF360 `theil_index` over all individuals (needs labels).
    pub theil_index: Option<Disparity>,
    pub ll144: Ll144Table,
    pub bootstrap: Option<BootstrapOptions>,
}

/// How the 0/1 decision was obtained.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionInfo {
    /// `prediction`, `score_threshold` or `score_above_median`.
    pub kind: &'static str,
    pub column: String,
    pub threshold: Option<f64>,
    /// Median of all valid scores (score input only).
    pub median_score: Option<f64>,
}

/// Metrics and disparities for one way of grouping the rows.
#[derive(Debug, Clone, Serialize)]
pub struct GroupingReport {
    pub columns: Vec<String>,
    pub reference_group: Vec<String>,
    pub reference_rule: ReferenceRule,
    pub groups: Vec<GroupMetrics>,
    pub disparities: Vec<Disparity>,
}

impl FairnessReport {
    /// The grouping over exactly these columns, if audited.
    pub fn grouping(&self, columns: &[&str]) -> Option<&GroupingReport> {
        self.groupings.iter().find(|g| {
            g.columns
                .iter()
                .map(String::as_str)
                .eq(columns.iter().copied())
        })
    }
}

impl GroupingReport {
    /// A disparity by name, Fairlearn method and group (`None` for the
    /// aggregate ones).
    pub fn disparity(
        &self,
        library: &str,
        name: &str,
        method: Option<&str>,
        group: Option<&[&str]>,
    ) -> Option<&Disparity> {
        self.disparities.iter().find(|d| {
            d.library == library
                && d.name == name
                && d.method.as_deref() == method
                && match (&d.group, group) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.iter().map(String::as_str).eq(b.iter().copied()),
                    _ => false,
                }
        })
    }

    pub fn group(&self, key: &[&str]) -> Option<&GroupMetrics> {
        self.groups
            .iter()
            .find(|g| g.group.iter().map(String::as_str).eq(key.iter().copied()))
    }
}

/// Reads `path` and audits it: the whole pipeline of `probity fairness`.
pub fn audit_csv(path: &Path, options: &FairnessOptions) -> Result<FairnessReport, FairnessError> {
    let table = read_table(path, &options.table)?;
    build_report(&table, options)
}

/// Builds the report from an aggregated table (also used by tests that
/// construct tables from counts).
pub fn build_report(
    table: &GroupTable,
    options: &FairnessOptions,
) -> Result<FairnessReport, FairnessError> {
    if !(options.confidence > 0.0 && options.confidence < 1.0) {
        return Err(FairnessError::Stats(StatsError::Confidence(
            options.confidence,
        )));
    }
    let groupings = table.groupings();
    let overall_cells = table.overall();
    let overall = GroupMetrics::from_cells(
        Vec::new(),
        false,
        overall_cells,
        table.has_label,
        options.confidence,
    )?;

    let mut references = Vec::with_capacity(groupings.len());
    let mut reports = Vec::with_capacity(groupings.len());
    for grouping in &groupings {
        let cells = grouping.aggregate(&table.cells);
        let (reference, rule) = disparities::choose_reference(table, grouping, &cells, options)?;
        references.push(reference);
        let groups = grouping
            .keys
            .iter()
            .zip(&grouping.unknown)
            .zip(&cells)
            .map(|((key, &unknown), &c)| {
                GroupMetrics::from_cells(
                    key.clone(),
                    unknown,
                    c,
                    table.has_label,
                    options.confidence,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut disparities =
            disparities::describe(grouping, &cells, overall_cells, reference, table.has_label);
        significance::attach(&mut disparities, &grouping.keys, &cells);
        reports.push(GroupingReport {
            columns: grouping
                .columns
                .iter()
                .map(|&c| table.columns[c].clone())
                .collect(),
            reference_group: grouping.keys[reference].clone(),
            reference_rule: rule,
            groups,
            disparities,
        });
    }
    let mut theil_index = table
        .has_label
        .then(|| disparities::theil_disparity(overall_cells));

    if let Some(boot) = &options.bootstrap {
        bootstrap::attach_intervals(
            table,
            &groupings,
            &references,
            boot,
            &mut reports,
            theil_index.as_mut(),
        )?;
    }

    significance::adjust(reports.iter_mut().flat_map(|r| r.disparities.iter_mut()));
    let ll144 = ll144::from_table(table, &groupings);
    Ok(FairnessReport {
        file: table.file.display().to_string(),
        group_columns: table.columns.clone(),
        decision: DecisionInfo {
            kind: match &table.decision {
                Decision::Prediction { .. } => "prediction",
                Decision::Score {
                    threshold: Some(_), ..
                } => "score_threshold",
                Decision::Score {
                    threshold: None, ..
                } => "score_above_median",
            },
            column: table.decision.column().to_string(),
            threshold: match &table.decision {
                Decision::Score { threshold, .. } => *threshold,
                Decision::Prediction { .. } => None,
            },
            median_score: table.median_score,
        },
        label_column: table.label_column.clone(),
        rows_read: table.rows_read,
        rows_used: table.rows_used,
        skipped_rows: table.rows_skipped,
        bad_rows: table.bad_rows.clone(),
        overall,
        groupings: reports,
        theil_index,
        ll144,
        bootstrap: options.bootstrap.clone(),
    })
}

impl crate::Classify for FairnessError {
    fn kind(&self) -> crate::FailureKind {
        crate::FailureKind::BadInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn options(groups: &[&str], label: Option<&str>, on_bad_row: OnBadRow) -> FairnessOptions {
        FairnessOptions::new(TableOptions {
            group_columns: groups.iter().map(|s| s.to_string()).collect(),
            decision: Decision::Prediction {
                column: "pred".into(),
            },
            label: label.map(String::from),
            on_bad_row,
        })
    }

    #[test]
    fn single_group() {
        let f = write("sex,pred,y\nF,1,1\nF,0,1\nF,1,0\n");
        let r = audit_csv(f.path(), &options(&["sex"], Some("y"), OnBadRow::Fail)).unwrap();
        let g = &r.groupings[0];
        assert_eq!(g.groups.len(), 1);
        assert_eq!(g.reference_group, vec!["F"]);
        let dp = g
            .disparity(
                "fairlearn",
                "demographic_parity_difference",
                Some("between_groups"),
                None,
            )
            .unwrap();
        assert_eq!(dp.value, Some(0.0));
        assert!(g.disparities.iter().all(|d| d.group.is_none()));
        assert_eq!(r.ll144.sections[0].categories[0].impact_ratio, Some(1.0));
    }

    #[test]
    fn label_with_one_class_and_group_without_positives() {
        // Every label is 0: TPR/FNR/PPV-based measures undefined, FPR fine.
        let f = write("sex,pred,y\nF,1,0\nF,0,0\nM,1,0\nM,1,0\n");
        let mut o = options(&["sex"], Some("y"), OnBadRow::Fail);
        o.bootstrap = Some(BootstrapOptions {
            resamples: 50,
            seed: 1,
            confidence: 0.9,
        });
        let r = audit_csv(f.path(), &o).unwrap();
        let g = &r.groupings[0];
        assert!(g.groups.iter().all(|m| m.true_positive_rate.is_none()));
        assert!(g.groups.iter().all(|m| m.false_positive_rate.is_some()));
        let eo = g
            .disparity(
                "fairlearn",
                "equal_opportunity_difference",
                Some("between_groups"),
                None,
            )
            .unwrap();
        assert_eq!((eo.value, eo.interval), (None, None));
        assert_eq!(eo.undefined_replicates, Some(50));
        let eodds = g
            .disparity(
                "fairlearn",
                "equalized_odds_difference",
                Some("to_overall"),
                None,
            )
            .unwrap();
        assert_eq!(eodds.value, None);
        let fpr = g
            .disparity("aequitas", "fpr_disparity", None, Some(&["F"]))
            .unwrap();
        assert_eq!(fpr.value, Some(0.5));
        let json = serde_json::to_string_pretty(&r).unwrap();
        assert!(!json.contains("NaN") && json.contains("\"demographic_parity_ratio\""));
        // Theil index: no false negatives, b ∈ {1, 2}.
        assert!(r.theil_index.unwrap().value.unwrap() > 0.0);
    }

    #[test]
    fn bad_rows_through_the_pipeline() {
        let text = "sex,pred\nF,1\nM,maybe\nM,0\n,1\n";
        let f = write(text);
        let r = audit_csv(f.path(), &options(&["sex"], None, OnBadRow::Skip)).unwrap();
        assert_eq!((r.rows_read, r.rows_used, r.skipped_rows), (4, 3, 1));
        assert_eq!(
            r.bad_rows[0].to_string(),
            "line 3, column `pred`: prediction \"maybe\" is not 0 or 1"
        );
        // The empty sex value is its own, unknown, category.
        let g = &r.groupings[0];
        assert_eq!(g.groups[0].group, vec![""]);
        assert!(g.groups[0].unknown);
        assert_eq!(r.ll144.sections[0].unknown_count, 1);
        assert!(r.overall.true_positive_rate.is_none() && r.theil_index.is_none());
        let e = audit_csv(f.path(), &options(&["sex"], None, OnBadRow::Fail)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with(&f.path().display().to_string()), "{msg}");
        assert!(msg.contains("line 3, column `pred`"), "{msg}");
    }

    #[test]
    fn empty_file_missing_column_and_bad_reference() {
        let f = write("");
        let e = audit_csv(f.path(), &options(&["sex"], None, OnBadRow::Skip)).unwrap_err();
        assert!(matches!(e, FairnessError::Empty { .. }));
        let f = write("gender,pred\nF,1\n");
        let e = audit_csv(f.path(), &options(&["sex"], None, OnBadRow::Skip)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}, line 1: the header has no column `sex` (its columns: gender, pred)",
                f.path().display()
            )
        );
        let f = write("sex,pred\nF,1\nM,0\n");
        let mut o = options(&["sex"], None, OnBadRow::Skip);
        o.reference = vec![("sex".into(), "X".into())];
        assert!(audit_csv(f.path(), &o)
            .unwrap_err()
            .to_string()
            .contains("sex=X has no rows"));
        o.reference = vec![("age".into(), "X".into())];
        assert!(audit_csv(f.path(), &o)
            .unwrap_err()
            .to_string()
            .contains("`age`"));
        o.reference = vec![("sex".into(), "M".into())];
        let r = audit_csv(f.path(), &o).unwrap();
        assert_eq!(r.groupings[0].reference_rule, ReferenceRule::Given);
        let di = r.groupings[0]
            .disparity("aif360", "disparate_impact", None, Some(&["F"]))
            .unwrap();
        assert_eq!(di.value, None, "M selects nobody: division by zero");
        o.confidence = 1.0;
        assert!(matches!(
            audit_csv(f.path(), &o),
            Err(FairnessError::Stats(_))
        ));
    }
}
