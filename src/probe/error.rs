//! Errors of the probe stage: each names the probe or lexicon file and, where it
//! can, the line.

use crate::spec::toml_file::TomlFileError;
use crate::{Classify, FailureKind};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot read {}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Toml(#[from] TomlFileError),
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
}

impl Classify for ProbeError {
    fn kind(&self) -> FailureKind {
        FailureKind::BadInput
    }
}
