//! Text fingerprints for tracing a model's output back to the audit that
//! recorded it, and for the protected-corpus index: a normalised content hash
//! (exact match), word shingles, MinHash signatures (estimated Jaccard
//! similarity of shingle sets) and a 64-bit SimHash. docs/provenance.md states
//! every rule below; the rules are part of the fingerprint index format and of
//! the corpus index format, so changing one means a new format version of both.
//!
//! - [`normalise`]: Unicode NFC, then every run of whitespace (`char::is_whitespace`)
//!   becomes one space, and the ends are trimmed. Case is kept.
//! - [`content_sha256`]: hex sha256 of the normalised text's UTF-8 bytes.
//! - [`words`]: maximal runs of `char::is_alphanumeric` characters (Unicode
//!   Alphabetic, or general category Nd/Nl/No); everything else separates words.
//! - [`word_hashes`]: NFC, then `str::to_lowercase`, then [`words`]; each word is
//!   hashed with XXH3-64 (seed 0) over its UTF-8 bytes. Pure-ASCII stretches
//!   (between ASCII whitespace) take a fast path (ASCII is already NFC: lower-case
//!   the bytes, split on non-alphanumeric ASCII) that gives the same words.
//! - [`shingles`] / [`shingle_hashes`]: from the word hashes t_0 … t_{m−1}, each
//!   run of `n` consecutive words gives mix64(Σ_j t_{i+j}·B^(n−1−j) mod 2^64),
//!   B = [`NGRAM_BASE`], mix64 = SplitMix64's finaliser ([`mix64`]). A text of 1
//!   to n−1 words gives one shingle, the same formula over all its words; a text
//!   of no words gives none.
//! - [`MinHash`]: k hash functions h_i(x) = ⌊((a_i·x + b_i) mod 2^64) / 2^32⌋
//!   (Dietzfelbinger's multiply-add-shift, 64 → 32 bits) of the shingle hash x;
//!   slot i = min over the shingles of h_i(x). a_0 … a_{k−1} (each `next_u64() | 1`,
//!   odd) then b_0 … b_{k−1} (`next_u64()`) are drawn from `Rng::new(MINHASH_SEED)`.
//!   The Jaccard estimate is the share of equal slots. Computed 8 slots at a time
//!   with AVX-512 when the CPU has it (and the compiler is 1.89 or newer), 4 at a
//!   time with AVX2, else one at a time; all give the same bits.
//! - [`simhash64`]: over the 3-word shingles (same rule): bit i of the result is
//!   set when more shingles (counted with multiplicity) have bit i set than clear.

use crate::stats::rng::Rng;
use sha2::{Digest, Sha256};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use xxhash_rust::xxh3::xxh3_64;

mod kernels;
pub use kernels::Kernel;

/// Words per shingle of the MinHash signatures.
pub const SHINGLE_WORDS: usize = 5;
/// Words per shingle of the SimHash.
pub const SIMHASH_WORDS: usize = 3;
/// Hash functions (slots) of the MinHash signatures.
pub const MINHASH_K: usize = 128;
/// Seed of the generator that draws the hash functions' (a, b).
pub const MINHASH_SEED: u64 = 1;
/// Base of the polynomial word n-gram hash (odd, so multiplication is invertible
/// mod 2^64).
pub const NGRAM_BASE: u64 = 0x100_0000_01b3_u64 | 0x9e37_79b9_0000_0001;

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

/// NFC then lower case: the form word hashes are taken from.
fn shingle_form(text: &str) -> String {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        text.to_lowercase()
    } else {
        text.nfc().collect::<String>().to_lowercase()
    }
}

/// Calls `f` with each word of the lower-cased NFC form of `text` (its UTF-8
/// bytes), in order: the general rule, one allocation per call.
fn each_word_general(text: &str, f: &mut impl FnMut(&[u8])) {
    let form = shingle_form(text);
    for w in form.split(|c: char| !c.is_alphanumeric()) {
        if !w.is_empty() {
            f(w.as_bytes());
        }
    }
}

/// Whether each byte is an ASCII letter or digit.
const ASCII_ALNUM: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    t
};

