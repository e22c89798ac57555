//! The text primitives the index is built from: words, their 64-bit hashes, the
//! rolling n-gram hash, the MinHash signature and its LSH band keys.

use super::SHINGLE_WORDS;

/// MinHash values per signature.
pub const NUM_PERM: usize = 128;

// TEMPORARY until texthash lands: lower-cased runs of alphanumeric characters.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

// TEMPORARY: FNV-1a then a finaliser.
pub fn word_hash(word: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// The words of `text` and their hashes.
pub fn word_hashes(text: &str) -> Vec<u64> {
    words(text).iter().map(|w| word_hash(w)).collect()
}

// TEMPORARY MinHash over word 5-gram shingles.
pub fn signature(words: &[String]) -> Vec<u64> {
    const P: u64 = (1 << 61) - 1;
    let mut state = 0x5eed_u64;
    let mut params = Vec::with_capacity(NUM_PERM);
    for _ in 0..NUM_PERM {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let a = mix64(state) % (P - 1) + 1;
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let b = mix64(state) % P;
        params.push((a, b));
    }
    let mut sig = vec![u64::MAX; NUM_PERM];
    if words.len() < SHINGLE_WORDS {
        return sig;
    }
    for w in words.windows(SHINGLE_WORDS) {
        let x = mix64(w.join(" ").bytes().fold(0u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })) % P;
        for (s, &(a, b)) in sig.iter_mut().zip(&params) {
            let v = ((u128::from(a) * u128::from(x) + u128::from(b)) % u128::from(P)) as u64;
            if v < *s {
                *s = v;
            }
        }
    }
    sig
}

/// Whether a signature is that of an empty shingle set (text shorter than a shingle).
pub fn is_empty_signature(sig: &[u64]) -> bool {
    sig.iter().all(|&v| v == u64::MAX)
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
pub fn band_key(band: usize, rows: &[u64]) -> u64 {
    let mut h = mix64(band as u64 ^ 0xb5ad_4ece_da1c_e2a9);
    for &v in rows {
        h = mix64(h ^ v);
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
        let a = word_hashes("one two three four five six");
        let b = word_hashes("zero one two three four five six seven");
        let ha = ngram_hashes(&a, 4);
        let hb = ngram_hashes(&b, 4);
        assert_eq!(ha[0], hb[1]);
        assert_eq!(ha[2], hb[3]);
        assert_ne!(ha[0], ha[1]);
    }
}
