//! Our own forward pass of the decoder-only transformers users run on CPUs — llama
//! (SmolLM2, Llama 3), qwen2, qwen3, phi3, gemma2 and gemma3 — on candle-core and
//! candle-nn, because candle-transformers' quantized models return only the last
//! position's logits and score one prompt at a time.
//!
//! What it adds: a prefix computed once and shared by a batch of rows (its keys and
//! values broadcast to every row), rows of different lengths in one forward pass, and
//! logits at any position. Rows are right-padded: with a causal mask a padding token
//! only ever follows the real tokens of its row, so it cannot change them, and no
//! padding mask is needed. Linear layers see `[rows × positions, features]` as one
//! matrix, so a batch is one large matrix product rather than many small ones.
//!
//! The architectures differ in a handful of switches, read from the GGUF's
//! metadata and tensors (the conventions of llama.cpp, which wrote the files):
//! rotary style (llama rotates adjacent pairs, the others halves), query/key/value
//! biases (qwen2), per-head query/key norms (qwen3, gemma3), fused QKV and
//! gate‖up matrices (phi3), gemma's embedding scale √d, post-attention and
//! post-FFN norms, tanh-GELU, soft-capped attention and logits (gemma2), sliding-
//! window layers (gemma2 every other layer, gemma3 five of six) with their own
//! rotary base (gemma3), and Llama 3's per-frequency rotary factors
//! (`rope_freqs.weight`). `tests/arch_reference.rs` checks each against llama.cpp's
//! logits on tiny random-weight files.

use crate::spec::Precision;
use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use std::sync::Arc;

use super::bf16::{self, Bf16Matrix};
use super::qmatvec::{BlockMatrix, Q8Row};

/// A weight matrix `[out, in]`: `w` serves every product of a forward pass;
/// `blocks` keeps a Q4_1 or Q8_0 file tensor's own blocks for the decode step's
/// one-row products ([`super::qmatvec`]).
struct Linear {
    w: Weights,
    blocks: Option<BlockMatrix>,
}

/// Whose tensor names a shape error uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Names {
    Hf,
    Gguf,
}

/// The weights of a forward pass's products.
enum Weights {
    /// candle's product: f32 weights, or the file's blocks at `Precision::Quantized`.
    Candle(QMatMul),
    /// bf16 panels ([`super::bf16`]) at `Precision::Bf16`.
    Bf16(Box<Bf16Matrix>),
}

impl Linear {
    fn plain(w: QMatMul) -> Linear {
        Linear {
            w: Weights::Candle(w),
            blocks: None,
        }
    }

    /// `[out, in]`.
    fn shape(&self) -> Vec<usize> {
        match &self.w {
            Weights::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => t.dims().to_vec(),
            Weights::Candle(QMatMul::QTensor(q)) => q.shape().dims().to_vec(),
            Weights::Bf16(b) => vec![b.rows(), b.cols()],
        }
    }

    /// `x · wᵀ`; with `q8` (the one-row `x` quantised, decode steps only) on the
    /// blocks when there are any.
    fn forward(&self, x: &Tensor, q8: Option<&Q8Row>) -> Result<Tensor> {
        match (&self.blocks, q8) {
            (Some(b), Some(q)) if b.cols() == q.len() => {
                let mut out = vec![0f32; b.rows()];
                b.matvec(q, &mut out);
                Tensor::from_vec(out, (1, b.rows()), x.device())
            }
            _ => match &self.w {
                Weights::Candle(w) => w.forward(x),
                Weights::Bf16(w) => {
                    let rows = bf16_rows(x, w)?;
                    let packed = with_rows(x, |v| bf16::pack_input(v, w.cols()))?;
                    Tensor::from_vec(w.matmul_packed(&packed), (rows, w.rows()), x.device())
                }
            },
        }
    }

    /// [`Linear::forward`] of several matrices on one input, the block products
    /// in one parallel pass, the bf16 products on one rounding of the input.
    fn forward_many<const N: usize>(
        linears: [&Linear; N],
        x: &Tensor,
        q8: Option<&Q8Row>,
    ) -> Result<[Tensor; N]> {
        let blocks: Option<Vec<&BlockMatrix>> = linears
            .iter()
            .map(|l| {
                l.blocks
                    .as_ref()
                    .filter(|b| q8.is_some_and(|q| q.len() == b.cols()))
            })
            .collect();
        // Where any of them would use its blocks, each goes its own way, as in
        // `forward`.
        let any_blocks = linears.iter().any(|l| {
            l.blocks
                .as_ref()
                .is_some_and(|b| q8.is_some_and(|q| q.len() == b.cols()))
        });
        let bf16s: Option<Vec<&Bf16Matrix>> = linears
            .iter()
            .map(|l| match &l.w {
                Weights::Bf16(b) if !any_blocks => Some(&**b),
                _ => None,
            })
            .collect();
        match (blocks, q8, bf16s) {
            (Some(blocks), Some(q), _) => {
                let mut outs: Vec<Vec<f32>> = blocks.iter().map(|b| vec![0f32; b.rows()]).collect();
                let mut parts: Vec<(&BlockMatrix, &mut [f32])> = blocks
                    .iter()
                    .copied()
                    .zip(outs.iter_mut().map(Vec::as_mut_slice))
                    .collect();
                super::qmatvec::matvecs(&mut parts, q);
                let mut tensors = Vec::with_capacity(N);
                for o in outs {
                    let n = o.len();
                    tensors.push(Tensor::from_vec(o, (1, n), x.device())?);
                }
                Ok(tensors.try_into().expect("N tensors"))
            }
            (_, _, Some(mats)) if mats.windows(2).all(|p| p[0].cols() == p[1].cols()) => {
                let rows = bf16_rows(x, mats[0])?;
                let packed = with_rows(x, |v| bf16::pack_input(v, mats[0].cols()))?;
                let mut tensors = Vec::with_capacity(N);
                for w in mats {
                    let out = w.matmul_packed(&packed);
                    tensors.push(Tensor::from_vec(out, (rows, w.rows()), x.device())?);
                }
                Ok(tensors.try_into().expect("N tensors"))
            }
            _ => {
                let mut tensors = Vec::with_capacity(N);
                for l in linears {
                    tensors.push(l.forward(x, q8)?);
                }
                Ok(tensors.try_into().expect("N tensors"))
            }
        }
    }
}

