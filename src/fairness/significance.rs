//! A significance test for every disparity, adjusted across the table.
//!
//! Fairlearn reports disparities without uncertainty, AIF360 without tests, and
//! Aequitas with unadjusted t-tests; here each disparity carries the p-value of the
//! null it speaks to — equal rates — computed from the counts behind it:
//! - a per-group disparity (AIF360, Aequitas) compares its group with the reference
//!   group in a 2×2 table: Pearson's chi-square, or Fisher's exact test where an
//!   expected count is below 5;
//! - a Fairlearn disparity (worst case over all groups) is tested by the chi-square
//!   test of independence of the k×2 table of every group with a defined rate
//!   (Fisher's exact test when only two groups are left and an expected count is
//!   below 5);
//! - a disparity of two rates at once (equalized odds, average odds) takes the
//!   union of the two tests, Bonferroni-combined: p = min(1, 2 · min(p_TPR, p_FPR)).
//!
//! Aequitas' `ppr_disparity` (shares of all selections, which depend on group sizes)
//! and the Theil index (not a comparison) get no test. p-values are then adjusted by
//! Holm's method across every tested disparity of the report.

use super::disparities::Disparity;
use super::metrics::Cells;
use crate::stats;

/// The two counts (successes, failures) a rate is made of.
#[derive(Debug, Clone, Copy)]
enum Basis {
    Selection,
    Tpr,
    Fpr,
    Ppv,
    Npv,
}

impl Basis {
    fn counts(self, c: &Cells) -> [u64; 2] {
        match self {
            Basis::Selection => [c.selected(), c.not_selected()],
            Basis::Tpr => [c.tp, c.fn_],
            Basis::Fpr => [c.fp, c.tn],
            Basis::Ppv => [c.tp, c.fp],
            Basis::Npv => [c.tn, c.fn_],
        }
    }
}

/// Which rates a disparity compares; empty when it gets no test.
fn bases(name: &str) -> &'static [Basis] {
    match name {
        "demographic_parity_difference"
        | "demographic_parity_ratio"
        | "statistical_parity_difference"
        | "disparate_impact"
        | "pprev_disparity" => &[Basis::Selection],
        "equal_opportunity_difference"
        | "equal_opportunity_ratio"
        | "tpr_disparity"
        | "fnr_disparity" => &[Basis::Tpr],
        "fpr_disparity" | "tnr_disparity" => &[Basis::Fpr],
        "equalized_odds_difference" | "equalized_odds_ratio" | "average_odds_difference" => {
            &[Basis::Tpr, Basis::Fpr]
        }
        "precision_disparity" | "fdr_disparity" => &[Basis::Ppv],
        "npv_disparity" | "for_disparity" => &[Basis::Npv],
        _ => &[],
    }
}

/// A test of equal rates across the rows of a k×2 table: (test name, p-value), or
/// None where no test is defined (fewer than two rows with counts, or a margin of 0).
pub fn test_rows(rows: &[[u64; 2]]) -> Option<(&'static str, f64)> {
    let rows: Vec<[u64; 2]> = rows.iter().copied().filter(|r| r[0] + r[1] > 0).collect();
    if rows.len() < 2 || rows.iter().all(|r| r[0] == 0) || rows.iter().all(|r| r[1] == 0) {
        return None;
    }
    let chi = stats::chi_square_independence(&rows).ok()?;
    if rows.len() == 2 && chi.min_expected() < 5.0 {
        let f = stats::fisher_exact_2x2(rows[0][0], rows[0][1], rows[1][0], rows[1][1]).ok()?;
        return Some(("fisher_exact", f.p_value));
    }
    Some(("chi_square", chi.p_value))
}

/// Tests every disparity of one grouping (`cells[i]` = the counts of `keys[i]`).
pub(crate) fn attach(disparities: &mut [Disparity], keys: &[Vec<String>], cells: &[Cells]) {
    let index_of = |key: &Vec<String>| keys.iter().position(|k| k == key);
    for d in disparities.iter_mut() {
        let bases = bases(&d.name);
        if bases.is_empty() {
            continue;
        }
        let members: Vec<usize> = match (&d.group, &d.reference) {
            (Some(g), Some(r)) => match (index_of(g), index_of(r)) {
                (Some(g), Some(r)) => vec![g, r],
                _ => continue,
            },
            _ => (0..cells.len()).collect(),
        };
        let tests: Vec<(&str, f64)> = bases
            .iter()
            .filter_map(|b| {
                test_rows(
                    &members
                        .iter()
                        .map(|&i| b.counts(&cells[i]))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        if tests.len() != bases.len() {
            continue;
        }
        let (name, p) = if tests.len() == 1 {
            (tests[0].0.to_string(), tests[0].1)
        } else {
            let min = tests.iter().map(|t| t.1).fold(1.0, f64::min);
            let names: Vec<&str> = tests.iter().map(|t| t.0).collect();
            (
                format!("bonferroni({})", names.join(", ")),
                (min * tests.len() as f64).min(1.0),
            )
        };
        d.test = Some(name);
        d.p_value = Some(p);
    }
}

/// Holm's adjustment across every tested disparity, in place.
pub(crate) fn adjust<'a>(disparities: impl Iterator<Item = &'a mut Disparity>) {
    let mut tested: Vec<&mut Disparity> = disparities.filter(|d| d.p_value.is_some()).collect();
    let raw: Vec<f64> = tested
        .iter()
        .map(|d| d.p_value.expect("filtered"))
        .collect();
    for (d, p) in tested.iter_mut().zip(stats::holm(&raw)) {
        d.p_adjusted = Some(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_two_by_two_tables_use_fisher() {
        let (name, p) = test_rows(&[[3, 1], [1, 3]]).unwrap();
        assert_eq!(name, "fisher_exact");
        // scipy.stats.fisher_exact([[3, 1], [1, 3]]) = 0.48571428571428565
        assert!((p - 0.48571428571428565).abs() < 1e-12);
        let (name, p) = test_rows(&[[50, 42], [34, 42]]).unwrap();
        assert_eq!(name, "chi_square");
        // scipy.stats.chi2_contingency([[50, 42], [34, 42]], correction=False).pvalue
        assert!((p - 0.21495191504220346).abs() < 1e-12, "{p}");
    }

    #[test]
    fn undefined_tables_get_no_test() {
        assert!(test_rows(&[[0, 5], [0, 7]]).is_none());
        assert!(test_rows(&[[3, 5], [0, 0]]).is_none());
        assert!(test_rows(&[[3, 5]]).is_none());
    }

    #[test]
    fn names_map_to_their_rates() {
        assert_eq!(bases("disparate_impact").len(), 1);
        assert_eq!(bases("equalized_odds_ratio").len(), 2);
        assert!(bases("ppr_disparity").is_empty());
        assert!(bases("theil_index").is_empty());
    }
}
