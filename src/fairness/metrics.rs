//! Per-group rates computed from confusion counts: selection rate always,
//! and with a label the error rates of a binary classifier (TPR, FPR, FNR,
//! TNR, PPV, NPV, FDR, FOR, accuracy), each with a Wilson interval
//! (`crate::stats::wilson_interval`).
//!
//! A rate whose denominator is zero (TPR of a group with no positives, PPV of
//! a group nobody was selected from) is `None`, never NaN and never 0:
//! sklearn-based libraries report 0 there (`zero_division=0`), which would
//! make an empty cell look like a real disparity.

use std::ops::{Add, AddAssign};

use serde::Serialize;

use crate::stats::{wilson_interval, Interval, StatsResult};

/// Confusion counts of one group: decision (selected or not) × true label.
/// Without a label column every row counts as label 0, so `fp` holds the
/// selected rows and `tn` the others; label-based rates are then not
/// computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cells {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tn: u64,
}

impl Cells {
    pub fn add(&mut self, selected: bool, label: bool) {
        match (selected, label) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    pub fn n(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }

    pub fn selected(&self) -> u64 {
        self.tp + self.fp
    }

    pub fn positives(&self) -> u64 {
        self.tp + self.fn_
    }

    pub fn negatives(&self) -> u64 {
        self.fp + self.tn
    }

    pub fn not_selected(&self) -> u64 {
        self.fn_ + self.tn
    }

    /// The cells in a fixed order (tp, fp, fn, tn), for resampling.
    pub fn as_array(&self) -> [u64; 4] {
        [self.tp, self.fp, self.fn_, self.tn]
    }

    pub fn from_array(a: [u64; 4]) -> Self {
        Self {
            tp: a[0],
            fp: a[1],
            fn_: a[2],
            tn: a[3],
        }
    }

    /// Point value of a rate, `None` when its denominator is zero.
    pub fn rate(&self, kind: RateKind) -> Option<f64> {
        let (num, den) = self.fraction(kind);
        (den > 0).then(|| num as f64 / den as f64)
    }

    /// Numerator and denominator of a rate.
    pub fn fraction(&self, kind: RateKind) -> (u64, u64) {
        use RateKind::*;
        match kind {
            Selection => (self.selected(), self.n()),
            Base => (self.positives(), self.n()),
            Tpr => (self.tp, self.positives()),
            Fpr => (self.fp, self.negatives()),
            Fnr => (self.fn_, self.positives()),
            Tnr => (self.tn, self.negatives()),
            Ppv => (self.tp, self.selected()),
            Npv => (self.tn, self.not_selected()),
            Fdr => (self.fp, self.selected()),
            For => (self.fn_, self.not_selected()),
            Accuracy => (self.tp + self.tn, self.n()),
        }
    }
}

impl Add for Cells {
    type Output = Cells;
    fn add(self, o: Cells) -> Cells {
        Cells {
            tp: self.tp + o.tp,
            fp: self.fp + o.fp,
            fn_: self.fn_ + o.fn_,
            tn: self.tn + o.tn,
        }
    }
}

impl AddAssign for Cells {
    fn add_assign(&mut self, o: Cells) {
        *self = *self + o;
    }
}

/// The rates a group row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKind {
    Selection,
    Base,
    Tpr,
    Fpr,
    Fnr,
    Tnr,
    Ppv,
    Npv,
    Fdr,
    For,
    Accuracy,
}

/// A proportion with its counts and Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub value: f64,
    pub numerator: u64,
    pub denominator: u64,
    pub interval: Interval,
}

impl Rate {
    /// `None` when the denominator is zero.
    pub fn of(cells: &Cells, kind: RateKind, confidence: f64) -> StatsResult<Option<Rate>> {
        let (numerator, denominator) = cells.fraction(kind);
        if denominator == 0 {
            return Ok(None);
        }
        Ok(Some(Rate {
            value: numerator as f64 / denominator as f64,
            numerator,
            denominator,
            interval: wilson_interval(numerator, denominator, confidence)?,
        }))
    }
}

