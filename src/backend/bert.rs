//! BERT-family sentence encoders (all-MiniLM-L6-v2 and its kin): our own encoder
//! on candle-core and candle-nn, read from a Hugging Face / sentence-transformers
//! model folder, giving one L2-normalised embedding per text.
//!
//! The folder holds `config.json` (the architecture), `tokenizer.json` (WordPiece,
//! read with the `tokenizers` crate), the weights (`model.safetensors`, or shards
//! listed in `model.safetensors.index.json`; f32, f16 or bf16, computed in f32) and
//! optionally the sentence-transformers files: `sentence_bert_config.json`, whose
//! `max_seq_length` is where texts are truncated, and `1_Pooling/config.json`,
//! which must ask for mean pooling.
//!
//! The tokenizer.json shipped with all-MiniLM-L6-v2 pads every text to 128 tokens
//! and truncates at 128. Both are switched off on load: texts are truncated at the
//! sentence-transformers length (256 for that model, as sentence-transformers
//! does), and a batch is padded to its longest text only. Padding is masked out of
//! attention and of the mean, so a text's embedding does not depend on what it is
//! batched with.
//!
//! Every problem with the folder's files is bad input naming the file: a missing
//! file, a truncated safetensors file, a tensor whose shape does not match
//! config.json (naming the tensor), a tokenizer whose ids the embedding matrix does
//! not cover.

use super::BackendError;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::Linear;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Texts per forward pass when many are embedded.
pub const BATCH: usize = 32;

const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";
const WEIGHTS: &str = "model.safetensors";
const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
const SENTENCE_CONFIG: &str = "sentence_bert_config.json";
const POOLING_CONFIG: &str = "1_Pooling/config.json";

/// The fields of a Hugging Face `config.json` a BERT encoder needs.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default)]
    pub model_type: Option<String>,
}

// Hugging Face's defaults for BertConfig.
fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Activation {
    /// `gelu`: the exact GELU, x·Φ(x) with the error function.
    GeluErf,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    Relu,
}

impl Activation {
    fn parse(name: &str) -> Option<Activation> {
        match name {
            "gelu" => Some(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::GeluErf => x.gelu_erf(),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }
}

struct Norm {
    weight: Tensor,
    bias: Tensor,
}

impl Norm {
    fn forward(&self, x: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, eps)
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// The encoder's weights, in f32.
struct Encoder {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    eps: f32,
    activation: Activation,
}

/// A text after tokenisation: its ids and token types (with [CLS] and [SEP]),
/// and whether it was cut at the maximum length.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub truncated: bool,
}

/// A BERT sentence encoder: tokenizer, weights, mean pooling, L2 normalisation.
pub struct BertEmbedder {
    tokenizer: Tokenizer,
    encoder: Encoder,
    hidden_size: usize,
    max_tokens: usize,
    device: Device,
}

fn bad(file: &Path, message: impl Into<String>) -> BackendError {
    BackendError::BadFile {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

fn inference(e: candle_core::Error) -> BackendError {
    BackendError::Inference(e.to_string())
}

/// Reads a JSON file of the folder into `T`; a missing file is `None`.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, BackendError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BackendError::io(path, e)),
    };
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map(Some).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if at == "." {
            bad(path, format!("not a usable JSON file: {inner}"))
        } else {
            bad(path, format!("field `{at}`: {inner}"))
        }
    })
}

fn required_json<T: serde::de::DeserializeOwned>(
    folder: &Path,
    name: &str,
) -> Result<T, BackendError> {
    let path = folder.join(name);
    read_json(&path)?.ok_or_else(|| {
        bad(
            &path,
            "does not exist; a BERT model folder holds config.json, tokenizer.json and model.safetensors",
        )
    })
}

