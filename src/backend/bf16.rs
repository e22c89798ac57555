//! Matrix products with bf16 inputs and f32 sums, for prompt processing
//! (`--precision bf16`).
//!
//! The weights are rounded to bf16 once, when the model is loaded, and stored in
//! panels of 32 output columns. Each call rounds the activations to bf16 (round
//! to nearest, ties to even) and sums the products in f32. On a CPU with
//! AVX512_BF16, one `vdpbf16ps` does 32 multiply-adds, twice as many as an f32
//! FMA of the same width. Elsewhere the same rounded numbers are multiplied in
//! f32 by a plain loop: same inputs, slower.
//!
//! Every output is summed over its inputs in one fixed order, in pairs. The order
//! does not depend on how many rows are in the call or how they are split between
//! threads, so a row's result is the same in any batch.

use rayon::prelude::*;

/// Output columns per panel: two 16-lane registers.
const NR: usize = 32;
/// Rows per register tile: 2 × 12 accumulators, 2 weight registers, 1 broadcast.
const MR: usize = 12;

/// A weight matrix `[rows = outputs, cols = inputs]` rounded to bf16, in panels.
pub struct Bf16Matrix {
    rows: usize,
    cols: usize,
    /// Pairs of inputs: ⌈cols / 2⌉.
    pairs: usize,
    /// Panel p, pair k, column j: `panels[(p * pairs + k) * NR + j]` holds the bf16
    /// weights of inputs 2k (low half) and 2k + 1 (high half) of output 32p + j.
    /// Past the last output or input: 0.
    panels: Vec<u32>,
}

/// `x` rounded to the nearest bf16, ties to even (NaN stays NaN). Subnormal numbers
/// (|x| < 2⁻¹²⁶) become zero of the same sign, as `vdpbf16ps` would read them.
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    if x.is_subnormal() {
        return ((b >> 16) & 0x8000) as u16;
    }
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// The f32 value of a bf16.
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// A product's input rounded once for [`Bf16Matrix::matmul_packed`]: the rows of
/// `x` (`cols` wide) as bf16 pairs.
pub fn pack_input(x: &[f32], cols: usize) -> PackedInput {
    let pairs = cols.div_ceil(2);
    PackedInput {
        cols,
        rows: x.len().checked_div(cols).unwrap_or(0),
        pairs: pack_rows(x, cols, pairs),
    }
}

/// Rows rounded to bf16 pairs (see [`pack_input`]).
pub struct PackedInput {
    cols: usize,
    rows: usize,
    pairs: Vec<u32>,
}

/// Rows of `x` (`cols` wide) as bf16 pairs, `pairs` per row, the last padded with 0.
fn pack_rows(x: &[f32], cols: usize, pairs: usize) -> Vec<u32> {
    let rows = x.len() / cols;
    let mut out = vec![0u32; rows * pairs];
    out.par_chunks_mut(pairs.max(1) * 64)
        .enumerate()
        .for_each(|(chunk, dst)| {
            for (i, d) in dst.chunks_mut(pairs).enumerate() {
                let r = chunk * 64 + i;
                let src = &x[r * cols..(r + 1) * cols];
                for (k, slot) in d.iter_mut().enumerate() {
                    let lo = to_bf16(src[2 * k]) as u32;
                    let hi = src.get(2 * k + 1).map_or(0, |&v| to_bf16(v) as u32);
                    *slot = lo | (hi << 16);
                }
            }
        });
    out
}

