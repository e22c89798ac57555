//! The bias-audit table of NYC Local Law 144 (DCWP rules, 6 RCNY §5-300 to
//! §5-303) for automated employment decision tools.
//!
//! For every category of each group column (e.g. sex, race/ethnicity) and of
//! every intersection of columns, §5-301 asks for the number of people, the
//! selection rate (share selected) or, for a tool that scores, the scoring
//! rate (share scoring above the median score of the whole sample), and the
//! impact ratio: the category's rate divided by the rate of the most
//! selected category. Choices made here, as the rules allow:
//!
//! * The median is that of every row with a valid score (NumPy's median),
//!   and "above" is strict.
//! * Unknown or empty categories (see `table::is_unknown_value`) are counted
//!   and reported in their own list with their rates, but get no impact ratio
//!   (§5-301(d) lets the auditor exclude them; counting them is required).
//! * A category under 2% of the data audited is flagged `under_2_percent`;
//!   its counts, rate and impact ratio are still published, but it cannot be
//!   the highest-rate category that every other is divided by (a handful of
//!   people would otherwise set the bar).
//! * Beside each ratio, the EEOC four-fifths flag: ratio < 0.8.
//!
//! `impact_ratio_display` prints the ratio at the rule's precision (two
//! decimals), e.g. the §5-301 worked example's 1.00 / 0.82.

use serde::Serialize;

use super::table::{Decision, GroupTable, Grouping};

/// Share of the data below which a category is flagged (§5-301(d)).
pub const SMALL_CATEGORY_SHARE: f64 = 0.02;

/// The whole LL144 table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ll144Table {
    /// `selection_rate` or `scoring_rate`: which rate the rows carry.
    pub rate: &'static str,
    /// The sample median the scoring rate is measured against.
    pub median_score: Option<f64>,
    /// Rows in the audit (the base of the 2% rule).
    pub total: u64,
    /// One per single column, then per intersection.
    pub sections: Vec<Ll144Section>,
}

/// The categories of one column or intersection of columns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ll144Section {
    pub columns: Vec<String>,
    /// The category whose rate is the impact ratios' denominator.
    pub highest_category: Option<Vec<String>>,
    pub categories: Vec<Ll144Row>,
    /// Unknown or empty categories: counted, not given impact ratios.
    pub unknown_categories: Vec<Ll144Row>,
    pub unknown_count: u64,
}

/// One category's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ll144Row {
    pub category: Vec<String>,
    pub n: u64,
    /// Selected, or scoring above the median.
    pub selected: u64,
    pub selection_rate: Option<f64>,
    pub scoring_rate: Option<f64>,
    pub share_of_data: f64,
    pub under_2_percent: bool,
    pub impact_ratio: Option<f64>,
    pub impact_ratio_display: Option<String>,
    /// EEOC four-fifths rule: impact ratio < 0.8.
    pub four_fifths_flag: Option<bool>,
    /// Beside the four-fifths rule, so that a small category's low ratio is not
    /// overstated: the test of equal rates against the highest category (chi-square,
    /// or Fisher's exact test where an expected count is below 5), unadjusted.
    pub test: Option<String>,
    pub p_value: Option<f64>,
}

/// One category's counts, the input of [`section`].
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryCount {
    pub category: Vec<String>,
    pub n: u64,
    pub selected: u64,
    pub unknown: bool,
}

/// Builds one section from counts. `scoring` chooses the rate's name;
/// `total` is the number of rows in the whole audit.
pub fn section(
    columns: Vec<String>,
    counts: &[CategoryCount],
    total: u64,
    scoring: bool,
) -> Ll144Section {
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    let rate = |c: &CategoryCount| (c.n > 0).then(|| c.selected as f64 / c.n as f64);
    // Highest rate among known categories of at least 2%; if every known
    // category is small, among all known ones. First in order on ties.
    let pick = |allow_small: bool| {
        counts
            .iter()
            .filter(|c| !c.unknown && (allow_small || share(c.n) >= SMALL_CATEGORY_SHARE))
            .filter_map(|c| rate(c).map(|r| (c, r)))
            .fold(
                None,
                |best: Option<(&CategoryCount, f64)>, (c, r)| match best {
                    Some((_, b)) if b >= r => best,
                    _ => Some((c, r)),
                },
            )
    };
    let highest = pick(false).or_else(|| pick(true));
    let top_rate = highest.map(|(_, r)| r).filter(|&r| r > 0.0);
    let row = |c: &CategoryCount| {
        let r = rate(c);
        let test = match highest {
            Some((top, _)) if !c.unknown && top.category != c.category => {
                super::significance::test_rows(&[
                    [c.selected, c.n - c.selected],
                    [top.selected, top.n - top.selected],
                ])
            }
            _ => None,
        };
        let impact_ratio = if c.unknown {
            None
        } else {
            match (r, top_rate) {
                (Some(r), Some(top)) => Some(r / top),
                _ => None,
            }
        };
        Ll144Row {
            category: c.category.clone(),
            n: c.n,
            selected: c.selected,
            selection_rate: if scoring { None } else { r },
            scoring_rate: if scoring { r } else { None },
            share_of_data: share(c.n),
            under_2_percent: share(c.n) < SMALL_CATEGORY_SHARE,
            impact_ratio,
            impact_ratio_display: impact_ratio.map(|v| format!("{v:.2}")),
            four_fifths_flag: impact_ratio.map(|v| v < 0.8),
            test: test.map(|t| t.0.to_string()),
            p_value: test.map(|t| t.1),
        }
    };
    Ll144Section {
        columns,
        highest_category: highest.map(|(c, _)| c.category.clone()),
        categories: counts.iter().filter(|c| !c.unknown).map(row).collect(),
        unknown_categories: counts.iter().filter(|c| c.unknown).map(row).collect(),
        unknown_count: counts.iter().filter(|c| c.unknown).map(|c| c.n).sum(),
    }
}