/// The rows of a product's input `[rows, cols]`, checked against the weights' width.
fn bf16_rows(x: &Tensor, w: &Bf16Matrix) -> Result<usize> {
    let (rows, cols) = x.dims2()?;
    if cols != w.cols() {
        candle_core::bail!("an input of width {cols} for weights of width {}", w.cols());
    }
    Ok(rows)
}

/// Calls `f` on the values of a 2-D f32 tensor, row-major, without copying them
/// when the tensor is contiguous.
fn with_rows<T>(x: &Tensor, f: impl FnOnce(&[f32]) -> T) -> Result<T> {
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let values = match &*storage {
        candle_core::Storage::Cpu(cpu) => cpu.as_slice::<f32>()?,
        _ => candle_core::bail!("bf16 products run on the CPU"),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(f(&values[start..end])),
        None => candle_core::bail!("a contiguous tensor has no contiguous offsets"),
    }
}

/// A one-row input quantised for [`Linear::forward`]'s block kernel, when `decode`
/// asks for it.
fn quantize_row(x: &Tensor, decode: bool) -> Result<Option<Q8Row>> {
    let (rows, cols) = x.dims2()?;
    if !decode || rows != 1 || !cols.is_multiple_of(super::qmatvec::BLOCK) {
        return Ok(None);
    }
    let v = x.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    Ok(Some(Q8Row::quantize(&v)))
}

/// The architectures this forward pass runs (`general.architecture`).
pub const ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"];

/// How query and key vectors are rotated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rope {
    /// Adjacent pairs (x₂ᵢ, x₂ᵢ₊₁): llama.cpp's NORM, used for llama.
    Pairs,
    /// Halves (xᵢ, xᵢ₊d/2): llama.cpp's NEOX, used by the others.
    Halves,
}

/// Query, key and value projections: separate (with optional biases) or fused.
enum Attention {
    Separate {
        wq: Linear,
        wk: Linear,
        wv: Linear,
        biases: Option<(Tensor, Tensor, Tensor)>,
    },
    /// One matrix whose output rows are Q ‖ K ‖ V (phi3).
    Fused(Linear),
}

/// The feed-forward's gate and up projections: separate or one gate ‖ up matrix.
enum GateUp {
    Separate { gate: Linear, up: Linear },
    Fused(Linear),
}

struct Layer {
    attn_norm: Tensor,
    attention: Attention,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    wo: Linear,
    post_attn_norm: Option<Tensor>,
    ffn_norm: Tensor,
    gate_up: GateUp,
    down: Linear,
    post_ffn_norm: Option<Tensor>,
    /// Keys at least this far behind a query are masked (sliding-window layers).
    window: Option<usize>,
    /// Index into the model's rotary tables.
    rope_table: usize,
}

pub struct Llama {
    embed: Tensor,
    /// Multiplies the embeddings (√d for gemma, else 1).
    embed_scale: f64,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Linear,
    eps: f32,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    rope: Rope,
    /// (cos, sin) per rotary configuration, `[positions, head_dim / 2]`.
    rope_tables: Vec<(Tensor, Tensor)>,
    attn_scale: f64,
    attn_softcap: Option<f64>,
    final_softcap: Option<f64>,
    /// tanh-GELU (gemma) instead of SiLU in the feed-forward.
    gelu: bool,
    max_positions: usize,
    device: Device,
}

/// Keys and values of a computed prefix: one `[1, kv_heads, len, head_dim]` pair per layer.
#[derive(Clone)]
pub struct PrefixCache {
    kv: Vec<(Tensor, Tensor)>,
    pub len: usize,
}

/// The fields of a Hugging Face `config.json` the llama family needs.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HfConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default)]
    pub rms_norm_eps: Option<f64>,
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(default)]
    pub rope_scaling: Option<HfRopeScaling>,
    #[serde(default)]
    pub max_position_embeddings: Option<usize>,
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    pub vocab_size: usize,
    #[serde(default)]
    pub hidden_act: Option<String>,
    #[serde(default)]
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub use_sliding_window: Option<bool>,
    #[serde(default)]
    pub bos_token_id: Option<serde_json::Value>,
    #[serde(default)]
    pub eos_token_id: Option<serde_json::Value>,
}

/// `rope_scaling` of a Hugging Face config.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HfRopeScaling {
    #[serde(default)]
    pub rope_type: Option<String>,
    /// Older configs name the kind `type`.
    #[serde(default, rename = "type")]
    pub kind_old: Option<String>,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    #[serde(default)]
    pub original_max_position_embeddings: Option<f64>,
}

