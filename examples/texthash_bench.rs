//! Throughput of the text fingerprints (src/provenance/texthash.rs) on one large
//! text, one thread. Not a test and never run in CI.
//!
//! ```text
//! cargo run --release --example texthash_bench -- [FILE | --mb N] [--repeats R] [--kernel scalar|avx2|avx512]
//! ```
//!
//! Without FILE, a seeded text of N MB (default 100) is generated: words of 2 to
//! 10 letters drawn uniformly from 20,000 made-up words (so nearly every 5-word
//! shingle is distinct, the costly case), with commas, full stops and line
//! breaks. Each stage is timed R times (default 3) and the fastest run is
//! reported as MB/s of input text; one JSON object is printed.

use anyhow::{bail, Context, Result};
use probity::provenance::texthash::{self, Kernel, MinHash, MINHASH_K, SHINGLE_WORDS};
use probity::stats::rng::Rng;
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

fn generate(mb: usize) -> String {
    let mut rng = Rng::new(7);
    let vocab: Vec<String> = (0..20_000)
        .map(|_| {
            let len = 2 + rng.below(9) as usize;
            (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect()
        })
        .collect();
    let target = mb * 1_000_000;
    let mut text = String::with_capacity(target + 16);
    while text.len() < target {
        text.push_str(&vocab[rng.below(vocab.len() as u64) as usize]);
        text.push_str(match rng.below(40) {
            0 => ", ",
            1 => ". ",
            2 => "\n",
            _ => " ",
        });
    }
    text
}

fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = None;
    let mut fastest = f64::INFINITY;
    for _ in 0..repeats {
        let start = Instant::now();
        let v = f();
        fastest = fastest.min(start.elapsed().as_secs_f64());
        out = Some(v);
    }
    (fastest, out.expect("at least one repeat"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut file, mut mb, mut repeats) = (None, 100usize, 3usize);
    let mut kernel = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => mb = args.next().context("--mb N")?.parse()?,
            "--repeats" => repeats = args.next().context("--repeats R")?.parse()?,
            "--kernel" => {
                kernel = Some(match args.next().context("--kernel K")?.as_str() {
                    "scalar" => Kernel::Scalar,
                    "avx2" => Kernel::Avx2,
                    "avx512" => Kernel::Avx512,
                    other => bail!("unknown kernel {other}: scalar, avx2 or avx512"),
                })
            }
            other if other.starts_with("--") => bail!("unknown option {other}"),
            other => file = Some(other.to_string()),
        }
    }
    let text = match &file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("cannot read {f}"))?,
        None => generate(mb),
    };
    let size_mb = text.len() as f64 / 1e6;
    let mut minhash = MinHash::new(MINHASH_K);
    if let Some(k) = kernel {
        minhash = minhash
            .with_kernel(k)
            .with_context(|| format!("{k:?} is not available on this CPU or build"))?;
    }
    let (t_sha, _) = best(repeats, || texthash::content_sha256(&text));
    let (t_shingles, shingles) = best(repeats, || {
        texthash::shingles(&text, SHINGLE_WORDS).collect::<Vec<u64>>()
    });
    let (t_minhash, _) = best(repeats, || minhash.signature(shingles.iter().copied()));
    let (t_both, _) = best(repeats, || {
        minhash.signature(texthash::shingles(&text, SHINGLE_WORDS))
    });
    let (t_simhash, _) = best(repeats, || texthash::simhash64(&text));
    let rate = |t: f64| (size_mb / t * 10.0).round() / 10.0;
    let report = json!({
        "input": file.unwrap_or_else(|| format!("generated, seed 7, {mb} MB")),
        "mb": size_mb,
        "shingles": shingles.len(),
        "repeats": repeats,
        "kernel": format!("{:?}", minhash.kernel()),
        "seconds": {"normalise_sha256": t_sha, "shingles": t_shingles,
                    "minhash_of_shingles": t_minhash, "shingles_plus_minhash": t_both,
                    "simhash": t_simhash},
        "mb_per_s": {"normalise_sha256": rate(t_sha), "shingles": rate(t_shingles),
                     "minhash_of_shingles": rate(t_minhash),
                     "shingles_plus_minhash": rate(t_both), "simhash": rate(t_simhash)},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
