//! Errors of the backend stage. Problems with what the user gave (a missing or
//! truncated model file, a hash mismatch, an unsupported architecture, a failed
//! fetch) are bad input; a failure while the model runs is a runtime failure.

use crate::{Classify, FailureKind};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("model file {} does not exist (for a known model run `probity model pull NAME`)", .0.display())]
    MissingModel(PathBuf),
    #[error("unknown model `{name}`; known models: {known} (or give a file with `path`)")]
    UnknownModel { name: String, known: String },
    #[error("cannot fetch {model}: {message}")]
    Fetch { model: String, message: String },
    #[error("sha256 mismatch for {}: expected {expected}, the file has {actual}", file.display())]
    HashMismatch {
        file: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{}: not a usable GGUF model: {message}", file.display())]
    BadModel { file: PathBuf, message: String },
    #[error("{}: {message}", file.display())]
    Unsupported { file: PathBuf, message: String },
    #[error("chat template of {}: {message}", file.display())]
    ChatTemplate { file: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error("model failed while running: {0}")]
    Inference(String),
    /// Generation settings or a prompt that cannot be generated from.
    #[error("generation: {0}")]
    Generation(String),
}

impl BackendError {
    pub fn io(file: &Path, source: std::io::Error) -> BackendError {
        BackendError::Io {
            file: file.to_path_buf(),
            source,
        }
    }
}

impl Classify for BackendError {
    fn kind(&self) -> FailureKind {
        match self {
            BackendError::Inference(_) => FailureKind::Runtime,
            _ => FailureKind::BadInput,
        }
    }
}
