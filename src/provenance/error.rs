//! Errors of the provenance stage.

use crate::{Classify, FailureKind};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", file.display())]
    Malformed { file: PathBuf, message: String },
}

impl ProvenanceError {
    pub fn io(file: &Path, source: std::io::Error) -> ProvenanceError {
        ProvenanceError::Io {
            file: file.to_path_buf(),
            source,
        }
    }
}

impl Classify for ProvenanceError {
    fn kind(&self) -> FailureKind {
        FailureKind::BadInput
    }
}
