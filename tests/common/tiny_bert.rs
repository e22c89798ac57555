//! A tiny BERT model folder written by the tests themselves, laid out like a
//! sentence-transformers model (config.json, tokenizer.json with the same
//! WordPiece / BertPreTokenizer / template pipeline as all-MiniLM-L6-v2,
//! model.safetensors, sentence_bert_config.json, 1_Pooling/config.json): random
//! weights (seeded), so the embedding code is exercised with no download.

use candle_core::{DType, Device, Tensor};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

pub const HIDDEN: usize = 8;
pub const HEADS: usize = 2;
pub const LAYERS: usize = 2;
pub const INTERMEDIATE: usize = 16;
pub const POSITIONS: usize = 24;
/// Texts are truncated here ([CLS] and [SEP] included), below `POSITIONS`.
pub const MAX_SEQ_LENGTH: usize = 12;

pub const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "nurse", "surgeon", "said", "she",
    "he", "would", "be", "late", "early", ".", ",", "!", "?", "hello", "world", "play", "##ing",
    "##s",
];

/// How the weights are stored.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The type the weights are stored in.
    pub dtype: DType,
    /// The type the weights are rounded through first (so that an f32 file can
    /// hold exactly the values of an f16 or bf16 one).
    pub round: DType,
    /// Two shards and a model.safetensors.index.json instead of one file.
    pub sharded: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dtype: DType::F32,
            round: DType::F32,
            sharded: false,
        }
    }
}

/// A deterministic pseudo-random tensor around `centre`.
fn random(shape: &[usize], seed: u64, centre: f32, scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            centre + (unit * 2.0 - 1.0) * scale
        })
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// Every tensor of the model, rounded through `dtype` (so that weights stored as
/// f16 or bf16 hold exactly the values of the f32 file written with the same
/// rounding) and stored as `store`.
pub fn tensors(round: DType, store: DType) -> HashMap<String, Tensor> {
    let mut t: HashMap<String, Tensor> = HashMap::new();
    let mut seed = 1u64;
    let mut add = |name: String, shape: &[usize], centre: f32, scale: f32| {
        seed += 1;
        let v = random(shape, seed, centre, scale)
            .to_dtype(round)
            .unwrap()
            .to_dtype(store)
            .unwrap();
        t.insert(name, v);
    };
    add(
        "embeddings.word_embeddings.weight".into(),
        &[VOCAB.len(), HIDDEN],
        0.0,
        1.0,
    );
    add(
        "embeddings.position_embeddings.weight".into(),
        &[POSITIONS, HIDDEN],
        0.0,
        0.5,
    );
    add(
        "embeddings.token_type_embeddings.weight".into(),
        &[2, HIDDEN],
        0.0,
        0.1,
    );
    add("embeddings.LayerNorm.weight".into(), &[HIDDEN], 1.0, 0.1);
    add("embeddings.LayerNorm.bias".into(), &[HIDDEN], 0.0, 0.1);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for m in ["query", "key", "value"] {
            add(
                format!("{p}.attention.self.{m}.weight"),
                &[HIDDEN, HIDDEN],
                0.0,
                0.5,
            );
            add(format!("{p}.attention.self.{m}.bias"), &[HIDDEN], 0.0, 0.1);
        }
        add(
            format!("{p}.attention.output.dense.weight"),
            &[HIDDEN, HIDDEN],
            0.0,
            0.5,
        );
        add(
            format!("{p}.attention.output.dense.bias"),
            &[HIDDEN],
            0.0,
            0.1,
        );
        add(
            format!("{p}.attention.output.LayerNorm.weight"),
            &[HIDDEN],
            1.0,
            0.1,
        );
        add(
            format!("{p}.attention.output.LayerNorm.bias"),
            &[HIDDEN],
            0.0,
            0.1,
        );
        add(
            format!("{p}.intermediate.dense.weight"),
            &[INTERMEDIATE, HIDDEN],
            0.0,
            0.5,
        );
        add(
            format!("{p}.intermediate.dense.bias"),
            &[INTERMEDIATE],
            0.0,
            0.1,
        );
        add(
            format!("{p}.output.dense.weight"),
            &[HIDDEN, INTERMEDIATE],
            0.0,
            0.5,
        );
        add(format!("{p}.output.dense.bias"), &[HIDDEN], 0.0, 0.1);
        add(format!("{p}.output.LayerNorm.weight"), &[HIDDEN], 1.0, 0.1);
        add(format!("{p}.output.LayerNorm.bias"), &[HIDDEN], 0.0, 0.1);
    }
    t
}

pub fn config() -> serde_json::Value {
    json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": POSITIONS,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": VOCAB.len()
    })
}

/// A tokenizer.json like all-MiniLM-L6-v2's, fixed padding and truncation included.
pub fn tokenizer(vocab: &[&str]) -> serde_json::Value {
    let ids: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    let special = |id: usize| {
        json!({"id": id, "content": vocab[id], "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": {"max_length": 8, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 8}, "direction": "Right", "pad_to_multiple_of": null,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [special(0), special(1), special(2), special(3), special(4)],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids}
    })
}

fn write_json(path: &Path, value: &serde_json::Value) {
    super::write(path, &serde_json::to_string_pretty(value).unwrap());
}

/// Writes the tiny model folder into `dir`.
pub fn write_tiny_bert(dir: &Path) {
    write_tiny_bert_with(dir, Options::default());
}

pub fn write_tiny_bert_with(dir: &Path, options: Options) {
    std::fs::create_dir_all(dir).unwrap();
    write_json(&dir.join("config.json"), &config());
    write_json(&dir.join("tokenizer.json"), &tokenizer(VOCAB));
    write_json(
        &dir.join("sentence_bert_config.json"),
        &json!({"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": false}),
    );
    write_json(
        &dir.join("1_Pooling/config.json"),
        &json!({"word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": false,
                "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
                "pooling_mode_mean_sqrt_len_tokens": false}),
    );
    let all = tensors(options.round, options.dtype);
    if options.sharded {
        let mut names: Vec<&String> = all.keys().collect();
        names.sort();
        let (first, second) = names.split_at(names.len() / 2);
        let mut weight_map = serde_json::Map::new();
        for (file, part) in [
            ("model-00001-of-00002.safetensors", first),
            ("model-00002-of-00002.safetensors", second),
        ] {
            let shard: HashMap<&str, Tensor> =
                part.iter().map(|n| (n.as_str(), all[*n].clone())).collect();
            candle_core::safetensors::save(&shard, dir.join(file)).unwrap();
            for n in part {
                weight_map.insert(n.to_string(), json!(file));
            }
        }
        write_json(
            &dir.join("model.safetensors.index.json"),
            &json!({"metadata": {}, "weight_map": weight_map}),
        );
    } else {
        candle_core::safetensors::save(&all, dir.join("model.safetensors")).unwrap();
    }
}
