//! Matrix–vector products on a GGUF file's own weight blocks, for the decode step
//! (one new token: an input of one row).
//!
//! Expanding 4-bit weights to f32 makes each generated token read eight times the
//! bytes of the file; candle's quantized path reads the blocks but its Q4_1 dot
//! product is scalar. Here the weights stay in the file's blocks and the input row
//! is quantised once per product, as llama.cpp does, to 8-bit blocks of 32
//! ([`Q8Row`]: int8 values `q`, a scale `d` = max|x|/127 and `s = d·Σq`). A block
//! of weights then meets its block of input in an exact integer dot product:
//!
//! - Q4_1 (f16 `d`, f16 `m`, 32 nibbles `n`; weight = d·n + m):
//!   `d_w·d_x·Σ n·q + m_w·s_x`;
//! - Q8_0 (f16 `d`, 32 int8 `w`; weight = d·w): `d_w·d_x·Σ w·q`.
//!
//! The integer sums are computed with AVX-512 VNNI (`vpdpbusd`) or AVX2
//! (`vpmaddubsw` + `vpmaddwd`) when the processor has them, chosen at run time,
//! else by plain Rust. The floating-point part is the same sequence of f32
//! operations in every path — eight lanes, lane k taking per block a fused
//! multiply-add of the block's scale d_w·d_x and the (exact) integer sum of its
//! products 4k…4k+3, the Q4_1 offsets a ninth accumulator, combined in a fixed
//! order — so all three paths give bit-identical results. Rows are shared among rayon's threads, each row
//! computed whole by one thread, so the result does not depend on the thread
//! count either.

use rayon::prelude::*;

/// Weights per block.
pub const BLOCK: usize = 32;

/// The block formats this module multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// f16 d, f16 m, 16 bytes: weight i is the low nibble of byte i (i < 16) or the
    /// high nibble of byte i − 16.
    Q4_1,
    /// f16 d, 32 int8 weights.
    Q8_0,
}

impl BlockKind {
    /// Bytes per block of 32 weights.
    pub fn block_bytes(self) -> usize {
        match self {
            BlockKind::Q4_1 => 20,
            BlockKind::Q8_0 => 34,
        }
    }
}

/// An input row quantised to 8 bits in blocks of 32 (llama.cpp's Q8_1, with f32
/// scales): `q[32b..32b+32]`, `d[b]`, and `s[b] = d[b]·Σq`.
#[derive(Debug, Clone)]
pub struct Q8Row {
    pub q: Vec<i8>,
    pub d: Vec<f32>,
    pub s: Vec<f32>,
}

impl Q8Row {
    /// Quantises `x` (its length a multiple of 32): per block, d = max|x|/127 and
    /// q = round(x/d) (halves away from zero); an all-zero block has d = 0, q = 0.
    pub fn quantize(x: &[f32]) -> Q8Row {
        assert!(x.len().is_multiple_of(BLOCK), "length not a multiple of 32");
        let nb = x.len() / BLOCK;
        let mut q = vec![0i8; x.len()];
        let mut d = vec![0f32; nb];
        let mut s = vec![0f32; nb];
        for b in 0..nb {
            let xs = &x[b * BLOCK..(b + 1) * BLOCK];
            let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
            let mut sum = 0i32;
            for (o, &v) in q[b * BLOCK..(b + 1) * BLOCK].iter_mut().zip(xs) {
                let r = (v * inv).round() as i8;
                *o = r;
                sum += i32::from(r);
            }
            d[b] = scale;
            s[b] = scale * sum as f32;
        }
        Q8Row { q, d, s }
    }

    /// Values (length of the row).
    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// Which instructions compute the integer dot products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Scalar,
    Avx2,
    Avx512Vnni,
}

impl Path {
    /// The fastest path this processor supports.
    pub fn best() -> Path {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                return Path::Avx512Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                return Path::Avx2;
            }
        }
        Path::Scalar
    }

    /// Whether this processor can run the path.
    pub fn available(self) -> bool {
        match self {
            Path::Scalar => true,
            Path::Avx2 => matches!(Path::best(), Path::Avx2 | Path::Avx512Vnni),
            Path::Avx512Vnni => Path::best() == Path::Avx512Vnni,
        }
    }
}

