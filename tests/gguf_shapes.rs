//! A GGUF file whose weights do not match its metadata is refused when the model
//! loads, at every precision, naming the file and the tensor (exit 2 from the
//! command line), instead of failing mid-run or panicking.

mod common;

use candle_core::quantized::gguf_file;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use common::probity;
use common::tiny_gguf::write_tiny_gguf;
use predicates::str::contains;
use probity::spec::Precision;
use std::path::Path;

/// The tiny model with `blk.0.attn_q.weight` replaced by a `rows × 32` matrix.
fn with_attn_q_rows(good: &Path, bad: &Path, rows: usize) {
    let mut reader = std::fs::File::open(good).unwrap();
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for name in content.tensor_infos.keys() {
        let t = if name == "blk.0.attn_q.weight" {
            let w = Tensor::zeros((rows, 32), DType::F32, &Device::Cpu).unwrap();
            QTensor::quantize(&w, GgmlDType::F32).unwrap()
        } else {
            content.tensor(&mut reader, name, &Device::Cpu).unwrap()
        };
        tensors.push((name.clone(), t));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = std::fs::File::create(bad).unwrap();
    gguf_file::write(&mut out, &metadata, &tensors).unwrap();
}

#[test]
fn weights_that_do_not_match_the_metadata_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("tiny.gguf");
    write_tiny_gguf(&good, 3);
    // An empty matrix, and one of half the rows the head counts imply.
    for (rows, file) in [(0, "empty-q.gguf"), (16, "half-q.gguf")] {
        let bad = dir.path().join(file);
        with_attn_q_rows(&good, &bad, rows);
        let sha = probity::backend::known::sha256_file(&bad).unwrap();
        for precision in [Precision::F32, Precision::Bf16, Precision::Quantized] {
            let err = probity::backend::GgufModel::open(&bad, &sha, precision)
                .err()
                .unwrap_or_else(|| panic!("{file} at {}: accepted", precision.as_str()))
                .to_string();
            assert!(err.contains(file), "{err}");
            assert!(err.contains("blk.0.attn_q.weight"), "{err}");
        }
        probity()
            .args(["model", "score"])
            .arg(&bad)
            .args([
                "--prompt",
                "hi",
                "--continuation",
                "x",
                "--precision",
                "bf16",
            ])
            .assert()
            .code(2)
            .stderr(contains(file))
            .stderr(contains("blk.0.attn_q.weight"));
    }
}
