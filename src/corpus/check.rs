//! Checking an output against an index: the longest verbatim span, the share of
//! the output's n-grams found in the corpus, and near-duplicate works.

use super::format::{CorpusIndex, WorkInfo};
use super::text;
use crate::provenance::texthash;
use std::collections::{BTreeSet, HashMap};

/// At most this many corpus positions of one n-gram are extended into spans (the
/// first ones in index order); an n-gram repeated more often than this is still
/// counted as found.
pub const MAX_POSTINGS: usize = 1000;

/// A verbatim span shared by an output and a work.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Span {
    /// Its length in words.
    pub tokens: usize,
    pub work: WorkInfo,
    /// Where it starts in the work, in words from the work's first word.
    pub work_offset: usize,
    /// Where it starts in the output, in words.
    pub output_offset: usize,
    /// The span's words (normalised), space-separated.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NearDuplicate {
    pub work: WorkInfo,
    /// Share of the 128 MinHash values the output and the work have in common:
    /// an estimate of the Jaccard similarity of their word 5-gram sets.
    pub estimated_jaccard: f64,
}

/// What an output shares with the corpus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Overlap {
    /// Words in the output.
    pub tokens: usize,
    /// n of the index.
    pub ngram: usize,
    /// The output's n-grams (tokens − n + 1, or 0).
    pub ngrams: usize,
    /// Of those, how many occur somewhere in the corpus.
    pub ngrams_in_corpus: usize,
    /// ngrams_in_corpus / ngrams (0 when the output has no n-gram).
    pub share_in_corpus: f64,
    /// Length in words of the longest span shared with a work: 0 when no n-gram is
    /// shared (spans shorter than n are not searched).
    pub longest_span_tokens: usize,
    pub longest_span: Option<Span>,
    /// LSH candidates (works sharing at least one band with the output), most
    /// similar first.
    pub near_duplicates: Vec<NearDuplicate>,
}

impl CorpusIndex {
    /// What `output` shares with the corpus.
    pub fn check(&self, output: &str) -> Overlap {
        let words = text::words(output);
        let tokens: Vec<u64> = words.iter().map(|w| text::word_hash(w)).collect();
        let n = self.params().ngram;
        let m = tokens.len();
        let hashes = text::ngram_hashes(&tokens, n);

        let mut found = 0usize;
        // (length, output start, corpus start) of the best span so far.
        let mut best: Option<(usize, usize, usize)> = None;
        // Per diagonal (corpus position − output position), where the last span
        // extended along it ends in the output.
        let mut covered: HashMap<i64, usize> = HashMap::new();
        for (i, &h) in hashes.iter().enumerate() {
            let mut hit = false;
            for row in self.ngram_range(h).take(MAX_POSTINGS) {
                let p = self.ngram_pos(row);
                let Some(work) = self.work_of(p) else {
                    continue;
                };
                let (ws, we) = self.work_tokens(work);
                if p + n > we || (0..n).any(|j| self.token(p + j) != Some(tokens[i + j])) {
                    continue; // a hash collision, or a damaged index
                }
                hit = true;
                let diagonal = p as i64 - i as i64;
                if covered.get(&diagonal).is_some_and(|&end| end >= i + n) {
                    continue;
                }
                let (mut s, mut q) = (i, p);
                while s > 0 && q > ws && self.token(q - 1) == Some(tokens[s - 1]) {
                    s -= 1;
                    q -= 1;
                }
                let (mut e, mut r) = (i + n, p + n);
                while e < m && r < we && self.token(r) == Some(tokens[e]) {
                    e += 1;
                    r += 1;
                }
                covered.insert(diagonal, e);
                if best.is_none_or(|(len, _, _)| e - s > len) {
                    best = Some((e - s, s, q));
                }
            }
            if hit {
                found += 1;
            }
        }
        let longest_span = best.map(|(len, s, q)| {
            let work = self.work_of(q).expect("a verified position lies in a work");
            Span {
                tokens: len,
                work_offset: q - self.work_tokens(work).0,
                work: self.work(work),
                output_offset: s,
                text: words[s..s + len].join(" "),
            }
        });
        let ngrams = hashes.len();
        Overlap {
            tokens: m,
            ngram: n,
            ngrams,
            ngrams_in_corpus: found,
            share_in_corpus: if ngrams == 0 {
                0.0
            } else {
                found as f64 / ngrams as f64
            },
            longest_span_tokens: longest_span.as_ref().map_or(0, |s| s.tokens),
            longest_span,
            near_duplicates: self
                .near_duplicates(&text::signature_of_tokens(self.minhash(), &tokens)),
        }
    }

    /// The works an LSH band lookup of `signature` returns, with their estimated
    /// Jaccard similarity, most similar first (ties by work id).
    pub fn near_duplicates(&self, signature: &[u32]) -> Vec<NearDuplicate> {
        if text::is_empty_signature(signature) {
            return Vec::new();
        }
        let p = self.params();
        let mut candidates = BTreeSet::new();
        for band in 0..p.bands {
            let key = text::band_key(band, &signature[band * p.rows..(band + 1) * p.rows]);
            candidates.extend(self.lsh_works(band, key));
        }
        let mut out: Vec<NearDuplicate> = candidates
            .into_iter()
            .filter_map(|id| {
                let sig = self.signature(id);
                if text::is_empty_signature(&sig) {
                    return None;
                }
                Some(NearDuplicate {
                    work: self.work(id),
                    estimated_jaccard: texthash::jaccard_estimate(&sig, signature),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.estimated_jaccard
                .total_cmp(&a.estimated_jaccard)
                .then(a.work.id.cmp(&b.work.id))
        });
        out
    }
}
