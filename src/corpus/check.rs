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
    /// n + stride − 1 of the index: every span of at least this many words the
    /// output shares with a work is found.
    pub guaranteed_span: usize,
    /// The output's n-grams (tokens − n + 1, or 0).
    pub ngrams: usize,
    /// Of those, how many lie inside a verbatim span found in the corpus: every
    /// n-gram inside a span of at least `guaranteed_span` words shared with a work
    /// is counted; an n-gram whose only occurrences lie in shorter shared spans may
    /// be missed; an n-gram that occurs nowhere in the corpus never is counted.
    pub ngrams_in_corpus: usize,
    /// ngrams_in_corpus / ngrams (0 when the output has no n-gram).
    pub share_in_corpus: f64,
    /// Length in words of the longest span found shared with a work: exact when it
    /// is at least `guaranteed_span`; 0 when none is found (spans shorter than
    /// n are not searched, and shorter than `guaranteed_span` may be missed).
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
        let hashes64: Vec<u64> = words.iter().map(|w| text::word_hash(w)).collect();
        let tokens: Vec<u32> = hashes64.iter().map(|&h| text::token32(h)).collect();
        let params = self.params();
        let n = params.ngram;
        let m = tokens.len();
        // The output side hashes every n-gram; the corpus side has one every
        // `stride` words of a work.
        let hashes = text::ngram_hashes(&hashes64, n);

        // Output n-grams (by start) inside a verified, extended span: a span
        // [s, e) covers the starts s ..= e − n.
        let mut in_span = vec![false; hashes.len()];
        // (length, output start, corpus start) of the best span so far.
        let mut best: Option<(usize, usize, usize)> = None;
        // Per diagonal (corpus position − output position), where the last span
        // extended along it ends in the output.
        let mut covered: HashMap<i64, usize> = HashMap::new();
        for (i, &h) in hashes.iter().enumerate() {
            for row in self.ngram_range(h).take(MAX_POSTINGS) {
                let p = self.ngram_pos(row);
                let Some(work) = self.work_of(p) else {
                    continue;
                };
                let (ws, we) = self.work_tokens(work);
                if p + n > we || (0..n).any(|j| self.token(p + j) != Some(tokens[i + j])) {
                    continue; // a hash collision, or a damaged index
                }
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
                in_span[s..=e - n].iter_mut().for_each(|c| *c = true);
                // Longest first; on a tie, the earliest in the output, then the
                // lowest corpus position (whichever n-gram found it).
                if best
                    .is_none_or(|(len, bs, bq)| e - s > len || (e - s == len && (s, q) < (bs, bq)))
                {
                    best = Some((e - s, s, q));
                }
            }
        }
        let found = in_span.iter().filter(|&&c| c).count();
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
            guaranteed_span: n + params.stride - 1,
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
                .near_duplicates(&text::signature_of_tokens(self.minhash(), &hashes64)),
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
