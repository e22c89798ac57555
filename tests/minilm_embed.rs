//! Sentence embeddings (`probity model embed`, `backend::bert`).
//!
//! Against the real all-MiniLM-L6-v2 (skipped when it is not cached, required under
//! CI=true): token ids and embeddings must match an independent NumPy float64
//! forward pass (tests/fixtures/minilm-reference.json, written by
//! tests/fixtures/minilm_numpy_reference.py, which runs each sentence alone and
//! unpadded), to cosine ≥ 0.9999; a text's embedding must not depend on the texts
//! it is batched with; `--json` prints exactly `{"embeddings": [[…], …]}`.
//!
//! On a tiny BERT folder the tests write themselves (no download): bad input —
//! missing folder or files, truncated weights, weights that do not match
//! config.json, a tokenizer the embedding matrix does not cover — is exit 2 naming
//! the file (and the tensor); f16, bf16 and sharded weights give the f32 answer.

mod common;

use candle_core::DType;
use common::tiny_bert::{self, write_tiny_bert, write_tiny_bert_with, Options};
use common::{probity, write};
use predicates::str::contains;
use probity::backend::{BertEmbedder, KnownModel};
use std::path::Path;

const MIN_COSINE: f64 = 0.9999;
const BATCH_TOLERANCE: f32 = 1e-5;

#[derive(serde::Deserialize)]
struct Fixture {
    model_safetensors_sha256: String,
    tokenizer_json_sha256: String,
    max_seq_length: usize,
    dimension: usize,
    sentences: Vec<Sentence>,
}

#[derive(serde::Deserialize)]
struct Sentence {
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f64>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/minilm-reference.json")).unwrap()
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * y).sum();
    let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

// ---------------------------------------------------------------- real model

#[test]
fn the_fixture_was_made_from_the_pinned_files() {
    let f = fixture();
    let known = KnownModel::find("all-minilm-l6-v2").unwrap();
    let pins = known.folder_files().unwrap();
    assert_eq!(pins["model.safetensors"], f.model_safetensors_sha256);
    assert_eq!(pins["tokenizer.json"], f.tokenizer_json_sha256);
}

#[test]
fn embeddings_match_the_numpy_reference() {
    let Some(folder) = common::minilm() else {
        return;
    };
    let f = fixture();
    let model = BertEmbedder::open(&folder).unwrap();
    assert_eq!(model.dimension(), f.dimension);
    assert_eq!(model.max_tokens(), f.max_seq_length);
    let texts: Vec<&str> = f.sentences.iter().map(|s| s.text.as_str()).collect();

    let encoded = model.encode(&texts).unwrap();
    for (e, s) in encoded.iter().zip(&f.sentences) {
        assert_eq!(e.ids, s.token_ids, "token ids of {:?}", s.text);
        assert_eq!(e.truncated, s.token_ids.len() == f.max_seq_length);
    }
    assert!(
        encoded.iter().any(|e| e.truncated),
        "the fixture has a text longer than max_seq_length"
    );

    // All at once: one batch, padded to the longest text, so every shorter text
    // is checked with padding masked out.
    let embeddings = model.embed(&texts).unwrap();
    let mut worst = (f64::INFINITY, "");
    for (e, s) in embeddings.iter().zip(&f.sentences) {
        let c = cosine(e, &s.embedding);
        if c < worst.0 {
            worst = (c, &s.text);
        }
        let norm = e.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{:?}: norm {norm}", s.text);
    }
    eprintln!(
        "minimum cosine to the NumPy reference over {} sentences: 1 - {:.2e} ({:?})",
        f.sentences.len(),
        1.0 - worst.0,
        worst.1
    );
    assert!(
        worst.0 >= MIN_COSINE,
        "cosine {} for {:?}",
        worst.0,
        worst.1
    );
}

#[test]
fn an_embedding_does_not_depend_on_its_batch() {
    let Some(folder) = common::minilm() else {
        return;
    };
    let f = fixture();
    let model = BertEmbedder::open(&folder).unwrap();
    let mut by_length: Vec<&str> = f.sentences.iter().map(|s| s.text.as_str()).collect();
    by_length.sort_by_key(|t| t.len());
    let short = by_length[by_length.len() / 3];
    let long: Vec<&str> = by_length[by_length.len() - 2..].to_vec();
    let alone = model.embed(&[short]).unwrap().remove(0);
    let batched = model.embed(&[long[0], short, long[1]]).unwrap();
    let d = max_abs_diff(&alone, &batched[1]);
    assert!(d <= BATCH_TOLERANCE, "{short:?}: {d} alone vs batched");
}

