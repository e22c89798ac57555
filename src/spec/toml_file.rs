//! Strict reading of any TOML data file (audit specs, probe sets, lexicon files):
//! a syntax error, an unknown key or a wrong type becomes one error that names the
//! file, the key path and the line, so every data file fails the same helpful way.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TomlFileError {
    #[error("cannot read {}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {}{message}", file.display(), line.map(|l| format!(", line {l}")).unwrap_or_default(), key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
    Parse {
        file: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
}

/// Reads and deserializes a TOML file strictly.
pub fn read<T: DeserializeOwned>(file: &Path) -> Result<T, TomlFileError> {
    let text = std::fs::read_to_string(file).map_err(|source| TomlFileError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &text)
}

/// Deserializes TOML text that came from `file` (named in errors).
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, TomlFileError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let line = inner
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        // The toml crate's message repeats the source excerpt; keep only its last
        // line, which states the problem.
        let message = inner
            .message()
            .lines()
            .last()
            .unwrap_or("invalid TOML")
            .trim()
            .to_string();
        TomlFileError::Parse {
            file: file.to_path_buf(),
            line,
            key: (!path.is_empty() && path != ".").then_some(path),
            message,
        }
    })
}
