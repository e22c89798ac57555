//! Errors of the spec stage: each names the file and, where it can, the key path
//! and line at fault.

use crate::{Classify, FailureKind};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    File(#[from] super::toml_file::TomlFileError),
    #[error("{}: `{field}`: {message}", file.display())]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

impl Classify for SpecError {
    fn kind(&self) -> FailureKind {
        FailureKind::BadInput
    }
}