#[test]
fn cli_json_is_exactly_the_embeddings() {
    let Some(_) = common::minilm() else {
        return;
    };
    let f = fixture();
    let picked: Vec<&Sentence> = f.sentences.iter().take(3).collect();
    let mut args = vec!["model", "embed", "all-minilm-l6-v2", "--json"];
    for s in &picked {
        args.extend(["--text", s.text.as_str()]);
    }
    let out = probity().args(&args).assert().success();
    let value: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let object = value.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["embeddings"]);
    let rows = object["embeddings"].as_array().unwrap();
    assert_eq!(rows.len(), picked.len());
    for (row, s) in rows.iter().zip(&picked) {
        let e: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(e.len(), f.dimension);
        assert!(cosine(&e, &s.embedding) >= MIN_COSINE, "{:?}", s.text);
    }
}

#[test]
fn cli_text_prints_a_line_per_text() {
    let Some(folder) = common::minilm() else {
        return;
    };
    let f = fixture();
    let texts = [f.sentences[0].text.as_str(), f.sentences[1].text.as_str()];
    let out = probity()
        .arg("model")
        .arg("embed")
        .arg(&folder)
        .args(["--text", texts[0], "--text", texts[1]])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), texts.len());
    for (line, text) in lines.iter().zip(texts) {
        assert!(
            line.trim_start().starts_with(&f.dimension.to_string()),
            "{line}"
        );
        assert!(line.ends_with(&format!("{text:?}")), "{line}");
    }
}

// ---------------------------------------------------------------- tiny model

fn embed_fails(folder: &Path) -> assert_cmd::assert::Assert {
    probity()
        .arg("model")
        .arg("embed")
        .arg(folder)
        .args(["--text", "hello world"])
        .assert()
        .code(2)
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    write(path, &serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn tiny_model_embeds_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    let out = probity()
        .arg("model")
        .arg("embed")
        .arg(dir.path())
        .args([
            "--text",
            "hello world",
            "--text",
            "the nurse said",
            "--json",
        ])
        .assert()
        .success();
    let value: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let rows = value["embeddings"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let e: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(e.len(), tiny_bert::HIDDEN);
        let norm = e.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    assert_ne!(rows[0], rows[1]);
}

#[test]
fn the_tokenizer_files_padding_is_ignored_and_truncation_follows_sentence_transformers() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    let model = BertEmbedder::open(dir.path()).unwrap();
    assert_eq!(model.max_tokens(), tiny_bert::MAX_SEQ_LENGTH);
    let long = "the nurse said she would be late , the surgeon said he would be early .";
    let encoded = model.encode(&["hello world", long]).unwrap();
    // [CLS] hello world [SEP]: not padded to the tokenizer file's fixed length.
    assert_eq!(encoded[0].ids.len(), 4);
    assert!(!encoded[0].truncated);
    assert_eq!(encoded[1].ids.len(), tiny_bert::MAX_SEQ_LENGTH);
    assert!(encoded[1].truncated);
    probity()
        .arg("model")
        .arg("embed")
        .arg(dir.path())
        .args(["--text", long])
        .assert()
        .success()
        .stderr(contains(format!(
            "only its first {} are embedded",
            tiny_bert::MAX_SEQ_LENGTH
        )));
}

#[test]
fn malformed_token_rows_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    let model = BertEmbedder::open(dir.path()).unwrap();
    let too_long = probity::backend::bert::Encoded {
        ids: vec![2; tiny_bert::MAX_SEQ_LENGTH + 1],
        type_ids: vec![0; tiny_bert::MAX_SEQ_LENGTH + 1],
        truncated: false,
    };
    let mismatched = probity::backend::bert::Encoded {
        ids: vec![2, 3],
        type_ids: vec![0],
        truncated: false,
    };
    let empty = probity::backend::bert::Encoded {
        ids: vec![],
        type_ids: vec![],
        truncated: false,
    };
    for row in [too_long, mismatched, empty] {
        assert!(model.embed_encoded(&[row]).is_err());
    }
}

#[test]
fn padding_is_masked_out() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    let model = BertEmbedder::open(dir.path()).unwrap();
    let short = "hello";
    let alone = model.embed(&[short]).unwrap().remove(0);
    let batched = model
        .embed(&[
            "the nurse said she would be late .",
            short,
            "a surgeon , playing",
        ])
        .unwrap();
    let d = max_abs_diff(&alone, &batched[1]);
    assert!(d <= BATCH_TOLERANCE, "{d}");
}

