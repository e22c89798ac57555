//! The watermark flags of `probity model generate` and `probity model
//! detect-watermark`: the key and parameters checked (exit 2 naming the flag),
//! the text tokenised with the model's tokenizer, z and p printed. The key is
//! never printed or written anywhere.

use super::commands::{bad_input, open_cli_model, CliError, Status};
use crate::provenance::watermark::{self, WatermarkConfig};
use anyhow::{anyhow, Context};
use std::io::Read;
use std::path::PathBuf;

/// The key bytes of `--watermark-key`: `hex:` followed by hex digits, or else the
/// text's UTF-8 bytes.
pub fn parse_key(text: &str) -> Result<Vec<u8>, CliError> {
    let key = match text.strip_prefix("hex:") {
        Some(digits) => hex::decode(digits).map_err(|e| {
            bad_input(anyhow!(
                "--watermark-key: `hex:` must be followed by hex digits ({e})"
            ))
        })?,
        None => text.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err(bad_input(anyhow!(
            "--watermark-key is empty: give a secret of at least one byte"
        )));
    }
    Ok(key)
}

/// The watermark of the flags, each checked and named when wrong.
pub fn config(key: &str, gamma: f64, delta: f64) -> Result<WatermarkConfig, CliError> {
    let key = parse_key(key)?;
    if !(gamma > 0.0 && gamma < 1.0) {
        return Err(bad_input(anyhow!("--gamma must be in (0, 1), not {gamma}")));
    }
    if !(delta.is_finite() && delta >= 0.0) {
        return Err(bad_input(anyhow!(
            "--delta must be a finite number ≥ 0, not {delta}"
        )));
    }
    Ok(WatermarkConfig { gamma, delta, key })
}

/// What `model detect-watermark` reads and how it decides.
pub struct DetectArgs {
    pub model: String,
    pub text: Option<String>,
    pub file: Option<PathBuf>,
    pub key: String,
    pub gamma: f64,
    pub z_threshold: f64,
    pub json: bool,
}

pub fn detect_command(args: DetectArgs) -> Result<Status, CliError> {
    // δ plays no part in detection; 0 passes the check.
    let config = config(&args.key, args.gamma, 0.0)?;
    if !args.z_threshold.is_finite() {
        return Err(bad_input(anyhow!(
            "--z-threshold must be a finite number, not {}",
            args.z_threshold
        )));
    }
    let text = match (args.text, args.file) {
        (Some(t), None) => t,
        (None, Some(f)) if f.as_os_str() == "-" => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("cannot read standard input as UTF-8 text")
                .map_err(bad_input)?;
            t
        }
        (None, Some(f)) => std::fs::read_to_string(&f)
            .with_context(|| format!("cannot read {} as UTF-8 text", f.display()))
            .map_err(bad_input)?,
        _ => return Err(bad_input(anyhow!("give the TEXT or --file FILE"))),
    };
    let model = open_cli_model(&args.model, "f32", None)?;
    let ids = model.tokenize(&text)?;
    let d = watermark::detect(&ids, &config).map_err(|m| bad_input(anyhow!(m)))?;
    let detected = d.z > args.z_threshold;
    if args.json {
        let value = serde_json::json!({
            "tokens": ids.len(),
            "scored": d.t,
            "green": d.green,
            "gamma": config.gamma,
            "z": d.z,
            "p_value": d.p_value,
            "z_threshold": args.z_threshold,
            "detected": detected,
        });
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    } else {
        println!(
            "tokens:  {} ({} scored: the first token and repeated pairs are not)",
            ids.len(),
            d.t
        );
        let share = if d.t == 0 {
            0.0
        } else {
            d.green as f64 / d.t as f64
        };
        println!(
            "green:   {} ({share:.3}; {:.3} expected without the watermark)",
            d.green, config.gamma
        );
        println!("z:       {:.3}", d.z);
        println!("p-value: {:.3e} (one-sided)", d.p_value);
        println!(
            "verdict: {} (z {} {})",
            if detected {
                "watermark detected"
            } else {
                "no watermark detected"
            },
            if detected { ">" } else { "≤" },
            args.z_threshold
        );
    }
    Ok(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_text_or_hex_and_never_empty() {
        assert_eq!(parse_key("abc").unwrap(), b"abc");
        assert_eq!(parse_key("hex:00ff10").unwrap(), vec![0, 255, 16]);
        assert!(parse_key("").is_err());
        assert!(parse_key("hex:").is_err());
        assert!(parse_key("hex:zz").is_err());
        let flag = |r: Result<WatermarkConfig, CliError>| r.unwrap_err().error.to_string();
        assert!(flag(config("k", 1.0, 2.0)).contains("--gamma"));
        assert!(flag(config("k", 0.0, 2.0)).contains("--gamma"));
        assert!(flag(config("k", 0.5, -0.1)).contains("--delta"));
        assert!(flag(config("k", 0.5, f64::INFINITY)).contains("--delta"));
        assert!(flag(config("", 0.5, 2.0)).contains("--watermark-key"));
    }
}
