//! The green-list watermark end to end: on the real SmolLM2 (γ 0.25, δ 2,
//! temperature 1, seeded, 200 tokens) watermarked answers are detected at z > 4
//! and unwatermarked ones are not, through the library and through the CLI; the
//! CLI refuses bad watermark flags with exit 2 naming the flag and never prints
//! the key. The full false-positive measurement (≥ 100 samples) is
//! bench/watermark_fpr.sh, too slow for CI.

mod common;

use common::tiny_gguf::write_tiny_gguf;
use probity::backend::generate::GenerationConfig;
use probity::provenance::watermark::{detect, WatermarkConfig};
use probity::spec::Precision;
use std::path::PathBuf;

const KEY: &str = "watermark test key";

fn watermark() -> WatermarkConfig {
    WatermarkConfig {
        gamma: 0.25,
        delta: 2.0,
        key: KEY.as_bytes().to_vec(),
    }
}

const PROMPTS: [&str; 4] = [
    "Write a long story about a cat who sails around the world.",
    "Explain in detail how trains work.",
    "Describe a day in the life of a farmer.",
    "Write an essay about the history of music.",
];

#[test]
fn smollm2_watermarked_answers_are_detected_and_unwatermarked_ones_are_not() {
    let Some(model) = common::smollm2_model(Precision::F32) else {
        return;
    };
    let sample = |i: usize, marked: bool| {
        let prompt = model.chat_prompt(PROMPTS[i % PROMPTS.len()]).unwrap();
        let config = GenerationConfig {
            max_tokens: 200,
            temperature: 1.0,
            seed: if marked { 100 } else { 200 } + i as u64,
            watermark: marked.then(watermark),
            ..GenerationConfig::default()
        };
        let g = model.generate(&prompt, &config).unwrap();
        // Detection sees only the text, re-tokenised, as a third party would.
        let ids = model.tokenize(&g.text).unwrap();
        (g, detect(&ids, &watermark()).unwrap())
    };
    for i in 0..3 {
        let (g, d) = sample(i, true);
        eprintln!("watermarked {i}: {} tokens, {d:?}", g.tokens.len());
        assert!(d.t >= 50, "only {} scored tokens: {:?}", d.t, g.text);
        assert!(d.z > 4.0 && d.p_value < 3.2e-5, "{d:?}: {:?}", g.text);
    }
    // Eight unwatermarked answers of at least 50 scored tokens (a sample that ends
    // its turn early is tested too, but not counted), from at most 16 seeds.
    let mut long = 0;
    for i in 0..16 {
        let (g, d) = sample(i, false);
        eprintln!("unwatermarked {i}: {} tokens, {d:?}", g.tokens.len());
        assert!(d.z <= 4.0, "{d:?}: {:?}", g.text);
        long += usize::from(d.t >= 50);
        if long == 8 {
            break;
        }
    }
    assert_eq!(long, 8, "too few long unwatermarked answers");
    // The same seed and key give the same watermarked text.
    assert_eq!(sample(0, true).0, sample(0, true).0);
}

