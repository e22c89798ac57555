//! probity: audits generative models for demographic bias before they ship.
//!
//! An audit is data flowing one way through six stages, one module each:
//! [`spec`] (the audit file) → [`probe`] (probe sets × the demographic lexicon) →
//! [`backend`] (the model) → [`run`] (scheduling, `responses.jsonl`) → [`metric`]
//! (group levels and findings, built on the pure [`stats`] library) → [`report`].
//! [`kinds`] adds the paired, generation, multiple-choice and association probe kinds.
//! [`provenance`] hashes every input and output into a tamper-evident manifest.
//! The binary (`src/main.rs`, [`cli`]) only parses arguments and calls these.

pub mod audit;
pub mod backend;
pub mod cli;
pub mod corpus;
pub mod fairness;
pub mod kinds;
pub mod metric;
pub mod overlap;
pub mod probe;
pub mod provenance;
pub mod report;
pub mod results;
pub mod run;
pub mod spec;
pub mod stats;

/// Whether a failure was caused by what the user gave us or by the model/runtime.
/// `main` turns this into the exit status (2 bad input, 3 runtime failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    BadInput,
    Runtime,
}

/// Every stage error says which kind of failure it is.
pub trait Classify {
    fn kind(&self) -> FailureKind;
}
