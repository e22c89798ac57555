//! `cargo run --release --example bf16_bench`: the bf16 product (`--precision bf16`)
//! against candle's f32 product (the gemm crate) on the shapes of SmolLM2's layers
//! at a batch of 4,096 tokens; GFLOP/s of each and their ratio, same run.

use candle_core::{Device, Tensor};
use probity::backend::bf16::{fast_path, Bf16Matrix};
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    let m = 4096;
    println!("AVX512_BF16 fast path: {}", fast_path());
    println!("| rows×cols (out×in) | f32 GFLOP/s | bf16 GFLOP/s | ratio |\n|---|---|---|---|");
    for (rows, cols) in [(576, 576), (192, 576), (1536, 576), (576, 1536)] {
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let x: Vec<f32> = (0..m * cols)
            .map(|i| ((i * 104729) % 997) as f32 / 997.0 - 0.5)
            .collect();
        let wt = Tensor::from_vec(w.clone(), (rows, cols), &Device::Cpu)?;
        let xt = Tensor::from_vec(x.clone(), (m, cols), &Device::Cpu)?;
        let packed = Bf16Matrix::new(&w, rows, cols);
        let flops = 2.0 * (m * rows * cols) as f64;
        let reps = 10;
        let (mut f32_s, mut bf16_s) = (f64::MAX, f64::MAX);
        for _ in 0..reps {
            let t = Instant::now();
            let y = xt.matmul(&wt.t()?)?;
            std::hint::black_box(y);
            f32_s = f32_s.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let y = packed.matmul(&x);
            std::hint::black_box(y);
            bf16_s = bf16_s.min(t.elapsed().as_secs_f64());
        }
        println!(
            "| {rows}×{cols} | {:.1} | {:.1} | {:.2} |",
            flops / f32_s / 1e9,
            flops / bf16_s / 1e9,
            f32_s / bf16_s
        );
    }
    Ok(())
}
