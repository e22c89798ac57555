//! The MinHash inner loop: for every slot i, sig[i] = min(sig[i], min over x of
//! ⌊((a_i·x + b_i) mod 2^64) / 2^32⌋). Three kernels computing the same bits:
//! scalar, AVX2 (4 slots at a time, the 64-bit product from three 32×32-bit
//! multiplies) and AVX-512 (8 slots at a time, `vpmullq`), chosen at run time.

/// Which kernel computes the signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Scalar,
    Avx2,
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU (and this build) supports.
    pub fn detect() -> Kernel {
        [Kernel::Avx512, Kernel::Avx2]
            .into_iter()
            .find(|k| k.available())
            .unwrap_or(Kernel::Scalar)
    }

    /// Whether this CPU (and this build) supports the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

/// Folds the shingle hashes `xs` into `sig` (see the module notes).
pub(super) fn update(kernel: Kernel, a: &[u64], b: &[u64], sig: &mut [u32], xs: &[u64]) {
    debug_assert!(a.len() == sig.len() && b.len() == sig.len());
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if Kernel::Avx2.available() => {
            let lanes = sig.len() / 16 * 16;
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { avx2::update(&a[..lanes], &b[..lanes], &mut sig[..lanes], xs) };
            scalar(&a[lanes..], &b[lanes..], &mut sig[lanes..], xs);
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if Kernel::Avx512.available() => {
            let lanes = sig.len() / 32 * 32;
            // SAFETY: the CPU has AVX-512F and DQ (checked just above).
            unsafe { avx512::update(&a[..lanes], &b[..lanes], &mut sig[..lanes], xs) };
            scalar(&a[lanes..], &b[lanes..], &mut sig[lanes..], xs);
        }
        _ => scalar(a, b, sig, xs),
    }
}

#[inline]
fn h(a: u64, b: u64, x: u64) -> u32 {
    (a.wrapping_mul(x).wrapping_add(b) >> 32) as u32
}

fn scalar(a: &[u64], b: &[u64], sig: &mut [u32], xs: &[u64]) {
    for ((slot, &a), &b) in sig.iter_mut().zip(a).zip(b) {
        *slot = xs.iter().fold(*slot, |m, &x| m.min(h(a, b, x)));
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// `a.len()` a multiple of 16: four vectors of 4 slots per pass over `xs`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn update(a: &[u64], b: &[u64], sig: &mut [u32], xs: &[u64]) {
        for ((a, b), sig) in a
            .chunks_exact(16)
            .zip(b.chunks_exact(16))
            .zip(sig.chunks_exact_mut(16))
        {
            let load = |v: &[u64], i: usize| _mm256_loadu_si256(v[4 * i..].as_ptr().cast());
            let va = [load(a, 0), load(a, 1), load(a, 2), load(a, 3)];
            let vah = va.map(|v| _mm256_srli_epi64::<32>(v));
            let vb = [load(b, 0), load(b, 1), load(b, 2), load(b, 3)];
            // The hash sits in the high 32 bits of each 64-bit lane; the low
            // halves' minima are ignored.
            let mut m = [_mm256_set1_epi32(-1); 4];
            for &x in xs {
                let xl = _mm256_set1_epi64x(x as i64);
                let xh = _mm256_set1_epi64x((x >> 32) as i64);
                for j in 0..4 {
                    let lo = _mm256_mul_epu32(va[j], xl);
                    let cross =
                        _mm256_add_epi64(_mm256_mul_epu32(vah[j], xl), _mm256_mul_epu32(va[j], xh));
                    let t = _mm256_add_epi64(
                        _mm256_add_epi64(lo, _mm256_slli_epi64::<32>(cross)),
                        vb[j],
                    );
                    m[j] = _mm256_min_epu32(m[j], t);
                }
            }
            for j in 0..4 {
                let mut out = [0u32; 8];
                _mm256_storeu_si256(out.as_mut_ptr().cast(), m[j]);
                for l in 0..4 {
                    let s = &mut sig[4 * j + l];
                    *s = (*s).min(out[2 * l + 1]);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// `a.len()` a multiple of 32: four vectors of 8 slots per pass over `xs`.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn update(a: &[u64], b: &[u64], sig: &mut [u32], xs: &[u64]) {
        for ((a, b), sig) in a
            .chunks_exact(32)
            .zip(b.chunks_exact(32))
            .zip(sig.chunks_exact_mut(32))
        {
            let load = |v: &[u64], i: usize| _mm512_loadu_si512(v[8 * i..].as_ptr().cast());
            let va = [load(a, 0), load(a, 1), load(a, 2), load(a, 3)];
            let vb = [load(b, 0), load(b, 1), load(b, 2), load(b, 3)];
            let mut m = [_mm512_set1_epi32(-1); 4];
            for &x in xs {
                let vx = _mm512_set1_epi64(x as i64);
                for j in 0..4 {
                    let t = _mm512_add_epi64(_mm512_mullo_epi64(va[j], vx), vb[j]);
                    m[j] = _mm512_min_epu32(m[j], t);
                }
            }
            for j in 0..4 {
                let mut out = [0u32; 16];
                _mm512_storeu_si512(out.as_mut_ptr().cast(), m[j]);
                for l in 0..8 {
                    let s = &mut sig[8 * j + l];
                    *s = (*s).min(out[2 * l + 1]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::rng::Rng;

    #[test]
    fn kernels_agree_bit_for_bit() {
        let mut rng = Rng::new(3);
        let k = 128 + 3; // a tail the vector kernels leave to the scalar one
        let a: Vec<u64> = (0..k).map(|_| rng.next_u64() | 1).collect();
        let b: Vec<u64> = (0..k).map(|_| rng.next_u64()).collect();
        let mut kernels = vec![Kernel::Scalar];
        kernels.extend(
            [Kernel::Avx2, Kernel::Avx512]
                .into_iter()
                .filter(|k| k.available()),
        );
        eprintln!("kernels tested: {kernels:?}");
        for len in [0usize, 1, 2, 7, 100, 3000] {
            let mut xs: Vec<u64> = (0..len).map(|_| rng.next_u64()).collect();
            // Extremes of the input.
            xs.extend([0, u64::MAX, 1 << 63, u32::MAX as u64]);
            let mut want = vec![u32::MAX; k];
            for ((s, &ai), &bi) in want.iter_mut().zip(&a).zip(&b) {
                for &x in &xs {
                    let v =
                        ((u128::from(ai) * u128::from(x) + u128::from(bi)) % (1u128 << 64)) >> 32;
                    *s = (*s).min(v as u32);
                }
            }
            for &kernel in &kernels {
                let mut sig = vec![u32::MAX; k];
                update(kernel, &a, &b, &mut sig, &xs);
                assert_eq!(sig, want, "{kernel:?}, {len} inputs");
            }
        }
    }
}
