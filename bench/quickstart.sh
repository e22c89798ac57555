#!/usr/bin/env bash
# Times the default audit end to end on this machine: wall time, probes per second
# and peak memory. Not a test and never run in CI; run it on an idle machine.
#   bash bench/quickstart.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
cargo build --release -q
./target/release/probity model pull smollm2-135m-instruct >/dev/null
out=$(mktemp -d)
log=$(mktemp)
/usr/bin/time -v ./target/release/probity audit audits/quickstart.toml --out "$out" --threads "$threads" >/dev/null 2>"$log" || [ $? -eq 1 ]
probes=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['summary']['n_probes'])" "$out/results.json")
wall=$(grep -oP 'Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): \K.*' "$log")
seconds=$(python3 -c "import sys; p=sys.argv[1].split(':'); print(sum(float(x)*60**i for i,x in enumerate(reversed(p))))" "$wall")
rss=$(grep -oP 'Maximum resident set size \(kbytes\): \K\d+' "$log")
python3 -c "import sys; n,s,r=int(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f'quickstart: {n} probes in {s:.1f} s = {n/s:.2f} probes/s, peak RSS {r/1024:.0f} MiB, {sys.argv[4]} threads')" "$probes" "$seconds" "$rss" "$threads"
rm -rf "$out" "$log"
