//! The module's own pseudo-random generator, so that every bootstrap and
//! permutation result is a pure function of its seed and can never change
//! because a dependency was upgraded.
//!
//! The generator is xoshiro256** (Blackman & Vigna, "Scrambled linear
//! pseudorandom number generators", 2018/2021; reference C code at
//! <https://prng.di.unimi.it/xoshiro256starstar.c>): 256 bits of state, period
//! 2^256 − 1, output `rotl(s1 * 5, 7) * 9`. Its state is filled from SplitMix64
//! (<https://prng.di.unimi.it/splitmix64.c>), as the xoshiro authors recommend,
//! which also guarantees the forbidden all-zero state never occurs in practice.
//!
//! Parallel work uses [`Rng::stream`]: the seed of stream `k` is derived by
//! hashing `(seed, k)` through SplitMix64's finaliser, so replicate `k` draws
//! the same numbers no matter which thread runs it or in which order. Streams
//! are not provably disjoint (that would need `jump()`, which costs O(k)), but
//! with 2^256 states the chance that two of a few million streams overlap is
//! negligible; NumPy's `SeedSequence` makes the same trade.

/// SplitMix64 (Steele, Lea & Flood 2014), used only to expand seeds.
#[derive(Debug, Clone)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// xoshiro256** pseudo-random generator. Not cryptographic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the state with four consecutive SplitMix64 outputs of `seed`.
    pub fn new(seed: u64) -> Self {
        let mut seeder = SplitMix64::new(seed);
        Self {
            s: [
                seeder.next_u64(),
                seeder.next_u64(),
                seeder.next_u64(),
                seeder.next_u64(),
            ],
        }
    }

    /// An independent generator for sub-task `stream` (e.g. replicate index)
    /// of the computation seeded with `seed`. `stream(seed, k)` depends only
    /// on `(seed, k)`, which is what makes rayon-parallel loops reproducible.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let seed_key = SplitMix64::new(seed).next_u64();
        // The rotation keeps (seed, stream) and (stream, seed) apart.
        let stream_key = SplitMix64::new(stream).next_u64().rotate_left(29);
        Self::new(seed_key ^ stream_key)
    }

    /// Starts from an explicit state; used to check the reference vectors.
    /// An all-zero state would emit zeros forever, so it is nudged to the
    /// state SplitMix64 gives for seed 0.
    pub fn from_state(state: [u64; 4]) -> Self {
        if state == [0; 4] {
            return Self::new(0);
        }
        Self { s: state }
    }

    /// Next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform on [0, 1) with 53 random bits (the top bits, which are the
    /// strongest in xoshiro's output), so every value is a multiple of 2^-53.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)` without modulo bias, by Lemire's
    /// multiply-and-reject method ("Fast random integer generation in an
    /// interval", ACM TOMACS 2019). Returns 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut product = u128::from(self.next_u64()) * u128::from(n);
        let mut low = product as u64;
        if low < n {
            // Only here can the draw be biased: reject the 2^64 mod n
            // low values that would over-represent some outcomes.
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                product = u128::from(self.next_u64()) * u128::from(n);
                low = product as u64;
            }
        }
        (product >> 64) as u64
    }

    /// A fair coin flip from the top bit.
    pub fn next_bool(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }
}

/// `L` xoshiro256** generators stepped side by side, their states stored
/// lane by lane so that one step of all lanes is a handful of vector
/// instructions. Lane `k` emits exactly what `Rng` `k` of [`Lanes::new`] would
/// emit on its own; the layout changes the speed, never the numbers.
pub struct Lanes<const L: usize> {
    s: [[u64; L]; 4],
}

impl<const L: usize> Lanes<L> {
    pub fn new(generators: [Rng; L]) -> Self {
        let mut s = [[0u64; L]; 4];
        for (k, g) in generators.iter().enumerate() {
            for (word, value) in s.iter_mut().zip(g.s) {
                word[k] = value;
            }
        }
        Self { s }
    }

    /// The four state words, lane by lane (`[word][lane]`), for kernels that
    /// step the generators in their own registers.
    pub(crate) fn into_state(self) -> [[u64; L]; 4] {
        self.s
    }

