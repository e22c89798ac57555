//! Generation through the in-process GGUF backend: the incremental decoder (the
//! prompt's keys and values kept, one position added per token) must choose and
//! score every token exactly as a full forward pass over the whole sequence does;
//! seeded sampling is reproducible; and on the real SmolLM2 a greedy answer to a
//! factual question is the expected one.

mod common;

use common::tiny_gguf::write_tiny_gguf;
use probity::backend::generate::{argmax, Finish, GenerationConfig};
use probity::backend::GgufModel;
use probity::spec::Precision;

fn tiny() -> (tempfile::TempDir, GgufModel) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_tiny_gguf(&path, 42);
    let model = common::open_gguf(&path, Precision::F32);
    (dir, model)
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|&x| (x as f64 - max).exp())
            .sum::<f64>()
            .ln();
    logits.iter().map(|&x| x as f64 - lse).collect()
}

#[test]
fn cached_decoding_matches_full_recomputation() {
    let (_dir, model) = tiny();
    let prompt = "<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n";
    let config = GenerationConfig {
        max_tokens: 24,
        ..GenerationConfig::default()
    };
    // Steps computed as scoring computes them (f32 products); the default steps on
    // the weights' blocks are compared with these in tests/decode_kernel.rs.
    let mut ids = model.tokenize(prompt).unwrap();
    let mut decoder = model.decoder().exact_steps();
    let g = probity::backend::generate::generate(&mut decoder, &ids, &config).unwrap();
    assert!(!g.tokens.is_empty());
    for (k, (&token, &logprob)) in g.tokens.iter().zip(&g.logprobs).enumerate() {
        let logits = model.logits_after(&ids).unwrap();
        assert_eq!(argmax(&logits), token, "token {k}");
        let full = log_softmax(&logits)[token as usize];
        assert!(
            (full - logprob).abs() < 1e-4,
            "token {k}: cached {logprob}, full {full}"
        );
        ids.push(token);
    }
}

#[test]
fn seeded_sampling_is_reproducible_and_seeds_differ() {
    let (_dir, model) = tiny();
    let sample = |seed| GenerationConfig {
        max_tokens: 32,
        temperature: 1.0,
        top_p: 0.95,
        seed,
        stop: Vec::new(),
        watermark: None,
    };
    let a = model.generate("abc", &sample(1)).unwrap();
    let b = model.generate("abc", &sample(1)).unwrap();
    assert_eq!(a, b);
    let others: Vec<Vec<u32>> = (2..6)
        .map(|s| model.generate("abc", &sample(s)).unwrap().tokens)
        .collect();
    assert!(
        others.iter().any(|t| *t != a.tokens),
        "five seeds gave the same sample"
    );
    // A sample's every token is scored under the model's own distribution.
    assert!(a.logprobs.iter().all(|&lp| lp <= 0.0 && lp.is_finite()));
}

#[test]
fn bad_generation_settings_are_bad_input() {
    let (_dir, model) = tiny();
    let bad = GenerationConfig {
        temperature: -0.5,
        ..GenerationConfig::default()
    };
    let err = model.generate("abc", &bad).unwrap_err();
    assert_eq!(
        probity::Classify::kind(&err),
        probity::FailureKind::BadInput
    );
    assert!(err.to_string().contains("temperature"), "{err}");
}

#[test]
fn smollm2_answers_a_factual_question_greedily() {
    let Some(model) = common::smollm2_model(Precision::F32) else {
        return;
    };
    let prompt = model
        .chat_prompt("What is the capital of France? Answer in one word.")
        .unwrap();
    let config = GenerationConfig {
        max_tokens: 16,
        ..GenerationConfig::default()
    };
    let g = model.generate(&prompt, &config).unwrap();
    assert!(g.text.contains("Paris"), "{:?}", g.text);
    // The chat model ends its turn with <|im_end|> well within 16 tokens.
    assert_eq!(g.finish, Finish::EndToken, "{:?}", g.text);
    let stop = GenerationConfig {
        stop: vec!["aris".into()],
        ..config
    };
    let g = model.generate(&prompt, &stop).unwrap();
    assert_eq!(g.finish, Finish::Stop);
    assert!(g.text.ends_with('P'), "{:?}", g.text);
}

#[test]
fn the_cli_generates_and_refuses_bad_settings() {
    let (dir, _model) = tiny();
    let path = dir.path().join("tiny.gguf");
    let run = |extra: &[&str]| {
        common::probity()
            .args(["model", "generate"])
            .arg(&path)
            .args(["--prompt", "abc", "--max-tokens", "6"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--json", "--temperature", "1", "--seed", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tokens = g["tokens"].as_array().unwrap();
    assert!(!tokens.is_empty() && tokens.len() <= 6);
    assert_eq!(g["logprobs"].as_array().unwrap().len(), tokens.len());
    // The same seed, the same text.
    let again = run(&["--json", "--temperature", "1", "--seed", "3"]);
    assert_eq!(out.stdout, again.stdout);
    let bad = run(&["--top-p", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("top_p"));
}
