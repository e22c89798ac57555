#!/usr/bin/env python3
"""Speed of probity's Monte Carlo permutation test and BCa bootstrap against SciPy.

Not a test and never run in CI: run it by hand, ideally on an idle machine.

    python3 -m pip install numpy scipy
    python3 bench/stats_vs_scipy.py [--n 10000] [--repeats 3]

It draws x ~ N(0, 1) and y ~ N(0.02, 1), 10,000 each (seeded), writes them
to a temporary directory and times, alternating the two tools repeat by
repeat so that a busy machine slows both alike:

* SciPy `permutation_test((x, y), mean(x) - mean(y),
  permutation_type='independent', n_resamples=9999, vectorized=True)`
  against probity's `label_permutation_test(x, y, 0, 9_999, seed)`
  (max_exact_arrangements 0 forces Monte Carlo);
* SciPy `bootstrap((x,), np.mean, method='BCa', n_resamples=9999)` against
  probity's `bootstrap_mean_bca(x, 9_999, seed, 0.95)`.

The probity side is `examples/stats_bench.rs`, built once with
`cargo build --release --example stats_bench` (cargo waits on the build
lock if another build is running) and run from target/release/examples; it
times the calls itself, after one untimed warm-up call, so neither process
start nor file reading is counted. SciPy is timed the same way, in this
process, after a warm-up call. Each figure is the median of `--repeats`.

It prints the time ratios (goal: >= 20x each) and checks that the results
agree: the two p-values within Monte Carlo error (4 standard errors of the
difference of two independent estimates), the BCa bounds within 5% of the
interval's width (their Monte Carlo error is about 1%).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
from scipy import stats

REPO = Path(__file__).resolve().parent.parent
# cargo puts the example under $CARGO_TARGET_DIR when that is set.
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
EXAMPLE = TARGET / "release/examples/stats_bench"
N_RESAMPLES = 9999
GOAL = 20.0


def mean_difference(x, y, axis):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def scipy_permutation(x, y, seed):
    res = stats.permutation_test(
        (x, y),
        mean_difference,
        permutation_type="independent",
        n_resamples=N_RESAMPLES,
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return {"p_value": float(res.pvalue), "statistic": float(res.statistic)}


def scipy_bca(x, seed):
    res = stats.bootstrap(
        (x,),
        np.mean,
        method="BCa",
        n_resamples=N_RESAMPLES,
        confidence_level=0.95,
        rng=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return {"low": float(ci.low), "high": float(ci.high)}


def timed(f, *args):
    t0 = time.perf_counter()
    out = f(*args)
    return time.perf_counter() - t0, out


def run_probity(args):
    out = subprocess.run(
        [str(EXAMPLE), *map(str, args)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="observations per sample")
    parser.add_argument("--shift", type=float, default=0.02, help="mean(y) - mean(x)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--no-build", action="store_true", help="use the built example as is")
    args = parser.parse_args()

    if not args.no_build:
        print("cargo build --release --example stats_bench ...", file=sys.stderr, flush=True)
        subprocess.run(
            ["cargo", "build", "--release", "--example", "stats_bench"], cwd=REPO, check=True
        )

    rng = np.random.default_rng(args.seed)
    x = rng.normal(0.0, 1.0, args.n)
    y = rng.normal(args.shift, 1.0, args.n)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="probity-stats-bench-") as tmp:
        xf, yf = Path(tmp) / "x.txt", Path(tmp) / "y.txt"
        # repr round-trips a double exactly, so both tools see the same data.
        xf.write_text("\n".join(map(repr, x.tolist())) + "\n")
        yf.write_text("\n".join(map(repr, y.tolist())) + "\n")

        # Warm-up calls (imports, first allocations); not timed.
        scipy_permutation(x[:100], y[:100], 0)
        scipy_bca(x[:100], 0)

        sp_perm, sp_bca, pb_perm, pb_bca = [], [], [], []
        for r in range(args.repeats):
            t, sp_perm_res = timed(scipy_permutation, x, y, args.seed + r)
            sp_perm.append(t)
            pb_perm_res = run_probity(
                ["permutation", xf, yf, "--seed", args.seed, "--repeats", 1]
            )
            pb_perm.append(pb_perm_res["median_seconds"])
            t, sp_bca_res = timed(scipy_bca, x, args.seed + r)
            sp_bca.append(t)
            pb_bca_res = run_probity(["bca", xf, "--seed", args.seed, "--repeats", 1])
            pb_bca.append(pb_bca_res["median_seconds"])
            print(
                f"repeat {r + 1}: permutation scipy {sp_perm[-1]:.2f} s, probity "
                f"{pb_perm[-1]:.3f} s; BCa scipy {sp_bca[-1]:.2f} s, probity {pb_bca[-1]:.3f} s",
                file=sys.stderr,
                flush=True,
            )
    load_after = os.getloadavg()

    med = statistics.median
    perm_ratio = med(sp_perm) / med(pb_perm)
    bca_ratio = med(sp_bca) / med(pb_bca)

    # Agreement. Two-sided p = 2 min(p_less, p_greater); each one-sided
    # estimate has standard error sqrt(q(1 - q) / B).
    p_s, p_r = sp_perm_res["p_value"], pb_perm_res["p_value"]
    q = min(0.5, max(p_s, p_r) / 2)
    se_diff = math.sqrt(2) * 2 * math.sqrt(q * (1 - q) / N_RESAMPLES)
    p_ok = abs(p_s - p_r) <= 4 * se_diff + 2 / (N_RESAMPLES + 1)
    stat_ok = abs(sp_perm_res["statistic"] - pb_perm_res["statistic"]) <= 1e-12
    welch = stats.ttest_ind(x, y, equal_var=False).pvalue
    width = sp_bca_res["high"] - sp_bca_res["low"]
    d_low = abs(sp_bca_res["low"] - pb_bca_res["low"])
    d_high = abs(sp_bca_res["high"] - pb_bca_res["high"])
    bca_ok = max(d_low, d_high) <= 0.05 * width

    def yes(flag):
        return "yes" if flag else "NO"

    threads = pb_perm_res["threads"]
    lines = [
        f"probity stats vs SciPy {scipy.__version__}: n = {args.n:,} + {args.n:,}, "
        f"{N_RESAMPLES} resamples, probity on {threads} rayon threads, "
        f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after",
        "",
        "| routine | SciPy s | probity s | ratio | goal | met |",
        "|---|---|---|---|---|---|",
        f"| permutation test, independent, mean difference | {med(sp_perm):.3f} | "
        f"{med(pb_perm):.4f} | {perm_ratio:.0f}x | >= {GOAL:.0f}x | {yes(perm_ratio >= GOAL)} |",
        f"| bootstrap BCa of the mean | {med(sp_bca):.3f} | {med(pb_bca):.4f} | "
        f"{bca_ratio:.0f}x | >= {GOAL:.0f}x | {yes(bca_ratio >= GOAL)} |",
        "",
        f"permutation p-value: SciPy {p_s:.4f}, probity {p_r:.4f} "
        f"(Monte Carlo s.e. of the difference {se_diff:.4f}; Welch t {welch:.4f}): "
        f"{'agree' if p_ok else 'DIFFER'}; statistic "
        f"{'identical' if stat_ok else 'DIFFERS'} ({pb_perm_res['statistic']:.6g})",
        f"BCa 95%: SciPy [{sp_bca_res['low']:.6f}, {sp_bca_res['high']:.6f}], probity "
        f"[{pb_bca_res['low']:.6f}, {pb_bca_res['high']:.6f}] (largest bound difference "
        f"{100 * max(d_low, d_high) / width:.1f}% of the width): "
        f"{'agree' if bca_ok else 'DIFFER'}",
        "Machine shared with other jobs: absolute times vary; the ratios are the figures.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
