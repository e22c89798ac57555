//! The text primitives the index is built from: words, their 64-bit hashes, the
//! rolling n-gram hash, the MinHash signature and its LSH band keys.

use super::SHINGLE_WORDS;

use crate::provenance::texthash::{self, MinHash};
use xxhash_rust::xxh3::xxh3_64;

/// MinHash values per signature.
pub const NUM_PERM: usize = texthash::MINHASH_K;

/// The words of `text` the index is made of: texthash's rule for shingles —
/// Unicode NFC, lower case, then [`texthash::words`].
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    texthash::for_each_word(text, |w| out.push(String::from_utf8_lossy(w).into_owned()));
    out
}

/// The hashes of [`words`] (without allocating each word): [`texthash::word_hashes`].
pub fn token_hashes(text: &str) -> Vec<u64> {
    texthash::word_hashes(text)
}

/// A word's 64-bit hash: XXH3-64 (seed 0) of its UTF-8 bytes.
pub fn word_hash(word: &str) -> u64 {
    xxh3_64(word.as_bytes())
}

/// The MinHash signature of a text's word 5-gram shingles ([`texthash::shingles`]),
/// from its [`token_hashes`].
pub fn signature_of_tokens(minhash: &MinHash, tokens: &[u64]) -> Vec<u32> {
    minhash.signature_of(&texthash::shingle_hashes(tokens, SHINGLE_WORDS))
}

/// Whether a signature is that of an empty shingle set (a text of no words).
pub fn is_empty_signature(sig: &[u32]) -> bool {
    sig.iter().all(|&v| v == u32::MAX)
}

pub use texthash::{mix64, ngram_hashes};

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
