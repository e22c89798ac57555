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
    /// A model file that cannot be used as it is (malformed, truncated, or not
    /// matching the model's other files); the message names what is wrong.
    #[error("{}: {message}", file.display())]
    BadFile { file: PathBuf, message: String },
    /// A known model used where another kind of model is needed.
    #[error("model `{name}` is a {kind} model: {message}")]
    WrongKind {
        name: String,
        kind: String,
        message: String,
    },
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error("model failed while running: {0}")]
    Inference(String),
    /// An HTTP endpoint that cannot serve the audit (unreachable, refusing, or
    /// answering outside the OpenAI API).
    #[error("{url}: {message}")]
    Endpoint { url: String, message: String },
    /// A server that gives no log-probabilities, which scoring needs.
    #[error("{url}: the server gives no log-probabilities (`logprobs`/`top_logprobs` absent from its answer); probity needs them to score probes — use a server or model that returns them (vLLM, llama.cpp's server, TGI and OpenAI's completions do)")]
    NoLogprobs { url: String },
    /// A model command that cannot be started or is misconfigured.
    #[error("model command `{command}`: {message}")]
    Subprocess { command: String, message: String },
    /// A model process that failed while the audit ran (exit 3; completed probes kept).
    #[error("model process {0}")]
    ModelProcess(String),
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
            BackendError::Inference(_) | BackendError::ModelProcess(_) => FailureKind::Runtime,
            _ => FailureKind::BadInput,
        }
    }
}
