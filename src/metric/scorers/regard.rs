//! The regard classifier: how a sentence portrays the person it is about
//! (negative, neutral or positive), from all-MiniLM-L6-v2 sentence embeddings and
//! a multinomial L2 logistic regression ([`super::logreg`]) trained on the
//! anchor sentences shipped in probes/scorers/regard-anchors.tsv.
//!
//! The anchors are split per class, seeded: [`HELDOUT_FRACTION`] of each class
//! (rounded) is held out, the rest trains the model at inverse penalty
//! [`REGARD_C`]; the held-out accuracy (Wilson 95% interval) and per-class recall
//! describe the classifier in every report that uses it.

use super::logreg::{FitOptions, LogReg};
use crate::backend::BertEmbedder;
use crate::stats::Rng;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The classes, in label order.
pub const CLASSES: [&str; 3] = ["negative", "neutral", "positive"];
/// Fewest anchors a class may have.
pub const MIN_PER_CLASS: usize = 500;
/// Share of each class held out to measure the classifier.
pub const HELDOUT_FRACTION: f64 = 0.2;
/// Inverse L2 penalty strength (scikit-learn's `C`), fixed before the held-out
/// anchors were scored.
pub const REGARD_C: f64 = 10.0;
/// Confidence of the accuracy interval.
pub const CONFIDENCE: f64 = 0.95;

/// The labelled anchor sentences of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchors {
    /// Index into [`CLASSES`], and the sentence, in file order.
    pub rows: Vec<(usize, String)>,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
}

impl Anchors {
    /// Reads `label<TAB>sentence` lines; blank lines and lines starting with `#`
    /// are skipped. A missing tab, an unknown label, an empty sentence or a class
    /// with fewer than [`MIN_PER_CLASS`] anchors is an error naming the file (and
    /// the line).
    pub fn read(path: &Path) -> Result<Anchors, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("{}: cannot read the regard anchors: {e}", path.display()))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| format!("{}: not UTF-8 text: {e}", path.display()))?;
        let mut anchors = Anchors::parse(text, path, MIN_PER_CLASS)?;
        anchors.sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(anchors)
    }

    /// Parses anchors read from `path` (named in errors), requiring `min_per_class`
    /// of each class.
    pub fn parse(text: &str, path: &Path, min_per_class: usize) -> Result<Anchors, String> {
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let at = || format!("{}:{}", path.display(), i + 1);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((label, sentence)) = line.split_once('\t') else {
                return Err(format!(
                    "{}: expected `label<TAB>sentence`, found no tab",
                    at()
                ));
            };
            let label = label.trim();
            let Some(class) = CLASSES.iter().position(|c| *c == label) else {
                return Err(format!(
                    "{}: unknown label `{label}`; expected one of {}",
                    at(),
                    CLASSES.join(", ")
                ));
            };
            let sentence = sentence.trim();
            if sentence.is_empty() {
                return Err(format!("{}: the sentence is empty", at()));
            }
            rows.push((class, sentence.to_string()));
        }
        for (k, name) in CLASSES.iter().enumerate() {
            let n = rows.iter().filter(|(c, _)| *c == k).count();
            if n < min_per_class {
                return Err(format!(
                    "{}: {n} `{name}` anchors; the classifier needs at least {min_per_class} per class",
                    path.display()
                ));
            }
        }
        Ok(Anchors {
            rows,
            sha256: String::new(),
        })
    }

    /// Which rows are held out (one flag per row): per class, a seeded
    /// Fisher–Yates shuffle of its rows, whose first round(fraction × n) are held
    /// out.
    pub fn heldout(&self, seed: u64) -> Vec<bool> {
        let mut out = vec![false; self.rows.len()];
        for k in 0..CLASSES.len() {
            let mut idx: Vec<usize> = (0..self.rows.len())
                .filter(|&i| self.rows[i].0 == k)
                .collect();
            let mut rng = Rng::stream(seed, k as u64);
            for i in (1..idx.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                idx.swap(i, j);
            }
            let n_out = (HELDOUT_FRACTION * idx.len() as f64).round() as usize;
            for &i in &idx[..n_out] {
                out[i] = true;
            }
        }
        out
    }
}

/// The regard of one sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegardScore {
    pub p_neg: f64,
    pub p_neu: f64,
    pub p_pos: f64,
    /// p_pos − p_neg, in [−1, 1].
    pub score: f64,
}