/// One group's row of the report. The label-based fields are `None` without
/// a label column or where undefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupMetrics {
    /// One value per column of the grouping (empty for the overall row).
    pub group: Vec<String>,
    /// Some value of the key is an unknown category (see
    /// [`super::table::is_unknown_value`]).
    pub unknown: bool,
    pub n: u64,
    pub selected: u64,
    pub selection_rate: Option<Rate>,
    /// Counts of the confusion matrix (labels only).
    pub confusion: Option<Cells>,
    pub base_rate: Option<Rate>,
    pub true_positive_rate: Option<Rate>,
    pub false_positive_rate: Option<Rate>,
    pub false_negative_rate: Option<Rate>,
    pub true_negative_rate: Option<Rate>,
    pub positive_predictive_value: Option<Rate>,
    pub negative_predictive_value: Option<Rate>,
    pub false_discovery_rate: Option<Rate>,
    pub false_omission_rate: Option<Rate>,
    pub accuracy: Option<Rate>,
}

impl GroupMetrics {
    pub fn from_cells(
        group: Vec<String>,
        unknown: bool,
        cells: Cells,
        has_label: bool,
        confidence: f64,
    ) -> StatsResult<Self> {
        let labelled = |kind| -> StatsResult<Option<Rate>> {
            if has_label {
                Rate::of(&cells, kind, confidence)
            } else {
                Ok(None)
            }
        };
        Ok(Self {
            group,
            unknown,
            n: cells.n(),
            selected: cells.selected(),
            selection_rate: Rate::of(&cells, RateKind::Selection, confidence)?,
            confusion: has_label.then_some(cells),
            base_rate: labelled(RateKind::Base)?,
            true_positive_rate: labelled(RateKind::Tpr)?,
            false_positive_rate: labelled(RateKind::Fpr)?,
            false_negative_rate: labelled(RateKind::Fnr)?,
            true_negative_rate: labelled(RateKind::Tnr)?,
            positive_predictive_value: labelled(RateKind::Ppv)?,
            negative_predictive_value: labelled(RateKind::Npv)?,
            false_discovery_rate: labelled(RateKind::Fdr)?,
            false_omission_rate: labelled(RateKind::For)?,
            accuracy: labelled(RateKind::Accuracy)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_from_cells() {
        let c = Cells {
            tp: 30,
            fp: 10,
            fn_: 20,
            tn: 40,
        };
        let m = GroupMetrics::from_cells(vec!["F".into()], false, c, true, 0.95).unwrap();
        assert_eq!((m.n, m.selected), (100, 40));
        let v = |r: Option<Rate>| r.unwrap().value;
        assert_eq!(v(m.selection_rate), 0.4);
        assert_eq!(v(m.base_rate), 0.5);
        assert_eq!(v(m.true_positive_rate), 0.6);
        assert_eq!(v(m.false_positive_rate), 0.2);
        assert_eq!(v(m.false_negative_rate), 0.4);
        assert_eq!(v(m.true_negative_rate), 0.8);
        assert_eq!(v(m.positive_predictive_value), 0.75);
        assert_eq!(v(m.negative_predictive_value), 40.0 / 60.0);
        assert_eq!(v(m.false_discovery_rate), 0.25);
        assert_eq!(v(m.false_omission_rate), 20.0 / 60.0);
        assert_eq!(v(m.accuracy), 0.7);
        // statsmodels proportion_confint(40, 100, method='wilson').
        let ci = m.selection_rate.unwrap().interval;
        assert!((ci.low - 0.30940128643245896).abs() < 1e-12, "{ci:?}");
        assert!((ci.high - 0.49799741320893826).abs() < 1e-12, "{ci:?}");
    }

    #[test]
    fn undefined_rates_are_none() {
        // No positives: TPR and FNR undefined; nobody selected: PPV, FDR.
        let c = Cells {
            tp: 0,
            fp: 0,
            fn_: 0,
            tn: 5,
        };
        let m = GroupMetrics::from_cells(vec![], false, c, true, 0.95).unwrap();
        assert!(m.true_positive_rate.is_none() && m.false_negative_rate.is_none());
        assert!(m.positive_predictive_value.is_none() && m.false_discovery_rate.is_none());
        assert_eq!(m.false_positive_rate.unwrap().value, 0.0);
        assert_eq!(m.selection_rate.unwrap().interval.low, 0.0);
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("NaN"));
        // Without labels only the selection rate exists.
        let m = GroupMetrics::from_cells(vec![], false, c, false, 0.95).unwrap();
        assert!(m.confusion.is_none() && m.accuracy.is_none());
        assert!(m.selection_rate.is_some());
    }
}
