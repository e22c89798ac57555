//! In-process GGUF models through candle.
//!
//! The file is checked before use (it exists, hashes to its pin, holds every tensor
//! it declares — a truncated download fails here, naming the file). The tokenizer
//! and chat template come from the file's own metadata. Weights are either expanded
//! to f32 at load (the default: chunk-stable log-probabilities) or kept quantized.
//!
//! Scoring computes the token prefix shared by a batch of prompts once and continues
//! each prompt from a copy of its KV cache (a cheap copy: the weights are shared).

use super::chat::ChatTemplate;
use super::llama::{Llama, PrefixCache};
use super::tokenizer::GgufTokenizer;
use super::{BackendError, ContinuationScore, ModelInfo, TokenScore};
use crate::spec::Precision;
use candle_core::quantized::gguf_file::{Content, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Architectures this build can run (`general.architecture`).
const SUPPORTED_ARCHITECTURES: &[&str] = super::llama::ARCHITECTURES;

pub struct GgufModel {
    path: PathBuf,
    info: ModelInfo,
    tokenizer: GgufTokenizer,
    chat: Option<ChatTemplate>,
    weights: Llama,
    precision: Precision,
}

/// Reads a GGUF header, naming the file in any error.
fn read_content(path: &Path) -> Result<Content, BackendError> {
    let mut file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BackendError::MissingModel(path.to_path_buf())
        } else {
            BackendError::io(path, e)
        }
    })?;
    let content = Content::read(&mut file).map_err(|e| BackendError::BadModel {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let size = file
        .metadata()
        .map_err(|e| BackendError::io(path, e))?
        .len();
    for (name, info) in &content.tensor_infos {
        let bytes =
            info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
        let end = content.tensor_data_offset + info.offset + bytes as u64;
        if end > size {
            return Err(BackendError::BadModel {
                file: path.to_path_buf(),
                message: format!(
                    "the file is truncated: tensor `{name}` ends at byte {end} but the file has {size} bytes"
                ),
            });
        }
    }
    Ok(content)
}

fn metadata_u64(content: &Content, key: &str) -> Option<u64> {
    content.metadata.get(key).and_then(|v| match v {
        Value::U32(x) => Some(*x as u64),
        Value::U64(x) => Some(*x),
        Value::I32(x) => Some(*x as u64),
        Value::I64(x) => Some(*x as u64),
        _ => None,
    })
}

/// Describes a GGUF file without loading its weights.
pub fn describe(path: &Path, sha256: &str) -> Result<ModelInfo, BackendError> {
    let content = read_content(path)?;
    describe_content(path, &content, sha256)
}

fn describe_content(
    path: &Path,
    content: &Content,
    sha256: &str,
) -> Result<ModelInfo, BackendError> {
    let architecture = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok().cloned())
        .unwrap_or_else(|| "unknown".into());
    let parameters: u64 = content
        .tensor_infos
        .values()
        .map(|t| t.shape.elem_count() as u64)
        .sum();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for t in content.tensor_infos.values() {
        *by_type.entry(format!("{:?}", t.ggml_dtype)).or_default() += t.shape.elem_count() as u64;
    }
    let mut types: Vec<(String, u64)> = by_type.into_iter().collect();
    types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let quantisation = types
        .iter()
        .map(|(t, n)| {
            format!(
                "{t} ({:.1}% of weights)",
                100.0 * *n as f64 / parameters.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let vocab_size = content
        .metadata
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.to_vec().ok().map(|v| v.len()))
        .unwrap_or(0);
    let size_bytes = std::fs::metadata(path)
        .map_err(|e| BackendError::io(path, e))?
        .len();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(ModelInfo {
        name,
        context_length: metadata_u64(content, &format!("{architecture}.context_length")),
        architecture,
        parameters,
        quantisation,
        vocab_size,
        sha256: sha256.to_string(),
        size_bytes,
        licence: content
            .metadata
            .get("general.license")
            .and_then(|v| v.to_string().ok().cloned()),
        upstream: None,
        has_chat_template: content.metadata.contains_key("tokenizer.chat_template"),
    })
}

/// The files of a Hugging Face model folder that probity reads, in a fixed order:
/// config, tokenizer, tokenizer config (if any), the weight index (if any) and the
/// safetensors files.
pub fn hf_files(dir: &Path) -> Result<Vec<PathBuf>, BackendError> {
    let bad = |file: PathBuf, message: String| BackendError::BadFile { file, message };
    if !dir.is_dir() {
        return Err(BackendError::MissingModel(dir.to_path_buf()));
    }
    let mut files = Vec::new();
    for name in ["config.json", "tokenizer.json"] {
        let f = dir.join(name);
        if !f.is_file() {
            return Err(bad(
                f,
                "missing: a Hugging Face model folder needs config.json, tokenizer.json and its weights".into(),
            ));
        }
        files.push(f);
    }
    let tc = dir.join("tokenizer_config.json");
    if tc.is_file() {
        files.push(tc);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| BackendError::io(&index, e))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(index.clone(), format!("not JSON: {e}")))?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad(index.clone(), "no `weight_map`".into()))?;
        let mut shards: Vec<String> = map
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        shards.sort();
        shards.dedup();
        files.push(index);
        for shard in shards {
            let f = dir.join(&shard);
            if !f.is_file() {
                return Err(bad(
                    f,
                    "a shard named by the weight index is missing".into(),
                ));
            }
            files.push(f);
        }
    } else {
        let f = dir.join("model.safetensors");
        if !f.is_file() {
            return Err(bad(
                f,
                "missing: no model.safetensors and no model.safetensors.index.json".into(),
            ));
        }
        files.push(f);
    }
    Ok(files)
}