/// A weight matrix kept in its file's blocks: `rows` rows of `cols` weights, each
/// row `cols / 32` consecutive blocks.
#[derive(Debug, Clone)]
pub struct BlockMatrix {
    kind: BlockKind,
    rows: usize,
    cols: usize,
    data: Vec<u8>,
}

impl BlockMatrix {
    /// Checks the sizes; `data` is the file's bytes of the tensor.
    pub fn new(kind: BlockKind, rows: usize, cols: usize, data: Vec<u8>) -> Option<BlockMatrix> {
        if cols == 0 || !cols.is_multiple_of(BLOCK) {
            return None;
        }
        if data.len() != rows * (cols / BLOCK) * kind.block_bytes() {
            return None;
        }
        Some(BlockMatrix {
            kind,
            rows,
            cols,
            data,
        })
    }

    /// The blocks of a candle tensor `[rows, cols]` of type Q4_1 or Q8_0; `None`
    /// for other types and shapes.
    pub fn from_qtensor(t: &candle_core::quantized::QTensor) -> Option<BlockMatrix> {
        use candle_core::quantized::GgmlDType;
        let kind = match t.dtype() {
            GgmlDType::Q4_1 => BlockKind::Q4_1,
            GgmlDType::Q8_0 => BlockKind::Q8_0,
            _ => return None,
        };
        let (rows, cols) = t.shape().dims2().ok()?;
        BlockMatrix::new(kind, rows, cols, t.data().ok()?.into_owned())
    }

    pub fn kind(&self) -> BlockKind {
        self.kind
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `out[r] = Σ_c W[r, c]·x[c]` with `x` quantised, on the best path.
    pub fn matvec(&self, x: &Q8Row, out: &mut [f32]) {
        self.matvec_on(Path::best(), x, out)
    }

    /// [`BlockMatrix::matvec`] on a given path (which must be available).
    pub fn matvec_on(&self, path: Path, x: &Q8Row, out: &mut [f32]) {
        matvecs_on(path, &mut [(self, out)], x)
    }

    fn row_bytes(&self) -> usize {
        (self.cols / BLOCK) * self.kind.block_bytes()
    }
}

/// Several products with one input (the query, key and value projections), in
/// one parallel pass: `out = W·x` for each `(W, out)`.
pub fn matvecs(parts: &mut [(&BlockMatrix, &mut [f32])], x: &Q8Row) {
    matvecs_on(Path::best(), parts, x)
}

fn matvecs_on(path: Path, parts: &mut [(&BlockMatrix, &mut [f32])], x: &Q8Row) {
    assert!(path.available(), "{path:?} is not available here");
    // Tasks of up to ROWS_PER_TASK rows: (matrix, first row, outputs).
    let mut tasks: Vec<(&BlockMatrix, usize, &mut [f32])> = Vec::new();
    for (m, out) in parts.iter_mut() {
        assert_eq!(x.len(), m.cols, "input length");
        assert_eq!(out.len(), m.rows, "output length");
        for (t, chunk) in out.chunks_mut(ROWS_PER_TASK).enumerate() {
            tasks.push((*m, t * ROWS_PER_TASK, chunk));
        }
    }
    tasks.into_par_iter().for_each(|(m, first, chunk)| {
        let bytes = m.row_bytes();
        for (i, o) in chunk.iter_mut().enumerate() {
            let start = (first + i) * bytes;
            *o = row_dot(path, m.kind, &m.data[start..start + bytes], x);
        }
    });
}

/// Rows handed to a thread at a time.
const ROWS_PER_TASK: usize = 64;

/// One row's dot product with `x`. Eight f32 lanes: lane k accumulates, block by
/// block, `(d_w·d_x) · Σ_{i=4k}^{4k+3} w_i q_i` with a fused multiply-add; the Q4_1
/// offsets `m_w·s_x` go to a ninth accumulator, also by fused multiply-add. The
/// lanes are combined in a fixed order and the offsets added last.
fn row_dot(path: Path, kind: BlockKind, row: &[u8], x: &Q8Row) -> f32 {
    let (lanes, mins) = match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => {
            // SAFETY: `Path::available` was checked by the caller; the row holds
            // as many blocks as x.
            unsafe { simd::lanes_avx2(kind, row, x) }
        }
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => {
            // SAFETY: as above.
            unsafe { simd::lanes_vnni(kind, row, x) }
        }
        _ => lanes_scalar(kind, row, x),
    };
    (((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])))
        + mins
}

