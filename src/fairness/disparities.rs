//! Disparity measures under the names and definitions of the three libraries
//! auditors use, computed from group confusion counts.
//!
//! * Fairlearn (`fairlearn/metrics/_fairness_metrics.py`, `MetricFrame`
//!   `difference`/`ratio` in `_disaggregated_result.py`):
//!   `demographic_parity_*` on the selection rate, `equal_opportunity_*` on
//!   TPR, `equalized_odds_*` the worst of TPR and FPR (`agg="worst_case"`:
//!   the larger difference, the smaller ratio). `between_groups`: difference
//!   = max − min, ratio = min / max. `to_overall`: difference = max |g − o|,
//!   ratio = min over groups of g/o folded below 1 (g/o > 1 → o/g), where o
//!   is the metric over all rows.
//! * AIF360 (`ClassificationMetric`): unprivileged = each non-reference
//!   group, privileged = the reference group;
//!   `statistical_parity_difference` = SR_u − SR_p, `disparate_impact` =
//!   SR_u / SR_p, `average_odds_difference` = ½((FPR_u − FPR_p) + (TPR_u −
//!   TPR_p)); `theil_index` = generalised entropy with α = 1 over all
//!   individuals with benefit b = ŷ − y + 1, i.e. b = 1 for TP and TN, 2 for
//!   FP, 0 for FN, so it follows from the four counts.
//! * Aequitas (`bias.py`): `<metric>_disparity` = metric_group /
//!   metric_reference for ppr (share of all selections), pprev (selection
//!   rate), precision, fdr, for, fpr, fnr, tpr, tnr, npv, flagged when
//!   outside Aequitas' default parity band [0.8, 1.25].
//!
//! The reference group is the one the caller names or, by default, the known
//! (not unknown-valued) group with the highest selection rate, first in sort
//! order on ties: the group an adverse-impact analysis compares everyone
//! against. Where a library would divide by zero or compare an undefined
//! rate (Fairlearn reports an undefined TPR as 0) the value here is `None`
//! and groups with an undefined rate are left out of max/min.

use serde::Serialize;

use super::metrics::{Cells, RateKind};
use super::table::{GroupTable, Grouping};
use super::{FairnessError, FairnessOptions};
use crate::stats::Interval;

/// How the reference group was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceRule {
    HighestSelectionRate,
    Given,
}

/// One disparity value of one library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disparity {
    /// `fairlearn`, `aif360` or `aequitas`.
    pub library: String,
    /// The library's own name, e.g. `demographic_parity_ratio`.
    pub name: String,
    /// Fairlearn's `method`: `between_groups` or `to_overall`.
    pub method: Option<String>,
    /// The compared (unprivileged) group for per-group measures.
    pub group: Option<Vec<String>>,
    /// The reference (privileged) group for per-group measures.
    pub reference: Option<Vec<String>>,
    /// `None` where undefined (a zero denominator or an undefined rate).
    pub value: Option<f64>,
    /// The rule's verdict where there is one: four-fifths (`disparate_impact`
    /// < 0.8) or Aequitas' band (outside [0.8, 1.25]); true = flagged.
    pub flagged: Option<bool>,
    /// Bootstrap percentile interval, when requested and defined.
    pub interval: Option<Interval>,
    /// Bootstrap replicates in which the measure was undefined (left out of
    /// the interval).
    pub undefined_replicates: Option<u64>,
    /// The test of equal rates behind the disparity (see `significance`).
    pub test: Option<String>,
    pub p_value: Option<f64>,
    /// Holm-adjusted across every tested disparity of the report.
    pub p_adjusted: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Flag {
    None,
    FourFifths,
    AequitasBand,
}

impl Flag {
    fn apply(self, value: Option<f64>) -> Option<bool> {
        let v = value?;
        match self {
            Flag::None => None,
            Flag::FourFifths => Some(v < 0.8),
            Flag::AequitasBand => Some(!(0.8..=1.25).contains(&v)),
        }
    }
}

/// What a value is, without its strings, so the bootstrap can enumerate the
/// same measures cheaply in every replicate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub library: &'static str,
    pub name: &'static str,
    pub method: Option<&'static str>,
    pub group: Option<usize>,
    pub flag: Flag,
}

const METHODS: [&str; 2] = ["between_groups", "to_overall"];

