//! SentencePiece tokenisation as llama.cpp runs it for `tokenizer.ggml.model =
//! "llama"` (phi3, gemma): control and user-defined tokens are split out of the
//! text first; each remaining fragment gets a leading space when the model asks
//! for one (`add_space_prefix`, default true) — the first fragment and every
//! fragment after a special token, as llama.cpp does — spaces become `▁`, and
//! then, starting from single characters, the adjacent pair whose concatenation
//! is a token with the highest score is merged (ties to the leftmost) until no
//! pair is a token. A character that is not a token is written as its UTF-8
//! bytes (`<0xXX>` tokens), or as the unknown token when the vocabulary has none.

use std::collections::{BinaryHeap, HashMap};

const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_BYTE: i32 = 6;
const SPACE: char = '\u{2581}';

pub struct Spm {
    tokens: Vec<String>,
    scores: Vec<f32>,
    types: Vec<i32>,
    ids: HashMap<String, u32>,
    /// Control and user-defined tokens, longest first.
    specials: Vec<(String, u32)>,
    bytes: [Option<u32>; 256],
    add_space_prefix: bool,
    unk: Option<u32>,
}

/// A candidate merge of symbols `left` and `left + 1`, ordered by score, then
/// leftmost first.
#[derive(PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    size: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A run of text during merging: a byte range of the fragment and its neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Spm {
    pub fn new(
        tokens: Vec<String>,
        scores: Vec<f32>,
        types: Vec<i32>,
        add_space_prefix: bool,
        unk: Option<u32>,
    ) -> Result<Spm, String> {
        if scores.len() != tokens.len() || types.len() != tokens.len() {
            return Err(format!(
                "{} tokens but {} scores and {} token types",
                tokens.len(),
                scores.len(),
                types.len()
            ));
        }
        let mut ids = HashMap::with_capacity(tokens.len());
        let mut bytes = [None; 256];
        let mut specials = Vec::new();
        for (i, (t, &ty)) in tokens.iter().zip(&types).enumerate() {
            ids.entry(t.clone()).or_insert(i as u32);
            if ty == TYPE_BYTE {
                if let Some(b) = t
                    .strip_prefix("<0x")
                    .and_then(|h| h.strip_suffix('>'))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    bytes[b as usize] = Some(i as u32);
                }
            }
            if (ty == TYPE_CONTROL || ty == TYPE_USER_DEFINED) && !t.is_empty() {
                specials.push((t.clone(), i as u32));
            }
        }
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let unk = unk.or_else(|| {
            types
                .iter()
                .position(|&t| t == TYPE_UNKNOWN)
                .map(|i| i as u32)
        });
        Ok(Spm {
            tokens,
            scores,
            types,
            ids,
            specials,
            bytes,
            add_space_prefix,
            unk,
        })
    }

    /// Token ids of `text` (no BOS: the caller adds it).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut after_special = true;
        let mut fragment_start = 0;
        let mut i = 0;
        while i < text.len() {
            let special = self
                .specials
                .iter()
                .find(|(s, _)| text[i..].starts_with(s.as_str()));
            match special {
                Some((s, id)) => {
                    if fragment_start < i {
                        self.encode_fragment(&text[fragment_start..i], after_special, &mut out);
                    }
                    out.push(*id);
                    after_special = true;
                    i += s.len();
                    fragment_start = i;
                }
                None => {
                    i += text[i..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        if fragment_start < text.len() {
            self.encode_fragment(&text[fragment_start..], after_special, &mut out);
        }
        out
    }

    fn encode_fragment(&self, fragment: &str, after_special: bool, out: &mut Vec<u32>) {
        let mut text = String::with_capacity(fragment.len() + 3);
        if self.add_space_prefix && after_special {
            text.push(SPACE);
        }
        text.extend(fragment.chars().map(|c| if c == ' ' { SPACE } else { c }));
        let mut symbols: Vec<Symbol> = Vec::new();
        for (start, c) in text.char_indices() {
            let n = symbols.len();
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: n.checked_sub(1),
                next: None,
            });
            if n > 0 {
                symbols[n - 1].next = Some(n);
            }
        }
        let mut queue = BinaryHeap::new();
        let try_pair = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize| {
            let Some(right) = symbols[left].next else {
                return;
            };
            let (a, b) = (symbols[left], symbols[right]);
            let joined = &text[a.start..b.start + b.len];
            if let Some(&id) = self.ids.get(joined) {
                queue.push(Bigram {
                    score: self.scores[id as usize],
                    left,
                    size: joined.len(),
                });
            }
        };
        for i in 0..symbols.len() {
            try_pair(&mut queue, &symbols, i);
        }
        while let Some(bigram) = queue.pop() {
            let left = bigram.left;
            let Some(right) = symbols[left].next else {
                continue;
            };
            // Skip a stale candidate: one of its symbols has merged since.
            if symbols[left].len == 0
                || symbols[right].len == 0
                || symbols[left].len + symbols[right].len != bigram.size
            {
                continue;
            }
            symbols[left].len += symbols[right].len;
            symbols[right].len = 0;
            symbols[left].next = symbols[right].next;
            if let Some(next) = symbols[right].next {
                symbols[next].prev = Some(left);
            }
            if let Some(prev) = symbols[left].prev {
                try_pair(&mut queue, &symbols, prev);
            }
            try_pair(&mut queue, &symbols, left);
        }
        let mut at = if symbols.is_empty() { None } else { Some(0) };
        while let Some(i) = at {
            let s = symbols[i];
            let piece = &text[s.start..s.start + s.len];
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for b in piece.bytes() {
                        match (self.bytes[b as usize], self.unk) {
                            (Some(id), _) | (None, Some(id)) => out.push(id),
                            (None, None) => {}
                        }
                    }
                }
            }
            at = s.next;
        }
    }

    /// The text of `ids`: `▁` as spaces, byte tokens as their bytes, control
    /// tokens left out when `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        let mut bytes: Vec<u8> = Vec::new();
        for &id in ids {
            let Some(token) = self.tokens.get(id as usize) else {
                continue;
            };
            match self.types[id as usize] {
                TYPE_BYTE => {
                    if let Some(b) = token
                        .strip_prefix("<0x")
                        .and_then(|h| h.strip_suffix('>'))
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        bytes.push(b);
                    }
                }
                TYPE_CONTROL | TYPE_UNKNOWN if skip_special => {}
                _ => bytes.extend(token.replace(SPACE, " ").as_bytes()),
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match text.strip_prefix(' ') {
            Some(rest) if self.add_space_prefix && skip_special => rest.to_string(),
            _ => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Spm {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "<|end|>".into()];
        let mut types = vec![2, 3, 3];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
        }
        for t in ["▁", "a", "b", "c", "ab", "▁ab", "bc"] {
            tokens.push(t.into());
            types.push(1);
        }
        let mut scores = vec![0.0; tokens.len()];
        let score = |t: &str| tokens.iter().position(|x| x == t).unwrap();
        scores[score("ab")] = -1.0;
        scores[score("bc")] = -0.5; // preferred over "ab"
        scores[score("▁ab")] = -2.0;
        Spm::new(tokens, scores, types, true, Some(0)).unwrap()
    }

    #[test]
    fn merges_by_score_and_falls_back_to_bytes() {
        let spm = vocab();
        let id = |t: &str| spm.ids[t];
        // "abc": "bc" (−0.5) beats "ab" (−1); then "▁" + "a" is no token.
        assert_eq!(spm.encode("abc"), [id("▁"), id("a"), id("bc")]);
        // "ab" alone: merged, then "▁ab".
        assert_eq!(spm.encode("ab"), [id("▁ab")]);
        // "é" is not a token: its two UTF-8 bytes.
        assert_eq!(spm.encode("é"), [id("▁"), id("<0xC3>"), id("<0xA9>")]);
        // A special token splits the text; the next fragment gets a space prefix.
        assert_eq!(
            spm.encode("ab<|end|>ab"),
            [id("▁ab"), id("<|end|>"), id("▁ab")]
        );
        assert_eq!(spm.decode(&spm.encode("ab é"), true), "ab é");
    }
}
