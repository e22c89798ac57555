#!/usr/bin/env python3
"""Accuracy of the MinHash Jaccard estimate: probity against datasketch.

Not a test and never run in CI: run it by hand.

    cargo build --release --example minhash_pairs
    python3 bench/minhash_accuracy.py [--pairs 2000] [--seed 5]

It draws `--pairs` pairs of texts (seeded NumPy): a text of 100 to 600
pseudo-words (lower-case ASCII letters, from a 20,000-word vocabulary) and an
edited copy in which each word is replaced with probability r, r chosen so
that the expected Jaccard index of the two 5-word shingle sets is uniform on
[0, 1]. The exact index is computed here from the shingle strings (5 words
joined by a space). On these texts datasketch's tokenisation (lower case,
`\\w+`) and probity's (NFC, lower case, alphanumeric runs) give the same words.

- datasketch: `MinHash(num_perm=128)` (its default seed 1), `update_batch` of
  the shingle strings as UTF-8 bytes, `jaccard`.
- probity: `examples/minhash_pairs` (texthash's 5-word shingles and 128-slot
  MinHash).

For each tool: the bias (mean of estimate − exact, with its standard error),
the RMSE, and the RMSE expected of 128 independent slots, sqrt(mean J(1−J)/128);
also by bins of the exact index.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 128


def shingle_set(words):
    return {" ".join(words[i:i + 5]) for i in range(len(words) - 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--example", default=os.path.join(REPO, "target", "release", "examples", "minhash_pairs"))
    args = ap.parse_args()
    from datasketch import MinHash

    rng = np.random.default_rng(args.seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = sorted({"".join(rng.choice(letters, size=int(rng.integers(2, 11)))) for _ in range(20000)})
    pairs, exact, ds = [], [], []
    for _ in range(args.pairs):
        n = int(rng.integers(100, 601))
        a = [vocab[i] for i in rng.integers(0, len(vocab), n)]
        # A target index t uniform in [0, 1]: a shingle survives when its 5 words
        # do, with probability q = (1 - r)^5, and J = q / (2 - q).
        t = rng.random()
        r = 1 - (2 * t / (1 + t)) ** 0.2
        b = [vocab[int(rng.integers(0, len(vocab)))] if rng.random() < r else w for w in a]
        sa, sb = shingle_set(a), shingle_set(b)
        exact.append(len(sa & sb) / len(sa | sb))
        ma, mb = MinHash(num_perm=K), MinHash(num_perm=K)
        ma.update_batch([s.encode() for s in sa])
        mb.update_batch([s.encode() for s in sb])
        ds.append(ma.jaccard(mb))
        pairs.append({"a": " ".join(a), "b": " ".join(b)})
    exe = os.environ.get("MINHASH_PAIRS", args.example)
    out = subprocess.run([exe], input="".join(json.dumps(p) + "\n" for p in pairs),
                         capture_output=True, text=True, check=True).stdout
    pr = [float(x) for x in out.split()]
    assert len(pr) == len(pairs)
    j = np.array(exact)
    print(f"{args.pairs} pairs, exact Jaccard: mean {j.mean():.3f}, quartiles "
          f"{np.percentile(j, 25):.3f} / {np.median(j):.3f} / {np.percentile(j, 75):.3f}")
    print(f"RMSE expected of {K} independent slots: {np.sqrt(np.mean(j * (1 - j) / K)):.4f}")
    for name, est in [("datasketch", np.array(ds)), ("probity", np.array(pr))]:
        e = est - j
        se = e.std(ddof=1) / np.sqrt(len(e))
        print(f"  {name:10s} bias {e.mean():+.4f} (s.e. {se:.4f})  RMSE {np.sqrt(np.mean(e ** 2)):.4f}")
        for lo in [0.0, 0.2, 0.4, 0.6, 0.8]:
            m = (j >= lo) & (j < lo + 0.2 if lo < 0.8 else j <= 1.0)
            if m.sum():
                print(f"      J in [{lo:.1f}, {lo + 0.2:.1f}): {m.sum():4d} pairs, bias {e[m].mean():+.4f}, "
                      f"RMSE {np.sqrt(np.mean(e[m] ** 2)):.4f} (expected {np.sqrt(np.mean(j[m] * (1 - j[m]) / K)):.4f})")


if __name__ == "__main__":
    sys.exit(main())