/// Calls `f` for every disparity of one grouping, always in the same order
/// for the same number of groups and `has_label`.
pub(crate) fn visit(
    cells: &[Cells],
    overall: Cells,
    reference: usize,
    has_label: bool,
    mut f: impl FnMut(Spec, Option<f64>),
) {
    let rates = |kind| cells.iter().map(|c| c.rate(kind)).collect::<Vec<_>>();
    let sel = rates(RateKind::Selection);
    let (tpr, fpr) = if has_label {
        (rates(RateKind::Tpr), rates(RateKind::Fpr))
    } else {
        (Vec::new(), Vec::new())
    };
    let fairlearn = |name, method, value| {
        (
            Spec {
                library: "fairlearn",
                name,
                method: Some(method),
                group: None,
                flag: Flag::None,
            },
            value,
        )
    };
    for method in METHODS {
        let to_overall = method == "to_overall";
        let o_sel = overall.rate(RateKind::Selection);
        let (s, v) = fairlearn(
            "demographic_parity_difference",
            method,
            difference(&sel, o_sel, to_overall),
        );
        f(s, v);
        let (s, v) = fairlearn(
            "demographic_parity_ratio",
            method,
            ratio(&sel, o_sel, to_overall),
        );
        f(s, v);
        if has_label {
            let o_tpr = overall.rate(RateKind::Tpr);
            let o_fpr = overall.rate(RateKind::Fpr);
            let tpr_d = difference(&tpr, o_tpr, to_overall);
            let fpr_d = difference(&fpr, o_fpr, to_overall);
            let tpr_r = ratio(&tpr, o_tpr, to_overall);
            let fpr_r = ratio(&fpr, o_fpr, to_overall);
            let both =
                |a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64| Some(pick(a?, b?));
            let items = [
                ("equalized_odds_difference", both(tpr_d, fpr_d, f64::max)),
                ("equalized_odds_ratio", both(tpr_r, fpr_r, f64::min)),
                ("equal_opportunity_difference", tpr_d),
                ("equal_opportunity_ratio", tpr_r),
            ];
            for (name, value) in items {
                let (s, v) = fairlearn(name, method, value);
                f(s, v);
            }
        }
    }

    let r = &cells[reference];
    let per_group = |library, name, group, flag| Spec {
        library,
        name,
        method: None,
        group: Some(group),
        flag,
    };
    let total_selected: u64 = cells.iter().map(Cells::selected).sum();
    for (g, c) in cells.iter().enumerate() {
        if g == reference {
            continue;
        }
        let sub = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        let div = |a: Option<f64>, b: Option<f64>| {
            let (a, b) = (a?, b?);
            (b != 0.0).then(|| a / b)
        };
        let (sel_g, sel_r) = (sel[g], sel[reference]);
        f(
            per_group("aif360", "statistical_parity_difference", g, Flag::None),
            sub(sel_g, sel_r),
        );
        f(
            per_group("aif360", "disparate_impact", g, Flag::FourFifths),
            div(sel_g, sel_r),
        );
        if has_label {
            let aod = match (sub(fpr[g], fpr[reference]), sub(tpr[g], tpr[reference])) {
                (Some(a), Some(b)) => Some(0.5 * (a + b)),
                _ => None,
            };
            f(
                per_group("aif360", "average_odds_difference", g, Flag::None),
                aod,
            );
        }
        // Aequitas' ppr is the group's share of all selections; its ratio is
        // computed as Aequitas does, share over share.
        let share =
            |c: &Cells| (total_selected > 0).then(|| c.selected() as f64 / total_selected as f64);
        f(
            per_group("aequitas", "ppr_disparity", g, Flag::AequitasBand),
            div(share(c), share(r)),
        );
        f(
            per_group("aequitas", "pprev_disparity", g, Flag::AequitasBand),
            div(sel_g, sel_r),
        );
        if has_label {
            let items = [
                ("precision_disparity", RateKind::Ppv),
                ("fdr_disparity", RateKind::Fdr),
                ("for_disparity", RateKind::For),
                ("fpr_disparity", RateKind::Fpr),
                ("fnr_disparity", RateKind::Fnr),
                ("tpr_disparity", RateKind::Tpr),
                ("tnr_disparity", RateKind::Tnr),
                ("npv_disparity", RateKind::Npv),
            ];
            for (name, kind) in items {
                f(
                    per_group("aequitas", name, g, Flag::AequitasBand),
                    div(c.rate(kind), r.rate(kind)),
                );
            }
        }
    }
}

/// Fairlearn's `MetricFrame.difference`, skipping undefined groups.
fn difference(values: &[Option<f64>], overall: Option<f64>, to_overall: bool) -> Option<f64> {
    let defined = || values.iter().flatten().copied();
    if to_overall {
        let o = overall?;
        defined().map(|v| (v - o).abs()).reduce(f64::max)
    } else {
        let max = defined().reduce(f64::max)?;
        let min = defined().reduce(f64::min)?;
        Some(max - min)
    }
}