#[test]
fn smollm2_cli_generates_with_a_key_and_detects_with_it_only() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let out = common::probity()
        .args(["model", "generate"])
        .arg(&path)
        .args(["--chat", "--prompt", PROMPTS[0], "--temperature", "1"])
        .args(["--seed", "9", "--max-tokens", "200", "--json"])
        .args(["--watermark-key", KEY, "--gamma", "0.25", "--delta", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    assert!(!String::from_utf8_lossy(&all).contains(KEY));
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = g["text"].as_str().unwrap();
    let detect = |key: &str| {
        let out = common::probity()
            .args(["model", "detect-watermark"])
            .arg(&path)
            .args(["--watermark-key", key, "--json", text])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let right = detect(KEY);
    assert_eq!(right["detected"], true, "{right}");
    assert!(right["z"].as_f64().unwrap() > 4.0, "{right}");
    let wrong = detect("another key");
    assert_eq!(wrong["detected"], false, "{wrong}");
    assert!(wrong["z"].as_f64().unwrap() < 4.0, "{wrong}");
}

fn tiny() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_tiny_gguf(&path, 42);
    (dir, path)
}

#[test]
fn the_cli_watermarks_on_the_tiny_model_and_never_shows_the_key() {
    let (dir, path) = tiny();
    let generate = |extra: &[&str]| {
        common::probity()
            .args(["model", "generate"])
            .arg(&path)
            .args([
                "--prompt",
                "abc",
                "--max-tokens",
                "20",
                "--temperature",
                "1",
            ])
            .args(["--seed", "4", "--json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let key = "hex:5ec12e75ec12e7";
    let marked = generate(&["--watermark-key", key, "--delta", "6"]);
    assert!(
        marked.status.success(),
        "{}",
        String::from_utf8_lossy(&marked.stderr)
    );
    for stream in [&marked.stdout, &marked.stderr] {
        let s = String::from_utf8_lossy(stream);
        assert!(
            !s.contains("5ec12e75ec12e7") && !s.contains("watermark_key"),
            "{s}"
        );
    }
    // The same key and seed, the same text; without the key the output is that
    // of plain sampling (δ 6 makes the two differ).
    assert_eq!(
        marked.stdout,
        generate(&["--watermark-key", key, "--delta", "6"]).stdout
    );
    let plain = generate(&[]);
    assert!(plain.status.success());
    assert_ne!(marked.stdout, plain.stdout);
    let zero = generate(&["--watermark-key", key, "--delta", "0"]);
    assert_eq!(zero.stdout, plain.stdout);

    // Detection on text, from an argument and from a file.
    let file = dir.path().join("text.txt");
    std::fs::write(&file, "hello there, general").unwrap();
    let out = common::probity()
        .args(["model", "detect-watermark"])
        .arg(&path)
        .args(["--watermark-key", "k", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("z:") && text.contains("p-value:"), "{text}");
}

#[test]
fn bad_watermark_flags_exit_2_naming_the_flag() {
    let (dir, path) = tiny();
    let generate = |extra: &[&str]| {
        common::probity()
            .args(["model", "generate"])
            .arg(&path)
            .args(["--prompt", "abc", "--max-tokens", "2"])
            .args(extra)
            .output()
            .unwrap()
    };
    let detect = |extra: &[&str]| {
        common::probity()
            .args(["model", "detect-watermark"])
            .arg(&path)
            .args(extra)
            .output()
            .unwrap()
    };
    let cases: Vec<(std::process::Output, &str)> = vec![
        (generate(&["--watermark-key", ""]), "--watermark-key"),
        (generate(&["--watermark-key", "hex:"]), "--watermark-key"),
        (generate(&["--watermark-key", "hex:xyz"]), "--watermark-key"),
        (
            generate(&["--watermark-key", "k", "--gamma", "1"]),
            "--gamma",
        ),
        (
            generate(&["--watermark-key", "k", "--gamma", "0"]),
            "--gamma",
        ),
        (
            generate(&["--watermark-key", "k", "--gamma", "-0.5"]),
            "--gamma",
        ),
        (
            generate(&["--watermark-key", "k", "--delta", "-1"]),
            "--delta",
        ),
        (
            generate(&["--watermark-key", "k", "--delta", "nan"]),
            "--delta",
        ),
        // γ and δ mean nothing without a key.
        (generate(&["--gamma", "0.5"]), "--watermark-key"),
        (detect(&["--watermark-key", "", "text"]), "--watermark-key"),
        (
            detect(&["--watermark-key", "k", "--gamma", "1.5", "text"]),
            "--gamma",
        ),
        (detect(&["text"]), "--watermark-key"),
        (detect(&["--watermark-key", "k"]), "TEXT"),
        (
            detect(&["--watermark-key", "k", "--file", "/no/such/file.txt"]),
            "/no/such/file.txt",
        ),
    ];
    for (out, flag) in cases {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains(flag), "{flag}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    drop(dir);
}
