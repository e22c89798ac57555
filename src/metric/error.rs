//! Errors of the metric stage: the statistics library refused its input.

use crate::{Classify, FailureKind};

#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("statistics: {0}")]
    Stats(#[from] crate::stats::StatsError),
}

impl Classify for MetricError {
    fn kind(&self) -> FailureKind {
        FailureKind::Runtime
    }
}