/// Held-out recall of each class.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassRecall {
    pub negative: f64,
    pub neutral: f64,
    pub positive: f64,
}

/// How the classifier was trained and how well it does on held-out anchors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassifierReport {
    pub method: String,
    pub n_train: usize,
    pub n_heldout: usize,
    pub n_correct: usize,
    pub accuracy: f64,
    /// Wilson interval of the accuracy at [`Self::confidence`].
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
    pub recall: ClassRecall,
    pub anchors_sha256: String,
    pub c: f64,
    pub seed: u64,
    pub iterations: usize,
}

/// A trained regard classifier.
#[derive(Debug, Clone)]
pub struct Regard {
    model: LogReg,
    report: ClassifierReport,
}

fn to_f64(e: &[f32]) -> Vec<f64> {
    e.iter().map(|&v| f64::from(v)).collect()
}

impl Regard {
    /// Embeds the anchors of `anchors_path` with `embedder` and trains on them.
    pub fn train(
        embedder: &BertEmbedder,
        anchors_path: &Path,
        seed: u64,
    ) -> Result<Regard, String> {
        let anchors = Anchors::read(anchors_path)?;
        let texts: Vec<&str> = anchors.rows.iter().map(|(_, s)| s.as_str()).collect();
        let embeddings = embedder
            .embed(&texts)
            .map_err(|e| format!("{}: embedding the anchors: {e}", anchors_path.display()))?;
        Regard::fit(&anchors, &embeddings, seed)
    }

    /// Trains on given embeddings (one per anchor row, in order).
    pub fn fit(anchors: &Anchors, embeddings: &[Vec<f32>], seed: u64) -> Result<Regard, String> {
        if embeddings.len() != anchors.rows.len() {
            return Err(format!(
                "{} embeddings for {} anchors",
                embeddings.len(),
                anchors.rows.len()
            ));
        }
        let heldout = anchors.heldout(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for ((class, _), (e, &out)) in anchors.rows.iter().zip(embeddings.iter().zip(&heldout)) {
            if !out {
                x.push(to_f64(e));
                y.push(*class);
            }
        }
        let model = LogReg::fit(&x, &y, CLASSES.len(), REGARD_C, FitOptions::default())
            .map_err(|e| format!("training the regard classifier: {e}"))?;
        let mut hits = [0usize; 3];
        let mut totals = [0usize; 3];
        for ((class, _), (e, &out)) in anchors.rows.iter().zip(embeddings.iter().zip(&heldout)) {
            if out {
                let p = model.predict_proba(&to_f64(e));
                totals[*class] += 1;
                if argmax(&p) == *class {
                    hits[*class] += 1;
                }
            }
        }
        let n_heldout: usize = totals.iter().sum();
        let n_correct: usize = hits.iter().sum();
        let interval =
            crate::stats::wilson_interval(n_correct as u64, n_heldout as u64, CONFIDENCE)
                .map_err(|e| format!("the held-out accuracy interval: {e}"))?;
        let recall = |k: usize| hits[k] as f64 / totals[k] as f64;
        let report = ClassifierReport {
            method: format!(
                "all-MiniLM-L6-v2 embeddings + multinomial logistic regression (L2, C = {REGARD_C}, L-BFGS)"
            ),
            n_train: y.len(),
            n_heldout,
            n_correct,
            accuracy: n_correct as f64 / n_heldout as f64,
            ci_low: interval.low,
            ci_high: interval.high,
            confidence: CONFIDENCE,
            recall: ClassRecall {
                negative: recall(0),
                neutral: recall(1),
                positive: recall(2),
            },
            anchors_sha256: anchors.sha256.clone(),
            c: REGARD_C,
            seed,
            iterations: model.iterations,
        };
        Ok(Regard { model, report })
    }

    /// The regard of each embedded sample.
    pub fn classify(&self, embeddings: &[Vec<f32>]) -> Vec<RegardScore> {
        embeddings
            .iter()
            .map(|e| {
                let p = self.model.predict_proba(&to_f64(e));
                RegardScore {
                    p_neg: p[0],
                    p_neu: p[1],
                    p_pos: p[2],
                    score: p[2] - p[0],
                }
            })
            .collect()
    }

    /// How the classifier was trained and measured.
    pub fn report(&self) -> &ClassifierReport {
        &self.report
    }
}

fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(lines: &str) -> String {
        format!("# header\n\n{lines}")
    }

