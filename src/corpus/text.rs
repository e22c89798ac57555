//! The text primitives the index is built from: words, their 64-bit hashes, the
//! rolling n-gram hash, the MinHash signature and its LSH band keys.

use super::SHINGLE_WORDS;

use crate::provenance::texthash::{self, MinHash};
use xxhash_rust::xxh3::xxh3_64;

/// MinHash values per signature.
pub const NUM_PERM: usize = texthash::MINHASH_K;

/// The words of `text` the index is made of: texthash's rule for shingles —
/// Unicode NFC ([`texthash::normalise`]), lower case, then [`texthash::words`].
pub fn words(text: &str) -> Vec<String> {
    let form = texthash::normalise(text).to_lowercase();
    texthash::words(&form)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The hashes of [`words`] (without allocating each word).
pub fn token_hashes(text: &str) -> Vec<u64> {
    let form = texthash::normalise(text).to_lowercase();
    texthash::words(&form).into_iter().map(word_hash).collect()
}

/// A word's 64-bit hash: XXH3-64 (seed 0) of its UTF-8 bytes, the hash texthash
/// gives a one-word shingle.
pub fn word_hash(word: &str) -> u64 {
    xxh3_64(word.as_bytes())
}

/// The MinHash signature of `text`'s word 5-gram shingles ([`texthash::shingles`]).
pub fn signature(minhash: &MinHash, text: &str) -> Vec<u32> {
    minhash.signature(texthash::shingles(text, SHINGLE_WORDS))
}

/// Whether a signature is that of an empty shingle set (a text of no words).
pub fn is_empty_signature(sig: &[u32]) -> bool {
    sig.iter().all(|&v| v == u32::MAX)
}

/// splitmix64's finaliser: a bijection on u64 that spreads every input bit.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Base of the polynomial n-gram hash (odd, so multiplication is invertible mod 2^64).
const NGRAM_BASE: u64 = 0x100_0000_01b3_u64 | 0x9e37_79b9_0000_0001;

/// Hashes of every n-gram of `tokens` (word hashes), in order: the polynomial
/// Σ tokens[i+j]·B^(n−1−j) mod 2^64, rolled in O(1) per position, then passed
/// through [`mix64`] so the sorted table is uniform. Empty when fewer than n tokens.
pub fn ngram_hashes(tokens: &[u64], n: usize) -> Vec<u64> {
    if n == 0 || tokens.len() < n {
        return Vec::new();
    }
    let top = (1..n).fold(1u64, |p, _| p.wrapping_mul(NGRAM_BASE)); // B^(n-1)
    let mut h = tokens[..n]
        .iter()
        .fold(0u64, |h, &t| h.wrapping_mul(NGRAM_BASE).wrapping_add(t));
    let mut out = Vec::with_capacity(tokens.len() - n + 1);
    out.push(mix64(h));
    for i in n..tokens.len() {
        h = h
            .wrapping_sub(tokens[i - n].wrapping_mul(top))
            .wrapping_mul(NGRAM_BASE)
            .wrapping_add(tokens[i]);
        out.push(mix64(h));
    }
    out
}

/// The LSH key of one band of a signature.
pub fn band_key(band: usize, rows: &[u32]) -> u64 {
    let mut h = mix64(band as u64 ^ 0xb5ad_4ece_da1c_e2a9);
    for &v in rows {
        h = mix64(h ^ u64::from(v));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_hash_equals_direct_hash() {
        let tokens: Vec<u64> = (0..40u64).map(|i| mix64(i * 7 + 3)).collect();
        for n in [1, 2, 5, 13] {
            let rolled = ngram_hashes(&tokens, n);
            assert_eq!(rolled.len(), tokens.len() - n + 1);
            for (i, &h) in rolled.iter().enumerate() {
                let direct = tokens[i..i + n]
                    .iter()
                    .fold(0u64, |h, &t| h.wrapping_mul(NGRAM_BASE).wrapping_add(t));
                assert_eq!(h, mix64(direct), "n={n} i={i}");
            }
        }
        assert!(ngram_hashes(&tokens[..3], 5).is_empty());
    }

    #[test]
    fn same_words_same_ngram_hash_anywhere() {
        let hash = |t: &str| -> Vec<u64> { words(t).iter().map(|w| word_hash(w)).collect() };
        let a = hash("One two three four five six");
        let b = hash("zero one two  three four five six seven");
        let ha = ngram_hashes(&a, 4);
        let hb = ngram_hashes(&b, 4);
        assert_eq!(ha[0], hb[1]);
        assert_eq!(ha[2], hb[3]);
        assert_ne!(ha[0], ha[1]);
    }
}
