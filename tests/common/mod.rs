//! Helpers shared by the integration tests: the binary under test, the real
//! models (required under CI=true, skipped with a message elsewhere), and the tiny
//! GGUF and BERT models the tests write themselves.

#![allow(dead_code)]

pub mod mini;
pub mod tiny_bert;
pub mod tiny_gguf;

use std::path::{Path, PathBuf};

pub fn probity() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("probity").expect("the binary is built")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cached SmolLM2 file. Under CI=true its absence fails the test; elsewhere
/// the test is skipped with a message (run `probity model pull smollm2-135m-instruct`).
pub fn smollm2() -> Option<PathBuf> {
    let known = probity::backend::KnownModel::find("smollm2-135m-instruct").unwrap();
    match known.cached() {
        Some(p) => Some(p),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "CI=true and SmolLM2 is not cached at {}: run `probity model pull smollm2-135m-instruct` first",
            known.cache_path().display()
        ),
        None => {
            eprintln!("skipped: SmolLM2 is not cached (run `probity model pull smollm2-135m-instruct`)");
            None
        }
    }
}

/// Opens a GGUF file (its sha256 computed) at `precision`.
pub fn open_gguf(path: &Path, precision: probity::spec::Precision) -> probity::backend::GgufModel {
    let sha = probity::backend::known::sha256_file(path).unwrap();
    probity::backend::GgufModel::open(path, &sha, precision)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cached SmolLM2 opened at `precision`, like [`smollm2`]: `None` (skipped)
/// when it is not cached outside CI.
pub fn smollm2_model(precision: probity::spec::Precision) -> Option<probity::backend::GgufModel> {
    smollm2().map(|path| open_gguf(&path, precision))
}

/// The cached all-MiniLM-L6-v2 folder, like [`smollm2`]: under CI=true its absence
/// fails the test; elsewhere the test is skipped with a message (run `probity model
/// pull all-minilm-l6-v2`).
pub fn minilm() -> Option<PathBuf> {
    let known = probity::backend::KnownModel::find("all-minilm-l6-v2").unwrap();
    match known.cached() {
        Some(p) => Some(p),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "CI=true and all-MiniLM-L6-v2 is not cached at {}: run `probity model pull all-minilm-l6-v2` first",
            known.cache_path().display()
        ),
        None => {
            eprintln!("skipped: all-MiniLM-L6-v2 is not cached (run `probity model pull all-minilm-l6-v2`)");
            None
        }
    }
}

pub fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, text).unwrap();
}