/// The checks on config.json that do not need the weights.
fn check_config(path: &Path, config: &BertConfig) -> Result<Activation, BackendError> {
    let unsupported = |message: String| BackendError::Unsupported {
        file: path.to_path_buf(),
        message,
    };
    if let Some(kind) = &config.model_type {
        if kind != "bert" {
            return Err(unsupported(format!(
                "model_type `{kind}`: only BERT encoders (model_type \"bert\") are supported"
            )));
        }
    }
    if let Some(kind) = &config.position_embedding_type {
        if kind != "absolute" {
            return Err(unsupported(format!(
                "position_embedding_type `{kind}`: only absolute position embeddings are supported"
            )));
        }
    }
    let activation = Activation::parse(&config.hidden_act).ok_or_else(|| {
        unsupported(format!(
            "hidden_act `{}`: supported are gelu, gelu_new, gelu_pytorch_tanh, gelu_fast and relu",
            config.hidden_act
        ))
    })?;
    let sizes = [
        ("vocab_size", config.vocab_size),
        ("hidden_size", config.hidden_size),
        ("num_hidden_layers", config.num_hidden_layers),
        ("num_attention_heads", config.num_attention_heads),
        ("intermediate_size", config.intermediate_size),
        ("max_position_embeddings", config.max_position_embeddings),
        ("type_vocab_size", config.type_vocab_size),
    ];
    for (field, value) in sizes {
        if value == 0 {
            return Err(bad(path, format!("{field} is 0")));
        }
    }
    if !config
        .hidden_size
        .is_multiple_of(config.num_attention_heads)
    {
        return Err(bad(
            path,
            format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ),
        ));
    }
    if !(config.layer_norm_eps.is_finite() && config.layer_norm_eps > 0.0) {
        return Err(bad(
            path,
            format!(
                "layer_norm_eps {} is not a positive number",
                config.layer_norm_eps
            ),
        ));
    }
    Ok(activation)
}

/// 1_Pooling/config.json, when present, must ask for mean pooling and nothing else.
fn check_pooling(folder: &Path, hidden_size: usize) -> Result<(), BackendError> {
    let path = folder.join(POOLING_CONFIG);
    let Some(config) = read_json::<serde_json::Map<String, serde_json::Value>>(&path)? else {
        return Ok(());
    };
    let mut modes: Vec<String> = config
        .iter()
        .filter_map(|(k, v)| {
            let mode = k.strip_prefix("pooling_mode_")?;
            (v.as_bool() == Some(true)).then(|| mode.to_string())
        })
        .collect();
    if let Some(mode) = config.get("pooling_mode").and_then(|v| v.as_str()) {
        modes.push(mode.to_string());
    }
    modes.sort();
    modes.dedup();
    let mean = |m: &String| m == "mean_tokens" || m == "mean";
    if modes.is_empty() || !modes.iter().all(mean) {
        return Err(BackendError::Unsupported {
            file: path,
            message: format!(
                "pooling {}: only mean pooling (pooling_mode_mean_tokens) is supported",
                if modes.is_empty() {
                    "is not stated".to_string()
                } else {
                    format!("`{}`", modes.join("`, `"))
                }
            ),
        });
    }
    if let Some(dim) = config
        .get("word_embedding_dimension")
        .and_then(|v| v.as_u64())
    {
        if dim as usize != hidden_size {
            return Err(bad(
                &path,
                format!("word_embedding_dimension {dim} differs from config.json's hidden_size {hidden_size}"),
            ));
        }
    }
    Ok(())
}

/// The most tokens a text keeps: sentence-transformers' `max_seq_length` if the
/// folder states it, else the tokenizer's own truncation, else the position table.
fn max_tokens(
    folder: &Path,
    tokenizer: &Tokenizer,
    config: &BertConfig,
) -> Result<usize, BackendError> {
    #[derive(serde::Deserialize)]
    struct SentenceConfig {
        max_seq_length: Option<usize>,
    }
    let path = folder.join(SENTENCE_CONFIG);
    let stated = read_json::<SentenceConfig>(&path)?.and_then(|c| c.max_seq_length);
    if stated == Some(0) {
        return Err(bad(&path, "max_seq_length is 0"));
    }
    let n = stated
        .or_else(|| tokenizer.get_truncation().map(|t| t.max_length))
        .unwrap_or(config.max_position_embeddings);
    Ok(n.min(config.max_position_embeddings))
}