/// The lanes and offsets of [`row_dot`] in plain Rust.
fn lanes_scalar(kind: BlockKind, row: &[u8], x: &Q8Row) -> ([f32; 8], f32) {
    let bytes = kind.block_bytes();
    let mut lanes = [0f32; 8];
    let mut mins = 0f32;
    let mut w = [0i32; BLOCK];
    for (b, blk) in row.chunks_exact(bytes).enumerate() {
        let q = &x.q[b * BLOCK..(b + 1) * BLOCK];
        let dw = f16_to_f32(u16::from_le_bytes([blk[0], blk[1]]));
        match kind {
            BlockKind::Q4_1 => {
                for i in 0..16 {
                    w[i] = i32::from(blk[4 + i] & 0x0F);
                    w[i + 16] = i32::from(blk[4 + i] >> 4);
                }
                let mw = f16_to_f32(u16::from_le_bytes([blk[2], blk[3]]));
                mins = mw.mul_add(x.s[b], mins);
            }
            BlockKind::Q8_0 => {
                for i in 0..BLOCK {
                    w[i] = i32::from(blk[2 + i] as i8);
                }
            }
        }
        let scale = dw * x.d[b];
        for (k, lane) in lanes.iter_mut().enumerate() {
            let sum: i32 = (4 * k..4 * k + 4).map(|i| w[i] * i32::from(q[i])).sum();
            *lane = scale.mul_add(sum as f32, *lane);
        }
    }
    (lanes, mins)
}

