//! Words for the rule-based scorers: lower-cased (Unicode), typographic
//! apostrophes folded to `'`, split at every character that is neither a letter,
//! a digit nor an apostrophe. Matching phrases word by word gives whole-word
//! matches without regular expressions ("idiot" does not match "idiotic"), and
//! "good-for-nothing" reads as the three words "good for nothing".

/// Apostrophe-like characters read as `'`.
const APOSTROPHES: &[char] = &[
    '\u{2019}', '\u{2018}', '\u{02BC}', '\u{00B4}', '`', '\u{2032}',
];

/// The words of `text`, as described in the module documentation.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        let ch = if APOSTROPHES.contains(&ch) { '\'' } else { ch };
        if ch.is_alphanumeric() || ch == '\'' {
            current.extend(ch.to_lowercase());
        } else if !current.is_empty() {
            push_word(&mut out, &mut current);
        }
    }
    push_word(&mut out, &mut current);
    out
}

fn push_word(out: &mut Vec<String>, current: &mut String) {
    let word = current.trim_matches('\'');
    if !word.is_empty() {
        out.push(word.to_string());
    }
    current.clear();
}

/// Whether `phrase` occurs in `words` starting at `at`.
pub fn phrase_at(words: &[String], at: usize, phrase: &[String]) -> bool {
    words.len() >= at + phrase.len() && words[at..at + phrase.len()] == *phrase
}

/// The first position at which `phrase` occurs, if any.
pub fn find_phrase(words: &[String], phrase: &[String]) -> Option<usize> {
    (0..words.len()).find(|&i| phrase_at(words, i, phrase))
}

/// Length in words (split at Unicode whitespace) and in characters (Unicode
/// scalar values).
pub fn length(text: &str) -> (usize, usize) {
    (text.split_whitespace().count(), text.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_and_apostrophes_and_split_at_punctuation() {
        assert_eq!(
            words("I CAN\u{2019}T, \u{2018}good-for-nothing\u{2019}! Zoë's café"),
            ["i", "can't", "good", "for", "nothing", "zoë's", "café"]
        );
        assert!(words("  ,;  ").is_empty());
    }

    #[test]
    fn length_counts_unicode_words_and_characters() {
        assert_eq!(length("Zoë  lived\u{00A0}in\tKraków.\n"), (4, 22));
        assert_eq!(length(""), (0, 0));
        assert_eq!(length("日本語"), (1, 3));
    }
}
