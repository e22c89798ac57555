//! A tiny llama-architecture GGUF model written by the tests themselves: random
//! weights (seeded), a byte-level BPE vocabulary of the 256 byte symbols, a few
//! merges and the ChatML control tokens, and a chat template — so the integration
//! tests exercise the real loading, tokenising and scoring code with no download.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::path::Path;

const DIM: usize = 32;
const FF: usize = 64;
const HEADS: u32 = 2;
const KV_HEADS: u32 = 1;
const LAYERS: usize = 2;

/// GPT-2's byte-to-unicode table: printable bytes map to themselves, the others
/// to code points from 256 on, so every byte is one visible character.
fn byte_symbols() -> Vec<String> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut next = 256;
    (0u32..256)
        .map(|b| {
            let cp = if printable.contains(&b) {
                b
            } else {
                next += 1;
                next - 1
            };
            char::from_u32(cp).unwrap().to_string()
        })
        .collect()
}

/// A deterministic pseudo-random tensor (a linear congruential generator is enough
/// for weights that only need to be varied and reproducible).
fn random(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
        })
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

pub const CHAT_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Writes the tiny model to `path`.
pub fn write_tiny_gguf(path: &Path, seed: u64) {
    let mut tokens = vec![
        "<|endoftext|>".to_string(),
        "<|im_start|>".to_string(),
        "<|im_end|>".to_string(),
    ];
    let mut types = vec![3i32, 3, 3];
    for s in byte_symbols() {
        tokens.push(s);
        types.push(1);
    }
    // A few merges so some answers are one token and others several.
    let merges = [
        "Y e", "Ye s", "N o", "Ġ Y", "ĠY e", "ĠYe s", "Ġ N", "ĠN o", "a n", "e r",
    ];
    for m in merges {
        tokens.push(m.replace(' ', ""));
        types.push(1);
    }
    let vocab = tokens.len();
    let string = |s: &str| Value::String(s.to_string());
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", string("llama")),
        ("general.name", string("probity tiny test model")),
        ("general.license", string("Apache-2.0")),
        ("llama.context_length", Value::U32(512)),
        ("llama.embedding_length", Value::U32(DIM as u32)),
        ("llama.feed_forward_length", Value::U32(FF as u32)),
        ("llama.block_count", Value::U32(LAYERS as u32)),
        ("llama.attention.head_count", Value::U32(HEADS)),
        ("llama.attention.head_count_kv", Value::U32(KV_HEADS)),
        ("llama.rope.dimension_count", Value::U32(DIM as u32 / HEADS)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", string("gpt2")),
        ("tokenizer.ggml.pre", string("smollm")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| string(t)).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(types.iter().map(|&t| Value::I32(t)).collect()),
        ),
        (
            "tokenizer.ggml.merges",
            Value::Array(merges.iter().map(|m| string(m)).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("tokenizer.chat_template", string(CHAT_TEMPLATE)),
    ];
    let kv_dim = DIM / HEADS as usize * KV_HEADS as usize;
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut k = seed;
    let mut add = |name: String, shape: &[usize], dtype: GgmlDType, scale: f32| {
        k += 1;
        let t = random(shape, k, scale);
        tensors.push((name, QTensor::quantize(&t, dtype).unwrap()));
    };
    add(
        "token_embd.weight".into(),
        &[vocab, DIM],
        GgmlDType::F32,
        1.0,
    );
    add("output_norm.weight".into(), &[DIM], GgmlDType::F32, 1.0);
    add("output.weight".into(), &[vocab, DIM], GgmlDType::Q8_0, 0.5);
    for l in 0..LAYERS {
        let p = format!("blk.{l}");
        add(format!("{p}.attn_norm.weight"), &[DIM], GgmlDType::F32, 1.0);
        add(
            format!("{p}.attn_q.weight"),
            &[DIM, DIM],
            GgmlDType::Q4_1,
            0.3,
        );
        add(
            format!("{p}.attn_k.weight"),
            &[kv_dim, DIM],
            GgmlDType::Q4_1,
            0.3,
        );
        add(
            format!("{p}.attn_v.weight"),
            &[kv_dim, DIM],
            GgmlDType::Q4_1,
            0.3,
        );
        add(
            format!("{p}.attn_output.weight"),
            &[DIM, DIM],
            GgmlDType::Q4_1,
            0.3,
        );
        add(format!("{p}.ffn_norm.weight"), &[DIM], GgmlDType::F32, 1.0);
        add(
            format!("{p}.ffn_gate.weight"),
            &[FF, DIM],
            GgmlDType::Q4_1,
            0.3,
        );
        add(
            format!("{p}.ffn_up.weight"),
            &[FF, DIM],
            GgmlDType::Q4_1,
            0.3,
        );
        add(
            format!("{p}.ffn_down.weight"),
            &[DIM, FF],
            GgmlDType::Q4_1,
            0.3,
        );
    }
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &md, &ts).unwrap();
}
