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
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

/// llama.cpp's token types (`llama_token_type`).
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Pre-tokenizer families this build knows (`tokenizer.ggml.pre`).
const SUPPORTED_PRE: &[&str] = &["smollm", "starcoder", "refact", "gpt-2", "gpt2"];

pub struct GgufTokenizer {
    pub tokenizer: Tokenizer,
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

fn md_u32(content: &Content, key: &str) -> Option<u32> {
    md(content, key).and_then(|v| v.to_u32().ok())
}

impl GgufTokenizer {
    pub fn from_gguf(content: &Content) -> Result<GgufTokenizer, String> {
        let model = md_string(content, "tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(format!(
                "tokenizer.ggml.model = \"{model}\" is not supported by this build (supported: \"gpt2\", byte-level BPE)"
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
        let types: Vec<i32> = match md(content, "tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| format!("metadata `tokenizer.ggml.token_type`: {e}"))?
                .iter()
                .map(|t| t.to_i32().unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(format!(
                "tokenizer.ggml.token_type has {} entries for {} tokens",
                types.len(),
                tokens.len()
            ));
        }
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
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| format!("cannot build the BPE model: {e}"))?;
        let mut tokenizer = Tokenizer::new(bpe);
        let mut pre_tokenizers: Vec<PreTokenizerWrapper> = Vec::new();
        if pre != "gpt-2" && pre != "gpt2" {
            pre_tokenizers.push(Digits::new(true).into());
        }
        pre_tokenizers.push(ByteLevel::new(false, true, true).into());
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
        let bos_id = md_u32(content, "tokenizer.ggml.bos_token_id");
        let eos_id = md_u32(content, "tokenizer.ggml.eos_token_id");
        let eot_id = md_u32(content, "tokenizer.ggml.eot_token_id");
        let add_bos = md(content, "tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        Ok(GgufTokenizer {
            tokenizer,
            bos_id,
            eos_id,
            eot_id,
            add_bos,
            tokens,
        })
    }

    /// Token ids of raw text: special tokens written in the text are parsed as
    /// special tokens; BOS is prepended only when the model's metadata asks for it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| e.to_string())?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        if self.add_bos {
            if let Some(bos) = self.bos_id {
                ids.push(bos);
            }
        }
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// The text of one token, as it would be printed.
    pub fn piece(&self, id: u32) -> String {
        self.tokenizer
            .decode(&[id], false)
            .unwrap_or_else(|_| self.tokens.get(id as usize).cloned().unwrap_or_default())
    }

    /// The text of a sequence of generated tokens, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, true).unwrap_or_else(|_| {
            ids.iter()
                .filter_map(|&i| self.tokens.get(i as usize).map(String::as_str))
                .collect()
        })
    }

    pub fn token_text(&self, id: Option<u32>) -> String {
        id.and_then(|i| self.tokens.get(i as usize).cloned())
            .unwrap_or_default()
    }
}
