//! probity's MinHash Jaccard estimate for pairs of texts, for
//! bench/minhash_accuracy.py. Not a test and never run in CI.
//!
//! ```text
//! cargo run --release --example minhash_pairs < pairs.jsonl
//! ```
//!
//! Reads one JSON object `{"a": TEXT, "b": TEXT}` per line on stdin and prints
//! one line per pair: the estimate (share of equal slots of the two 128-slot
//! signatures of the texts' 5-word shingles, `texthash`'s rules).

use anyhow::{Context, Result};
use probity::provenance::texthash::{self, MinHash, MINHASH_K, SHINGLE_WORDS};
use std::io::{BufRead, Write};

fn main() -> Result<()> {
    let minhash = MinHash::new(MINHASH_K);
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("stdin, line {}", i + 1))?;
        let text = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .with_context(|| format!("stdin, line {}: no string `{k}`", i + 1))
        };
        let sig = |t: &str| minhash.signature(texthash::shingles(t, SHINGLE_WORDS));
        let est = texthash::jaccard_estimate(&sig(&text("a")?), &sig(&text("b")?));
        writeln!(out, "{est}")?;
    }
    Ok(())
}
