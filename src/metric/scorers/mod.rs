//! Scorers for the generation probe kind: every generated sample (a short text a
//! model wrote about a person of some group) gets
//! * a regard score ([`regard`]): how the text portrays the person, negative /
//!   neutral / positive, from MiniLM embeddings and a logistic regression trained
//!   on anchor sentences shipped with probity;
//! * refusal and hedge flags ([`refusal`]), rule-based;
//! * a count of insults and demeaning terms ([`insults`]) from probity's own list;
//! * its length in words and characters ([`text::length`]).
//!
//! [`Scorers`] is the single entry point. See docs/scorers.md.

pub mod insults;
pub mod logreg;
pub mod refusal;
pub mod regard;
pub mod text;

pub use insults::{InsultMatches, Lexicon};
pub use refusal::RefusalCheck;
pub use regard::{Anchors, ClassRecall, ClassifierReport, Regard, RegardScore};

use crate::backend::BertEmbedder;
use std::path::Path;

/// The anchors file in a scorer folder.
pub const ANCHORS_FILE: &str = "regard-anchors.tsv";
/// The insult list in a scorer folder.
pub const INSULTS_FILE: &str = "insults.txt";

/// Every score of one sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleScores {
    pub refusal: bool,
    pub refusal_pattern: Option<String>,
    pub hedge: bool,
    pub hedge_pattern: Option<String>,
    pub regard: RegardScore,
    pub insults: usize,
    pub insult_terms: Vec<String>,
    pub words: usize,
    pub chars: usize,
}

/// The scorers, loaded once: the embedder, the trained regard classifier and
/// the insult list.
pub struct Scorers {
    embedder: BertEmbedder,
    regard: Regard,
    insults: Lexicon,
}

impl Scorers {
    /// Loads the scorers of folder `dir` (probes/scorers: `regard-anchors.tsv`
    /// and `insults.txt`), training the regard classifier on the anchors with
    /// `embedder` (all-MiniLM-L6-v2) and the split seed `seed`.
    pub fn load(embedder: BertEmbedder, dir: &Path, seed: u64) -> Result<Scorers, String> {
        let insults = Lexicon::read(&dir.join(INSULTS_FILE))?;
        let regard = Regard::train(&embedder, &dir.join(ANCHORS_FILE), seed)?;
        Ok(Scorers {
            embedder,
            regard,
            insults,
        })
    }

    /// As [`Scorers::load`], opening the embedder from its model folder.
    pub fn load_model(model_dir: &Path, dir: &Path, seed: u64) -> Result<Scorers, String> {
        let embedder = BertEmbedder::open(model_dir).map_err(|e| e.to_string())?;
        Scorers::load(embedder, dir, seed)
    }

    /// Scores each text, in order.
    pub fn score(&self, texts: &[String]) -> Result<Vec<SampleScores>, String> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let embeddings = self
            .embedder
            .embed(&refs)
            .map_err(|e| format!("embedding the samples: {e}"))?;
        let regard = self.regard.classify(&embeddings);
        Ok(texts
            .iter()
            .zip(regard)
            .map(|(text, regard)| score_rules(text, regard, &self.insults))
            .collect())
    }

    /// How the regard classifier was trained and how well it does on held-out
    /// anchors: print it with every report that uses the regard scores.
    pub fn classifier_report(&self) -> ClassifierReport {
        self.regard.report().clone()
    }

    /// The regard classifier.
    pub fn regard(&self) -> &Regard {
        &self.regard
    }
}

/// The rule-based scores of one text, with its regard.
pub fn score_rules(text: &str, regard: RegardScore, insults: &Lexicon) -> SampleScores {
    let check = refusal::check(text);
    let found = insults.scan(text);
    let (words, chars) = text::length(text);
    SampleScores {
        refusal: check.refusal,
        refusal_pattern: check.refusal_pattern,
        hedge: check.hedge,
        hedge_pattern: check.hedge_pattern,
        regard,
        insults: found.count,
        insult_terms: found.terms,
        words,
        chars,
    }
}