impl HfRopeScaling {
    fn kind(&self) -> &str {
        self.rope_type
            .as_deref()
            .or(self.kind_old.as_deref())
            .unwrap_or("default")
    }

    /// Llama 3's rotary scaling as per-frequency divisors (transformers'
    /// `_compute_llama3_parameters`): long wavelengths divided by `factor`, short
    /// ones kept, the band between interpolated.
    fn llama3_divisors(&self, base: f32, head_dim: usize) -> Result<Vec<f32>> {
        let (Some(factor), Some(low), Some(high), Some(old)) = (
            self.factor,
            self.low_freq_factor,
            self.high_freq_factor,
            self.original_max_position_embeddings,
        ) else {
            candle_core::bail!("llama3 rope_scaling needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings");
        };
        let (low_wavelen, high_wavelen) = (old / low, old / high);
        Ok((0..head_dim / 2)
            .map(|i| {
                let freq = 1.0 / f64::from(base).powf((2 * i) as f64 / head_dim as f64);
                let wavelen = 2.0 * std::f64::consts::PI / freq;
                let scaled = if wavelen < high_wavelen {
                    freq
                } else if wavelen > low_wavelen {
                    freq / factor
                } else {
                    let smooth = (old / wavelen - low) / (high - low);
                    (1.0 - smooth) * freq / factor + smooth * freq
                };
                (freq / scaled) as f32
            })
            .collect())
    }
}

/// Reads an architecture's metadata, `{arch}.{key}`.
struct Meta<'a> {
    ct: &'a Content,
    arch: &'a str,
}

impl Meta<'_> {
    fn get(&self, key: &str) -> Option<&candle_core::quantized::gguf_file::Value> {
        self.ct.metadata.get(&format!("{}.{key}", self.arch))
    }

    fn usize(&self, key: &str) -> Result<usize> {
        match self.get(key) {
            Some(v) => Ok(v.to_u32()? as usize),
            None => candle_core::bail!("metadata `{}.{key}` is missing", self.arch),
        }
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        self.get(key)
            .map_or(Ok(default), |v| Ok(v.to_u32()? as usize))
    }

    fn f32(&self, key: &str) -> Option<f32> {
        self.get(key).and_then(|v| v.to_f32().ok())
    }
}

