//! Errors of the run stage.

use crate::backend::BackendError;
use crate::{Classify, FailureKind};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// A replayed recording that cannot be used, naming its file and line.
    #[error("{}:{line}: {message}", file.display())]
    Recording {
        file: PathBuf,
        line: usize,
        message: String,
    },
}

impl RunError {
    pub fn io(file: &Path, source: std::io::Error) -> RunError {
        RunError::Io {
            file: file.to_path_buf(),
            source,
        }
    }
}

impl Classify for RunError {
    fn kind(&self) -> FailureKind {
        match self {
            RunError::Backend(e) => e.kind(),
            RunError::Recording { .. } => FailureKind::BadInput,
            _ => FailureKind::Runtime,
        }
    }
}