/// One sha256 for a model folder: the sha256 of its files' names and sha256s.
pub fn hf_sha256(dir: &Path) -> Result<String, BackendError> {
    let mut listing = String::new();
    for f in hf_files(dir)? {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        listing.push_str(&format!("{}  {name}\n", super::known::sha256_file(&f)?));
    }
    Ok(crate::provenance::sha256_bytes(listing.as_bytes()))
}

impl GgufModel {
    /// Opens a Hugging Face llama-family folder (config.json, tokenizer.json,
    /// safetensors weights, sharded or not, f32/f16/bf16 expanded to f32).
    pub fn open_hf(
        dir: &Path,
        sha256: &str,
        precision: Precision,
    ) -> Result<GgufModel, BackendError> {
        if precision == Precision::Quantized {
            return Err(BackendError::Unsupported {
                file: dir.to_path_buf(),
                message: "precision `quantized` keeps a GGUF file's blocks; a safetensors folder runs at f32 or bf16".into(),
            });
        }
        let files = hf_files(dir)?;
        let config_path = &files[0];
        let bad = |file: &Path, message: String| BackendError::BadFile {
            file: file.to_path_buf(),
            message,
        };
        let text =
            std::fs::read_to_string(config_path).map_err(|e| BackendError::io(config_path, e))?;
        let config: super::llama::HfConfig = serde_json::from_str(&text)
            .map_err(|e| bad(config_path, format!("not a usable model config: {e}")))?;
        let family = config.model_type.clone().unwrap_or_default();
        if !matches!(family.as_str(), "llama" | "mistral" | "qwen2") {
            return Err(BackendError::Unsupported {
                file: config_path.clone(),
                message: format!(
                    "model_type `{family}` is not supported for safetensors folders (supported: llama, mistral, qwen2)"
                ),
            });
        }
        if config.hidden_act.as_deref().is_some_and(|a| a != "silu") {
            return Err(bad(
                config_path,
                format!(
                    "hidden_act `{}` is not supported (silu)",
                    config.hidden_act.clone().unwrap_or_default()
                ),
            ));
        }
        // Every tensor of every shard, expanded to f32, with the file it came from.
        let mut tensors: std::collections::HashMap<String, (candle_core::Tensor, PathBuf)> =
            Default::default();
        let mut stored = std::collections::BTreeSet::new();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "safetensors"))
        {
            let loaded =
                candle_core::safetensors::load(f, &candle_core::Device::Cpu).map_err(|e| {
                    bad(
                        f,
                        format!("not a readable safetensors file (truncated?): {e}"),
                    )
                })?;
            for (name, t) in loaded {
                stored.insert(format!("{:?}", t.dtype()));
                let t = t
                    .to_dtype(candle_core::DType::F32)
                    .map_err(|e| bad(f, format!("tensor `{name}`: {e}")))?;
                tensors.insert(name, (t, f.clone()));
            }
        }
        let parameters: u64 = tensors.values().map(|(t, _)| t.elem_count() as u64).sum();
        let mut get = |name: &str| -> candle_core::Result<Option<candle_core::Tensor>> {
            Ok(tensors.get(name).map(|(t, _)| t.clone()))
        };
        let weights = Llama::from_hf(&config, &mut get, precision)
            .map_err(|e| bad(dir, format!("the weights do not match config.json: {e}")))?;
        let id = |v: &Option<serde_json::Value>| -> Option<u32> {
            match v {
                Some(serde_json::Value::Number(n)) => n.as_u64().map(|x| x as u32),
                Some(serde_json::Value::Array(a)) => {
                    a.first().and_then(|x| x.as_u64()).map(|x| x as u32)
                }
                _ => None,
            }
        };
        let tokenizer_path = &files[1];
        let tokenizer = GgufTokenizer::from_tokenizer_json(
            tokenizer_path,
            id(&config.bos_token_id),
            id(&config.eos_token_id),
        )
        .map_err(|e| bad(tokenizer_path, format!("not a usable tokenizer: {e}")))?;
        if tokenizer.tokens.len() > config.vocab_size {
            return Err(bad(
                tokenizer_path,
                format!(
                    "the tokenizer has {} tokens but the model's vocabulary is {} (a tokenizer of another model?)",
                    tokenizer.tokens.len(),
                    config.vocab_size
                ),
            ));
        }
        let chat = match files.iter().find(|f| f.ends_with("tokenizer_config.json")) {
            Some(tc) => {
                let text = std::fs::read_to_string(tc).map_err(|e| BackendError::io(tc, e))?;
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| bad(tc, format!("not JSON: {e}")))?;
                let special = |key: &str| -> String {
                    match value.get(key) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(v) => v
                            .get("content")
                            .and_then(|c| c.as_str())
                            .unwrap_or("")
                            .to_string(),
                        None => String::new(),
                    }
                };
                match value.get("chat_template").and_then(|t| t.as_str()) {
                    Some(source) => Some(
                        ChatTemplate::new(source, &special("bos_token"), &special("eos_token"))
                            .map_err(|message| BackendError::ChatTemplate {
                                file: tc.clone(),
                                message,
                            })?,
                    ),
                    None => None,
                }
            }
            None => None,
        };
        let size_bytes = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        let info = ModelInfo {
            name: dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            architecture: family,
            parameters,
            quantisation: format!(
                "{} (safetensors, expanded to F32)",
                stored
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
                    .to_uppercase()
            ),
            vocab_size: config.vocab_size,
            context_length: config.max_position_embeddings.map(|c| c as u64),
            sha256: sha256.to_string(),
            size_bytes,
            licence: None,
            upstream: None,
            has_chat_template: chat.is_some(),
        };
        Ok(GgufModel {
            path: dir.to_path_buf(),
            info,
            tokenizer,
            chat,
            weights,
            precision,
        })
    }

    /// Opens a GGUF model whose sha256 is already known (checked by the caller).
    pub fn open(
        path: &Path,
        sha256: &str,
        precision: Precision,
    ) -> Result<GgufModel, BackendError> {
        let content = read_content(path)?;
        let info = describe_content(path, &content, sha256)?;
        if !SUPPORTED_ARCHITECTURES.contains(&info.architecture.as_str()) {
            return Err(BackendError::Unsupported {
                file: path.to_path_buf(),
                message: format!(
                    "architecture `{}` is not supported by this build (supported: {})",
                    info.architecture,
                    SUPPORTED_ARCHITECTURES.join(", ")
                ),
            });
        }
        let tokenizer =
            GgufTokenizer::from_gguf(&content).map_err(|message| BackendError::BadModel {
                file: path.to_path_buf(),
                message,
            })?;
        if tokenizer.tokens.len() != info.vocab_size {
            return Err(BackendError::BadModel {
                file: path.to_path_buf(),
                message: "vocabulary size mismatch".into(),
            });
        }
        let chat = match content.metadata.get("tokenizer.chat_template") {
            Some(v) => {
                let source = v.to_string().map_err(|e| BackendError::ChatTemplate {
                    file: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                Some(
                    ChatTemplate::new(
                        source,
                        &tokenizer.token_text(tokenizer.bos_id),
                        &tokenizer.token_text(tokenizer.eos_id),
                    )
                    .map_err(|message| BackendError::ChatTemplate {
                        file: path.to_path_buf(),
                        message,
                    })?,
                )
            }
            None => None,
        };
        let weights = load_weights(path, content, precision)?;
        Ok(GgufModel {
            path: path.to_path_buf(),
            info,
            tokenizer,
            chat,
            weights,
            precision,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn info_mut(&mut self) -> &mut ModelInfo {
        &mut self.info
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, BackendError> {
        self.tokenizer.encode(text).map_err(BackendError::Tokenize)
    }

    pub fn piece(&self, id: u32) -> String {
        self.tokenizer.piece(id)
    }

    /// Replaces the model's chat template with the Jinja file at `path` (the
    /// `--chat-template` flag and the spec's `chat_template`); the model's BOS and
    /// EOS texts stay available to it.
    pub fn set_chat_template(&mut self, path: &Path) -> Result<(), BackendError> {
        let source = std::fs::read_to_string(path).map_err(|e| BackendError::io(path, e))?;
        let t = &self.tokenizer;
        let chat = ChatTemplate::new(&source, &t.token_text(t.bos_id), &t.token_text(t.eos_id))
            .map_err(|message| BackendError::ChatTemplate {
                file: path.to_path_buf(),
                message,
            })?;
        self.chat = Some(chat);
        self.info.has_chat_template = true;
        Ok(())
    }

    pub fn chat_prompt(&self, user: &str) -> Result<String, BackendError> {
        let chat = self
            .chat
            .as_ref()
            .ok_or_else(|| BackendError::ChatTemplate {
                file: self.path.clone(),
                message: "the model has no `tokenizer.chat_template`; score without chat wrapping"
                    .into(),
            })?;
        chat.user_turn(user)
            .map_err(|message| BackendError::ChatTemplate {
                file: self.path.clone(),
                message,
            })
    }

    /// Natural-log probabilities of every vocabulary entry as the next token after
    /// `text` (raw text, special tokens parsed).
    pub fn next_token_logprobs(&mut self, text: &str) -> Result<Vec<f64>, BackendError> {
        let ids = self.tokenize(text)?;
        Ok(log_softmax(&self.logits_after(&ids)?))
    }

    /// The logits after every position of `ids` (row i: the token after position
    /// i), from one forward pass; for comparisons with reference engines.
    pub fn logits_all(&self, ids: &[u32]) -> Result<Vec<Vec<f32>>, BackendError> {
        if ids.is_empty() {
            return Err(BackendError::Tokenize("the prompt has no tokens".into()));
        }
        let (hidden, _) = self
            .weights
            .forward(&[ids.to_vec()], None, 0)
            .map_err(inference)?;
        let picks: Vec<(usize, usize)> = (0..ids.len()).map(|p| (0, p)).collect();
        self.weights.logits_at(&hidden, &picks).map_err(inference)
    }

    /// log p of every token of `text` given the tokens before it, the first
    /// conditioned on the tokenizer's BOS token (EOS when there is none), from one
    /// forward pass: (token id, log-probability) in text order.
    pub fn token_logprobs(&self, text: &str) -> Result<Vec<(u32, f64)>, BackendError> {
        let body = self.tokenize(text)?;
        if body.is_empty() {
            return Err(BackendError::Tokenize(format!(
                "the text {text:?} has no tokens"
            )));
        }
        let start = self
            .tokenizer
            .bos_id
            .or(self.tokenizer.eos_id)
            .ok_or_else(|| {
                BackendError::Tokenize(
                    "the tokenizer has neither a BOS nor an EOS token to condition the first token on"
                        .into(),
                )
            })?;
        let mut ids = Vec::with_capacity(body.len() + 1);
        ids.push(start);
        ids.extend_from_slice(&body);
        let logits = self.logits_all(&ids[..ids.len() - 1])?;
        Ok(body
            .iter()
            .zip(&logits)
            .map(|(&id, row)| (id, log_softmax(row)[id as usize]))
            .collect())
    }

    /// The logits of the token after `ids`, from one full forward pass (no cache).
    pub fn logits_after(&self, ids: &[u32]) -> Result<Vec<f32>, BackendError> {
        if ids.is_empty() {
            return Err(BackendError::Tokenize("the prompt has no tokens".into()));
        }
        let run = || -> candle_core::Result<Vec<f32>> {
            let (hidden, _) = self.weights.forward(&[ids.to_vec()], None, 0)?;
            Ok(self
                .weights
                .logits_at(&hidden, &[(0, ids.len() - 1)])?
                .remove(0))
        };
        run().map_err(inference)
    }

    /// How far chunking moves this model's scores: for each scenario (the prompts
    /// scored together), its first prompt's next-token log-probabilities computed as
    /// scoring computes them — the tokens the scenario's prompts share run first,
    /// the rest after them on the cache — against one pass over the whole prompt.
    /// Returns |Δ log p| over the one-pass distribution's `top` most likely tokens,
    /// pooled over the scenarios. f32 and bf16 are chunk-stable (differences near
    /// 1e-6); quantized activations are not.
    pub fn chunk_shifts(
        &self,
        scenarios: &[Vec<String>],
        top: usize,
    ) -> Result<Vec<f64>, BackendError> {
        let mut shifts = Vec::new();
        for prompts in scenarios {
            let ids: Vec<Vec<u32>> = prompts
                .iter()
                .map(|p| self.tokenize(p))
                .collect::<Result<_, _>>()?;
            let Some(first) = ids.first().filter(|f| f.len() > 1) else {
                continue;
            };
            let shortest = ids.iter().map(Vec::len).min().unwrap_or(1);
            let split = common_prefix(&ids).min(shortest - 1).max(1);
            let whole = log_softmax(&self.logits_after(first)?);
            let run = || -> candle_core::Result<Vec<f32>> {
                let (_, cache) = self.weights.forward(&[first[..split].to_vec()], None, 0)?;
                let rest = first[split..].to_vec();
                let (hidden, _) =
                    self.weights
                        .forward(std::slice::from_ref(&rest), cache.as_ref(), 0)?;
                Ok(self
                    .weights
                    .logits_at(&hidden, &[(0, rest.len() - 1)])?
                    .remove(0))
            };
            let chunked = log_softmax(&run().map_err(inference)?);
            let mut order: Vec<usize> = (0..whole.len()).collect();
            order.sort_by(|&a, &b| whole[b].total_cmp(&whole[a]).then(a.cmp(&b)));
            shifts.extend(
                order
                    .iter()
                    .take(top)
                    .map(|&t| (whole[t] - chunked[t]).abs()),
            );
        }
        Ok(shifts)
    }

    /// Scores each continuation after each prompt (see [`super::Backend::score`]).
    pub fn score(
        &mut self,
        prompts: &[String],
        continuations: &[String],
    ) -> Result<Vec<Vec<ContinuationScore>>, BackendError> {
        let prompt_ids: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| self.tokenize(p))
            .collect::<Result<_, _>>()?;
        if let Some(empty) = prompts
            .iter()
            .zip(&prompt_ids)
            .find(|(_, ids)| ids.is_empty())
        {
            return Err(BackendError::Tokenize(format!(
                "the prompt {:?} has no tokens: there is nothing to condition on",
                empty.0
            )));
        }
        // Continuations are tokenised on their own, as the text the model would
        // write next (llama.cpp and lm-eval do the same for single-token answers).
        let continuation_ids: Vec<Vec<u32>> = continuations
            .iter()
            .map(|c| {
                let ids = self
                    .tokenizer
                    .encode_continuation(c)
                    .map_err(BackendError::Tokenize)?;
                if ids.is_empty() {
                    Err(BackendError::Tokenize(format!(
                        "the continuation {c:?} has no tokens"
                    )))
                } else {
                    Ok(ids)
                }
            })
            .collect::<Result<_, _>>()?;
        let context = self.info.context_length.unwrap_or(u64::MAX) as usize;
        let longest = continuation_ids.iter().map(Vec::len).max().unwrap_or(0);
        if let Some(ids) = prompt_ids.iter().find(|ids| ids.len() + longest > context) {
            return Err(BackendError::Tokenize(format!(
                "a prompt of {} tokens plus its continuation exceeds the model's context of {context}",
                ids.len()
            )));
        }
        // Keep at least one token of every prompt out of the shared prefix, so each
        // prompt's last position is computed in its own row.
        let shared =
            common_prefix(&prompt_ids).min(prompt_ids.iter().map(Vec::len).min().unwrap_or(1) - 1);
        let prefix = if shared > 0 {
            let (_, cache) = self
                .weights
                .forward(&[prompt_ids[0][..shared].to_vec()], None, 0)
                .map_err(inference)?;
            cache
        } else {
            None
        };
        // One row per distinct text to run: a prompt's suffix followed by all but the
        // last token of a continuation (a single-token continuation needs no more than
        // the prompt itself). The log-probability of continuation token j is read at
        // the row's position (suffix length − 1 + j).
        let mut rows: Vec<Vec<u32>> = Vec::new();
        let mut row_of: BTreeMap<Vec<u32>, usize> = BTreeMap::new();
        let mut plan: Vec<(usize, usize)> = Vec::new(); // per (prompt, continuation): (row, first position)
        for ids in &prompt_ids {
            let suffix = &ids[shared..];
            for cont in &continuation_ids {
                let mut row = suffix.to_vec();
                row.extend_from_slice(&cont[..cont.len() - 1]);
                let next = rows.len();
                let index = *row_of.entry(row.clone()).or_insert(next);
                if index == next {
                    rows.push(row);
                }
                plan.push((index, suffix.len() - 1));
            }
        }
        let logprobs_at = self.run_rows(&rows, prefix.as_ref(), &plan, &continuation_ids)?;
        let mut scores = Vec::with_capacity(prompts.len());
        for (p, _) in prompt_ids.iter().enumerate() {
            let mut row = Vec::with_capacity(continuations.len());
            for (c, (text, cont)) in continuations.iter().zip(&continuation_ids).enumerate() {
                let values = &logprobs_at[p * continuation_ids.len() + c];
                let tokens: Vec<TokenScore> = cont
                    .iter()
                    .zip(values)
                    .map(|(&id, &logprob)| TokenScore {
                        id,
                        piece: self.piece(id),
                        logprob,
                    })
                    .collect();
                row.push(ContinuationScore {
                    text: text.clone(),
                    logprob: tokens.iter().map(|t| t.logprob).sum(),
                    tokens,
                    censored: false,
                });
            }
            scores.push(row);
        }
        Ok(scores)
    }

    /// Runs the rows in batches of bounded size and returns, for each planned
    /// (prompt, continuation), the log-probability of each continuation token.
    fn run_rows(
        &self,
        rows: &[Vec<u32>],
        prefix: Option<&PrefixCache>,
        plan: &[(usize, usize)],
        continuation_ids: &[Vec<u32>],
    ) -> Result<Vec<Vec<f64>>, BackendError> {
        // Bound a batch by its token count (rows × padded length), so memory stays
        // small whatever the scenario; batches depend only on the rows, so the same
        // probes are always computed the same way.
        const BATCH_TOKENS: usize = 4096;
        let mut batch_of = vec![(0usize, 0usize); rows.len()]; // row -> (batch, index in batch)
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        let mut longest = 0;
        // Rows of like length share a batch, so little of it is padding.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&r| (rows[r].len(), r));
        for r in order {
            let row = &rows[r];
            let l = longest.max(row.len());
            if !current.is_empty() && (current.len() + 1) * l > BATCH_TOKENS {
                batches.push(std::mem::take(&mut current));
                longest = 0;
            }
            longest = longest.max(row.len());
            batch_of[r] = (batches.len(), current.len());
            current.push(r);
        }
        batches.push(current);
        // Every position any plan reads, per batch.
        let n_cont = continuation_ids.len();
        let mut picks: Vec<Vec<(usize, usize)>> = vec![Vec::new(); batches.len()];
        let mut pick_index: BTreeMap<(usize, usize), usize> = BTreeMap::new(); // (row, position) -> slot in its batch
        for (k, &(row, first)) in plan.iter().enumerate() {
            let cont = &continuation_ids[k % n_cont];
            for j in 0..cont.len() {
                let key = (row, first + j);
                if let std::collections::btree_map::Entry::Vacant(slot) = pick_index.entry(key) {
                    let (batch, in_batch) = batch_of[row];
                    slot.insert(picks[batch].len());
                    picks[batch].push((in_batch, first + j));
                }
            }
        }
        let mut logits: Vec<Vec<Vec<f64>>> = Vec::with_capacity(batches.len());
        for (batch, members) in batches.iter().enumerate() {
            let batch_rows: Vec<Vec<u32>> = members.iter().map(|&r| rows[r].clone()).collect();
            let (hidden, _) = self
                .weights
                .forward(&batch_rows, prefix, 0)
                .map_err(inference)?;
            let raw = self
                .weights
                .logits_at(&hidden, &picks[batch])
                .map_err(inference)?;
            logits.push(raw.iter().map(|l| log_softmax(l)).collect());
        }
        Ok(plan
            .iter()
            .enumerate()
            .map(|(k, &(row, first))| {
                let cont = &continuation_ids[k % n_cont];
                let (batch, _) = batch_of[row];
                cont.iter()
                    .enumerate()
                    .map(|(j, &id)| logits[batch][pick_index[&(row, first + j)]][id as usize])
                    .collect()
            })
            .collect())
    }
}

/// Generation from a [`GgufModel`]: the prompt's keys and values are kept and
/// extended by one position per generated token.
pub struct GgufDecoder<'a> {
    model: &'a GgufModel,
    cache: Option<PrefixCache>,
    /// Steps (one token after the prompt) on the weights' own blocks (see
    /// [`super::qmatvec`]); the prompt is always run as in scoring.
    block_steps: bool,
}

impl GgufModel {
    pub fn decoder(&self) -> GgufDecoder<'_> {
        GgufDecoder {
            model: self,
            cache: None,
            block_steps: true,
        }
    }

    /// Generates after `text` (raw text, special tokens parsed; apply the chat
    /// template first for a chat model).
    pub fn generate(
        &self,
        text: &str,
        config: &super::generate::GenerationConfig,
    ) -> Result<super::generate::Generation, BackendError> {
        let ids = self.tokenize(text)?;
        super::generate::generate(&mut self.decoder(), &ids, config)
    }
}

impl GgufDecoder<'_> {
    /// Runs every step as a forward pass of scoring does (f32 products at
    /// `Precision::F32`), not on the weights' blocks: slower, for comparisons.
    pub fn exact_steps(mut self) -> Self {
        self.block_steps = false;
        self
    }

    fn run(&mut self, ids: Vec<u32>, step: bool) -> Result<Vec<f32>, BackendError> {
        let weights = &self.model.weights;
        let decode = step && self.block_steps;
        let prefix = self.cache.as_ref();
        // The step runs on one of rayon's threads, so its many small parallel
        // products are split there rather than each handed over from this thread.
        let (logits, cache) = rayon::scope(|_| -> candle_core::Result<_> {
            let (hidden, cache) = weights.forward_with(&[ids], prefix, 0, decode)?;
            let (_, len, _) = hidden.dims3()?;
            let logits = weights.logits_at_with(&hidden, &[(0, len - 1)], decode)?;
            Ok((logits, cache))
        })
        .map_err(inference)?;
        self.cache = cache;
        Ok(logits.into_iter().next().expect("one pick"))
    }
}

impl super::generate::Decoder for GgufDecoder<'_> {
    fn prefill(&mut self, ids: &[u32]) -> Result<Vec<f32>, BackendError> {
        self.cache = None;
        self.run(ids.to_vec(), false)
    }

    fn step(&mut self, id: u32) -> Result<Vec<f32>, BackendError> {
        if self.cache.is_none() {
            return Err(BackendError::Generation("step before prefill".into()));
        }
        self.run(vec![id], true)
    }

    fn decode(&self, ids: &[u32]) -> String {
        self.model.tokenizer.decode(ids)
    }

    fn end_tokens(&self) -> Vec<u32> {
        let t = &self.model.tokenizer;
        let mut ends: Vec<u32> = [t.eos_id, t.eot_id].into_iter().flatten().collect();
        ends.dedup();
        ends
    }

    fn context_length(&self) -> usize {
        self.model
            .info
            .context_length
            .map_or(usize::MAX, |c| c as usize)
            .min(self.model.weights.max_positions())
    }
}