    /// Fills each row of `out` with the next output of every lane. Where the
    /// CPU has them, the same code is compiled for AVX-512 or AVX2 (64-bit
    /// rotates and shifts in wide registers; integer arithmetic, so the
    /// output is bit-identical on every path).
    pub fn fill(&mut self, out: &mut [[u64; L]]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the CPU has just been found to support the features
                // `fill_avx512` is compiled for.
                return unsafe { self.fill_avx512(out) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above, for AVX2.
                return unsafe { self.fill_avx2(out) };
            }
        }
        self.fill_portable(out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl")]
    fn fill_avx512(&mut self, out: &mut [[u64; L]]) {
        self.fill_portable(out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn fill_avx2(&mut self, out: &mut [[u64; L]]) {
        self.fill_portable(out);
    }

    #[inline(always)]
    fn fill_portable(&mut self, out: &mut [[u64; L]]) {
        let [s0, s1, s2, s3] = &mut self.s;
        for row in out {
            for k in 0..L {
                row[k] = s1[k].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
                let t = s1[k] << 17;
                s2[k] ^= s0[k];
                s3[k] ^= s1[k];
                s1[k] ^= s2[k];
                s0[k] ^= s3[k];
                s2[k] ^= t;
                s3[k] = s3[k].rotate_left(45);
            }
        }
    }
}

/// Uniform indices for resampling, drawn two from each 64-bit output: Lemire's
/// multiply-and-reject method on 32-bit halves, exact (no modulo bias) like
/// [`Rng::below`] and half as many generator steps — the draw is the inner loop of
/// every bootstrap. Indices of `n` beyond 2^32 fall back to [`Rng::below`].
pub struct Indices<'a> {
    rng: &'a mut Rng,
    spare: u32,
    has_spare: bool,
}

impl<'a> Indices<'a> {
    pub fn new(rng: &'a mut Rng) -> Self {
        Self {
            rng,
            spare: 0,
            has_spare: false,
        }
    }

    fn next_u32(&mut self) -> u32 {
        if self.has_spare {
            self.has_spare = false;
            return self.spare;
        }
        let x = self.rng.next_u64();
        self.spare = (x >> 32) as u32;
        self.has_spare = true;
        x as u32
    }

    /// Uniform index in `[0, n)`; 0 when `n == 0`.
    pub fn below(&mut self, n: usize) -> usize {
        let Ok(n32) = u32::try_from(n) else {
            return self.rng.below(n as u64) as usize;
        };
        if n32 == 0 {
            return 0;
        }
        let mut product = u64::from(self.next_u32()) * u64::from(n32);
        let mut low = product as u32;
        if low < n32 {
            let threshold = n32.wrapping_neg() % n32;
            while low < threshold {
                product = u64::from(self.next_u32()) * u64::from(n32);
                low = product as u32;
            }
        }
        (product >> 32) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_emit_what_each_generator_emits_alone() {
        let mut alone: Vec<Rng> = (0..8).map(|k| Rng::stream(99, k)).collect();
        let mut lanes = Lanes::<8>::new(std::array::from_fn(|k| Rng::stream(99, k as u64)));
        let mut rows = [[0u64; 8]; 37];
        lanes.fill(&mut rows[..20]);
        lanes.fill(&mut rows[20..]);
        for row in rows {
            for (k, value) in row.into_iter().enumerate() {
                assert_eq!(value, alone[k].next_u64());
            }
        }
        let mut portable = Lanes::<8>::new(std::array::from_fn(|k| Rng::stream(5, k as u64)));
        let mut dispatched = Lanes::<8>::new(std::array::from_fn(|k| Rng::stream(5, k as u64)));
        let (mut a, mut b) = ([[0u64; 8]; 9], [[0u64; 8]; 9]);
        portable.fill_portable(&mut a);
        dispatched.fill(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn indices_are_uniform_and_in_range() {
        let mut rng = Rng::new(3);
        let mut draws = Indices::new(&mut rng);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[draws.below(7)] += 1;
        }
        // Each cell expects 10,000 (sd ≈ 93): within 5 sd.
        assert!(
            counts.iter().all(|&c| (c as i64 - 10_000).abs() < 465),
            "{counts:?}"
        );
        assert_eq!(draws.below(0), 0);
        assert_eq!(draws.below(1), 0);
    }

    #[test]
    fn splitmix64_matches_reference_outputs() {
        // splitmix64.c with x = 1234567 (also Rosetta Code's test vector).
        let mut sm = SplitMix64::new(1234567);
        let expected = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for e in expected {
            assert_eq!(sm.next_u64(), e);
        }
        let mut zero = SplitMix64::new(0);
        assert_eq!(zero.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(zero.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(zero.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn xoshiro256starstar_matches_reference_outputs() {
        // xoshiro256starstar.c with s = {1, 2, 3, 4} (the vector used by
        // rand_xoshiro's test-suite).
        let mut rng = Rng::from_state([1, 2, 3, 4]);
        let expected = [
            11520,
            0,
            1509978240,
            1215971899390074240,
            1216172134540287360,
            607988272756665600,
            16172922978634559625,
            8476171486693032832,
            10595114339597558777,
            2904607092377533576,
        ];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn seeding_goes_through_splitmix64() {
        let mut sm = SplitMix64::new(42);
        let state = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        assert_eq!(Rng::new(42), Rng::from_state(state));
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = {
            let mut r = Rng::stream(7, 3);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::stream(7, 3);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        let mut firsts: Vec<u64> = (0..1000).map(|k| Rng::stream(7, k).next_u64()).collect();
        firsts.sort_unstable();
        firsts.dedup();
        assert_eq!(firsts.len(), 1000);
        assert_ne!(Rng::stream(7, 3), Rng::stream(3, 7));
        assert_ne!(Rng::stream(7, 0), Rng::new(7));
    }

    #[test]
    fn unit_floats_stay_in_range_and_look_uniform() {
        let mut rng = Rng::new(1);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        // Mean of U(0,1) has sd 1/sqrt(12 n) ≈ 0.0009; allow 5 sd.
        assert!((sum / n as f64 - 0.5).abs() < 0.0046);
    }

    #[test]
    fn below_is_in_range_and_unbiased() {
        let mut rng = Rng::new(2);
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
        let mut counts = [0u32; 6];
        let draws = 60_000;
        for _ in 0..draws {
            counts[rng.below(6) as usize] += 1;
        }
        // Each count ~ Binomial(60000, 1/6): sd ≈ 91; allow 5 sd.
        for c in counts {
            assert!((f64::from(c) - 10_000.0).abs() < 460.0, "{counts:?}");
        }
        // A bound near 2^64 exercises the rejection branch.
        let big = u64::MAX - 3;
        for _ in 0..1000 {
            assert!(rng.below(big) < big);
        }
    }
}