/// The same for ASCII text (already NFC): lower-cased bytes, split on every
/// byte that is not an ASCII letter or digit. `buf` is reused.
fn each_word_ascii(text: &[u8], buf: &mut Vec<u8>, f: &mut impl FnMut(&[u8])) {
    buf.clear();
    buf.extend_from_slice(text);
    buf.make_ascii_lowercase();
    let (mut i, n) = (0, buf.len());
    while i < n {
        while i < n && !ASCII_ALNUM[usize::from(buf[i])] {
            i += 1;
        }
        let start = i;
        while i < n && ASCII_ALNUM[usize::from(buf[i])] {
            i += 1;
        }
        if i > start {
            f(&buf[start..i]);
        }
    }
}

/// Calls `f` with each word of `text` under the shingle rule (NFC, lower case,
/// [`words`]), in order. ASCII stretches take the fast path; a stretch holding a
/// non-ASCII byte, widened to the ASCII whitespace around it (and over any
/// following stretch that also holds one), takes the general one. Cutting at
/// ASCII whitespace changes nothing: whitespace is never part of a word, no NFC
/// composition starts or ends with it, and it ends the context of the final-sigma
/// rule of `to_lowercase`.
pub fn for_each_word(text: &str, mut f: impl FnMut(&[u8])) {
    let bytes = text.as_bytes();
    let mut buf = Vec::new();
    if text.is_ascii() {
        each_word_ascii(bytes, &mut buf, &mut f);
        return;
    }
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(off) = bytes[pos..].iter().position(|b| !b.is_ascii()) else {
            each_word_ascii(&bytes[pos..], &mut buf, &mut f);
            return;
        };
        let bad = pos + off;
        let start = bytes[pos..bad]
            .iter()
            .rposition(u8::is_ascii_whitespace)
            .map_or(pos, |i| pos + i + 1);
        let mut end = bad;
        loop {
            // The end of this stretch, then whether the next one holds non-ASCII.
            end += bytes[end..]
                .iter()
                .position(u8::is_ascii_whitespace)
                .unwrap_or(bytes.len() - end);
            let next = end
                + bytes[end..]
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(bytes.len() - end);
            let next_end = next
                + bytes[next..]
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .unwrap_or(bytes.len() - next);
            if next < bytes.len() && !bytes[next..next_end].is_ascii() {
                end = next_end;
            } else {
                break;
            }
        }
        each_word_ascii(&bytes[pos..start], &mut buf, &mut f);
        // Cut at ASCII bytes, so both ends are char boundaries.
        each_word_general(&text[start..end], &mut f);
        pos = end;
    }
}

/// XXH3-64 (seed 0) of each word of `text` under the shingle rule, in order.
pub fn word_hashes(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    word_hashes_into(text, &mut out);
    out
}

/// [`word_hashes`] into `out` (cleared first; its memory is reused). An ASCII
/// text takes a faster path: words found 64 bytes at a time from a bit mask of
/// its letters and digits, each lower-cased into a small buffer and hashed.
pub fn word_hashes_into(text: &str, out: &mut Vec<u64>) {
    out.clear();
    if text.is_ascii() {
        ascii_word_hashes(text.as_bytes(), out);
    } else {
        out.reserve(text.len() / 6 + 1);
        for_each_word(text, |w| out.push(xxh3_64(w)));
    }
}

/// Bit i is set when byte i of `block` is an ASCII letter or digit.
#[inline]
fn alnum_mask(block: &[u8; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let mut mask = 0u64;
        for k in 0..4 {
            // SAFETY: SSE2 is part of every x86_64 target; the load reads the 16
            // bytes at 16k of a 64-byte array.
            let bits = unsafe {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
                // A letter: (v | 0x20) − 'a' ≤ 25; a digit: v − '0' ≤ 9 (unsigned).
                let t = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8(0x61));
                let alpha = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(25)), t);
                let d = _mm_sub_epi8(v, _mm_set1_epi8(0x30));
                let digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
                _mm_movemask_epi8(_mm_or_si128(alpha, digit)) as u32 & 0xffff
            };
            mask |= u64::from(bits) << (16 * k);
        }
        mask
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block.iter().enumerate().fold(0u64, |m, (i, b)| {
            m | (u64::from(b.is_ascii_alphanumeric()) << i)
        })
    }
}

