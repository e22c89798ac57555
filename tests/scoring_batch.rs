//! `GgufModel::score` runs a scenario's prompts as one shared prefix (computed
//! once, its keys and values reused) plus right-padded batches of the rest, and
//! reads several continuations from one row. Every score must equal what a plain
//! forward pass over the whole text (prompt + continuation, alone, no cache, no
//! padding) gives: the tiny random-weight model, with enough prompts to fill more
//! than one batch, and the real SmolLM2 when it is cached.

mod common;

use probity::backend::GgufModel;
use probity::spec::Precision;

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    row.iter().map(|&x| x as f64 - max - sum.ln()).collect()
}

/// Largest |score − plain forward pass| over every prompt and continuation.
fn largest_difference(model: &mut GgufModel, prompts: &[String], continuations: &[String]) -> f64 {
    let scores = model.score(prompts, continuations).unwrap();
    assert_eq!(scores.len(), prompts.len());
    let mut worst = 0f64;
    for (prompt, row) in prompts.iter().zip(&scores) {
        assert_eq!(row.len(), continuations.len());
        let prompt_ids = model.tokenize(prompt).unwrap();
        for (text, score) in continuations.iter().zip(row) {
            assert_eq!(&score.text, text);
            let cont: Vec<u32> = score.tokens.iter().map(|t| t.id).collect();
            assert!(!cont.is_empty());
            let mut ids = prompt_ids.clone();
            ids.extend_from_slice(&cont);
            let logits = model.logits_all(&ids[..ids.len() - 1]).unwrap();
            let mut expected = 0.0;
            for (j, &id) in cont.iter().enumerate() {
                let lp = log_softmax(&logits[prompt_ids.len() - 1 + j])[id as usize];
                worst = worst.max((score.tokens[j].logprob - lp).abs());
                expected += lp;
            }
            worst = worst.max((score.logprob - expected).abs());
        }
    }
    worst
}

#[test]
fn batched_scores_with_a_shared_prefix_equal_plain_forward_passes_on_the_tiny_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    common::tiny_gguf::write_tiny_gguf(&path, 7);
    let mut model = common::open_gguf(&path, Precision::F32);
    // 90 prompts of different lengths (padding) with a shared beginning, and more
    // tokens in all than one batch of 4,096 holds.
    let prompts: Vec<String> = (0..90)
        .map(|i| {
            format!(
                "The committee reviewed application {i}. The applicant is {}. Should it be approved?",
                "very ".repeat(i % 7)
            )
        })
        .collect();
    let tokens: usize = prompts
        .iter()
        .map(|p| model.tokenize(p).unwrap().len())
        .sum();
    assert!(tokens > 4096, "{tokens} tokens fit one batch");
    let continuations: Vec<String> = [" yes", " no", "Yes", " not at all"]
        .map(String::from)
        .to_vec();
    let worst = largest_difference(&mut model, &prompts, &continuations);
    eprintln!("tiny model: largest |batched − plain| {worst:.2e}");
    assert!(worst < 1e-4, "{worst}");
}

#[test]
fn batched_scores_with_a_shared_prefix_equal_plain_forward_passes_on_smollm2() {
    let Some(mut model) = common::smollm2_model(Precision::F32) else {
        return;
    };
    let people = [
        "a man",
        "a woman",
        "a 75-year-old person",
        "a person who uses a wheelchair",
        "Emily",
        "DeShawn",
    ];
    let prompts: Vec<String> = people
        .iter()
        .map(|p| {
            model
                .chat_prompt(&format!(
                    "A credit union is reviewing a personal loan application. The applicant is {p}. Should the credit union approve the loan? Answer yes or no."
                ))
                .unwrap()
        })
        .collect();
    let continuations: Vec<String> = [" yes", " no", "Yes", "No", " maybe later"]
        .map(String::from)
        .to_vec();
    let worst = largest_difference(&mut model, &prompts, &continuations);
    eprintln!("SmolLM2: largest |batched − plain| {worst:.2e}");
    assert!(worst < 1e-4, "{worst}");
}