fn inference(e: candle_core::Error) -> BackendError {
    BackendError::Inference(e.to_string())
}

fn common_prefix(sequences: &[Vec<u32>]) -> usize {
    let Some(first) = sequences.first() else {
        return 0;
    };
    sequences.iter().skip(1).fold(first.len(), |len, s| {
        first
            .iter()
            .zip(s)
            .take(len)
            .take_while(|(a, b)| a == b)
            .count()
    })
}

/// Natural-log probabilities over the vocabulary, computed in f64.
fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let values: Vec<f64> = logits.iter().map(|&x| x as f64).collect();
    let lse = super::log_sum_exp(&values);
    values.iter().map(|v| v - lse).collect()
}

/// Loads the weights with the precision asked for.
fn load_weights(
    path: &Path,
    content: Content,
    precision: Precision,
) -> Result<Llama, BackendError> {
    let mut file = std::fs::File::open(path).map_err(|e| BackendError::io(path, e))?;
    Llama::from_gguf(&content, &mut file, precision).map_err(|e| BackendError::BadModel {
        file: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_of_token_sequences() {
        assert_eq!(
            common_prefix(&[vec![1, 2, 3], vec![1, 2, 4], vec![1, 2]]),
            2
        );
        assert_eq!(common_prefix(&[vec![1, 2, 3]]), 3);
        assert_eq!(common_prefix(&[vec![5], vec![6]]), 0);
    }

    #[test]
    fn log_softmax_normalises() {
        let lp = log_softmax(&[1.0, 2.0, 3.0]);
        let total: f64 = lp.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}