/// XXH3-64 of `text[s..e]` (ASCII letters and digits) lower-cased: for these
/// bytes lower case is `| 0x20`.
#[inline]
fn lower_hash(text: &[u8], s: usize, e: usize) -> u64 {
    let len = e - s;
    let mut buf = [0u8; 32];
    if len <= 32 {
        if s + 32 <= text.len() {
            buf.copy_from_slice(&text[s..s + 32]);
        } else {
            buf[..len].copy_from_slice(&text[s..e]);
        }
        for b in buf.iter_mut() {
            *b |= 0x20;
        }
        xxh3_64(&buf[..len])
    } else {
        let word: Vec<u8> = text[s..e].iter().map(|&b| b | 0x20).collect();
        xxh3_64(&word)
    }
}

/// [`texthash::word_hashes`] of an ASCII text: maximal runs of ASCII letters and
/// digits, lower-cased, hashed with XXH3-64.
fn ascii_word_hashes(text: &[u8], out: &mut Vec<u64>) {
    out.reserve(text.len() / 6 + 1);
    // Whether the byte before this block is a letter or digit (a word is open),
    // and where that word started.
    let (mut open, mut start) = (0u64, 0usize);
    let mut base = 0;
    while base < text.len() {
        let mask = match text[base..].first_chunk::<64>() {
            Some(block) => alnum_mask(block),
            None => {
                let mut block = [0u8; 64];
                block[..text.len() - base].copy_from_slice(&text[base..]);
                alnum_mask(&block)
            }
        };
        let before = (mask << 1) | open;
        let starts = mask & !before;
        let ends = !mask & before;
        let mut events = starts | ends;
        while events != 0 {
            let i = events.trailing_zeros() as usize;
            events &= events - 1;
            if starts >> i & 1 == 1 {
                start = base + i;
            } else {
                out.push(lower_hash(text, start, base + i));
            }
        }
        open = mask >> 63;
        base += 64;
    }
    if open == 1 {
        out.push(lower_hash(text, start, text.len()));
    }
}

/// [`word_hashes`] by the general rule only (no ASCII fast path): for tests.
#[doc(hidden)]
pub fn word_hashes_general(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    each_word_general(text, &mut |w| out.push(xxh3_64(w)));
    out
}

/// splitmix64's finaliser: a bijection on u64 that spreads every input bit.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes of every n-gram of `tokens` (word hashes), in order: the polynomial
/// Σ tokens[i+j]·B^(n−1−j) mod 2^64, rolled in O(1) per position, then passed
/// through [`mix64`]. Empty when there are fewer than n tokens.
pub fn ngram_hashes(tokens: &[u64], n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    ngram_hashes_into(tokens, n, &mut out);
    out
}

/// [`ngram_hashes`], appended to `out`.
pub fn ngram_hashes_into(tokens: &[u64], n: usize, out: &mut Vec<u64>) {
    if n == 0 || tokens.len() < n {
        return;
    }
    let top = (1..n).fold(1u64, |p, _| p.wrapping_mul(NGRAM_BASE)); // B^(n-1)
    let mut h = tokens[..n]
        .iter()
        .fold(0u64, |h, &t| h.wrapping_mul(NGRAM_BASE).wrapping_add(t));
    out.reserve(tokens.len() - n + 1);
    out.push(mix64(h));
    for i in n..tokens.len() {
        h = h
            .wrapping_sub(tokens[i - n].wrapping_mul(top))
            .wrapping_mul(NGRAM_BASE)
            .wrapping_add(tokens[i]);
        out.push(mix64(h));
    }
}

/// The `n`-word shingle hashes of a text given its [`word_hashes`]: its n-gram
/// hashes, or for a text of 1 to n−1 words one hash of all of them.
pub fn shingle_hashes(word_hashes: &[u64], n: usize) -> Vec<u64> {
    let n = n.max(1);
    match word_hashes.len() {
        0 => Vec::new(),
        m if m < n => ngram_hashes(word_hashes, m),
        _ => ngram_hashes(word_hashes, n),
    }
}