/// Checks that a safetensors file is complete before it is parsed, so that a
/// truncated download is reported as such.
fn check_safetensors(file: &Path, data: &[u8]) -> Result<(), BackendError> {
    let Some(len) = data.get(..8) else {
        return Err(bad(
            file,
            format!(
                "{} bytes: too short for a safetensors file (truncated?)",
                data.len()
            ),
        ));
    };
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(len);
    let header_len = u64::from_le_bytes(bytes);
    let rest = (data.len() - 8) as u64;
    if header_len > rest {
        return Err(bad(
            file,
            format!("not a safetensors file, or truncated: it announces a {header_len}-byte header and holds {rest} bytes after the length"),
        ));
    }
    let header_end = 8 + header_len as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&data[8..header_end]).map_err(|e| {
            bad(
                file,
                format!("not a safetensors file: its header is not a JSON object ({e})"),
            )
        })?;
    let needed = header
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let held = (data.len() - header_end) as u64;
    if held < needed {
        return Err(bad(
            file,
            format!("truncated: its header describes {needed} bytes of tensor data, the file holds {held} (an interrupted download or copy?)"),
        ));
    }
    Ok(())
}

/// Every tensor of the weights, with the file it came from.
struct Weights {
    tensors: HashMap<String, (Tensor, PathBuf)>,
    /// `""`, or `"bert."` for checkpoints saved from a task model.
    prefix: &'static str,
    /// The file named in errors about a missing tensor.
    main_file: PathBuf,
}

impl Weights {
    fn load(folder: &Path, device: &Device) -> Result<Weights, BackendError> {
        let index = folder.join(WEIGHTS_INDEX);
        let single = folder.join(WEIGHTS);
        let (files, main_file) = if index.is_file() {
            #[derive(serde::Deserialize)]
            struct Index {
                weight_map: HashMap<String, String>,
            }
            let map = required_json::<Index>(folder, WEIGHTS_INDEX)?.weight_map;
            let shards: BTreeSet<&String> = map.values().collect();
            if shards.is_empty() {
                return Err(bad(&index, "weight_map lists no files"));
            }
            for shard in &shards {
                if Path::new(shard).components().count() != 1 {
                    return Err(bad(
                        &index,
                        format!("`{shard}` is not a file name in the model folder"),
                    ));
                }
            }
            (
                shards.into_iter().map(|s| folder.join(s)).collect(),
                index.clone(),
            )
        } else if single.is_file() {
            (vec![single.clone()], single)
        } else {
            let hint = if folder.join("pytorch_model.bin").is_file() {
                "; the folder has only PyTorch weights (pytorch_model.bin): probity reads safetensors"
            } else {
                ""
            };
            return Err(bad(
                &single,
                format!("does not exist (nor {WEIGHTS_INDEX} for sharded weights){hint}"),
            ));
        };
        let mut tensors = HashMap::new();
        for file in files {
            if !file.is_file() {
                return Err(bad(
                    &file,
                    format!("does not exist, but {WEIGHTS_INDEX} lists it"),
                ));
            }
            let data = std::fs::read(&file).map_err(|e| BackendError::io(&file, e))?;
            check_safetensors(&file, &data)?;
            let loaded = candle_core::safetensors::load_buffer(&data, device)
                .map_err(|e| bad(&file, format!("not a readable safetensors file: {e}")))?;
            for (name, tensor) in loaded {
                tensors.insert(name, (tensor, file.clone()));
            }
        }
        let prefix = if tensors.contains_key("embeddings.word_embeddings.weight") {
            ""
        } else if tensors.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            return Err(bad(
                &main_file,
                "no tensor `embeddings.word_embeddings.weight` (nor `bert.embeddings.word_embeddings.weight`): not the weights of a BERT encoder",
            ));
        };
        Ok(Weights {
            tensors,
            prefix,
            main_file,
        })
    }

    /// The tensor `name` (after the prefix) in f32, checked against the shape
    /// config.json implies. LayerNorm `weight`/`bias` may be stored under the
    /// older names `gamma`/`beta`.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, BackendError> {
        let full = format!("{}{name}", self.prefix);
        let legacy = full
            .strip_suffix("LayerNorm.weight")
            .map(|p| format!("{p}LayerNorm.gamma"))
            .or_else(|| {
                full.strip_suffix("LayerNorm.bias")
                    .map(|p| format!("{p}LayerNorm.beta"))
            });
        let (tensor, file) = self
            .tensors
            .get(&full)
            .or_else(|| legacy.as_ref().and_then(|l| self.tensors.get(l)))
            .ok_or_else(|| bad(&self.main_file, format!("has no tensor `{full}`")))?;
        if tensor.dims() != shape {
            return Err(bad(
                file,
                format!(
                    "tensor `{full}` has shape {:?}, but config.json implies {shape:?}: the weights do not match config.json",
                    tensor.dims()
                ),
            ));
        }
        match tensor.dtype() {
            DType::F32 => Ok(tensor.clone()),
            DType::F16 | DType::BF16 => tensor.to_dtype(DType::F32).map_err(inference),
            other => Err(bad(
                file,
                format!("tensor `{full}` is {other:?}: probity reads f32, f16 and bf16 weights"),
            )),
        }
    }

    fn linear(&self, name: &str, out: usize, inp: usize) -> Result<Linear, BackendError> {
        let weight = self.get(&format!("{name}.weight"), &[out, inp])?;
        let bias = self.get(&format!("{name}.bias"), &[out])?;
        Ok(Linear::new(weight, Some(bias)))
    }

    fn norm(&self, name: &str, size: usize) -> Result<Norm, BackendError> {
        Ok(Norm {
            weight: self.get(&format!("{name}.weight"), &[size])?,
            bias: self.get(&format!("{name}.bias"), &[size])?,
        })
    }

    /// A layer the file holds beyond config.json's `num_hidden_layers`.
    fn extra_layer(&self, layers: usize) -> Option<(usize, &Path)> {
        let start = format!("{}encoder.layer.", self.prefix);
        self.tensors
            .iter()
            .filter_map(|(name, (_, file))| {
                let rest = name.strip_prefix(&start)?;
                let i: usize = rest.split('.').next()?.parse().ok()?;
                (i >= layers).then_some((i, file.as_path()))
            })
            .max_by_key(|(i, _)| *i)
    }
}

