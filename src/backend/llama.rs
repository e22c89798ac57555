//! Our own forward pass of the llama architecture (SmolLM2, Llama 3), on candle-core
//! and candle-nn, because candle-transformers' quantized Llama returns only the last
//! position's logits and scores one prompt at a time.
//!
//! What it adds: a prefix computed once and shared by a batch of rows (its keys and
//! values broadcast to every row), rows of different lengths in one forward pass, and
//! logits at any position. Rows are right-padded: with a causal mask a padding token
//! only ever follows the real tokens of its row, so it cannot change them, and no
//! padding mask is needed. Linear layers see `[rows × positions, features]` as one
//! matrix, so a batch is one large matrix product rather than many small ones.

use crate::spec::Precision;
use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use std::sync::Arc;

struct Layer {
    attn_norm: Tensor,
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    ffn_norm: Tensor,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

pub struct Llama {
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    eps: f32,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    cos: Tensor,
    sin: Tensor,
    max_positions: usize,
    device: Device,
}

/// Keys and values of a computed prefix: one `[1, kv_heads, len, head_dim]` pair per layer.
#[derive(Clone)]
pub struct PrefixCache {
    kv: Vec<(Tensor, Tensor)>,
    pub len: usize,
}

fn md_u32(ct: &Content, key: &str) -> Result<usize> {
    match ct.metadata.get(key) {
        Some(v) => Ok(v.to_u32()? as usize),
        None => candle_core::bail!("metadata `{key}` is missing"),
    }
}

impl Llama {
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        ct: &Content,
        reader: &mut R,
        precision: Precision,
    ) -> Result<Llama> {
        let device = Device::Cpu;
        let n_head = md_u32(ct, "llama.attention.head_count")?;
        let n_kv_head = md_u32(ct, "llama.attention.head_count_kv")?;
        let n_layer = md_u32(ct, "llama.block_count")?;
        let dim = md_u32(ct, "llama.embedding_length")?;
        let rope_dim = md_u32(ct, "llama.rope.dimension_count").unwrap_or(dim / n_head);
        let max_positions = md_u32(ct, "llama.context_length").unwrap_or(4096);
        let eps = match ct.metadata.get("llama.attention.layer_norm_rms_epsilon") {
            Some(v) => v.to_f32()?,
            None => 1e-5,
        };
        let rope_base = ct
            .metadata
            .get("llama.rope.freq_base")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 || dim % n_head != 0 {
            candle_core::bail!("inconsistent head counts: {n_head} heads, {n_kv_head} key-value heads, width {dim}");
        }
        let head_dim = dim / n_head;
        if rope_dim != head_dim {
            candle_core::bail!(
                "partial rotary embeddings ({rope_dim} of {head_dim}) are not supported"
            );
        }
        let mut load = Loader {
            ct,
            reader,
            device: &device,
            precision,
        };
        let embed_q = load.raw("token_embd.weight")?;
        let norm = load.vector("output_norm.weight")?;
        let embed = embed_q.dequantize(&device)?;
        let output = if ct.tensor_infos.contains_key("output.weight") {
            load.linear("output.weight")?
        } else {
            // Tied embeddings: the output projection is the embedding matrix.
            match precision {
                Precision::F32 => QMatMul::Tensor(embed.clone()),
                Precision::Quantized => QMatMul::from_arc(Arc::new(embed_q))?,
            }
        };
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            layers.push(Layer {
                attn_norm: load.vector(&format!("{p}.attn_norm.weight"))?,
                wq: load.linear(&format!("{p}.attn_q.weight"))?,
                wk: load.linear(&format!("{p}.attn_k.weight"))?,
                wv: load.linear(&format!("{p}.attn_v.weight"))?,
                wo: load.linear(&format!("{p}.attn_output.weight"))?,
                ffn_norm: load.vector(&format!("{p}.ffn_norm.weight"))?,
                gate: load.linear(&format!("{p}.ffn_gate.weight"))?,
                up: load.linear(&format!("{p}.ffn_up.weight"))?,
                down: load.linear(&format!("{p}.ffn_down.weight"))?,
            });
        }
        let inv_freq: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / rope_base.powf(i as f32 / head_dim as f32))
            .collect();
        let inv_freq = Tensor::new(inv_freq.as_slice(), &device)?;
        let positions = Tensor::arange(0u32, max_positions as u32, &device)?
            .to_dtype(DType::F32)?
            .reshape((max_positions, 1))?;
        let angles = positions.matmul(&inv_freq.reshape((1, head_dim / 2))?)?;
        Ok(Llama {
            embed,
            layers,
            norm,
            output,
            eps,
            n_head,
            n_kv_head,
            head_dim,
            cos: angles.cos()?,
            sin: angles.sin()?,
            max_positions,
            device,
        })
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
        let dim = self.n_head * self.head_dim;
        let mut x = self.embed.index_select(&ids, 0)?; // [b*len, dim]
        let mask = causal_mask(len, past, &self.device)?;
        let cos = self.cos.narrow(0, past, len)?;
        let sin = self.sin.narrow(0, past, len)?;
        let keep_cache = b == 1;
        let mut cache = Vec::with_capacity(if keep_cache { self.layers.len() } else { 0 });
        for (i, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, self.eps)?;
            let heads = |t: Tensor, n: usize| -> Result<Tensor> {
                t.reshape((b, len, n, self.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = heads(layer.wq.forward(&h)?, self.n_head)?;
            let k = heads(layer.wk.forward(&h)?, self.n_kv_head)?;
            let v = heads(layer.wv.forward(&h)?, self.n_kv_head)?;
            let q = candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?;
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
            let k = repeat_kv(&k, rep)?;
            let v = repeat_kv(&v, rep)?;
            let scale = 1.0 / (self.head_dim as f64).sqrt();
            let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&v)?; // [b, heads, len, head_dim]
            let y = y.transpose(1, 2)?.reshape((b * len, dim))?;
            x = (x + layer.wo.forward(&y)?)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, self.eps)?;
            let mlp = (candle_nn::ops::silu(&layer.gate.forward(&h)?)? * layer.up.forward(&h)?)?;
            x = (x + layer.down.forward(&mlp)?)?;
        }
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
        let (_, len, dim) = hidden.dims3()?;
        let flat = hidden.reshape(((), dim))?;
        let index: Vec<u32> = picks.iter().map(|&(r, p)| (r * len + p) as u32).collect();
        let index = Tensor::from_vec(index, picks.len(), &self.device)?;
        let rows = flat.index_select(&index, 0)?;
        let logits = self.output.forward(&rows)?.to_dtype(DType::F32)?;
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

    /// A weight matrix: expanded to f32, or kept in the file's blocks.
    fn linear(&mut self, name: &str) -> Result<QMatMul> {
        let q = self.raw(name)?;
        match self.precision {
            Precision::F32 => Ok(QMatMul::Tensor(q.dequantize(self.device)?)),
            Precision::Quantized => QMatMul::from_arc(Arc::new(q)),
        }
    }
}

/// Additive causal mask `[len, past + len]`: 0 where a query may attend, −∞ where not.
fn causal_mask(len: usize, past: usize, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..len)
        .flat_map(|i| {
            (0..past + len).map(move |j| {
                if j <= past + i {
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
        let m = causal_mask(2, 3, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(m[0], vec![0.0, 0.0, 0.0, 0.0, f32::NEG_INFINITY]);
        assert_eq!(m[1], vec![0.0; 5]);
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