/// Hashes of the `n`-word shingles of `text`, in text order (repeats included).
pub fn shingles(text: &str, n: usize) -> impl Iterator<Item = u64> {
    shingle_hashes(&word_hashes(text), n).into_iter()
}

/// MinHash with `k` seeded hash functions (see the module notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinHash {
    pub k: usize,
    a: Vec<u64>,
    b: Vec<u64>,
    kernel: Kernel,
}

impl MinHash {
    /// The `k` hash functions drawn from `Rng::new(MINHASH_SEED)`, computed with
    /// the fastest kernel this CPU supports.
    pub fn new(k: usize) -> MinHash {
        let mut rng = Rng::new(MINHASH_SEED);
        let a = (0..k).map(|_| rng.next_u64() | 1).collect();
        let b = (0..k).map(|_| rng.next_u64()).collect();
        MinHash {
            k,
            a,
            b,
            kernel: Kernel::detect(),
        }
    }

    /// The same hash functions computed by `kernel`, when this CPU has it.
    pub fn with_kernel(mut self, kernel: Kernel) -> Option<MinHash> {
        kernel.available().then(|| {
            self.kernel = kernel;
            self
        })
    }

    /// The kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// The hash functions' (a_i, b_i).
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
            chunk.extend(iter.by_ref().take(CHUNK));
            if chunk.is_empty() {
                break;
            }
            self.update(&mut sig, &chunk);
        }
        sig
    }

    /// The signature of a slice of shingle hashes.
    pub fn signature_of(&self, shingles: &[u64]) -> Vec<u32> {
        let mut sig = vec![u32::MAX; self.k];
        for chunk in shingles.chunks(2048) {
            self.update(&mut sig, chunk);
        }
        sig
    }

    /// Folds `xs` into `sig`.
    fn update(&self, sig: &mut [u32], xs: &[u64]) {
        kernels::update(self.kernel, &self.a, &self.b, sig, xs);
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
    simhash_of(&shingle_hashes(&word_hashes(text), SIMHASH_WORDS))
}

