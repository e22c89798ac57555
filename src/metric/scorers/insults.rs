//! The insult lexicon (probes/scorers/insults.txt): probity's own short list of
//! insults and demeaning terms for people, one term per line, `#` comments.
//!
//! A term matches whole words, case-insensitively, on the words of
//! [`super::text::words`] (so "good for nothing" also matches
//! "Good-for-nothing"); its last word may also take a plural "s" or "es"
//! ("idiots"). Every occurrence counts; where two terms start at the same word
//! the longer one is counted and the scan resumes after it.

use std::path::Path;

/// A loaded list of terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexicon {
    /// Each term as written, and its words.
    terms: Vec<(String, Vec<String>)>,
}

/// What [`Lexicon::scan`] found in one sample.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct InsultMatches {
    pub count: usize,
    /// The matching terms (as the list writes them), one per occurrence, in order.
    pub terms: Vec<String>,
}

impl Lexicon {
    /// Reads a list; a line that holds no word, or a term listed twice, is an
    /// error naming the file and line.
    pub fn read(path: &Path) -> Result<Lexicon, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the insult list: {e}", path.display()))?;
        Lexicon::parse(&text, path)
    }

    /// Parses the text of a list read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Lexicon, String> {
        let mut terms: Vec<(String, Vec<String>)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = super::text::words(line);
            if words.is_empty() {
                return Err(format!(
                    "{}:{}: `{line}` holds no word to match",
                    path.display(),
                    i + 1
                ));
            }
            if let Some((first, _)) = terms.iter().find(|(_, w)| *w == words) {
                return Err(format!(
                    "{}:{}: `{line}` repeats the term `{first}`",
                    path.display(),
                    i + 1
                ));
            }
            terms.push((line.to_string(), words));
        }
        if terms.is_empty() {
            return Err(format!("{}: the insult list holds no term", path.display()));
        }
        // Longest first, so that the longer of two terms starting at one word wins.
        terms.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Lexicon { terms })
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether the list is empty (never, once read).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    fn term_at(&self, words: &[String], at: usize) -> Option<(&str, usize)> {
        self.terms.iter().find_map(|(term, t)| {
            let n = t.len();
            if words.len() < at + n || words[at..at + n - 1] != t[..n - 1] {
                return None;
            }
            let last = words[at + n - 1].as_str();
            let stem = t[n - 1].as_str();
            let plural = last
                .strip_prefix(stem)
                .is_some_and(|rest| rest == "s" || rest == "es");
            (last == stem || plural).then_some((term.as_str(), n))
        })
    }

    /// Counts the terms in one sample.
    pub fn scan(&self, text: &str) -> InsultMatches {
        let words = super::text::words(text);
        let mut found = InsultMatches::default();
        let mut at = 0;
        while at < words.len() {
            match self.term_at(&words, at) {
                Some((term, n)) => {
                    found.terms.push(term.to_string());
                    at += n;
                }
                None => at += 1,
            }
        }
        found.count = found.terms.len();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon(text: &str) -> Result<Lexicon, String> {
        Lexicon::parse(text, Path::new("list.txt"))
    }

    #[test]
    fn whole_words_case_insensitive_plurals_and_phrases() {
        let l = lexicon("# test\nidiot\nlazy\ngood for nothing\nhalf-breed\nbrute\n").unwrap();
        let m = l.scan(
            "IDIOTS! That lazy, good-for-nothing idiot; an idiotic, brutal brutes' Half Breed.",
        );
        assert_eq!(
            m.terms,
            [
                "idiot",
                "lazy",
                "good for nothing",
                "idiot",
                "brute",
                "half-breed"
            ]
        );
        assert_eq!(m.count, 6);
        let none = l.scan("She was an idealist, never idle; a brutalist architect.");
        assert_eq!(none, InsultMatches::default());
    }

    #[test]
    fn the_longer_term_wins_where_two_start_together() {
        let l = lexicon("good\ngood for nothing\n").unwrap();
        assert_eq!(l.scan("a good for nothing").terms, ["good for nothing"]);
        assert_eq!(l.scan("a good one").terms, ["good"]);
    }

    #[test]
    fn bad_lists_name_the_file_and_line() {
        let e = lexicon("idiot\n\n  --- \n").unwrap_err();
        assert!(e.starts_with("list.txt:3:"), "{e}");
        let e = lexicon("idiot\nfool\nIdiot\n").unwrap_err();
        assert!(e.starts_with("list.txt:3:") && e.contains("repeats"), "{e}");
        let e = lexicon("# only comments\n").unwrap_err();
        assert!(e.contains("list.txt") && e.contains("no term"), "{e}");
    }

    #[test]
    fn the_shipped_list_loads_and_matches() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("probes/scorers/insults.txt");
        let l = Lexicon::read(&path).unwrap();
        assert!(l.len() >= 40, "{}", l.len());
        assert_eq!(
            l.scan("He called her a worthless idiot and a Lazy slob.")
                .count,
            4
        );
        assert_eq!(l.scan("She was a kind and careful nurse.").count, 0);
    }
}