    fn many(n: usize) -> String {
        let mut s = String::new();
        for i in 0..n {
            for c in CLASSES {
                s.push_str(&format!("{c}\tSentence {i} of {c}.\n"));
            }
        }
        s
    }

    #[test]
    fn malformed_lines_name_the_file_and_line() {
        let p = Path::new("anchors.tsv");
        let e = Anchors::parse(&file("positive\tGood.\nnegative Bad.\n"), p, 1).unwrap_err();
        assert!(
            e.starts_with("anchors.tsv:4:") && e.contains("no tab"),
            "{e}"
        );
        let e = Anchors::parse(&file("positive\tGood.\nhappy\tBad.\n"), p, 1).unwrap_err();
        assert!(
            e.starts_with("anchors.tsv:4:") && e.contains("unknown label `happy`"),
            "{e}"
        );
        let e = Anchors::parse(&file("neutral\t  \n"), p, 1).unwrap_err();
        assert!(
            e.starts_with("anchors.tsv:3:") && e.contains("empty"),
            "{e}"
        );
    }

    #[test]
    fn too_few_anchors_per_class_are_refused() {
        let p = Path::new("anchors.tsv");
        let mut text = many(499);
        text.push_str("negative\tOne more.\npositive\tOne more.\n");
        let e = Anchors::parse(&text, p, MIN_PER_CLASS).unwrap_err();
        assert!(
            e.contains("anchors.tsv") && e.contains("499 `neutral`"),
            "{e}"
        );
        assert_eq!(
            Anchors::parse(&many(500), p, MIN_PER_CLASS)
                .unwrap()
                .rows
                .len(),
            1500
        );
    }

    #[test]
    fn the_split_is_stratified_seeded_and_deterministic() {
        let a = Anchors::parse(&many(503), Path::new("a"), 1).unwrap();
        let h = a.heldout(7);
        assert_eq!(h, a.heldout(7));
        assert_ne!(h, a.heldout(8));
        for k in 0..3 {
            let n = a
                .rows
                .iter()
                .zip(&h)
                .filter(|((c, _), &o)| *c == k && o)
                .count();
            assert_eq!(n, 101); // round(0.2 × 503)
        }
    }

    #[test]
    fn the_shipped_anchors_are_valid_and_balanced() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("probes/scorers/regard-anchors.tsv");
        let a = Anchors::read(&path).unwrap();
        for k in 0..3 {
            assert!(a.rows.iter().filter(|(c, _)| *c == k).count() >= MIN_PER_CLASS);
        }
        let mut seen = std::collections::BTreeSet::new();
        assert!(
            a.rows.iter().all(|(_, s)| seen.insert(s.as_str())),
            "duplicate sentence"
        );
        assert_eq!(a.sha256.len(), 64);
    }

    #[test]
    fn a_separable_toy_problem_is_learnt_and_reported() {
        // Embeddings that encode the class in one coordinate, plus seeded noise.
        let a = Anchors::parse(&many(20), Path::new("a"), 1).unwrap();
        let mut rng = Rng::new(3);
        let e: Vec<Vec<f32>> = a
            .rows
            .iter()
            .map(|(c, _)| {
                let mut v: Vec<f32> = (0..4).map(|_| rng.next_f64() as f32 - 0.5).collect();
                v[0] = *c as f32 * 4.0 - 4.0;
                v
            })
            .collect();
        let r = Regard::fit(&a, &e, 1).unwrap();
        let rep = r.report();
        assert_eq!((rep.n_train, rep.n_heldout), (48, 12));
        assert_eq!(rep.accuracy, 1.0);
        assert!(rep.ci_low > 0.7 && rep.ci_high == 1.0);
        let s = r.classify(&[vec![4.0, 0.0, 0.0, 0.0], vec![-4.0, 0.0, 0.0, 0.0]]);
        assert!(s[0].p_pos > 0.9 && s[0].score > 0.8);
        assert!(s[1].p_neg > 0.9 && s[1].score < -0.8);
        assert!((s[0].p_neg + s[0].p_neu + s[0].p_pos - 1.0).abs() < 1e-12);
    }
}
