//! Text fingerprints for tracing a model's output back to the audit that
//! recorded it: a normalised content hash (exact match), word shingles,
//! MinHash signatures (estimated Jaccard similarity of shingle sets) and a
//! 64-bit SimHash. docs/provenance.md states every rule below; the rules are
//! part of the fingerprint index format, so changing one means a new format
//! version.
//!
//! - [`normalise`]: Unicode NFC, then every run of whitespace (`char::is_whitespace`)
//!   becomes one space, and the ends are trimmed. Case is kept.
//! - [`content_sha256`]: hex sha256 of the normalised text's UTF-8 bytes.
//! - [`words`]: maximal runs of `char::is_alphanumeric` characters (Unicode
//!   Alphabetic, or general category Nd/Nl/No); everything else separates words.
//! - [`shingles`]: NFC, then `str::to_lowercase`, then [`words`]; each run of `n`
//!   consecutive words, joined by one space (0x20), is hashed with XXH3-64
//!   (seed 0) over its UTF-8 bytes. A text of 1 to n−1 words gives one shingle
//!   of all its words; a text of no words gives none.
//! - [`MinHash`]: k permutations h_i(x) = (a_i·x + b_i) mod p, p = 2^61 − 1, of
//!   x = shingle hash >> 3 (61 bits); slot i = min over the shingles of the low
//!   32 bits of h_i(x). a_i ∈ [1, p) and b_i ∈ [0, p) are drawn from
//!   `Rng::new(MINHASH_SEED)` with `Rng::below`: first a_0 … a_{k−1}, then
//!   b_0 … b_{k−1}. The Jaccard estimate is the share of equal slots.
//! - [`simhash64`]: over the 3-word shingles (same hash): bit i of the result is
//!   set when more shingles (counted with multiplicity) have bit i set than clear.

use crate::stats::rng::Rng;
use sha2::{Digest, Sha256};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use xxhash_rust::xxh3::xxh3_64;

/// Words per shingle of the MinHash signatures.
pub const SHINGLE_WORDS: usize = 5;
/// Words per shingle of the SimHash.
pub const SIMHASH_WORDS: usize = 3;
/// Permutations of the MinHash signatures.
pub const MINHASH_K: usize = 128;
/// Seed of the generator that draws the permutations' (a, b).
pub const MINHASH_SEED: u64 = 1;
/// The Mersenne prime 2^61 − 1.
pub const MERSENNE_61: u64 = (1 << 61) - 1;

/// Unicode NFC with whitespace runs folded to one space and the ends trimmed.
/// Case is kept.
pub fn normalise(text: &str) -> String {
    let nfc;
    let text = if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        text
    } else {
        nfc = text.nfc().collect::<String>();
        nfc.as_str()
    };
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Hex sha256 of [`normalise`]d text.
pub fn content_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(normalise(text).as_bytes()))
}

/// The words of `text` as it stands (no normalisation): maximal runs of
/// alphanumeric characters.
pub fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// NFC then lower case: the form shingles are taken from.
fn shingle_form(text: &str) -> String {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        text.to_lowercase()
    } else {
        text.nfc().collect::<String>().to_lowercase()
    }
}

/// XXH3-64 of `words` joined by single spaces.
fn hash_words(words: &[&str], buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            buf.push(b' ');
        }
        buf.extend_from_slice(w.as_bytes());
    }
    xxh3_64(buf)
}

/// Hashes of the `n`-word shingles of `text`, in text order (repeats included).
pub fn shingles(text: &str, n: usize) -> impl Iterator<Item = u64> {
    let n = n.max(1);
    let form = shingle_form(text);
    let ws = words(&form);
    let mut buf = Vec::with_capacity(64);
    let hashes: Vec<u64> = if ws.is_empty() {
        Vec::new()
    } else if ws.len() < n {
        vec![hash_words(&ws, &mut buf)]
    } else {
        ws.windows(n).map(|w| hash_words(w, &mut buf)).collect()
    };
    hashes.into_iter()
}

/// (a·x + b) mod 2^61 − 1, for a, b < p and x < 2^61.
#[inline(always)]
fn permute(a: u64, b: u64, x: u64) -> u64 {
    let t = u128::from(a) * u128::from(x) + u128::from(b);
    let r = (t as u64 & MERSENNE_61) + (t >> 61) as u64;
    let r = (r & MERSENNE_61) + (r >> 61);
    if r >= MERSENNE_61 {
        r - MERSENNE_61
    } else {
        r
    }
}

/// MinHash with `k` seeded permutations (see the module notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinHash {
    pub k: usize,
    a: Vec<u64>,
    b: Vec<u64>,
}

impl MinHash {
    /// The `k` permutations drawn from `Rng::new(MINHASH_SEED)`.
    pub fn new(k: usize) -> MinHash {
        let mut rng = Rng::new(MINHASH_SEED);
        let a = (0..k).map(|_| 1 + rng.below(MERSENNE_61 - 1)).collect();
        let b = (0..k).map(|_| rng.below(MERSENNE_61)).collect();
        MinHash { k, a, b }
    }