/// Fairlearn's `MetricFrame.ratio`, skipping undefined groups; `None` where
/// it would divide by zero.
fn ratio(values: &[Option<f64>], overall: Option<f64>, to_overall: bool) -> Option<f64> {
    let defined = || values.iter().flatten().copied();
    if to_overall {
        let o = overall?;
        if o == 0.0 {
            return None;
        }
        defined()
            .map(|v| {
                let r = v / o;
                if r > 1.0 {
                    1.0 / r
                } else {
                    r
                }
            })
            .reduce(f64::min)
    } else {
        let max = defined().reduce(f64::max)?;
        let min = defined().reduce(f64::min)?;
        (max != 0.0).then(|| min / max)
    }
}

/// AIF360 `generalized_entropy_index(alpha=1)` (`theil_index`) from counts:
/// mean of (b/μ) ln(b/μ) with b = 1 (TP, TN), 2 (FP), 0 (FN, contributing
/// 0). `None` when μ = 0 (every row a false negative) or no rows.
pub fn theil_index(c: Cells) -> Option<f64> {
    if c.n() == 0 {
        return None;
    }
    let n = c.n() as f64;
    let ones = (c.tp + c.tn) as f64;
    let twos = c.fp as f64;
    let mu = (ones + 2.0 * twos) / n;
    if mu <= 0.0 {
        return None;
    }
    let term = |b: f64| (b / mu) * (b / mu).ln();
    Some((ones * term(1.0) + twos * term(2.0)) / n)
}

pub(crate) fn theil_disparity(overall: Cells) -> Disparity {
    Disparity {
        library: "aif360".into(),
        name: "theil_index".into(),
        method: None,
        group: None,
        reference: None,
        value: theil_index(overall),
        flagged: None,
        interval: None,
        undefined_replicates: None,
        test: None,
        p_value: None,
        p_adjusted: None,
    }
}

/// The disparities of one grouping, with their group names.
pub(crate) fn describe(
    grouping: &Grouping,
    cells: &[Cells],
    overall: Cells,
    reference: usize,
    has_label: bool,
) -> Vec<Disparity> {
    let mut out = Vec::new();
    visit(cells, overall, reference, has_label, |spec, value| {
        out.push(Disparity {
            library: spec.library.into(),
            name: spec.name.into(),
            method: spec.method.map(String::from),
            group: spec.group.map(|g| grouping.keys[g].clone()),
            reference: spec.group.map(|_| grouping.keys[reference].clone()),
            value,
            flagged: spec.flag.apply(value),
            interval: None,
            undefined_replicates: None,
            test: None,
            p_value: None,
            p_adjusted: None,
        })
    });
    out
}

