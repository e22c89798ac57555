//! The tokenizer of a GGUF model, built from the file's own metadata
//! (`tokenizer.ggml.*`) with the `tokenizers` crate.
//!
//! candle's `TokenizerFromGguf` tokenises SmolLM2 wrongly (it does not know
//! `tokenizer.ggml.pre = "smollm"` and adds a leading space). llama.cpp's reading of
//! a `gpt2`-model GGUF is: byte-level BPE over the file's tokens and merges, a
//! pre-tokenizer that depends on `tokenizer.ggml.pre`, and control tokens
//! (token_type 3) matched as special tokens. For `smollm` the pre-tokenizer splits
//! every digit, then applies the GPT-2 regex; we build exactly that, and test it
//! against llama.cpp's own tokenisation of SmolLM2.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::SplitDelimiterBehavior;
use tokenizers::{AddedToken, Tokenizer};

/// llama.cpp's token types (`llama_token_type`).
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Pre-tokenizer families this build knows (`tokenizer.ggml.pre`).
const SUPPORTED_PRE: &[&str] = &[
    "smollm",
    "starcoder",
    "refact",
    "gpt-2",
    "gpt2",
    "llama-bpe",
    "llama3",
    "qwen2",
];

/// llama.cpp's LLAMA3 pre-tokenizer regex (digits in groups of one to three).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's QWEN2 pre-tokenizer regex (single digits).
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The two tokenizer families GGUF files carry.
enum Kind {
    /// Byte-level BPE (`tokenizer.ggml.model = "gpt2"`), through the tokenizers crate.
    Bpe(Box<Tokenizer>),
    /// SentencePiece (`tokenizer.ggml.model = "llama"`), as llama.cpp runs it.
    Spm(Box<super::spm::Spm>),
    /// A Hugging Face `tokenizer.json`, whose post-processor adds BOS itself.
    Hf(Box<Tokenizer>),
}

pub struct GgufTokenizer {
    kind: Kind,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    /// End of turn (`tokenizer.ggml.eot_token_id`), when the file names one.
    pub eot_id: Option<u32>,
    pub add_bos: bool,
    pub tokens: Vec<String>,
}

fn md<'a>(content: &'a Content, key: &str) -> Option<&'a Value> {
    content.metadata.get(key)
}

fn md_string(content: &Content, key: &str) -> Result<String, String> {
    md(content, key)
        .ok_or_else(|| format!("metadata `{key}` is missing"))?
        .to_string()
        .cloned()
        .map_err(|e| format!("metadata `{key}`: {e}"))
}

fn md_strings(content: &Content, key: &str) -> Result<Vec<String>, String> {
    let values = md(content, key)
        .ok_or_else(|| format!("metadata `{key}` is missing"))?
        .to_vec()
        .map_err(|e| format!("metadata `{key}`: {e}"))?;
    values
        .iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|e| format!("metadata `{key}`: {e}"))
        })
        .collect()
}

/// `tokenizer.ggml.token_type`, one per token (1, normal, when absent).
fn token_types(content: &Content, n: usize) -> Result<Vec<i32>, String> {
    let types: Vec<i32> = match md(content, "tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()
            .map_err(|e| format!("metadata `tokenizer.ggml.token_type`: {e}"))?
            .iter()
            .map(|t| t.to_i32().unwrap_or(1))
            .collect(),
        None => vec![1; n],
    };
    if types.len() != n {
        return Err(format!(
            "tokenizer.ggml.token_type has {} entries for {n} tokens",
            types.len()
        ));
    }
    Ok(types)
}

fn md_u32(content: &Content, key: &str) -> Option<u32> {
    md(content, key).and_then(|v| v.to_u32().ok())
}

