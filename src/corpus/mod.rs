//! Protected-corpus overlap (IP tracing): does a model output reproduce a work of
//! a corpus verbatim, or nearly?
//!
//! `probity corpus index DIR -o INDEX` reads a folder of works (`*.txt`, `*.md`,
//! `*.jsonl` with a `text` field per line) and writes one index file (format in
//! [`format`], documented in docs/corpus.md) holding
//! - the word n-gram (n = 13 by default) starting at every s-th word of every
//!   work (the stride, s = 8 by default) as a sorted table of 64-bit hashes with
//!   its position, and each work's array of 32-bit word hashes, so every
//!   verbatim span of at least n + s − 1 words an output shares with the corpus is
//!   found by extending n-gram hits and checked word by word;
//! - a 128-value MinHash signature of each work's word 5-gram shingles, banded for
//!   locality-sensitive hashing (32 bands × 4 rows), for near-duplicate works.
//!
//! [`CorpusIndex::check`] answers, for one output, the longest verbatim span and
//! the work it comes from, the share of the output's n-grams found in the corpus,
//! and the near-duplicate works with their estimated Jaccard similarity.

mod build;
mod check;
pub mod format;
mod memorise;
mod text;

pub use build::{build_index, corpus_files, read_works, BuildOptions, BuildSummary, WorkText};
pub use check::{NearDuplicate, Overlap, Span};
pub use format::{CorpusIndex, WorkInfo};
pub use memorise::{cut_pairs, memorisation, MemorisationOptions, MemorisationPair};

use crate::{Classify, FailureKind};
use std::path::{Path, PathBuf};

/// Default n of the verbatim n-gram index, in words.
pub const DEFAULT_NGRAM: usize = 13;
/// Default stride of the corpus side of the n-gram index: the n-gram starting at
/// every 8th word of a work is indexed, so with n = 13 every shared span of at
/// least 13 + 8 − 1 = 20 words is found (and measured exactly), at an eighth of
/// the n-gram table of stride 1.
pub const DEFAULT_STRIDE: usize = 8;
/// Words per shingle for MinHash.
pub const SHINGLE_WORDS: usize = crate::provenance::texthash::SHINGLE_WORDS;
/// LSH bands × rows over the 128 MinHash values: a pair of works with Jaccard
/// similarity s becomes a candidate with probability 1 − (1 − s^ROWS)^BANDS, which
/// is ½ near s = (1/BANDS)^(1/ROWS) ≈ 0.42.
pub const LSH_BANDS: usize = 32;
pub const LSH_ROWS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no works (no non-empty *.txt, *.md or *.jsonl file)", dir.display())]
    EmptyCorpus { dir: PathBuf },
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    BadWork {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{}: not a usable probity corpus index: {message}", file.display())]
    BadIndex { file: PathBuf, message: String },
    #[error("{message}")]
    Invalid { message: String },
}

impl CorpusError {
    pub(crate) fn io(file: &Path, source: std::io::Error) -> CorpusError {
        CorpusError::Io {
            file: file.to_path_buf(),
            source,
        }
    }
}

impl Classify for CorpusError {
    fn kind(&self) -> FailureKind {
        FailureKind::BadInput
    }
}
