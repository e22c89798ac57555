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

/// The hashes of [`words`] (without allocating each word):
/// [`texthash::word_hashes`].
#[cfg(test)]
pub fn token_hashes(text: &str) -> Vec<u64> {
    texthash::word_hashes(text)
}

/// [`token_hashes`] into `out` (cleared first; its memory is reused).
pub fn token_hashes_into(text: &str, out: &mut Vec<u64>) {
    texthash::word_hashes_into(text, out);
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

/// [`signature_of_tokens`] without the whole shingle array: the shingle hashes
/// are made 2048 at a time into a small buffer, each piece's signature is taken
/// and the pieces are combined slot by slot with `min` (the signature of a union
/// of sets), which gives the same bits.
pub fn signature_of_tokens_chunked(minhash: &MinHash, tokens: &[u64]) -> Vec<u32> {
    const PIECE: usize = 2048;
    let w = SHINGLE_WORDS;
    if tokens.len() < w {
        return signature_of_tokens(minhash, tokens);
    }
    let shingles = tokens.len() - w + 1;
    let mut sig = vec![u32::MAX; minhash.k];
    let mut buf = Vec::with_capacity(PIECE);
    for first in (0..shingles).step_by(PIECE) {
        let last = (first + PIECE).min(shingles);
        buf.clear();
        texthash::ngram_hashes_into(&tokens[first..last + w - 1], w, &mut buf);
        for (s, v) in sig.iter_mut().zip(minhash.signature_of(&buf)) {
            *s = (*s).min(v);
        }
    }
    sig
}

/// Whether a signature is that of an empty shingle set (a text of no words).
pub fn is_empty_signature(sig: &[u32]) -> bool {
    sig.iter().all(|&v| v == u32::MAX)
}

pub use texthash::{mix64, ngram_hashes};

/// The 32-bit token stored in the index for a word hash: its low 32 bits.
#[inline]
pub fn token32(word_hash: u64) -> u32 {
    word_hash as u32
}

/// The hashes of the n-grams of `tokens` that start at multiples of `stride`
/// (positions 0, s, 2s, … whose n-gram fits), appended to `out`: the same values
/// as [`ngram_hashes`] at those positions. The hash is rolled over every
/// position (three multiply-adds each) and kept at the sampled ones.
pub fn strided_ngram_hashes_into(tokens: &[u64], n: usize, stride: usize, out: &mut Vec<u64>) {
    if n == 0 || stride == 0 || tokens.len() < n {
        return;
    }
    let base = texthash::NGRAM_BASE;
    let top = (1..n).fold(1u64, |p, _| p.wrapping_mul(base)); // B^(n-1)
    let mut h = tokens[..n]
        .iter()
        .fold(0u64, |h, &t| h.wrapping_mul(base).wrapping_add(t));
    out.reserve((tokens.len() - n) / stride + 1);
    out.push(mix64(h));
    // h is the hash of the n-gram starting at i - n + 1 after rolling in token i.
    let mut next = stride;
    for i in n..tokens.len() {
        h = h
            .wrapping_sub(tokens[i - n].wrapping_mul(top))
            .wrapping_mul(base)
            .wrapping_add(tokens[i]);
        if i + 1 - n == next {
            out.push(mix64(h));
            next += stride;
        }
    }
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

    #[test]
    fn the_ascii_path_gives_the_general_rule_s_word_hashes() {
        let mut rng = crate::stats::rng::Rng::new(17);
        let alphabet = b"abcXYZ09 ,.'-\n\t_!Q";
        let mut texts: Vec<String> = vec![
            String::new(),
            "a".into(),
            " ".into(),
            "Don't STOP, 2 x 99 bottles!".into(),
            "x".repeat(63),
            "x".repeat(64),
            format!("{} {}", "Ab".repeat(40), "z".repeat(31)),
            format!("{}.{}", "q".repeat(100), "W".repeat(33)),
        ];
        for _ in 0..300 {
            let len = rng.below(400) as usize;
            // Runs of one class, so some words are long and cross 64-byte blocks.
            let mut t = String::new();
            while t.len() < len {
                let c = alphabet[rng.below(alphabet.len() as u64) as usize] as char;
                let run = 1 + rng.below(if c.is_ascii_alphanumeric() { 40 } else { 3 });
                (0..run).for_each(|_| t.push(c));
            }
            texts.push(t);
        }
        for t in &texts {
            assert_eq!(token_hashes(t), texthash::word_hashes_general(t), "{t:?}");
            assert_eq!(
                token_hashes(t),
                words(t).iter().map(|w| word_hash(w)).collect::<Vec<_>>(),
                "{t:?}"
            );
        }
        // Any other text takes texthash's general path.
        let t = "Ça va? ÉCOLE naïve, straße";
        assert_eq!(token_hashes(t), texthash::word_hashes_general(t));
    }

    #[test]
    fn the_chunked_signature_is_the_signature() {
        let minhash = MinHash::new(NUM_PERM);
        let tokens: Vec<u64> = (0..7000u64).map(|i| mix64(i % 997)).collect();
        for len in [0usize, 1, 4, 5, 6, 2051, 2052, 2053, 4100, 7000] {
            assert_eq!(
                signature_of_tokens_chunked(&minhash, &tokens[..len]),
                signature_of_tokens(&minhash, &tokens[..len]),
                "{len}"
            );
        }
    }

    #[test]
    fn strided_hashes_are_the_full_hashes_at_every_stride_th_position() {
        let tokens: Vec<u64> = (0..103u64).map(|i| mix64(i * 7 + 1)).collect();
        for n in [1usize, 5, 13] {
            let all = ngram_hashes(&tokens, n);
            for stride in [1usize, 2, 7, 8, 13, 200] {
                let mut got = Vec::new();
                strided_ngram_hashes_into(&tokens, n, stride, &mut got);
                let want: Vec<u64> = all.iter().copied().step_by(stride).collect();
                assert_eq!(got, want, "n={n} stride={stride}");
            }
            let mut none = Vec::new();
            strided_ngram_hashes_into(&tokens[..n - 1], n, 3, &mut none);
            assert!(none.is_empty());
        }
    }
}