    /// The permutations' (a_i, b_i).
    pub fn parameters(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.a.iter().copied().zip(self.b.iter().copied())
    }

    /// The signature of a set of shingle hashes (repeats change nothing); of no
    /// shingles, every slot is `u32::MAX`.
    pub fn signature(&self, shingles: impl IntoIterator<Item = u64>) -> Vec<u32> {
        const CHUNK: usize = 2048;
        let mut sig = vec![u32::MAX; self.k];
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut iter = shingles.into_iter();
        loop {
            chunk.clear();
            chunk.extend(iter.by_ref().take(CHUNK).map(|h| h >> 3));
            if chunk.is_empty() {
                break;
            }
            for ((slot, &a), &b) in sig.iter_mut().zip(&self.a).zip(&self.b) {
                let mut m = *slot;
                for &x in &chunk {
                    m = m.min(permute(a, b, x) as u32);
                }
                *slot = m;
            }
        }
        sig
    }
}

/// The share of equal slots: the MinHash estimate of the Jaccard similarity.
/// Signatures of different lengths compare as 0.
pub fn jaccard_estimate(a: &[u32], b: &[u32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    equal as f64 / a.len() as f64
}

/// 64-bit SimHash of the 3-word shingles of `text`; 0 for a text of no words.
pub fn simhash64(text: &str) -> u64 {
    let mut votes = [0i64; 64];
    for h in shingles(text, SIMHASH_WORDS) {
        for (i, v) in votes.iter_mut().enumerate() {
            if h >> i & 1 == 1 {
                *v += 1;
            } else {
                *v -= 1;
            }
        }
    }
    votes
        .iter()
        .enumerate()
        .filter(|(_, &v)| v > 0)
        .fold(0u64, |acc, (i, _)| acc | 1 << i)
}

/// Number of differing bits.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn nfc_and_whitespace_folding() {
        let composed = "caf\u{e9}  au\tlait\n";
        let decomposed = " cafe\u{301} au lait";
        assert_eq!(normalise(composed), "caf\u{e9} au lait");
        assert_eq!(normalise(decomposed), "caf\u{e9} au lait");
        assert_eq!(content_sha256(composed), content_sha256(decomposed));
        // Case is kept for the hash.
        assert_ne!(content_sha256("Cafe"), content_sha256("cafe"));
        assert_eq!(content_sha256(""), content_sha256(" \n\t "));
        assert_eq!(
            content_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn words_split_on_non_alphanumerics() {
        assert_eq!(
            words("Don't stop -- 42 café's, ok?"),
            ["Don", "t", "stop", "42", "café", "s", "ok"]
        );
        assert!(words(" ,.; ").is_empty());
    }

    #[test]
    fn shingles_fold_case_and_punctuation() {
        let a: Vec<u64> = shingles("The cat sat on the mat today.", 5).collect();
        let b: Vec<u64> = shingles("the  CAT sat, on the mat -- today", 5).collect();
        assert_eq!(a.len(), 3);
        assert_eq!(a, b);
        // XXH3-64 of the joined words (reference value of the xxHash spec's
        // empty input, and of a 5-word join computed here by the same call).
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(a[0], xxh3_64(b"the cat sat on the"));
        let short: Vec<u64> = shingles("Two words", 5).collect();
        assert_eq!(short, [xxh3_64(b"two words")]);
        assert_eq!(shingles("...", 5).count(), 0);
    }

    #[test]
    fn permute_is_exact_modular_arithmetic() {
        let p = u128::from(MERSENNE_61);
        let cases = [
            (1, 0, 0),
            (MERSENNE_61 - 1, MERSENNE_61 - 1, (1 << 61) - 1),
            (MERSENNE_61 - 1, MERSENNE_61 - 1, (1 << 61) - 2),
            (123_456_789_012_345, 987_654_321, 0x0123_4567_89ab_cdef),
        ];
        for (a, b, x) in cases {
            let want = (u128::from(a) * u128::from(x) + u128::from(b)) % p;
            assert_eq!(u128::from(permute(a, b, x)), want, "{a} {b} {x}");
        }
        let mut rng = Rng::new(9);
        for _ in 0..10_000 {
            let (a, b, x) = (
                rng.below(MERSENNE_61),
                rng.below(MERSENNE_61),
                rng.next_u64() >> 3,
            );
            let want = (u128::from(a) * u128::from(x) + u128::from(b)) % p;
            assert_eq!(u128::from(permute(a, b, x)), want);
        }
    }

    #[test]
    fn minhash_is_deterministic_and_order_free() {
        let m = MinHash::new(MINHASH_K);
        assert_eq!(m, MinHash::new(MINHASH_K));
        let s: Vec<u64> = shingles("one two three four five six seven eight", 5).collect();
        let mut rev = s.clone();
        rev.reverse();
        rev.extend(s.iter().copied());
        assert_eq!(m.signature(s.clone()), m.signature(rev));
        assert_eq!(m.signature(Vec::new()), vec![u32::MAX; MINHASH_K]);
        assert!(m
            .parameters()
            .all(|(a, b)| (1..MERSENNE_61).contains(&a) && b < MERSENNE_61));
    }

    /// Two sets of random 64-bit values with a chosen exact Jaccard index.
    fn sets_with_jaccard(rng: &mut Rng, shared: usize, only: usize) -> (Vec<u64>, Vec<u64>) {
        let common: Vec<u64> = (0..shared).map(|_| rng.next_u64()).collect();
        let mut a = common.clone();
        let mut b = common;
        a.extend((0..only).map(|_| rng.next_u64()));
        b.extend((0..only).map(|_| rng.next_u64()));
        (a, b)
    }

    #[test]
    fn minhash_estimates_jaccard_within_its_error() {
        let m = MinHash::new(MINHASH_K);
        let mut rng = Rng::new(17);
        let k = MINHASH_K as f64;
        for (shared, only) in [
            (0, 300),
            (100, 200),
            (300, 150),
            (500, 50),
            (400, 0),
            (90, 5),
        ] {
            let (a, b) = sets_with_jaccard(&mut rng, shared, only);
            let sa: HashSet<u64> = a.iter().copied().collect();
            let sb: HashSet<u64> = b.iter().copied().collect();
            let j = sa.intersection(&sb).count() as f64 / sa.union(&sb).count() as f64;
            let est = jaccard_estimate(&m.signature(a), &m.signature(b));
            let tol = 4.0 * (j * (1.0 - j) / k).sqrt() + 0.02;
            assert!(
                (est - j).abs() <= tol,
                "J {j}, estimate {est}, tolerance {tol}"
            );
        }
    }

    /// tests/fixtures/texthash_reference.py: Python's unicodedata, hashlib, the
    /// `xxhash` package, exact integer MinHash with the permutations drawn by a
    /// Python transcription of the generator, and `datasketch` estimates.
    const FIXTURE: &str = include_str!("../../tests/fixtures/texthash_reference.json");

    fn u64s(v: &serde_json::Value) -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn matches_the_python_reference() {
        let fx: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        let m = MinHash::new(MINHASH_K);
        let (a, b): (Vec<u64>, Vec<u64>) = m.parameters().unzip();
        assert_eq!(a, u64s(&fx["permutations"]["a"]));
        assert_eq!(b, u64s(&fx["permutations"]["b"]));
        let cases = fx["texts"].as_array().unwrap();
        assert!(cases.len() > 20);
        for case in cases {
            let text = case["text"].as_str().unwrap();
            assert_eq!(normalise(text), case["normalised"].as_str().unwrap());
            assert_eq!(content_sha256(text), case["sha256"].as_str().unwrap());
            let want_words: Vec<&str> = case["words"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            assert_eq!(words(text), want_words, "{text:?}");
            let sh: Vec<u64> = shingles(text, SHINGLE_WORDS).collect();
            assert_eq!(sh, u64s(&case["shingles5"]), "{text:?}");
            let want_sig: Vec<u32> = case["minhash"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(m.signature(sh), want_sig, "{text:?}");
            let want_sim: u64 = case["simhash"].as_str().unwrap().parse().unwrap();
            assert_eq!(simhash64(text), want_sim, "{text:?}");
        }
        let k = MINHASH_K as f64;
        for pair in fx["pairs"].as_array().unwrap() {
            let (x, y) = (pair["a"].as_str().unwrap(), pair["b"].as_str().unwrap());
            let j = pair["jaccard"].as_f64().unwrap();
            let theirs = pair["datasketch_estimate"].as_f64().unwrap();
            let ours = jaccard_estimate(
                &m.signature(shingles(x, SHINGLE_WORDS)),
                &m.signature(shingles(y, SHINGLE_WORDS)),
            );
            let tol = 4.0 * (j * (1.0 - j) / k).sqrt() + 0.02;
            assert!(
                (ours - j).abs() <= tol,
                "J {j}, ours {ours}, tolerance {tol}"
            );
            assert!((theirs - j).abs() <= tol, "J {j}, datasketch {theirs}");
            // Two independent estimates: their difference has twice the variance.
            assert!((ours - theirs).abs() <= std::f64::consts::SQRT_2 * tol);
        }
    }

    #[test]
    fn simhash_near_duplicates_are_closer() {
        let base = "The applicant has ten years of experience managing teams in logistics \
                    and was praised by every previous employer for reliability and care.";
        let edited = "The applicant has ten years of experience managing teams in logistics \
                      and was praised by each previous employer for reliability and care.";
        let other = "Quarterly rainfall in the northern valley exceeded the forecast, so the \
                     harvest was delayed by nearly three weeks across most farms.";
        let (h, e, o) = (simhash64(base), simhash64(edited), simhash64(other));
        assert_eq!(h, simhash64(&base.to_uppercase()));
        assert!(
            hamming(h, e) < hamming(h, o),
            "{} vs {}",
            hamming(h, e),
            hamming(h, o)
        );
        assert_eq!(simhash64(""), 0);
        assert_eq!(hamming(0, u64::MAX), 64);
    }
}