impl Encoder {
    fn load(
        weights: &Weights,
        config: &BertConfig,
        activation: Activation,
    ) -> Result<Encoder, BackendError> {
        let h = config.hidden_size;
        let i = config.intermediate_size;
        if let Some((layer, file)) = weights.extra_layer(config.num_hidden_layers) {
            return Err(bad(
                file,
                format!(
                    "holds encoder layer {layer}, but config.json says num_hidden_layers = {}: the weights do not match config.json",
                    config.num_hidden_layers
                ),
            ));
        }
        // The embeddings first: a config.json of another model is most often
        // caught at the embedding matrix, the tensor that names the vocabulary.
        let word = weights.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
        let position = weights.get(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let token_type = weights.get(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        let embedding_norm = weights.norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for n in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{n}");
            layers.push(Layer {
                query: weights.linear(&format!("{p}.attention.self.query"), h, h)?,
                key: weights.linear(&format!("{p}.attention.self.key"), h, h)?,
                value: weights.linear(&format!("{p}.attention.self.value"), h, h)?,
                attention_out: weights.linear(&format!("{p}.attention.output.dense"), h, h)?,
                attention_norm: weights.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                intermediate: weights.linear(&format!("{p}.intermediate.dense"), i, h)?,
                output: weights.linear(&format!("{p}.output.dense"), h, i)?,
                output_norm: weights.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(Encoder {
            word,
            position,
            token_type,
            embedding_norm,
            layers,
            heads: config.num_attention_heads,
            head_dim: h / config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
            activation,
        })
    }

    /// Hidden states of the last layer, `[rows × len, hidden]`, for right-padded
    /// rows. `ids`, `type_ids`: `[rows × len]` u32; `key_bias`: `[rows, 1, 1, len]`,
    /// 0 for a real token and the lowest f32 for padding, added to attention scores
    /// so that no position attends to padding.
    fn forward(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        key_bias: &Tensor,
        rows: usize,
        len: usize,
    ) -> candle_core::Result<Tensor> {
        let hidden = self.heads * self.head_dim;
        let words = self
            .word
            .index_select(ids, 0)?
            .reshape((rows, len, hidden))?;
        let positions = self.position.narrow(0, 0, len)?;
        let types = self
            .token_type
            .index_select(type_ids, 0)?
            .reshape((rows, len, hidden))?;
        let x = words.broadcast_add(&positions)?.add(&types)?;
        let mut x = self
            .embedding_norm
            .forward(&x.reshape((rows * len, hidden))?, self.eps)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((rows, len, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        for layer in &self.layers {
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(key_bias)?;
            let weights = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = weights
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((rows * len, hidden))?;
            let attended = layer.attention_out.forward(&context)?.add(&x)?;
            x = layer.attention_norm.forward(&attended, self.eps)?;
            let inner = self.activation.apply(&layer.intermediate.forward(&x)?)?;
            let out = layer.output.forward(&inner)?.add(&x)?;
            x = layer.output_norm.forward(&out, self.eps)?;
        }
        Ok(x)
    }
}

impl BertEmbedder {
    /// Opens a model folder: config, tokenizer, weights, pooling; checks them
    /// against each other.
    pub fn open(folder: &Path) -> Result<BertEmbedder, BackendError> {
        if !folder.exists() {
            return Err(BackendError::MissingModel(folder.to_path_buf()));
        }
        if !folder.is_dir() {
            return Err(bad(
                folder,
                "not a folder: embeddings need a BERT model folder (config.json, tokenizer.json, model.safetensors)",
            ));
        }
        let config_path = folder.join(CONFIG);
        let config: BertConfig = required_json(folder, CONFIG)?;
        let activation = check_config(&config_path, &config)?;

        let tokenizer_path = folder.join(TOKENIZER);
        if !tokenizer_path.is_file() {
            return Err(bad(
                &tokenizer_path,
                "does not exist; a BERT model folder holds config.json, tokenizer.json and model.safetensors",
            ));
        }
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| bad(&tokenizer_path, format!("not a usable tokenizer: {e}")))?;
        let max_tokens = max_tokens(folder, &tokenizer, &config)?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| {
                bad(
                    &tokenizer_path,
                    format!("cannot truncate at {max_tokens} tokens: {e}"),
                )
            })?;

        let device = Device::Cpu;
        let weights = Weights::load(folder, &device)?;
        let encoder = Encoder::load(&weights, &config, activation)?;
        check_pooling(folder, config.hidden_size)?;
        if let Some(top) = tokenizer.get_vocab(true).values().max() {
            if *top as usize >= config.vocab_size {
                return Err(bad(
                    &tokenizer_path,
                    format!(
                        "its token ids go up to {top}, but the embedding matrix `{}embeddings.word_embeddings.weight` has {} rows (config.json vocab_size): the tokenizer does not belong to these weights",
                        weights.prefix, config.vocab_size
                    ),
                ));
            }
        }
        Ok(BertEmbedder {
            tokenizer,
            encoder,
            hidden_size: config.hidden_size,
            max_tokens,
            device,
        })
    }

    /// The length of each embedding.
    pub fn dimension(&self) -> usize {
        self.hidden_size
    }

    /// The most tokens of a text that are embedded ([CLS] and [SEP] included).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Tokenises texts as they will be embedded: [CLS] … [SEP], truncated at
    /// [`Self::max_tokens`], no padding.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Encoded>, BackendError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| BackendError::Tokenize(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| Encoded {
                ids: e.get_ids().to_vec(),
                type_ids: e.get_type_ids().to_vec(),
                truncated: !e.get_overflowing().is_empty(),
            })
            .collect())
    }