/// The table for every grouping of an aggregated file.
pub fn from_table(table: &GroupTable, groupings: &[Grouping]) -> Ll144Table {
    let scoring = matches!(table.decision, Decision::Score { .. });
    let ns: Vec<u64> = table.cells.iter().map(|c| c.n()).collect();
    let total: u64 = ns.iter().sum();
    let sections = groupings
        .iter()
        .map(|g| {
            let n = g.aggregate_counts(&ns);
            let selected = g.aggregate_counts(&table.ll144_selected);
            let counts: Vec<CategoryCount> = (0..g.keys.len())
                .map(|i| CategoryCount {
                    category: g.keys[i].clone(),
                    n: n[i],
                    selected: selected[i],
                    unknown: g.unknown[i],
                })
                .collect();
            let columns = g
                .columns
                .iter()
                .map(|&c| table.columns[c].clone())
                .collect();
            section(columns, &counts, total, scoring)
        })
        .collect();
    Ll144Table {
        rate: if scoring {
            "scoring_rate"
        } else {
            "selection_rate"
        },
        median_score: table.median_score,
        total,
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(name: &str, n: u64, selected: u64) -> CategoryCount {
        CategoryCount {
            category: vec![name.to_string()],
            n,
            selected,
            unknown: super::super::table::is_unknown_value(name),
        }
    }

    fn displays(s: &Ll144Section) -> Vec<String> {
        s.categories
            .iter()
            .map(|r| r.impact_ratio_display.clone().unwrap())
            .collect()
    }

    /// 6 RCNY §5-301, example for a tool that scores: counts of applicants
    /// scoring above the sample median, impact ratios as printed there.
    #[test]
    fn dcwp_worked_example() {
        let sex = [count("Male", 92, 50), count("Female", 76, 34)];
        let s = section(vec!["sex".into()], &sex, 168, true);
        assert_eq!(displays(&s), ["1.00", "0.82"]);
        assert_eq!(s.highest_category, Some(vec!["Male".to_string()]));
        assert_eq!(
            s.categories[1].four_fifths_flag,
            Some(false),
            "0.82 passes four-fifths"
        );
        let rate = s.categories[0].scoring_rate.unwrap();
        assert_eq!(format!("{:.1}%", rate * 100.0), "54.3%");
        assert!(s.categories[0].selection_rate.is_none());

        let race = [
            count("Hispanic or Latino", 28, 18),
            count("White", 40, 15),
            count("Black or African American", 32, 16),
        ];
        let s = section(vec!["race".into()], &race, 100, true);
        assert_eq!(displays(&s), ["1.00", "0.58", "0.78"]);
        let flags: Vec<_> = s.categories.iter().map(|r| r.four_fifths_flag).collect();
        assert_eq!(flags, [Some(false), Some(true), Some(true)]);
    }

    #[test]
    fn unknown_and_small_categories() {
        let counts = [
            count("A", 500, 100),
            count("B", 480, 200),
            count("C", 10, 9), // 1% of the data, highest rate
            count("", 10, 1),
        ];
        let s = section(vec!["x".into()], &counts, 1000, false);
        // C is flagged and may not set the bar; B does.
        assert_eq!(s.highest_category, Some(vec!["B".to_string()]));
        let c = &s.categories[2];
        assert!(c.under_2_percent);
        assert!((c.impact_ratio.unwrap() - 0.9 / (200.0 / 480.0)).abs() < 1e-15);
        assert_eq!(s.unknown_count, 10);
        assert_eq!(s.unknown_categories.len(), 1);
        assert_eq!(s.unknown_categories[0].impact_ratio, None);
        assert_eq!(s.unknown_categories[0].selection_rate, Some(0.1));
        assert_eq!(s.categories.len(), 3);
        // Nobody selected: no ratios, no NaN.
        let s = section(
            vec!["x".into()],
            &[count("A", 5, 0), count("B", 5, 0)],
            10,
            false,
        );
        assert!(s.categories.iter().all(|r| r.impact_ratio.is_none()));
    }
}
