#!/usr/bin/env bash
# Measures the green-list watermark on SmolLM2-135M-Instruct (issue "Provenance
# and IP tracing", watermarks): detection rate of watermarked generations and
# false-positive rate of unwatermarked ones at z > 4 (Clopper–Pearson 95%), the z
# distribution of each, and the logit processor's cost per step. Defaults: 100
# unwatermarked and 20 watermarked samples of up to 200 tokens, γ 0.25, δ 2,
# temperature 1. Needs `probity model pull smollm2-135m-instruct`. Not run in CI:
# at ~10–25 tokens/s it takes 20–40 minutes.
#
#   bench/watermark_fpr.sh [--unmarked N] [--marked M] [--tokens T]
#                          [--gamma G] [--delta D] [--key K] [--jsonl FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example watermark_fpr >&2
exec "${CARGO_TARGET_DIR:-target}/release/examples/watermark_fpr" "$@"