    /// One L2-normalised embedding per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError> {
        let encoded = self.encode(texts)?;
        self.embed_encoded(&encoded)
    }

    /// Embeds tokenised texts, [`BATCH`] per forward pass; texts of similar
    /// length are batched together so that little padding is computed.
    pub fn embed_encoded(&self, encoded: &[Encoded]) -> Result<Vec<Vec<f32>>, BackendError> {
        for (i, e) in encoded.iter().enumerate() {
            if e.ids.is_empty() {
                return Err(BackendError::Tokenize(format!(
                    "text {} has no tokens (the tokenizer adds no [CLS] or [SEP])",
                    i + 1
                )));
            }
            if e.ids.len() > self.max_tokens || e.type_ids.len() != e.ids.len() {
                return Err(BackendError::Tokenize(format!(
                    "text {}: {} ids and {} token types, for at most {} tokens",
                    i + 1,
                    e.ids.len(),
                    e.type_ids.len(),
                    self.max_tokens
                )));
            }
        }
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| encoded[i].ids.len());
        let mut out = vec![Vec::new(); encoded.len()];
        for chunk in order.chunks(BATCH) {
            let rows: Vec<&Encoded> = chunk.iter().map(|&i| &encoded[i]).collect();
            for (&i, embedding) in chunk.iter().zip(self.embed_batch(&rows)?) {
                out[i] = embedding;
            }
        }
        Ok(out)
    }

    /// One forward pass: the rows right-padded to the longest, mean-pooled over
    /// their real tokens, L2-normalised.
    fn embed_batch(&self, rows: &[&Encoded]) -> Result<Vec<Vec<f32>>, BackendError> {
        let n = rows.len();
        let len = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; n * len];
        let mut type_ids = vec![0u32; n * len];
        let mut mask = vec![0f32; n * len];
        let mut key_bias = vec![f32::MIN; n * len];
        for (r, row) in rows.iter().enumerate() {
            let at = r * len;
            ids[at..at + row.ids.len()].copy_from_slice(&row.ids);
            type_ids[at..at + row.type_ids.len()].copy_from_slice(&row.type_ids);
            mask[at..at + row.ids.len()].fill(1.0);
            key_bias[at..at + row.ids.len()].fill(0.0);
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, n * len, &self.device)?;
            let type_ids = Tensor::from_vec(type_ids, n * len, &self.device)?;
            let key_bias = Tensor::from_vec(key_bias, (n, 1, 1, len), &self.device)?;
            let mask = Tensor::from_vec(mask, (n, len, 1), &self.device)?;
            let hidden = self.encoder.forward(&ids, &type_ids, &key_bias, n, len)?;
            let hidden = hidden.reshape((n, len, self.hidden_size))?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?;
            summed.broadcast_div(&counts)?.to_vec2::<f32>()
        };
        let pooled = run().map_err(inference)?;
        Ok(pooled.into_iter().map(normalise).collect())
    }
}

