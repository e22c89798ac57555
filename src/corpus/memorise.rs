//! Memorisation prompts: (prefix, true continuation) pairs cut from a work of the
//! corpus, for asking a model to continue the prefix and comparing its words with
//! the work's.

use super::format::{CorpusIndex, WorkInfo};
use super::CorpusError;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct MemorisationOptions {
    /// Whitespace-separated pieces of the work in each prefix.
    pub prefix_words: usize,
    /// Whitespace-separated pieces in each true continuation.
    pub continuation_words: usize,
    /// At most this many pairs, spread evenly over the work.
    pub pairs: usize,
}

impl Default for MemorisationOptions {
    fn default() -> Self {
        MemorisationOptions {
            prefix_words: 50,
            continuation_words: 50,
            pairs: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemorisationPair {
    /// The `prefix_words` pieces of the work just before the cut, as written (case,
    /// punctuation and inner spacing kept).
    pub prefix: String,
    /// The text after the cut, as written, without the whitespace at the cut.
    pub continuation: String,
    /// Byte offset of the cut in the work's text.
    pub byte_offset: usize,
}

/// Cuts `options.pairs` (prefix, continuation) pairs from `work_text`, which must
/// be the text of a work of `index` (matched by its sha256: a `.txt`/`.md` file's
/// bytes, or a `.jsonl` line's `text`). The cuts fall between whitespace-separated
/// pieces, at evenly spaced places that leave a full prefix and continuation, so
/// the same work and options always give the same pairs.
pub fn memorisation(
    index: &CorpusIndex,
    work_text: &str,
    options: &MemorisationOptions,
) -> Result<(WorkInfo, Vec<MemorisationPair>), CorpusError> {
    let sha = hex::encode(Sha256::digest(work_text.as_bytes()));
    let work = (0..index.num_works())
        .map(|id| index.work(id))
        .find(|w| w.sha256 == sha)
        .ok_or_else(|| CorpusError::Invalid {
            message: format!(
                "memorisation: no work of {} has sha256 {sha}",
                index.path().display()
            ),
        })?;
    Ok((work, cut_pairs(work_text, options)?))
}

/// Cuts up to `options.pairs` (prefix, continuation) pairs from `work_text`: the
/// cuts fall between whitespace-separated pieces, at evenly spaced places that
/// leave a full prefix and continuation, so the same text and options always give
/// the same pairs. A text too short for one pair gives none.
pub fn cut_pairs(
    work_text: &str,
    options: &MemorisationOptions,
) -> Result<Vec<MemorisationPair>, CorpusError> {
    if options.prefix_words == 0 || options.continuation_words == 0 {
        return Err(CorpusError::Invalid {
            message: "memorisation: prefix and continuation need at least one word each".into(),
        });
    }
    // Byte ranges of the whitespace-separated pieces.
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (at, c) in work_text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                pieces.push((s, at));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(s) = start {
        pieces.push((s, work_text.len()));
    }
    let (p, c) = (options.prefix_words, options.continuation_words);
    let mut pairs = Vec::new();
    if pieces.len() >= p + c && options.pairs > 0 {
        // Cut before piece k, for k in [p, len − c].
        let (first, last) = (p, pieces.len() - c);
        let count = options.pairs.min(last - first + 1);
        let mut cuts: Vec<usize> = (0..count)
            .map(|j| {
                if count == 1 {
                    first
                } else {
                    first + j * (last - first) / (count - 1)
                }
            })
            .collect();
        cuts.dedup();
        for k in cuts {
            let prefix_start = pieces[k - p].0;
            let cut = pieces[k].0;
            let end = pieces[k + c - 1].1;
            pairs.push(MemorisationPair {
                prefix: work_text[prefix_start..pieces[k - 1].1].to_string(),
                continuation: work_text[cut..end].to_string(),
                byte_offset: cut,
            });
        }
    }
    Ok(pairs)
}
