//! sha256 of files the way probity hashes a model or an output for the
//! manifest (`provenance::sha256_file`), for bench/hash_speed.sh. Not a test.
//!
//! ```text
//! cargo run --release --example hash_file -- FILE...
//! ```
//!
//! Prints `sha256  FILE  seconds  MB/s` per file.

use anyhow::{Context, Result};
use std::time::Instant;

fn main() -> Result<()> {
    for f in std::env::args().skip(1) {
        let start = Instant::now();
        let (digest, size) = probity::provenance::sha256_file(std::path::Path::new(&f))
            .with_context(|| format!("cannot read {f}"))?;
        let t = start.elapsed().as_secs_f64();
        println!("{digest}  {f}  {t:.3} s  {:.0} MB/s", size as f64 / 1e6 / t);
    }
    Ok(())
}
