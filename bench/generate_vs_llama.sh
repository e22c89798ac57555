#!/usr/bin/env bash
# Generated tokens per second: probity against llama.cpp's llama-server, SmolLM2-135M
# (Q4_1 GGUF), the same chat prompt, greedy, the same number of new tokens.
#
#   bench/generate_vs_llama.sh [--tokens 128] [--repeats 3] [--threads 2] \
#       [--precision f32|quantized] [--llama-server PATH]
#
# probity: `probity model generate smollm2-135m-instruct --chat --prompt P
# --max-tokens N+1` minus the same with `--max-tokens 1` (wall times; the
# difference is N decode steps: model load, prompt and first token cancel out).
# llama.cpp: `llama-server -t THREADS`, POST /completion with n_predict N,
# temperature 0, ignore_eos, cache_prompt false; its own "predicted_per_second".
# The runs alternate (llama.cpp, probity 1, probity N+1) `--repeats` times and
# the medians are reported, so background load slows both about equally.
# probity's rayon pool has RAYON_NUM_THREADS=THREADS.
# Not a test; never run in CI.
set -euo pipefail

TOKENS=128
REPEATS=3
THREADS=2
PRECISION=f32
SERVER=/tmp/llamacpp/build/bin/llama-server
while [ $# -gt 0 ]; do
    case "$1" in
        --tokens) TOKENS=$2; shift 2 ;;
        --repeats) REPEATS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --precision) PRECISION=$2; shift 2 ;;
        --llama-server) SERVER=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
PROBITY=${CARGO_TARGET_DIR:-$REPO/target}/release/probity
MODEL=$HOME/.cache/probity/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$MODEL" ] || { echo "SmolLM2 is not cached: probity model pull smollm2-135m-instruct" >&2; exit 1; }
[ -x "$SERVER" ] || { echo "no llama-server at $SERVER (--llama-server PATH)" >&2; exit 1; }

QUESTION="Write a short story about a robot who learns to paint."
# SmolLM2's chat template with its default system message (what --chat renders;
# the exact prompt matters little to the decode speed).
CHAT_PROMPT=$(printf '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n' "$QUESTION")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$(mktemp)
LD_LIBRARY_PATH=$(dirname "$SERVER"):${LD_LIBRARY_PATH:-} \
    "$SERVER" -m "$MODEL" -t "$THREADS" --port "$PORT" -np 1 -c 2048 >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    sleep 0.5
done

llama_rate() {
    python3 - "$PORT" "$CHAT_PROMPT" "$TOKENS" <<'EOF'
import json, sys, urllib.request
port, prompt, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = json.dumps({"prompt": prompt, "n_predict": n, "temperature": 0,
                   "ignore_eos": True, "cache_prompt": False}).encode()
req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", body,
                             {"Content-Type": "application/json"})
t = json.load(urllib.request.urlopen(req))["timings"]
assert t["predicted_n"] == n, t
print(t["predicted_per_second"])
EOF
}

probity_time() {
    local start end
    start=$(date +%s.%N)
    RAYON_NUM_THREADS=$THREADS "$PROBITY" model generate smollm2-135m-instruct --chat \
        --prompt "$QUESTION" --max-tokens "$1" --precision "$PRECISION" >/dev/null 2>"$LOG.probity"
    end=$(date +%s.%N)
    grep -q "^$1 tokens" "$LOG.probity" || { echo "probity stopped early: $(cat "$LOG.probity")" >&2; exit 1; }
    python3 -c "print($end - $start)"
}

LLAMA=()
PROBITY_RATES=()
for r in $(seq 1 "$REPEATS"); do
    l=$(llama_rate)
    t1=$(probity_time 1)
    tn=$(probity_time $((TOKENS + 1)))
    p=$(python3 -c "print($TOKENS / ($tn - $t1))")
    echo "run $r: llama.cpp $l tok/s; probity ${p} tok/s (1 token ${t1} s, $((TOKENS + 1)) tokens ${tn} s)"
    LLAMA+=("$l")
    PROBITY_RATES+=("$p")
done
rm -f "$LOG.probity"
python3 - "${LLAMA[*]}" "${PROBITY_RATES[*]}" "$TOKENS" "$THREADS" "$PRECISION" <<'EOF'
import statistics, sys
l = statistics.median(map(float, sys.argv[1].split()))
p = statistics.median(map(float, sys.argv[2].split()))
print(f"generated tok/s ({sys.argv[3]} tokens, {sys.argv[4]} threads, probity --precision {sys.argv[5]}), medians:")
print(f"  llama.cpp {l:.1f}   probity {p:.1f}   ratio {p / l:.2f}")
EOF