/// Divides by the Euclidean norm (at least 1e-12, as sentence-transformers does),
/// summed in f64.
fn normalise(v: Vec<f32>) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    v.into_iter()
        .map(|x| (f64::from(x) / norm) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_follow_hugging_face_names() {
        assert_eq!(Activation::parse("gelu"), Some(Activation::GeluErf));
        assert_eq!(Activation::parse("gelu_new"), Some(Activation::GeluTanh));
        assert_eq!(Activation::parse("relu"), Some(Activation::Relu));
        assert_eq!(Activation::parse("swish"), None);
    }

    #[test]
    fn a_truncated_safetensors_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(WEIGHTS);
        let t = Tensor::zeros((4, 3), DType::F32, &Device::Cpu).unwrap();
        candle_core::safetensors::save(&HashMap::from([("w", t)]), &file).unwrap();
        let data = std::fs::read(&file).unwrap();
        assert!(check_safetensors(&file, &data).is_ok());
        let err = check_safetensors(&file, &data[..data.len() - 5])
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated") && err.contains(WEIGHTS), "{err}");
        let err = check_safetensors(&file, &data[..20])
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
        let err = check_safetensors(&file, &data[..3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("too short"), "{err}");
    }

    #[test]
    fn pooling_must_be_the_mean() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("1_Pooling")).unwrap();
        let write = |text: &str| std::fs::write(dir.path().join(POOLING_CONFIG), text).unwrap();
        write(
            r#"{"word_embedding_dimension": 8, "pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false}"#,
        );
        assert!(check_pooling(dir.path(), 8).is_ok());
        let err = check_pooling(dir.path(), 16).unwrap_err().to_string();
        assert!(err.contains("hidden_size 16"), "{err}");
        write(r#"{"pooling_mode_mean_tokens": false, "pooling_mode_cls_token": true}"#);
        let err = check_pooling(dir.path(), 8).unwrap_err().to_string();
        assert!(
            err.contains("`cls_token`") && err.contains("1_Pooling"),
            "{err}"
        );
        write(r#"{"pooling_mode": "mean"}"#);
        assert!(check_pooling(dir.path(), 8).is_ok());
    }

    #[test]
    fn normalised_vectors_have_unit_length() {
        let v = normalise(vec![3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        assert_eq!(normalise(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