/// The reference group of a grouping: the caller's (every column of the
/// grouping must have a reference value) or the highest selection rate.
pub(crate) fn choose_reference(
    table: &GroupTable,
    grouping: &Grouping,
    cells: &[Cells],
    options: &FairnessOptions,
) -> Result<(usize, ReferenceRule), FairnessError> {
    for (column, _) in &options.reference {
        if !table.columns.contains(column) {
            return Err(FairnessError::Options(format!(
                "reference column `{column}` is not a group column ({})",
                table.columns.join(", ")
            )));
        }
    }
    let given: Option<Vec<&str>> = grouping
        .columns
        .iter()
        .map(|&c| {
            options
                .reference
                .iter()
                .find(|(col, _)| *col == table.columns[c])
                .map(|(_, v)| v.trim())
        })
        .collect();
    if let Some(key) = given {
        let found = grouping
            .keys
            .iter()
            .position(|k| k.iter().map(String::as_str).eq(key.iter().copied()));
        return match found {
            Some(i) => Ok((i, ReferenceRule::Given)),
            None => Err(FairnessError::Options(format!(
                "reference group {} has no rows in {}",
                grouping
                    .columns
                    .iter()
                    .zip(&key)
                    .map(|(&c, v)| format!("{}={v}", table.columns[c]))
                    .collect::<Vec<_>>()
                    .join(", "),
                table.file.display()
            ))),
        };
    }
    let any_known = grouping.unknown.iter().any(|u| !u);
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in cells.iter().enumerate() {
        if any_known && grouping.unknown[i] {
            continue;
        }
        let Some(rate) = c.rate(RateKind::Selection) else {
            continue;
        };
        if best.is_none_or(|(_, b)| rate > b) {
            best = Some((i, rate));
        }
    }
    Ok((
        best.map_or(0, |(i, _)| i),
        ReferenceRule::HighestSelectionRate,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(tp: u64, fp: u64, fn_: u64, tn: u64) -> Cells {
        Cells { tp, fp, fn_, tn }
    }

    fn collect(cells: &[Cells], reference: usize, has_label: bool) -> Vec<(Spec, Option<f64>)> {
        let overall = cells.iter().fold(Cells::default(), |a, &c| a + c);
        let mut out = Vec::new();
        visit(cells, overall, reference, has_label, |s, v| {
            out.push((s, v))
        });
        out
    }

    fn find(
        v: &[(Spec, Option<f64>)],
        name: &str,
        method: Option<&str>,
        group: Option<usize>,
    ) -> Option<f64> {
        v.iter()
            .find(|(s, _)| s.name == name && s.method == method && s.group == group)
            .unwrap_or_else(|| panic!("{name} {method:?} {group:?} missing"))
            .1
    }

    #[test]
    fn hand_computed_values() {
        // A: SR 0.5, TPR 0.8, FPR 0.2; B: SR 0.25, TPR 0.4, FPR 0.1.
        let cs = [cells(40, 10, 10, 40), cells(20, 5, 30, 45)];
        let v = collect(&cs, 0, true);
        let bg = Some("between_groups");
        let to = Some("to_overall");
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-15;
        assert!(close(
            find(&v, "demographic_parity_difference", bg, None),
            0.25
        ));
        assert!(close(find(&v, "demographic_parity_ratio", bg, None), 0.5));
        // Overall SR 0.375: |0.5 − 0.375| = 0.125; ratios 0.75 and 0.375/0.5.
        assert!(close(
            find(&v, "demographic_parity_difference", to, None),
            0.125
        ));
        assert!(close(
            find(&v, "demographic_parity_ratio", to, None),
            0.25 / 0.375
        ));
        assert!(close(find(&v, "equalized_odds_difference", bg, None), 0.4));
        assert!(close(find(&v, "equalized_odds_ratio", bg, None), 0.5));
        assert!(close(
            find(&v, "equal_opportunity_difference", bg, None),
            0.4
        ));
        assert!(close(
            find(&v, "statistical_parity_difference", None, Some(1)),
            -0.25
        ));
        assert!(close(find(&v, "disparate_impact", None, Some(1)), 0.5));
        assert!(close(
            find(&v, "average_odds_difference", None, Some(1)),
            0.5 * (-0.1 - 0.4)
        ));
        assert!(close(find(&v, "fpr_disparity", None, Some(1)), 0.5));
        assert!(close(find(&v, "ppr_disparity", None, Some(1)), 0.5));
        // The reference group is not compared with itself.
        assert!(v.iter().all(|(s, _)| s.group != Some(0)));
        assert_eq!(Flag::FourFifths.apply(Some(0.5)), Some(true));
        assert_eq!(Flag::AequitasBand.apply(Some(1.25)), Some(false));
        assert_eq!(Flag::AequitasBand.apply(Some(1.26)), Some(true));
    }

    #[test]
    fn group_without_positives_is_left_out() {
        // B has no positives: its TPR is undefined, not 0.
        let cs = [
            cells(40, 10, 10, 40),
            cells(0, 5, 0, 45),
            cells(30, 0, 20, 50),
        ];
        let v = collect(&cs, 0, true);
        let eo = find(
            &v,
            "equal_opportunity_difference",
            Some("between_groups"),
            None,
        )
        .unwrap();
        assert!((eo - 0.2).abs() < 1e-15, "{eo}");
        assert_eq!(find(&v, "tpr_disparity", None, Some(1)), None);
        assert_eq!(find(&v, "average_odds_difference", None, Some(1)), None);
        assert!(find(&v, "fpr_disparity", None, Some(1)).is_some());
    }

    #[test]
    fn single_group_and_zero_rates() {
        let v = collect(&[cells(3, 2, 1, 4)], 0, true);
        assert_eq!(
            find(
                &v,
                "demographic_parity_difference",
                Some("between_groups"),
                None
            ),
            Some(0.0)
        );
        assert_eq!(
            find(&v, "demographic_parity_ratio", Some("to_overall"), None),
            Some(1.0)
        );
        assert!(v.iter().all(|(s, _)| s.group.is_none()));
        // Nobody selected anywhere: ratios undefined, differences 0.
        let v = collect(&[cells(0, 0, 5, 5), cells(0, 0, 2, 8)], 0, true);
        assert_eq!(
            find(&v, "demographic_parity_ratio", Some("between_groups"), None),
            None
        );
        assert_eq!(
            find(&v, "demographic_parity_ratio", Some("to_overall"), None),
            None
        );
        assert_eq!(
            find(
                &v,
                "demographic_parity_difference",
                Some("to_overall"),
                None
            ),
            Some(0.0)
        );
        assert_eq!(find(&v, "disparate_impact", None, Some(1)), None);
        assert_eq!(find(&v, "ppr_disparity", None, Some(1)), None);
    }

    #[test]
    fn theil_matches_direct_formula() {
        // b: 3 ones (TP, TN), 1 two (FP), 1 zero (FN); μ = 1.
        let t = theil_index(cells(2, 1, 1, 1)).unwrap();
        let expected = (2.0 * 2f64.ln()) / 5.0;
        assert!((t - expected).abs() < 1e-15);
        assert_eq!(theil_index(cells(0, 0, 3, 0)), None);
        assert_eq!(theil_index(cells(5, 0, 0, 5)), Some(0.0));
    }
}
