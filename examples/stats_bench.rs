//! Times two of probity's resampling routines on data read from files, for
//! `bench/stats_vs_scipy.py` (which compares them with SciPy). Not a test and
//! never run in CI.
//!
//! ```text
//! cargo run --release --example stats_bench -- permutation X_FILE Y_FILE [--seed S] [--repeats R]
//! cargo run --release --example stats_bench -- bca X_FILE [--seed S] [--repeats R]
//! ```
//!
//! Files hold whitespace-separated numbers. `permutation` runs
//! `label_permutation_test(x, y, 0, 9_999, seed)` (`max_exact_arrangements`
//! 0 forces Monte Carlo); `bca` runs `bootstrap_mean_bca(x, 9_999, seed,
//! 0.95)`. The call is repeated R times (default 3) after one untimed
//! warm-up call (which starts rayon's thread pool), and one JSON object is
//! printed: every repeat's seconds, their minimum and median, and the result
//! (identical in every repeat, since the seed is fixed).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use probity::stats::{bootstrap_mean_bca, label_permutation_test};
use serde_json::json;

const N_RESAMPLES: u64 = 9_999;
const CONFIDENCE: f64 = 0.95;

fn read_numbers(path: &str) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    text.split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .with_context(|| format!("{path}: not a number: {t:?}"))
        })
        .collect()
}

/// Runs `f` once untimed, then `repeats` times timed; returns the seconds
/// of each timed call and the last result.
fn time<T>(repeats: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Vec<f64>, T)> {
    let mut last = f()?;
    let mut seconds = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        last = f()?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    Ok((seconds, last))
}

fn summary(seconds: &[f64]) -> serde_json::Value {
    let mut sorted = seconds.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    json!({ "seconds": seconds, "min_seconds": sorted[0], "median_seconds": median })
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut seed = 12_345_u64;
    let mut repeats = 3_usize;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seed" => seed = it.next().context("--seed needs a value")?.parse()?,
            "--repeats" => repeats = it.next().context("--repeats needs a value")?.parse()?,
            _ => positional.push(arg.as_str()),
        }
    }
    if repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    let threads = rayon::current_num_threads();
    let mut out = match positional.as_slice() {
        ["permutation", x_file, y_file] => {
            let x = read_numbers(x_file)?;
            let y = read_numbers(y_file)?;
            let (seconds, r) = time(repeats, || {
                Ok(label_permutation_test(&x, &y, 0, N_RESAMPLES, seed)?)
            })?;
            let mut out = summary(&seconds);
            out["mode"] = json!("permutation");
            out["n_x"] = json!(x.len());
            out["n_y"] = json!(y.len());
            out["n_resamples"] = json!(N_RESAMPLES);
            out["p_value"] = json!(r.p_value);
            out["statistic"] = json!(r.statistic);
            out["exact"] = json!(r.exact);
            out
        }
        ["bca", x_file] => {
            let x = read_numbers(x_file)?;
            let (seconds, ci) = time(repeats, || {
                Ok(bootstrap_mean_bca(
                    &x,
                    N_RESAMPLES as usize,
                    seed,
                    CONFIDENCE,
                )?)
            })?;
            let mut out = summary(&seconds);
            out["mode"] = json!("bca");
            out["n_x"] = json!(x.len());
            out["n_resamples"] = json!(N_RESAMPLES);
            out["confidence"] = json!(CONFIDENCE);
            out["low"] = json!(ci.low);
            out["high"] = json!(ci.high);
            out
        }
        _ => bail!(
            "usage: stats_bench permutation X_FILE Y_FILE [--seed S] [--repeats R]\n       \
             stats_bench bca X_FILE [--seed S] [--repeats R]"
        ),
    };
    out["seed"] = json!(seed);
    out["repeats"] = json!(repeats);
    out["threads"] = json!(threads);
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stats_bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