impl GgufTokenizer {
    pub fn from_gguf(content: &Content) -> Result<GgufTokenizer, String> {
        let model = md_string(content, "tokenizer.ggml.model")?;
        let bos_id = md_u32(content, "tokenizer.ggml.bos_token_id");
        let eos_id = md_u32(content, "tokenizer.ggml.eos_token_id");
        let eot_id = md_u32(content, "tokenizer.ggml.eot_token_id");
        if model == "llama" {
            let tokens = md_strings(content, "tokenizer.ggml.tokens")?;
            let scores: Vec<f32> = match md(content, "tokenizer.ggml.scores") {
                Some(v) => v
                    .to_vec()
                    .map_err(|e| format!("metadata `tokenizer.ggml.scores`: {e}"))?
                    .iter()
                    .map(|x| x.to_f32().unwrap_or(0.0))
                    .collect(),
                None => return Err("metadata `tokenizer.ggml.scores` is missing".into()),
            };
            let types = token_types(content, tokens.len())?;
            let add_space_prefix = md(content, "tokenizer.ggml.add_space_prefix")
                .and_then(|v| v.to_bool().ok())
                .unwrap_or(true);
            let add_bos = md(content, "tokenizer.ggml.add_bos_token")
                .and_then(|v| v.to_bool().ok())
                .unwrap_or(true);
            let unk_id = md_u32(content, "tokenizer.ggml.unknown_token_id");
            let spm =
                super::spm::Spm::new(tokens.clone(), scores, types, add_space_prefix, unk_id)?;
            return Ok(GgufTokenizer {
                kind: Kind::Spm(Box::new(spm)),
                bos_id,
                eos_id,
                eot_id,
                add_bos,
                tokens,
            });
        }
        if model != "gpt2" {
            return Err(format!(
                "tokenizer.ggml.model = \"{model}\" is not supported by this build (supported: \"gpt2\", byte-level BPE; \"llama\", SentencePiece)"
            ));
        }
        let pre = md_string(content, "tokenizer.ggml.pre").unwrap_or_else(|_| "default".into());
        if !SUPPORTED_PRE.contains(&pre.as_str()) {
            return Err(format!(
                "tokenizer.ggml.pre = \"{pre}\" is not supported by this build (supported: {})",
                SUPPORTED_PRE.join(", ")
            ));
        }
        let tokens = md_strings(content, "tokenizer.ggml.tokens")?;
        let merges = md_strings(content, "tokenizer.ggml.merges")?;
        let types = token_types(content, tokens.len())?;
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| format!("merge `{m}` is not two tokens separated by a space"))
            })
            .collect::<Result<_, _>>()?;
        // llama.cpp's llama-bpe emits a pre-token that is itself a token whole.
        let ignore_merges = matches!(pre.as_str(), "llama-bpe" | "llama3");
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|e| format!("cannot build the BPE model: {e}"))?;
        let mut tokenizer = Tokenizer::new(bpe);
        let mut pre_tokenizers: Vec<PreTokenizerWrapper> = Vec::new();
        let regex = match pre.as_str() {
            "llama-bpe" | "llama3" => Some(LLAMA3_REGEX),
            "qwen2" => Some(QWEN2_REGEX),
            _ => None,
        };
        match regex {
            Some(r) => {
                let split = Split::new(
                    SplitPattern::Regex(r.into()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(|e| format!("pre-tokenizer regex: {e}"))?;
                pre_tokenizers.push(split.into());
                pre_tokenizers.push(ByteLevel::new(false, true, false).into());
            }
            None => {
                if pre != "gpt-2" && pre != "gpt2" {
                    pre_tokenizers.push(Digits::new(true).into());
                }
                pre_tokenizers.push(ByteLevel::new(false, true, true).into());
            }
        }
        tokenizer.with_pre_tokenizer(Some(Sequence::new(pre_tokenizers)));
        tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, &t)| t == TOKEN_TYPE_CONTROL || t == TOKEN_TYPE_USER_DEFINED)
            .map(|(tok, &t)| AddedToken::from(tok.clone(), t == TOKEN_TYPE_CONTROL))
            .collect();
        tokenizer
            .add_special_tokens(special)
            .map_err(|e| format!("cannot add the control tokens: {e}"))?;
        let add_bos = md(content, "tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        Ok(GgufTokenizer {
            kind: Kind::Bpe(Box::new(tokenizer)),
            bos_id,
            eos_id,
            eot_id,
            add_bos,
            tokens,
        })
    }

    /// A Hugging Face folder's `tokenizer.json` (special tokens come from its added
    /// tokens; BOS from its post-processor).
    pub fn from_tokenizer_json(
        path: &std::path::Path,
        bos_id: Option<u32>,
        eos_id: Option<u32>,
    ) -> Result<GgufTokenizer, String> {
        let tokenizer = Tokenizer::from_file(path).map_err(|e| e.to_string())?;
        let n = tokenizer.get_vocab_size(true);
        let mut tokens = vec![String::new(); n];
        for (t, id) in tokenizer.get_vocab(true) {
            if let Some(slot) = tokens.get_mut(id as usize) {
                *slot = t;
            }
        }
        Ok(GgufTokenizer {
            kind: Kind::Hf(Box::new(tokenizer)),
            bos_id,
            eos_id,
            eot_id: None,
            add_bos: false,
            tokens,
        })
    }

    /// Token ids of raw text: special tokens written in the text are parsed as
    /// special tokens; BOS is prepended only when the model's metadata asks for it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut ids = Vec::new();
        if self.add_bos {
            if let Some(bos) = self.bos_id {
                ids.push(bos);
            }
        }
        match &self.kind {
            Kind::Bpe(tokenizer) => {
                let encoding = tokenizer
                    .encode_fast(text, false)
                    .map_err(|e| e.to_string())?;
                ids.extend_from_slice(encoding.get_ids());
            }
            Kind::Spm(spm) => ids.extend(spm.encode(text)),
            Kind::Hf(tokenizer) => {
                let encoding = tokenizer
                    .encode_fast(text, true)
                    .map_err(|e| e.to_string())?;
                ids.extend_from_slice(encoding.get_ids());
            }
        }
        Ok(ids)
    }

    /// Token ids of text that continues other text: never a BOS.
    pub fn encode_continuation(&self, text: &str) -> Result<Vec<u32>, String> {
        match &self.kind {
            Kind::Hf(tokenizer) => Ok(tokenizer
                .encode_fast(text, false)
                .map_err(|e| e.to_string())?
                .get_ids()
                .to_vec()),
            _ => {
                let ids = self.encode(text)?;
                Ok(if self.add_bos && ids.first().copied() == self.bos_id {
                    ids[1..].to_vec()
                } else {
                    ids
                })
            }
        }
    }

    /// The text of one token, as it would be printed.
    pub fn piece(&self, id: u32) -> String {
        match &self.kind {
            Kind::Bpe(tokenizer) => tokenizer
                .decode(&[id], false)
                .unwrap_or_else(|_| self.tokens.get(id as usize).cloned().unwrap_or_default()),
            Kind::Spm(spm) => spm.decode(&[id], false),
            Kind::Hf(tokenizer) => tokenizer
                .decode(&[id], false)
                .unwrap_or_else(|_| self.tokens.get(id as usize).cloned().unwrap_or_default()),
        }
    }

    /// The text of a sequence of generated tokens, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> String {
        match &self.kind {
            Kind::Bpe(tokenizer) => tokenizer.decode(ids, true).unwrap_or_else(|_| {
                ids.iter()
                    .filter_map(|&i| self.tokens.get(i as usize).map(String::as_str))
                    .collect()
            }),
            Kind::Spm(spm) => spm.decode(ids, true),
            Kind::Hf(tokenizer) => tokenizer.decode(ids, true).unwrap_or_default(),
        }
    }

    pub fn token_text(&self, id: Option<u32>) -> String {
        id.and_then(|i| self.tokens.get(i as usize).cloned())
            .unwrap_or_default()
    }
}