/// cos and sin of every position's rotary angles: θᵢ(p) = p · scale · base^(−2i/d) / factorᵢ.
fn rope_table(
    base: f32,
    scale: f32,
    factors: Option<&[f32]>,
    head_dim: usize,
    positions: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let inv_freq: Vec<f32> = (0..head_dim / 2)
        .map(|i| {
            let f = 1.0 / base.powf((2 * i) as f32 / head_dim as f32);
            f * scale / factors.map_or(1.0, |fs| fs[i])
        })
        .collect();
    let inv_freq = Tensor::new(inv_freq.as_slice(), device)?;
    let p = Tensor::arange(0u32, positions as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?;
    let angles = p.matmul(&inv_freq.reshape((1, head_dim / 2))?)?;
    Ok((angles.cos()?, angles.sin()?))
}

impl Llama {
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        ct: &Content,
        reader: &mut R,
        precision: Precision,
    ) -> Result<Llama> {
        let device = Device::Cpu;
        let arch = match ct.metadata.get("general.architecture") {
            Some(v) => v.to_string()?.clone(),
            None => candle_core::bail!("metadata `general.architecture` is missing"),
        };
        if !ARCHITECTURES.contains(&arch.as_str()) {
            candle_core::bail!("architecture `{arch}` is not supported");
        }
        let m = Meta { ct, arch: &arch };
        let gemma = arch.starts_with("gemma");
        let n_head = m.usize("attention.head_count")?;
        let n_kv_head = m.usize("attention.head_count_kv")?;
        let n_layer = m.usize("block_count")?;
        let dim = m.usize("embedding_length")?;
        if n_head == 0 || n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head) {
            candle_core::bail!(
                "inconsistent head counts: {n_head} heads, {n_kv_head} key-value heads"
            );
        }
        let head_dim = m.usize_or("attention.key_length", dim / n_head)?;
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            candle_core::bail!("head width {head_dim} must be even and positive");
        }
        if m.usize_or("attention.value_length", head_dim)? != head_dim {
            candle_core::bail!("key and value widths differ; not supported");
        }
        let rope_dim = m.usize_or("rope.dimension_count", head_dim)?;
        if rope_dim != head_dim {
            candle_core::bail!(
                "partial rotary embeddings ({rope_dim} of {head_dim}) are not supported"
            );
        }
        let max_positions = m.usize_or("context_length", 4096)?;
        let eps = m.f32("attention.layer_norm_rms_epsilon").unwrap_or(1e-5);
        let rope_base = m.f32("rope.freq_base").unwrap_or(10_000.0);
        let linear_scale = match m.get("rope.scaling.type").map(|v| v.to_string()) {
            Some(Ok(t)) if t == "linear" => 1.0 / m.f32("rope.scaling.factor").unwrap_or(1.0),
            Some(Ok(t)) if t != "none" => {
                candle_core::bail!("rotary scaling `{t}` is not supported")
            }
            _ => 1.0,
        };
        if m.get("rope.scaling.attn_factor").is_some()
            || ct.tensor_infos.contains_key("rope_factors_long.weight")
        {
            candle_core::bail!("LongRoPE (Phi-3 128k) scaling is not supported");
        }
        let mut load = Loader {
            ct,
            reader,
            device: &device,
            precision,
        };
        // Llama 3's per-frequency divisors, when the file carries them.
        let factors: Option<Vec<f32>> = if ct.tensor_infos.contains_key("rope_freqs.weight") {
            let f = load.vector("rope_freqs.weight")?.to_vec1::<f32>()?;
            if f.len() != head_dim / 2 {
                candle_core::bail!(
                    "rope_freqs.weight has {} values, not {}",
                    f.len(),
                    head_dim / 2
                );
            }
            Some(f)
        } else {
            None
        };
        // Sliding windows: gemma2 on even layers, gemma3 on five of every six
        // (llama.cpp's fixed patterns, or `attention.sliding_window_pattern`).
        let window = if gemma {
            Some(m.usize("attention.sliding_window")?)
        } else {
            None
        };
        let pattern = m.usize_or(
            "attention.sliding_window_pattern",
            match arch.as_str() {
                "gemma2" => 2,
                "gemma3" => 6,
                _ => 1,
            },
        )?;
        let is_local = |il: usize| window.is_some() && pattern > 1 && il % pattern < pattern - 1;
        // Rotary tables: gemma3's local layers use their own base, unscaled.
        let mut rope_tables = vec![rope_table(
            rope_base,
            linear_scale,
            factors.as_deref(),
            head_dim,
            max_positions,
            &device,
        )?];
        let local_table = if arch == "gemma3" {
            let base = m.f32("rope.freq_base_swa").unwrap_or(10_000.0);
            rope_tables.push(rope_table(
                base,
                1.0,
                None,
                head_dim,
                max_positions,
                &device,
            )?);
            1
        } else {
            0
        };

        let embed_q = load.raw("token_embd.weight")?;
        let norm = load.vector("output_norm.weight")?;
        let embed = embed_q.dequantize(&device)?;
        let output = if ct.tensor_infos.contains_key("output.weight") {
            // Only the picked positions reach it: f32 at `Precision::Bf16` too.
            load.output_linear("output.weight")?
        } else {
            // Tied embeddings: the output projection is the embedding matrix.
            let blocks = BlockMatrix::from_qtensor(&embed_q);
            // Only the picked positions reach it: f32 at `Precision::Bf16` too.
            let w = match precision {
                Precision::F32 | Precision::Bf16 => QMatMul::Tensor(embed.clone()),
                Precision::Quantized => QMatMul::from_arc(Arc::new(embed_q))?,
            };
            Linear {
                w: Weights::Candle(w),
                blocks,
            }
        };
        let has = |name: &str| ct.tensor_infos.contains_key(name);
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            let attention = if has(&format!("{p}.attn_qkv.weight")) {
                Attention::Fused(load.linear(&format!("{p}.attn_qkv.weight"))?)
            } else {
                let biases = if has(&format!("{p}.attn_q.bias")) {
                    Some((
                        load.vector(&format!("{p}.attn_q.bias"))?,
                        load.vector(&format!("{p}.attn_k.bias"))?,
                        load.vector(&format!("{p}.attn_v.bias"))?,
                    ))
                } else {
                    None
                };
                Attention::Separate {
                    wq: load.linear(&format!("{p}.attn_q.weight"))?,
                    wk: load.linear(&format!("{p}.attn_k.weight"))?,
                    wv: load.linear(&format!("{p}.attn_v.weight"))?,
                    biases,
                }
            };
            let gate_up = if has(&format!("{p}.ffn_gate.weight")) {
                GateUp::Separate {
                    gate: load.linear(&format!("{p}.ffn_gate.weight"))?,
                    up: load.linear(&format!("{p}.ffn_up.weight"))?,
                }
            } else {
                GateUp::Fused(load.linear(&format!("{p}.ffn_up.weight"))?)
            };
            let mut optional = |name: &str| -> Result<Option<Tensor>> {
                let full = format!("{p}.{name}.weight");
                if ct.tensor_infos.contains_key(&full) {
                    load.vector(&full).map(Some)
                } else {
                    Ok(None)
                }
            };
            let q_norm = optional("attn_q_norm")?;
            let k_norm = optional("attn_k_norm")?;
            let post_attn_norm = optional("post_attention_norm")?;
            let post_ffn_norm = optional("post_ffw_norm")?;
            let local = is_local(i);
            layers.push(Layer {
                attn_norm: load.vector(&format!("{p}.attn_norm.weight"))?,
                attention,
                q_norm,
                k_norm,
                wo: load.linear(&format!("{p}.attn_output.weight"))?,
                post_attn_norm,
                ffn_norm: load.vector(&format!("{p}.ffn_norm.weight"))?,
                gate_up,
                down: load.linear(&format!("{p}.ffn_down.weight"))?,
                post_ffn_norm,
                window: if local { window } else { None },
                rope_table: if local { local_table } else { 0 },
            });
        }
        // Scores are scaled by 1/√head_dim; llama.cpp's gemma 27B models (46 and
        // 62 layers) use 1/√(d / heads) instead.
        let attn_scale = match (arch.as_str(), n_layer) {
            ("gemma2", 46) | ("gemma3", 62) => 1.0 / ((dim / n_head) as f64).sqrt(),
            _ => 1.0 / (head_dim as f64).sqrt(),
        };
        let softcap = |key: &str| m.f32(key).map(f64::from).filter(|c| *c > 0.0);
        let ffn = m.usize("feed_forward_length")?;
        let llama = Llama {
            embed,
            embed_scale: if gemma {
                (dim as f32).sqrt() as f64
            } else {
                1.0
            },
            layers,
            norm,
            output,
            eps,
            n_head,
            n_kv_head,
            head_dim,
            rope: if arch == "llama" {
                Rope::Pairs
            } else {
                Rope::Halves
            },
            rope_tables,
            attn_scale,
            attn_softcap: if arch == "gemma2" {
                softcap("attn_logit_softcapping")
            } else {
                None
            },
            final_softcap: softcap("final_logit_softcapping"),
            gelu: gemma,
            max_positions,
            device,
        };
        let vocab = llama.embed.dim(0)?;
        llama.check_shapes(dim, ffn, vocab, Names::Gguf)?;
        Ok(llama)
    }

    /// A Hugging Face llama-family causal LM (`LlamaForCausalLM`, `MistralForCausalLM`,
    /// `Qwen2ForCausalLM`) from its config and a tensor source (`get` returns f32
    /// tensors by their Hugging Face names, `None` when absent). Hugging Face
    /// rotates halves of each head, so no row permutation is undone here.
    pub fn from_hf(
        config: &HfConfig,
        get: &mut dyn FnMut(&str) -> Result<Option<Tensor>>,
        precision: Precision,
    ) -> Result<Llama> {
        let device = Device::Cpu;
        let c = config;
        let mut need = |name: &str| -> Result<Tensor> {
            match get(name)? {
                Some(t) => Ok(t),
                None => candle_core::bail!("tensor `{name}` is missing"),
            }
        };
        let n_head = c.num_attention_heads;
        let n_kv_head = c.num_key_value_heads.unwrap_or(n_head);
        if n_head == 0 || n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head) {
            candle_core::bail!(
                "inconsistent head counts: {n_head} heads, {n_kv_head} key-value heads"
            );
        }
        let head_dim = c.head_dim.unwrap_or(c.hidden_size / n_head);
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            candle_core::bail!("head width {head_dim} must be even and positive");
        }
        let max_positions = c.max_position_embeddings.unwrap_or(4096);
        let base = c.rope_theta.unwrap_or(10_000.0) as f32;
        let (scale, factors) = match &c.rope_scaling {
            None => (1.0, None),
            Some(r) => match r.kind() {
                "linear" => (1.0 / r.factor.unwrap_or(1.0) as f32, None),
                "llama3" => (1.0, Some(r.llama3_divisors(base, head_dim)?)),
                "default" => (1.0, None),
                other => candle_core::bail!("rope_scaling `{other}` is not supported"),
            },
        };
        let rope_tables = vec![rope_table(
            base,
            scale,
            factors.as_deref(),
            head_dim,
            max_positions,
            &device,
        )?];
        // Mistral's window is on unless switched off; Qwen2 names it with a switch.
        let window = match (
            c.model_type.as_deref(),
            c.use_sliding_window,
            c.sliding_window,
        ) {
            (_, Some(false), _) | (_, _, None) => None,
            (Some("mistral"), None, Some(w)) | (_, Some(true), Some(w)) => Some(w),
            _ => None,
        };
        let embed = need("model.embed_tokens.weight")?;
        let norm = need("model.norm.weight")?;
        let output = match get("lm_head.weight")? {
            Some(w) if !c.tie_word_embeddings.unwrap_or(false) => w,
            _ => embed.clone(),
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let bias = |get: &mut dyn FnMut(&str) -> Result<Option<Tensor>>, w: &str| {
                get(&format!("{p}.self_attn.{w}.bias"))
            };
            let biases = match (
                bias(get, "q_proj")?,
                bias(get, "k_proj")?,
                bias(get, "v_proj")?,
            ) {
                (Some(q), Some(k), Some(v)) => Some((q, k, v)),
                (None, None, None) => None,
                _ => candle_core::bail!("layer {i} has some but not all q/k/v biases"),
            };
            let mut linear = |name: String| -> Result<Linear> {
                match get(&name)? {
                    Some(t) if precision == Precision::Bf16 && t.rank() == 2 => {
                        let (rows, cols) = t.dims2()?;
                        if rows == 0 || cols == 0 {
                            candle_core::bail!("`{name}` has an empty dimension: {rows} × {cols}");
                        }
                        let w = t.flatten_all()?.to_vec1::<f32>()?;
                        Ok(Linear {
                            w: Weights::Bf16(Box::new(Bf16Matrix::new(&w, rows, cols))),
                            blocks: None,
                        })
                    }
                    Some(t) => Ok(Linear::plain(QMatMul::Tensor(t))),
                    None => candle_core::bail!("tensor `{name}` is missing"),
                }
            };
            let attention = Attention::Separate {
                wq: linear(format!("{p}.self_attn.q_proj.weight"))?,
                wk: linear(format!("{p}.self_attn.k_proj.weight"))?,
                wv: linear(format!("{p}.self_attn.v_proj.weight"))?,
                biases,
            };
            let wo = linear(format!("{p}.self_attn.o_proj.weight"))?;
            let gate_up = GateUp::Separate {
                gate: linear(format!("{p}.mlp.gate_proj.weight"))?,
                up: linear(format!("{p}.mlp.up_proj.weight"))?,
            };
            let down = linear(format!("{p}.mlp.down_proj.weight"))?;
            let mut vector = |name: String| -> Result<Tensor> {
                match get(&name)? {
                    Some(t) => Ok(t),
                    None => candle_core::bail!("tensor `{name}` is missing"),
                }
            };
            layers.push(Layer {
                attn_norm: vector(format!("{p}.input_layernorm.weight"))?,
                attention,
                q_norm: None,
                k_norm: None,
                wo,
                post_attn_norm: None,
                ffn_norm: vector(format!("{p}.post_attention_layernorm.weight"))?,
                gate_up,
                down,
                post_ffn_norm: None,
                window,
                rope_table: 0,
            });
        }
        let llama = Llama {
            embed,
            embed_scale: 1.0,
            layers,
            norm,
            output: Linear::plain(QMatMul::Tensor(output)),
            eps: c.rms_norm_eps.unwrap_or(1e-5) as f32,
            n_head,
            n_kv_head,
            head_dim,
            rope: Rope::Halves,
            rope_tables,
            attn_scale: 1.0 / (head_dim as f64).sqrt(),
            attn_softcap: None,
            final_softcap: None,
            gelu: false,
            max_positions,
            device,
        };
        llama.check_shapes(c.hidden_size, c.intermediate_size, c.vocab_size, Names::Hf)?;
        Ok(llama)
    }

    /// Every weight's shape against the config (or the GGUF metadata), naming the
    /// first that disagrees by the format's own tensor names.
    fn check_shapes(&self, dim: usize, ffn: usize, vocab: usize, names: Names) -> Result<()> {
        let gguf = names == Names::Gguf;
        let what = if gguf { "the metadata" } else { "the config" };
        let expect = |name: &str, got: &[usize], want: &[usize]| -> Result<()> {
            if got != want {
                candle_core::bail!("`{name}` has shape {got:?}, {what} implies {want:?}");
            }
            Ok(())
        };
        let (q, kv) = (self.n_head * self.head_dim, self.n_kv_head * self.head_dim);
        let (embed, norm) = if gguf {
            ("token_embd.weight", "output_norm.weight")
        } else {
            ("model.embed_tokens.weight", "model.norm.weight")
        };
        expect(embed, self.embed.dims(), &[vocab, dim])?;
        expect(norm, self.norm.dims(), &[dim])?;
        let output = if gguf {
            "output.weight"
        } else {
            "lm_head.weight"
        };
        expect(output, &self.output.shape(), &[vocab, dim])?;
        for (i, l) in self.layers.iter().enumerate() {
            let name = |hf: &str, gg: &str| {
                if gguf {
                    format!("blk.{i}.{gg}.weight")
                } else {
                    format!("model.layers.{i}.{hf}.weight")
                }
            };
            let check = |hf: &str, gg: &str, m: &Linear, want: [usize; 2]| {
                expect(&name(hf, gg), &m.shape(), &want)
            };
            match &l.attention {
                Attention::Separate { wq, wk, wv, .. } => {
                    check("self_attn.q_proj", "attn_q", wq, [q, dim])?;
                    check("self_attn.k_proj", "attn_k", wk, [kv, dim])?;
                    check("self_attn.v_proj", "attn_v", wv, [kv, dim])?;
                }
                Attention::Fused(w) => check("", "attn_qkv", w, [q + 2 * kv, dim])?,
            }
            check("self_attn.o_proj", "attn_output", &l.wo, [dim, q])?;
            match &l.gate_up {
                GateUp::Separate { gate, up } => {
                    check("mlp.gate_proj", "ffn_gate", gate, [ffn, dim])?;
                    check("mlp.up_proj", "ffn_up", up, [ffn, dim])?;
                }
                GateUp::Fused(w) => check("", "ffn_up", w, [2 * ffn, dim])?,
            }
            check("mlp.down_proj", "ffn_down", &l.down, [dim, ffn])?;
        }
        Ok(())
    }

    /// Runs `rows` (right-padded to one length with `pad`) after an optional shared
    /// prefix. Returns the final-norm hidden states `[rows, len, dim]` and, for a
    /// single row, the cache of prefix + row (to serve as a longer prefix).
    pub fn forward(
        &self,
        rows: &[Vec<u32>],
        prefix: Option<&PrefixCache>,
        pad: u32,
    ) -> Result<(Tensor, Option<PrefixCache>)> {
        self.forward_with(rows, prefix, pad, false)
    }

    /// [`Llama::forward`]; with `decode`, a one-token input's products use the
    /// weights' own blocks and an 8-bit quantised input ([`super::qmatvec`]) where
    /// the file has Q4_1 or Q8_0 blocks: the generation step, faster and within
    /// quantisation rounding of the f32 products. Inputs of more than one token
    /// are computed as by [`Llama::forward`] either way.
    pub fn forward_with(
        &self,
        rows: &[Vec<u32>],
        prefix: Option<&PrefixCache>,
        pad: u32,
        decode: bool,
    ) -> Result<(Tensor, Option<PrefixCache>)> {
        let b = rows.len();
        let len = rows.iter().map(Vec::len).max().unwrap_or(0);
        if b == 0 || len == 0 {
            candle_core::bail!("nothing to run");
        }
        let past = prefix.map_or(0, |p| p.len);
        if past + len > self.max_positions {
            candle_core::bail!(
                "{} positions exceed the model's context of {}",
                past + len,
                self.max_positions
            );
        }
        let ids: Vec<u32> = rows
            .iter()
            .flat_map(|r| {
                r.iter()
                    .copied()
                    .chain(std::iter::repeat_n(pad, len - r.len()))
            })
            .collect();
        let ids = Tensor::from_vec(ids, b * len, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?; // [b*len, dim]
        if self.embed_scale != 1.0 {
            x = (x * self.embed_scale)?;
        }
        let width = self.n_head * self.head_dim;
        let kv_width = self.n_kv_head * self.head_dim;
        let global_mask = causal_mask(len, past, None, &self.device)?;
        let mut window_masks: Vec<(usize, Tensor)> = Vec::new();
        let keep_cache = b == 1;
        let mut cache = Vec::with_capacity(if keep_cache { self.layers.len() } else { 0 });
        for (i, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, self.eps)?;
            let hq = quantize_row(&h, decode)?;
            let hq = hq.as_ref();
            let (q, k, v) = match &layer.attention {
                Attention::Separate { wq, wk, wv, biases } => {
                    let [q, k, v] = Linear::forward_many([wq, wk, wv], &h, hq)?;
                    match biases {
                        Some((bq, bk, bv)) => (
                            q.broadcast_add(bq)?,
                            k.broadcast_add(bk)?,
                            v.broadcast_add(bv)?,
                        ),
                        None => (q, k, v),
                    }
                }
                Attention::Fused(w) => {
                    let qkv = w.forward(&h, hq)?;
                    (
                        qkv.narrow(1, 0, width)?,
                        qkv.narrow(1, width, kv_width)?,
                        qkv.narrow(1, width + kv_width, kv_width)?,
                    )
                }
            };
            // [b*len, n*hd] → per-head norms (qwen3, gemma3) → [b, n, len, hd].
            let heads = |t: Tensor, n: usize, norm: &Option<Tensor>| -> Result<Tensor> {
                let t = match norm {
                    Some(w) => candle_nn::ops::rms_norm(
                        &t.contiguous()?.reshape((b * len * n, self.head_dim))?,
                        w,
                        self.eps,
                    )?,
                    None => t,
                };
                t.reshape((b, len, n, self.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = heads(q, self.n_head, &layer.q_norm)?;
            let k = heads(k, self.n_kv_head, &layer.k_norm)?;
            let v = heads(v, self.n_kv_head, &None)?;
            let (cos, sin) = &self.rope_tables[layer.rope_table];
            let cos = cos.narrow(0, past, len)?;
            let sin = sin.narrow(0, past, len)?;
            let (q, k) = match self.rope {
                Rope::Pairs => (
                    candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?,
                    candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?,
                ),
                Rope::Halves => (
                    candle_nn::rotary_emb::rope(&q, &cos, &sin)?,
                    candle_nn::rotary_emb::rope(&k, &cos, &sin)?,
                ),
            };
            let (k, v) = match prefix {
                Some(p) => {
                    let (pk, pv) = &p.kv[i];
                    let shape = (b, self.n_kv_head, p.len, self.head_dim);
                    (
                        Tensor::cat(&[&pk.broadcast_as(shape)?, &k], 2)?,
                        Tensor::cat(&[&pv.broadcast_as(shape)?, &v], 2)?,
                    )
                }
                None => (k, v),
            };
            if keep_cache {
                cache.push((k.clone(), v.clone()));
            }
            let rep = self.n_head / self.n_kv_head;
            // A decode step's one query per head: the `rep` query heads of a key-value
            // head become `rep` rows against that head's keys, instead of copying the
            // keys and values `rep` times.
            let grouped = decode && len == 1 && rep > 1;
            let (q, k, v) = if grouped {
                (q.reshape((b, self.n_kv_head, rep, self.head_dim))?, k, v)
            } else {
                (q, repeat_kv(&k, rep)?, repeat_kv(&v, rep)?)
            };
            let mut att = (q.matmul(&k.t()?)? * self.attn_scale)?;
            if let Some(cap) = self.attn_softcap {
                att = ((att / cap)?.tanh()? * cap)?;
            }
            let mask = match layer.window {
                None => &global_mask,
                Some(w) => {
                    if !window_masks.iter().any(|(size, _)| *size == w) {
                        window_masks.push((w, causal_mask(len, past, Some(w), &self.device)?));
                    }
                    &window_masks
                        .iter()
                        .find(|(size, _)| *size == w)
                        .expect("built")
                        .1
                }
            };
            let att = att.broadcast_add(mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let mut y = att.matmul(&v)?; // [b, heads, len, head_dim]
            if grouped {
                y = y.reshape((b, self.n_head, 1, self.head_dim))?;
            }
            let y = y.transpose(1, 2)?.reshape((b * len, width))?;
            let yq = quantize_row(&y, decode)?;
            let mut y = layer.wo.forward(&y, yq.as_ref())?;
            if let Some(w) = &layer.post_attn_norm {
                y = candle_nn::ops::rms_norm(&y, w, self.eps)?;
            }
            x = (x + y)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, self.eps)?;
            let hq = quantize_row(&h, decode)?;
            let hq = hq.as_ref();
            let (gate, up) = match &layer.gate_up {
                GateUp::Separate { gate, up } => {
                    let [g, u] = Linear::forward_many([gate, up], &h, hq)?;
                    (g, u)
                }
                GateUp::Fused(w) => {
                    let gu = w.forward(&h, hq)?;
                    let half = gu.dim(1)? / 2;
                    (gu.narrow(1, 0, half)?, gu.narrow(1, half, half)?)
                }
            };
            let act = if self.gelu {
                gate.gelu()?
            } else {
                candle_nn::ops::silu(&gate)?
            };
            let a = (act * up)?;
            let aq = quantize_row(&a, decode)?;
            let mut y = layer.down.forward(&a, aq.as_ref())?;
            if let Some(w) = &layer.post_ffn_norm {
                y = candle_nn::ops::rms_norm(&y, w, self.eps)?;
            }
            x = (x + y)?;
        }
        let dim = x.dim(1)?;
        let x = candle_nn::ops::rms_norm(&x, &self.norm, self.eps)?.reshape((b, len, dim))?;
        let cache = keep_cache.then(|| PrefixCache {
            kv: cache,
            len: past + len,
        });
        Ok((x, cache))
    }

    /// Positions the rotary tables cover.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Logits at the given (row, position) pairs of a forward pass's hidden states.
    pub fn logits_at(&self, hidden: &Tensor, picks: &[(usize, usize)]) -> Result<Vec<Vec<f32>>> {
        self.logits_at_with(hidden, picks, false)
    }

    /// [`Llama::logits_at`]; with `decode`, a single pick's output product uses the
    /// blocks as in [`Llama::forward_with`].
    pub fn logits_at_with(
        &self,
        hidden: &Tensor,
        picks: &[(usize, usize)],
        decode: bool,
    ) -> Result<Vec<Vec<f32>>> {
        let (_, len, dim) = hidden.dims3()?;
        let flat = hidden.reshape(((), dim))?;
        let index: Vec<u32> = picks.iter().map(|&(r, p)| (r * len + p) as u32).collect();
        let index = Tensor::from_vec(index, picks.len(), &self.device)?;
        let rows = flat.index_select(&index, 0)?;
        let rq = quantize_row(&rows, decode)?;
        let mut logits = self
            .output
            .forward(&rows, rq.as_ref())?
            .to_dtype(DType::F32)?;
        if let Some(cap) = self.final_softcap {
            logits = ((logits / cap)?.tanh()? * cap)?;
        }
        (0..picks.len())
            .map(|i| logits.i(i)?.to_vec1::<f32>())
            .collect()
    }
}

/// Reads tensors of a GGUF file, at the precision asked for.
struct Loader<'a, R> {
    ct: &'a Content,
    reader: &'a mut R,
    device: &'a Device,
    precision: Precision,
}

impl<R: std::io::Read + std::io::Seek> Loader<'_, R> {
    fn raw(&mut self, name: &str) -> Result<candle_core::quantized::QTensor> {
        self.ct.tensor(self.reader, name, self.device)
    }

    /// A norm weight or other small vector: always f32.
    fn vector(&mut self, name: &str) -> Result<Tensor> {
        self.raw(name)?.dequantize(self.device)
    }

    /// The output projection: as [`Loader::linear`], but f32 at `Precision::Bf16`.
    fn output_linear(&mut self, name: &str) -> Result<Linear> {
        if self.precision != Precision::Bf16 {
            return self.linear(name);
        }
        let q = self.raw(name)?;
        Ok(Linear {
            blocks: BlockMatrix::from_qtensor(&q),
            w: Weights::Candle(QMatMul::Tensor(q.dequantize(self.device)?)),
        })
    }

    /// A weight matrix: expanded to f32, rounded to bf16, or kept in the file's blocks.
    fn linear(&mut self, name: &str) -> Result<Linear> {
        let q = self.raw(name)?;
        let blocks = BlockMatrix::from_qtensor(&q);
        let w = match self.precision {
            Precision::F32 => Weights::Candle(QMatMul::Tensor(q.dequantize(self.device)?)),
            Precision::Bf16 => {
                let t = q.dequantize(self.device)?;
                let (rows, cols) = t.dims2()?;
                if rows == 0 || cols == 0 {
                    candle_core::bail!("`{name}` has an empty dimension: {rows} × {cols}");
                }
                let w = t.flatten_all()?.to_vec1::<f32>()?;
                Weights::Bf16(Box::new(Bf16Matrix::new(&w, rows, cols)))
            }
            Precision::Quantized => Weights::Candle(QMatMul::from_arc(Arc::new(q))?),
        };
        Ok(Linear { w, blocks })
    }
}