/// Whether this CPU has the instructions of the fast path.
pub fn fast_path() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Bf16Matrix {
    /// From row-major f32 weights `[rows, cols]`.
    /// `cols` must be at least 1 (the loaders refuse an empty dimension).
    pub fn new(w: &[f32], rows: usize, cols: usize) -> Bf16Matrix {
        assert!(cols > 0, "a weight matrix has at least one input");
        assert_eq!(w.len(), rows * cols, "weights are rows × cols");
        let pairs = cols.div_ceil(2);
        let n_panels = rows.div_ceil(NR);
        let mut panels = vec![0u32; n_panels * pairs * NR];
        panels
            .par_chunks_mut(pairs * NR)
            .enumerate()
            .for_each(|(p, panel)| {
                for j in 0..NR.min(rows - p * NR) {
                    let row = &w[(p * NR + j) * cols..(p * NR + j + 1) * cols];
                    for k in 0..pairs {
                        let lo = to_bf16(row[2 * k]) as u32;
                        let hi = row.get(2 * k + 1).map_or(0, |&v| to_bf16(v) as u32);
                        panel[k * NR + j] = lo | (hi << 16);
                    }
                }
            });
        Bf16Matrix {
            rows,
            cols,
            pairs,
            panels,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The bf16 weights back as f32, row-major `[rows, cols]`.
    pub fn to_f32(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.rows * self.cols];
        for (r, row) in w.chunks_mut(self.cols).enumerate() {
            let (p, j) = (r / NR, r % NR);
            for (c, v) in row.iter_mut().enumerate() {
                let pair = self.panels[(p * self.pairs + c / 2) * NR + j];
                *v = from_bf16(if c % 2 == 0 {
                    pair as u16
                } else {
                    (pair >> 16) as u16
                });
            }
        }
        w
    }

    /// `x · wᵀ` for row-major `x` `[m, cols]`: row-major `[m, rows]`.
    pub fn matmul(&self, x: &[f32]) -> Vec<f32> {
        assert!(x.len().is_multiple_of(self.cols.max(1)), "x is m × cols");
        self.matmul_packed(&pack_input(x, self.cols))
    }

    /// [`Bf16Matrix::matmul`] of an input already rounded.
    pub fn matmul_packed(&self, x: &PackedInput) -> Vec<f32> {
        assert_eq!(x.cols, self.cols, "the input's width is the weights' cols");
        let m = x.rows;
        let a = &x.pairs;
        let mut out = vec![0f32; m * self.rows];
        if m == 0 || self.rows == 0 {
            return out;
        }
        // Blocks of rows small enough to keep in L2 with a panel, and enough of them
        // to share between the threads.
        let threads = rayon::current_num_threads().max(1);
        let block = m.div_ceil(4 * threads).div_ceil(MR).clamp(1, 8) * MR;
        let fast = fast_path();
        out.par_chunks_mut(block * self.rows)
            .zip(a.par_chunks(block * self.pairs))
            .for_each(|(c, a)| {
                let rows_here = a.len() / self.pairs;
                for p in 0..self.rows.div_ceil(NR) {
                    let b = &self.panels[p * self.pairs * NR..(p + 1) * self.pairs * NR];
                    let width = NR.min(self.rows - p * NR);
                    let mut r = 0;
                    while r < rows_here {
                        let rows = MR.min(rows_here - r);
                        let tile = Tile {
                            a: &a[r * self.pairs..(r + rows) * self.pairs],
                            rows,
                            pairs: self.pairs,
                            b,
                            c_stride: self.rows,
                            width,
                        };
                        let c_tile = &mut c[r * self.rows + p * NR..];
                        if fast {
                            #[cfg(target_arch = "x86_64")]
                            // SAFETY: `fast_path` checked the CPU's features; the
                            // slices bound every access (see `tile_avx512`).
                            unsafe {
                                tile_avx512(tile, c_tile)
                            };
                        } else {
                            tile_plain(tile, c_tile);
                        }
                        r += rows;
                    }
                }
            });
        out
    }
}

/// One register tile's work: `rows` ≤ `MR` rows of packed activations `a`
/// (`rows × pairs`) against one panel `b` (`pairs × NR`), written to `width` ≤ `NR`
/// columns of an output whose rows are `c_stride` apart.
#[derive(Clone, Copy)]
struct Tile<'a> {
    a: &'a [u32],
    rows: usize,
    pairs: usize,
    b: &'a [u32],
    c_stride: usize,
    width: usize,
}