#[test]
fn f16_bf16_and_sharded_weights_give_the_f32_embeddings() {
    let texts = ["hello world", "the surgeon said he would be early ."];
    let embed = |options: Options| {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_bert_with(dir.path(), options);
        BertEmbedder::open(dir.path())
            .unwrap()
            .embed(&texts)
            .unwrap()
    };
    for half in [DType::F16, DType::BF16] {
        let stored = embed(Options {
            dtype: half,
            round: half,
            sharded: false,
        });
        let as_f32 = embed(Options {
            dtype: DType::F32,
            round: half,
            sharded: false,
        });
        for (a, b) in stored.iter().zip(&as_f32) {
            assert_eq!(a, b, "{half:?}");
        }
    }
    let single = embed(Options::default());
    let sharded = embed(Options {
        sharded: true,
        ..Options::default()
    });
    assert_eq!(single, sharded);
}

#[test]
fn a_missing_folder_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    embed_fails(&missing)
        .stderr(contains(missing.display().to_string()))
        .stderr(contains("does not exist"));
}

#[test]
fn missing_files_are_bad_input_naming_them() {
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_bert(dir.path());
        std::fs::remove_file(dir.path().join(file)).unwrap();
        embed_fails(dir.path())
            .stderr(contains(dir.path().join(file).display().to_string()))
            .stderr(contains("does not exist"));
    }
}

#[test]
fn truncated_weights_are_bad_input_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    let weights = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    embed_fails(dir.path())
        .stderr(contains(weights.display().to_string()))
        .stderr(contains("truncated"));
}

#[test]
fn a_config_that_does_not_match_the_weights_names_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    edit_json(&dir.path().join("config.json"), |c| {
        c["hidden_size"] = serde_json::json!(tiny_bert::HIDDEN * 2);
    });
    embed_fails(dir.path())
        .stderr(contains("model.safetensors"))
        .stderr(contains("tensor `embeddings.word_embeddings.weight`"))
        .stderr(contains("config.json"));

    // Fewer layers in config.json than in the file: not silently cut.
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    edit_json(&dir.path().join("config.json"), |c| {
        c["num_hidden_layers"] = serde_json::json!(tiny_bert::LAYERS - 1);
    });
    embed_fails(dir.path())
        .stderr(contains("model.safetensors"))
        .stderr(contains("num_hidden_layers"));
}

#[test]
fn a_tokenizer_the_embeddings_do_not_cover_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    let mut vocab = tiny_bert::VOCAB.to_vec();
    vocab.extend(["extra", "words"]);
    write(
        &dir.path().join("tokenizer.json"),
        &tiny_bert::tokenizer(&vocab).to_string(),
    );
    embed_fails(dir.path())
        .stderr(contains("tokenizer.json"))
        .stderr(contains("embeddings.word_embeddings.weight"));
}

#[test]
fn unsupported_settings_are_bad_input_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    edit_json(&dir.path().join("config.json"), |c| {
        c["hidden_act"] = serde_json::json!("swish");
    });
    embed_fails(dir.path())
        .stderr(contains("config.json"))
        .stderr(contains("hidden_act `swish`"));

    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    edit_json(&dir.path().join("1_Pooling/config.json"), |c| {
        c["pooling_mode_mean_tokens"] = serde_json::json!(false);
        c["pooling_mode_cls_token"] = serde_json::json!(true);
    });
    embed_fails(dir.path())
        .stderr(contains("1_Pooling"))
        .stderr(contains("only mean pooling"));

    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    edit_json(&dir.path().join("config.json"), |c| {
        c.as_object_mut().unwrap().remove("hidden_size");
    });
    embed_fails(dir.path())
        .stderr(contains("config.json"))
        .stderr(contains("hidden_size"));
}

#[test]
fn known_models_of_the_wrong_kind_are_refused_before_any_fetch() {
    // Neither needs the model: both are refused from models.toml alone, with an
    // empty cache and no Python on PATH.
    let dir = tempfile::tempdir().unwrap();
    probity()
        .args(["model", "embed", "smollm2-135m-instruct", "--text", "hi"])
        .env("XDG_CACHE_HOME", dir.path())
        .env("PATH", dir.path())
        .assert()
        .code(2)
        .stderr(contains("embeddings need a BERT encoder"));
    probity()
        .args(["model", "score", "all-minilm-l6-v2", "--prompt", "hi"])
        .args(["--continuation", "x"])
        .env("XDG_CACHE_HOME", dir.path())
        .env("PATH", dir.path())
        .assert()
        .code(2)
        .stderr(contains("probity model embed"));
}