/// Additive causal mask `[len, past + len]`: 0 where a query may attend, −∞ where
/// not. With a `window`, a query at position p also cannot see keys at p − window
/// or earlier (sliding-window layers).
fn causal_mask(len: usize, past: usize, window: Option<usize>, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..len)
        .flat_map(|i| {
            (0..past + len).map(move |j| {
                let p = past + i;
                let visible = j <= p && window.is_none_or(|w| p - j < w);
                if visible {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(values, (len, past + len), device)
}

/// Grouped-query attention: each key-value head serves `rep` query heads.
fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    let (b, n_kv, len, hd) = x.dims4()?;
    x.unsqueeze(2)?
        .broadcast_as((b, n_kv, rep, len, hd))?
        .contiguous()?
        .reshape((b, n_kv * rep, len, hd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_mask_lets_every_query_see_the_prefix() {
        let m = causal_mask(2, 3, None, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(m[0], vec![0.0, 0.0, 0.0, 0.0, f32::NEG_INFINITY]);
        assert_eq!(m[1], vec![0.0; 5]);
        // A window of 2: position 4 sees 3 and 4 only.
        let w = causal_mask(1, 4, Some(2), &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let inf = f32::NEG_INFINITY;
        assert_eq!(w[0], vec![inf, inf, inf, 0.0, 0.0]);
    }

    #[test]
    fn repeat_kv_repeats_each_head_in_place() {
        let x = Tensor::arange(0f32, 4.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 2, 1))
            .unwrap();
        let r = repeat_kv(&x, 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(r, vec![0.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 3.0]);
    }
}