/// SimHash of shingle hashes.
pub fn simhash_of(shingles: &[u64]) -> u64 {
    let mut votes = [0i64; 64];
    for &h in shingles {
        for (i, v) in votes.iter_mut().enumerate() {
            *v += ((h >> i & 1) as i64) * 2 - 1;
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
        // XXH3-64 reference value of the xxHash spec's empty input.
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
        // A shingle from its words' hashes, written out.
        let t: Vec<u64> = ["the", "cat", "sat", "on", "the"]
            .iter()
            .map(|w| xxh3_64(w.as_bytes()))
            .collect();
        let poly = t
            .iter()
            .fold(0u64, |h, &w| h.wrapping_mul(NGRAM_BASE).wrapping_add(w));
        assert_eq!(a[0], mix64(poly));
        let short: Vec<u64> = shingles("Two words", 5).collect();
        let two = xxh3_64(b"two")
            .wrapping_mul(NGRAM_BASE)
            .wrapping_add(xxh3_64(b"words"));
        assert_eq!(short, [mix64(two)]);
        assert_eq!(shingles("...", 5).count(), 0);
    }

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

    /// Random texts mixing ASCII words, punctuation and whitespace with
    /// accented, decomposed, Greek (final sigma), Turkish dotted I, CJK and
    /// combining characters, next to each other and to whitespace.
    fn mixed_text(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            "word",
            "The",
            "CAT",
            "x9",
            "42",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            ",",
            ".",
            "--",
            "'",
            "\u{b}",
            "\u{c}",
            "caf\u{e9}",
            "cafe\u{301}",
            "\u{301}",
            "\u{301}x",
            "\u{3a3}",
            "\u{39f}\u{3a3}",
            "\u{39f}\u{3a3}\u{39f}",
            "\u{130}",
            "I\u{307}",
            "\u{df}",
            "\u{1e9e}",
            "\u{65e5}\u{672c}",
            "\u{2163}",
            "\u{bd}",
            "\u{2019}",
            "\u{a0}",
            "\u{2003}",
            "\u{fb01}",
            "\u{212b}",
            "A\u{30a}",
            "\u{1100}\u{1161}",
            "\u{d55c}",
            "\u{1f600}",
            "\u{e000}",
            "ABC\u{3a3}",
            "e\u{300}\u{327}",
        ];
        let n = rng.below(40) as usize;
        (0..n)
            .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
            .collect()
    }

    #[test]
    fn ascii_fast_path_gives_the_general_words() {
        let mut rng = Rng::new(5);
        for _ in 0..20_000 {
            let t = mixed_text(&mut rng);
            assert_eq!(word_hashes(&t), word_hashes_general(&t), "{t:?}");
            // And the words themselves, by the documented rule.
            let mut fast = Vec::new();
            for_each_word(&t, |w| fast.push(String::from_utf8(w.to_vec()).unwrap()));
            let form: String = t.nfc().collect::<String>().to_lowercase();
            assert_eq!(fast, words(&form), "{t:?}");
        }
        let pure = "Hello, World! 42 times -- it's 9AM.";
        assert_eq!(word_hashes(pure), word_hashes_general(pure));
        assert_eq!(word_hashes(pure).len(), 7); // hello world 42 times it s 9am
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
        assert_eq!(m.signature(s.clone()), m.signature_of(&s));
        assert_eq!(m.signature(Vec::new()), vec![u32::MAX; MINHASH_K]);
        assert!(m.parameters().all(|(a, _)| a % 2 == 1));
        // Every kernel this CPU has gives the same signature.
        let long: Vec<u64> = (0..5000u64).map(mix64).collect();
        let scalar = m.clone().with_kernel(Kernel::Scalar).unwrap();
        let want = scalar.signature_of(&long);
        for k in [Kernel::Avx2, Kernel::Avx512] {
            if let Some(mk) = m.clone().with_kernel(k) {
                assert_eq!(mk.signature_of(&long), want, "{k:?}");
            }
        }
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

    /// Over 600 pairs of texts (an edited copy of a random text, 2 % to 60 % of
    /// its words replaced), the estimate's mean error is zero within 3 standard
    /// errors, and its mean square error is that of k independent slots,
    /// J(1 − J)/k, within 20 %. The exact Jaccard index is computed here from the
    /// shingle strings (5 words joined by a space), not from probity's hashes.
    #[test]
    fn minhash_estimator_is_unbiased_on_text_pairs() {
        let m = MinHash::new(MINHASH_K);
        let mut rng = Rng::new(23);
        let vocab: Vec<String> = (0..5000)
            .map(|i| format!("w{i}x{}", rng.below(1000)))
            .collect();
        let shingle_set = |ws: &[&str]| -> HashSet<String> {
            ws.windows(SHINGLE_WORDS).map(|w| w.join(" ")).collect()
        };
        let (mut errors, mut expected_var) = (Vec::new(), 0.0);
        for _ in 0..600 {
            let len = 80 + rng.below(300) as usize;
            let a: Vec<&str> = (0..len)
                .map(|_| vocab[rng.below(vocab.len() as u64) as usize].as_str())
                .collect();
            let rate = 0.02 + 0.58 * rng.next_f64();
            let b: Vec<&str> = a
                .iter()
                .map(|&w| {
                    if rng.next_f64() < rate {
                        vocab[rng.below(vocab.len() as u64) as usize].as_str()
                    } else {
                        w
                    }
                })
                .collect();
            let (sa, sb) = (shingle_set(&a), shingle_set(&b));
            let j = sa.intersection(&sb).count() as f64 / sa.union(&sb).count() as f64;
            let est = jaccard_estimate(
                &m.signature(shingles(&a.join(" "), SHINGLE_WORDS)),
                &m.signature(shingles(&b.join(" "), SHINGLE_WORDS)),
            );
            errors.push(est - j);
            expected_var += j * (1.0 - j) / MINHASH_K as f64;
        }
        let n = errors.len() as f64;
        let mean = errors.iter().sum::<f64>() / n;
        let mse = errors.iter().map(|e| e * e).sum::<f64>() / n;
        let sd = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let se = sd / n.sqrt();
        assert!(mean.abs() <= 3.0 * se, "bias {mean}, standard error {se}");
        let ratio = mse / (expected_var / n);
        assert!((0.8..1.2).contains(&ratio), "MSE / (J(1−J)/k) = {ratio}");
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
