#!/usr/bin/env bash
# Times `probity report` rendering for a synthetic audit of N findings (default
# 10,000) in every format: median of 3 renders after one untimed one. Goal (issue
# #7): the HTML report of 10,000 findings in under a second. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
cargo build --release --example report_bench >&2
out="$(./target/release/examples/report_bench "$n" --repeats 3)"
python3 - "$out" <<'PY'
import json, os, sys
r = json.loads(sys.argv[1])
load = os.getloadavg()[0]
print(f"render {r['findings']:,} findings, median of {r['repeats']} (load average {load:.2f})\n")
print("| format | seconds | output |")
print("|---|---|---|")
for name, f in r["formats"].items():
    print(f"| {name} | {f['median_seconds']:.3f} | {f['bytes'] / 1e6:.1f} MB |")
PY