/// One tile by plain f32 arithmetic, in the fast path's order: for each pair, the
/// high input's product is added before the low one's (Intel's pseudo-code for
/// `vdpbf16ps`). The product of two bf16 numbers is exact in f32 unless it overflows
/// or falls below 2⁻¹²⁶, so `acc + a·w` rounds once, like the fused multiply-add.
/// The two paths give the same bits except for NaN payloads and where a product or
/// a running sum falls below 2⁻¹²⁶, which the instruction flushes to zero and this
/// loop keeps (flushing here too halved its speed; no activation of a real model
/// comes near).
fn tile_plain(t: Tile, c: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2; the body is safe code.
        return unsafe { tile_plain_avx2(t, c) };
    }
    tile_plain_body(t, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_plain_avx2(t: Tile, c: &mut [f32]) {
    tile_plain_body(t, c)
}

#[inline(always)]
fn tile_plain_body(t: Tile, c: &mut [f32]) {
    for r in 0..t.rows {
        let mut acc = [0f32; NR];
        let ar = &t.a[r * t.pairs..(r + 1) * t.pairs];
        for (&pair, panel) in ar.iter().zip(t.b.chunks_exact(NR)) {
            let (alo, ahi) = (from_bf16(pair as u16), from_bf16((pair >> 16) as u16));
            for (acc, &w) in acc.iter_mut().zip(panel) {
                *acc += ahi * from_bf16((w >> 16) as u16);
                *acc += alo * from_bf16(w as u16);
            }
        }
        c[r * t.c_stride..r * t.c_stride + t.width].copy_from_slice(&acc[..t.width]);
    }
}

/// One tile on AVX512_BF16: `c` starts at the tile's first output.
///
/// # Safety
/// The CPU has AVX512F and AVX512_BF16; `t.a.len() == t.rows * t.pairs`,
/// `t.b.len() == t.pairs * NR`, and `c` holds `(t.rows - 1) * t.c_stride + t.width`
/// values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_avx512(t: Tile, c: &mut [f32]) {
    macro_rules! run {
        ($($r:literal)*) => {
            match t.rows {
                $($r => tile_rows::<$r>(t, c),)*
                _ => unreachable!("a tile has 1 to {MR} rows"),
            }
        };
    }
    run!(1 2 3 4 5 6 7 8 9 10 11 12)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_rows<const R: usize>(t: Tile, c: &mut [f32]) {
    use std::arch::x86_64::*;
    let (pairs, c_stride, width) = (t.pairs, t.c_stride, t.width);
    debug_assert!(t.a.len() == R * pairs && t.b.len() == pairs * NR);
    debug_assert!(c.len() >= (R - 1) * c_stride + width);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let ap = t.a.as_ptr();
    let bp = t.b.as_ptr();
    for k in 0..pairs {
        // SAFETY (all loads): k < pairs and r < R keep them inside `a` and `b`.
        let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(k * NR).cast()));
        let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(k * NR + 16).cast()));
        for (r, acc) in acc.iter_mut().enumerate() {
            let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(*ap.add(r * pairs + k) as i32));
            acc[0] = _mm512_dpbf16_ps(acc[0], x, b0);
            acc[1] = _mm512_dpbf16_ps(acc[1], x, b1);
        }
    }
    let cp = c.as_mut_ptr();
    for (r, acc) in acc.iter().enumerate() {
        let row = cp.add(r * c_stride);
        if width == NR {
            _mm512_storeu_ps(row, acc[0]);
            _mm512_storeu_ps(row.add(16), acc[1]);
        } else {
            let lo = width.min(16);
            let hi = width - lo;
            _mm512_mask_storeu_ps(row, ((1u32 << lo) - 1) as u16, acc[0]);
            if hi > 0 {
                _mm512_mask_storeu_ps(row.add(16), ((1u32 << hi) - 1) as u16, acc[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Products of the bf16-rounded numbers in f64: what the kernel computes, up to
    /// the rounding of its f32 sums.
    fn reference(w: &Bf16Matrix, x: &[f32]) -> Vec<f64> {
        let wf = w.to_f32();
        let xs: Vec<f64> = x.iter().map(|&v| from_bf16(to_bf16(v)) as f64).collect();
        let m = x.len() / w.cols;
        let mut out = vec![0f64; m * w.rows];
        for i in 0..m {
            for j in 0..w.rows {
                out[i * w.rows + j] = (0..w.cols)
                    .map(|k| xs[i * w.cols + k] * wf[j * w.cols + k] as f64)
                    .sum();
            }
        }
        out
    }

    fn numbers(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(-2.5), 0xc020);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        // Subnormals flush to a signed zero; the largest f32 rounds up to infinity.
        assert_eq!(to_bf16(1e-39), 0x0000);
        assert_eq!(to_bf16(-1e-39), 0x8000);
        assert_eq!(from_bf16(to_bf16(f32::MAX)), f32::INFINITY);
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
    }

    #[test]
    fn products_match_a_plain_sum_for_every_shape_and_tile() {
        // Odd inputs, outputs that do not fill a panel, every tile height.
        for &(m, rows, cols) in &[
            (1, 1, 1),
            (5, 33, 7),
            (13, 64, 64),
            (30, 70, 129),
            (97, 96, 576),
        ] {
            let w = Bf16Matrix::new(&numbers(rows * cols, 1), rows, cols);
            let x = numbers(m * cols, 2);
            let got = w.matmul(&x);
            let want = reference(&w, &x);
            for (g, r) in got.iter().zip(&want) {
                // f32 sums of `cols` products of magnitude ≤ 1.
                assert!(
                    (*g as f64 - r).abs() <= 1e-6 * cols as f64,
                    "{m}×{cols}·{cols}×{rows}: {g} vs {r}"
                );
            }
        }
    }

    #[test]
    fn a_row_gets_the_same_bits_in_any_batch() {
        let (rows, cols) = (96, 200);
        let w = Bf16Matrix::new(&numbers(rows * cols, 3), rows, cols);
        let x = numbers(50 * cols, 4);
        let all = w.matmul(&x);
        for i in [0, 11, 12, 37, 49] {
            let one = w.matmul(&x[i * cols..(i + 1) * cols]);
            assert_eq!(one, all[i * rows..(i + 1) * rows], "row {i}");
        }
    }

    #[test]
    fn the_fast_path_and_the_plain_loop_agree_bit_for_bit() {
        let (m, rows, cols) = (29, 70, 131);
        same_bits(
            m,
            rows,
            cols,
            &numbers(rows * cols, 5),
            &numbers(m * cols, 6),
        );
        // Subnormal inputs (flushed when rounded to bf16), tiny products beside
        // ordinary ones, overflow to infinity and infinite inputs.
        let extreme = |n: usize, seed: u64| -> Vec<f32> {
            let specials = [
                1e-39f32,
                -3e-39,
                1.5e-38,
                -1.2e-38,
                3e38,
                -3e38,
                f32::INFINITY,
                1e-20,
                -1e-20,
            ];
            numbers(n, seed)
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    if i % 3 == 0 {
                        specials[(i / 3) % specials.len()]
                    } else {
                        v
                    }
                })
                .collect()
        };
        same_bits(13, 40, 37, &extreme(40 * 37, 7), &extreme(13 * 37, 8));
    }

    /// The fast path and the plain loop give the same bits on every tile (NaN
    /// results compared as NaN).
    fn same_bits(m: usize, rows: usize, cols: usize, weights: &[f32], x: &[f32]) {
        if !fast_path() {
            eprintln!("no AVX512_BF16 here: nothing to compare");
            return;
        }
        let w = Bf16Matrix::new(weights, rows, cols);
        let a = pack_rows(x, cols, w.pairs);
        for p in 0..rows.div_ceil(NR) {
            let b = &w.panels[p * w.pairs * NR..(p + 1) * w.pairs * NR];
            let width = NR.min(rows - p * NR);
            for r0 in (0..m).step_by(MR) {
                let tile = MR.min(m - r0);
                let a_tile = &a[r0 * w.pairs..(r0 + tile) * w.pairs];
                let t = Tile {
                    a: a_tile,
                    rows: tile,
                    pairs: w.pairs,
                    b,
                    c_stride: rows,
                    width,
                };
                let mut fast = vec![0f32; tile * rows];
                let mut plain = vec![0f32; tile * rows];
                unsafe { tile_avx512(t, &mut fast[p * NR..]) };
                tile_plain(t, &mut plain[p * NR..]);
                for (f, q) in fast.iter().zip(&plain) {
                    assert!(
                        f.to_bits() == q.to_bits() || (f.is_nan() && q.is_nan()),
                        "panel {p}, rows {r0}..: {f:e} vs {q:e}"
                    );
                }
            }
        }
    }
}