/// IEEE half to single precision (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1F);
    let frac = u32::from(h & 0x3FF);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: f · 2^-24, normalised.
            let shift = f.leading_zeros() - 21; // bring the top bit to position 10
            let f = (f << shift) & 0x3FF;
            let e = 127 - 15 + 1 - shift;
            sign | (e << 23) | (f << 13)
        }
        (0x1F, f) => sign | 0x7F80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{BlockKind, Q8Row, BLOCK};
    use std::arch::x86_64::*;

    /// 32 weights of a block as bytes in input order: unsigned nibbles for Q4_1,
    /// signed for Q8_0.
    #[target_feature(enable = "avx2")]
    unsafe fn weights(kind: BlockKind, blk: *const u8) -> __m256i {
        match kind {
            BlockKind::Q4_1 => {
                let n = _mm_loadu_si128(blk.add(4) as *const __m128i);
                let both = _mm256_set_m128i(_mm_srli_epi16(n, 4), n);
                _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
            }
            BlockKind::Q8_0 => _mm256_loadu_si256(blk.add(2) as *const __m256i),
        }
    }

    /// The block's f16 d (and m for Q4_1) as f32.
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn scales(kind: BlockKind, blk: *const u8) -> (f32, f32) {
        let raw = match kind {
            BlockKind::Q4_1 => (blk as *const i32).read_unaligned(),
            BlockKind::Q8_0 => i32::from((blk as *const u16).read_unaligned()),
        };
        let v = _mm_cvtph_ps(_mm_cvtsi32_si128(raw));
        (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_shuffle_ps(v, v, 1)))
    }

    /// The lanes and offsets of a row with AVX2 (`vpmaddubsw` + `vpmaddwd`).
    ///
    /// # Safety
    /// AVX2, FMA and F16C must be present; `row` must hold as many blocks as `x`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn lanes_avx2(kind: BlockKind, row: &[u8], x: &Q8Row) -> ([f32; 8], f32) {
        let bytes = kind.block_bytes();
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_ps();
        let mut mins = 0f32;
        for b in 0..x.d.len() {
            let blk = row.as_ptr().add(b * bytes);
            let w = weights(kind, blk);
            let q = _mm256_loadu_si256(x.q.as_ptr().add(b * BLOCK) as *const __m256i);
            let pairs = match kind {
                BlockKind::Q4_1 => _mm256_maddubs_epi16(w, q),
                // maddubs wants one unsigned operand: |w|, and q with w's sign.
                BlockKind::Q8_0 => {
                    _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w))
                }
            };
            let sums = _mm256_madd_epi16(pairs, ones);
            let (dw, mw) = scales(kind, blk);
            let scale = _mm256_set1_ps(dw * *x.d.get_unchecked(b));
            acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sums), acc);
            if kind == BlockKind::Q4_1 {
                mins = mw.mul_add(*x.s.get_unchecked(b), mins);
            }
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        (lanes, mins)
    }

    /// The lanes and offsets of a row with AVX-512 VNNI (`vpdpbusd`) on 256-bit
    /// vectors.
    ///
    /// # Safety
    /// AVX2, FMA, F16C and AVX-512 F, VL, BW and VNNI must be present; `row` must
    /// hold as many blocks as `x`.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
    pub unsafe fn lanes_vnni(kind: BlockKind, row: &[u8], x: &Q8Row) -> ([f32; 8], f32) {
        let bytes = kind.block_bytes();
        let zero = _mm256_setzero_si256();
        let mut acc = _mm256_setzero_ps();
        let mut mins = 0f32;
        for b in 0..x.d.len() {
            let blk = row.as_ptr().add(b * bytes);
            let w = weights(kind, blk);
            let q = _mm256_loadu_si256(x.q.as_ptr().add(b * BLOCK) as *const __m256i);
            let sums = match kind {
                BlockKind::Q4_1 => _mm256_dpbusd_epi32(zero, w, q),
                BlockKind::Q8_0 => {
                    _mm256_dpbusd_epi32(zero, _mm256_abs_epi8(w), _mm256_sign_epi8(q, w))
                }
            };
            let (dw, mw) = scales(kind, blk);
            let scale = _mm256_set1_ps(dw * *x.d.get_unchecked(b));
            acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sums), acc);
            if kind == BlockKind::Q4_1 {
                mins = mw.mul_add(*x.s.get_unchecked(b), mins);
            }
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        (lanes, mins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::rng::Rng;

    #[test]
    fn f16_conversion_is_exact() {
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        assert_eq!(f16_to_f32(0x7BFF), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03FF), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
        assert!(f16_to_f32(0x7C00).is_infinite());
        assert!(f16_to_f32(0x7E00).is_nan());
    }

    /// An f16 with a random mantissa, exponent in a range typical of weights.
    fn random_half(rng: &mut Rng, exp_lo: u16, exp_hi: u16) -> u16 {
        let sign = (rng.next_u64() & 1) as u16;
        let exp = exp_lo + (rng.next_u64() % u64::from(exp_hi - exp_lo + 1)) as u16;
        let frac = (rng.next_u64() & 0x3FF) as u16;
        (sign << 15) | (exp << 10) | frac
    }

    fn random_matrix(kind: BlockKind, rows: usize, cols: usize, seed: u64) -> BlockMatrix {
        let mut rng = Rng::new(seed);
        let nb = rows * cols / BLOCK;
        let mut data = Vec::with_capacity(nb * kind.block_bytes());
        for _ in 0..nb {
            data.extend_from_slice(&random_half(&mut rng, 5, 12).to_le_bytes());
            let fill = match kind {
                BlockKind::Q4_1 => {
                    data.extend_from_slice(&random_half(&mut rng, 8, 14).to_le_bytes());
                    16
                }
                BlockKind::Q8_0 => 32,
            };
            for _ in 0..fill {
                data.push(rng.next_u64() as u8);
            }
        }
        BlockMatrix::new(kind, rows, cols, data).unwrap()
    }

    /// The weights written out from the blocks, in f64, by the formats' definitions.
    fn dequantize(m: &BlockMatrix) -> Vec<Vec<f64>> {
        let bytes = m.kind.block_bytes();
        let per_row = m.cols / BLOCK;
        (0..m.rows)
            .map(|r| {
                let mut w = Vec::with_capacity(m.cols);
                for b in 0..per_row {
                    let blk = &m.data[(r * per_row + b) * bytes..][..bytes];
                    let d = f64::from(f16_to_f32(u16::from_le_bytes([blk[0], blk[1]])));
                    match m.kind {
                        BlockKind::Q4_1 => {
                            let mm = f64::from(f16_to_f32(u16::from_le_bytes([blk[2], blk[3]])));
                            let n = |i: usize| {
                                if i < 16 {
                                    blk[4 + i] & 15
                                } else {
                                    blk[4 + i - 16] >> 4
                                }
                            };
                            w.extend((0..32).map(|i| d * f64::from(n(i)) + mm));
                        }
                        BlockKind::Q8_0 => {
                            w.extend((0..32).map(|i| d * f64::from(blk[2 + i] as i8)));
                        }
                    }
                }
                w
            })
            .collect()
    }

    /// The input quantised as the module documents it, written again here: the
    /// dequantised values q·d, in f64.
    fn reference_input(x: &[f32]) -> Vec<f64> {
        x.chunks(32)
            .flat_map(|c| {
                let amax = c.iter().map(|v| v.abs()).fold(0f32, f32::max);
                let d = amax / 127.0;
                let id = if d == 0.0 { 0.0 } else { 1.0 / d };
                c.iter()
                    .map(move |v| f64::from((v * id).round()) * f64::from(d))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn check(kind: BlockKind, rows: usize, cols: usize, seed: u64) {
        let m = random_matrix(kind, rows, cols, seed);
        let mut rng = Rng::new(seed + 100);
        let mut x: Vec<f32> = (0..cols)
            .map(|_| (rng.next_f64() * 4.0 - 2.0) as f32)
            .collect();
        // An all-zero block and a block with one large value.
        x[..32].fill(0.0);
        if cols >= 96 {
            x[70] = 50.0;
        }
        let xr = reference_input(&x);
        let w = dequantize(&m);
        let q = Q8Row::quantize(&x);
        let mut results = Vec::new();
        for path in [Path::Scalar, Path::Avx2, Path::Avx512Vnni] {
            if !path.available() {
                eprintln!("{path:?} not available: not tested here");
                continue;
            }
            let mut out = vec![0f32; rows];
            m.matvec_on(path, &q, &mut out);
            for r in 0..rows {
                let exact: f64 = w[r].iter().zip(&xr).map(|(a, b)| a * b).sum();
                let size: f64 = w[r].iter().zip(&xr).map(|(a, b)| (a * b).abs()).sum();
                let err = (f64::from(out[r]) - exact).abs();
                assert!(
                    err <= 1e-6 * size.max(1e-30),
                    "{kind:?} {path:?} row {r}: {} vs {exact} (scale {size})",
                    out[r]
                );
            }
            results.push((path, out));
        }
        // Every path gives the same bits.
        for (path, out) in &results[1..] {
            let same = out
                .iter()
                .zip(&results[0].1)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{kind:?}: {path:?} differs from the scalar path");
        }
    }

    #[test]
    fn q4_1_products_match_an_f64_reference_on_every_path() {
        // Rows of 18 blocks (SmolLM2's width 576), 48 (its 1536) and 3.
        check(BlockKind::Q4_1, 70, 576, 1);
        check(BlockKind::Q4_1, 40, 1536, 2);
        check(BlockKind::Q4_1, 33, 96, 3);
    }

    #[test]
    fn q8_0_products_match_an_f64_reference_on_every_path() {
        check(BlockKind::Q8_0, 70, 576, 4);
        check(BlockKind::Q8_0, 9, 256, 5);
    }

    #[test]
    fn the_input_quantisation_keeps_sums() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 20.5) / 7.0).collect();
        let q = Q8Row::quantize(&x);
        for b in 0..2 {
            let sum: i32 = q.q[b * 32..(b + 1) * 32]
                .iter()
                .map(|&v| i32::from(v))
                .sum();
            assert_eq!(q.s[b], q.d[b] * sum as f32);
            let amax = x[b * 32..(b + 1) * 32]
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()));
            assert_eq!(
                q.q[b * 32..(b + 1) * 32]
                    .iter()
                    .map(|v| v.unsigned_abs())
                    .max(),
                Some(127)
            );
            assert_eq!(q.d[b], amax / 127.0);
        }
        let zero = Q8Row::quantize(&[0.0; 32]);
        assert_eq!((zero.d[0], zero.s[0]), (0.0, 0.0));
        assert!(zero.q.iter().all(|&v| v == 0));
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let m = random_matrix(BlockKind::Q4_1, 200, 576, 9);
        let x: Vec<f32> = (0..576)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let q = Q8Row::quantize(&x);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut out = vec![0f32; 200];
            pool.install(|| m.matvec(&q, &mut out));
            out
        };
        let one = run(1);
        for t in [2, 3, 7] {
            assert_eq!(run(t), one, "{t} threads");
        }
    }
}
