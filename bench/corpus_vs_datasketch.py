#!/usr/bin/env python3
"""Speed of `probity corpus index` / `probity corpus check` against datasketch.

Not a test and never run in CI: run it by hand, ideally on an idle machine.

    python3 -m pip install datasketch numpy
    cargo build --release
    python3 bench/corpus_vs_datasketch.py [--mb 100] [--check-mb 200] [--outputs 10000]

It generates a synthetic corpus deterministically (seeded NumPy; nothing is
downloaded): pseudo-words built from syllables, drawn with Zipf-like
frequencies, in sentences of 6 to 24 words; works of 1,000 to 30,000 words as
`.txt` files in a few folders, and a quarter of the bytes as `.jsonl` files of
shorter works (200 to 2,000 words, with a `title`). One work in fifty is an
edited copy of an earlier one (every 12th word replaced), so near duplicates
exist.

Index build, same corpus (`--mb` MB) and the same MinHash/LSH parameters:

* datasketch: for each work, lower case, words = `re.findall(r"\\w+")`, word
  5-gram shingles joined by a space (UTF-8 bytes), `MinHash(num_perm=128)`,
  `update_batch(shingles)`, then `MinHashLSH(num_perm=128, params=(32, 4))`
  `.insert(key, minhash)`. One process, one core (datasketch has no parallel
  path). Files are read inside the timed region.
* probity: `probity corpus index DIR -o INDEX` (every core), which does the
  same MinHash + LSH and, in addition, the 13-gram verbatim index (the
  n-gram at every 8th word of each work: every shared span of 20 words or
  more is found) and the per-work array of 32-bit word hashes, and writes and
  hashes the index file.
  Also with `--threads 1`.

MB/s is corpus bytes / wall time; the ratio is probity's MB/s over
datasketch's. probity runs `--repeats` times (median); datasketch once.

Check: `--outputs` outputs of about 50 words (a third copied from a random
work, a third half copied and half new words, a third new words) written as
`.jsonl`, checked with `probity corpus check --index INDEX --file F --json`
against the index of a `--check-mb` MB corpus; the time includes opening the
index and verifying its body sha256. The script prints how many of the
copied outputs were found with a span of at least 50 words. For comparison,
datasketch's `MinHashLSH.query` over the same outputs (MinHash included; it
answers the near-duplicate part only) on the `--mb` corpus.
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + [
    c + v + e for c in "bdgklmnrst" for v in "aeiou" for e in "lnrs"
]


def vocabulary(rng, size=60000):
    words = set()
    while len(words) < size:
        k = int(rng.integers(1, 5))
        words.add("".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), k)))
    words = sorted(words)
    rng.shuffle(words)
    return np.array(words)


def text_of(rng, vocab, probs, n_words):
    ids = rng.choice(len(vocab), size=n_words, p=probs)
    words = vocab[ids].tolist()
    out, i = [], 0
    while i < n_words:
        k = int(rng.integers(6, 25))
        sentence = words[i : i + k]
        sentence[0] = sentence[0].capitalize()
        out.append(" ".join(sentence) + ".")
        i += k
    return " ".join(out)


def generate(root, mb, seed=7):
    """Writes about `mb` MB of works under `root`; returns (bytes, works)."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    ranks = np.arange(1, len(vocab) + 1, dtype=np.float64)
    probs = 1.0 / ranks**1.07
    probs /= probs.sum()
    target = mb * 1_000_000
    total, works, kept = 0, 0, []
    jsonl = None
    jsonl_index = 0
    while total < target:
        if works % 50 == 49 and kept:
            base = kept[int(rng.integers(0, len(kept)))].split(" ")
            for j in range(0, len(base), 12):
                base[j] = vocab[int(rng.integers(0, len(vocab)))]
            text = " ".join(base)
        elif works % 4 == 3:
            text = text_of(rng, vocab, probs, int(rng.integers(200, 2001)))
        else:
            text = text_of(rng, vocab, probs, int(rng.integers(1000, 30001)))
        if len(kept) < 200:
            kept.append(text)
        if works % 4 == 3:
            if jsonl is None or jsonl.tell() > 20_000_000:
                if jsonl:
                    jsonl.close()
                jsonl = open(os.path.join(root, f"lines-{jsonl_index:03}.jsonl"), "w")
                jsonl_index += 1
            jsonl.write(json.dumps({"title": f"short work {works}", "text": text}) + "\n")
        else:
            folder = os.path.join(root, f"shelf-{works % 7}")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"work-{works:06}.txt"), "w") as f:
                f.write(text)
        total += len(text.encode())
        works += 1
    if jsonl:
        jsonl.close()
    return total, works


def iter_works(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name.endswith(".txt"):
                with open(path, encoding="utf-8") as f:
                    yield path, f.read()
            elif name.endswith(".jsonl"):
                with open(path, encoding="utf-8") as f:
                    for i, line in enumerate(f, 1):
                        if line.strip():
                            yield f"{path}:{i}", json.loads(line)["text"]


WORD = re.compile(r"\w+")


def shingles(text):
    ws = WORD.findall(text.lower())
    if len(ws) < 5:
        return [" ".join(ws).encode()] if ws else []
    return [" ".join(ws[i : i + 5]).encode() for i in range(len(ws) - 4)]


def datasketch_index(root):
    from datasketch import MinHash, MinHashLSH

    start, cpu = time.perf_counter(), time.process_time()
    lsh = MinHashLSH(num_perm=128, params=(32, 4))
    n = 0
    for key, text in iter_works(root):
        m = MinHash(num_perm=128)
        m.update_batch(shingles(text))
        lsh.insert(key, m)
        n += 1
    return time.perf_counter() - start, time.process_time() - cpu, lsh, n


def datasketch_query(lsh, outputs):
    from datasketch import MinHash

    start = time.perf_counter()
    hits = 0
    for text in outputs:
        m = MinHash(num_perm=128)
        m.update_batch(shingles(text))
        hits += bool(lsh.query(m))
    return time.perf_counter() - start, hits


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


LAST_CPU = [0.0]


def run(cmd, **kw):
    """Runs a command; returns (wall seconds, stdout) and leaves its CPU seconds in LAST_CPU."""
    cpu = children_cpu()
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - start
    LAST_CPU[0] = children_cpu() - cpu
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode}): {p.stderr}")
    return elapsed, p.stdout


def outputs_from(root, count, seed=11):
    """(id, text, copied) for `count` outputs of about 50 words."""
    rng = np.random.default_rng(seed)
    works = [t for _, t in iter_works(root)][:2000]
    vocab = vocabulary(np.random.default_rng(99), 5000)  # other pseudo-words
    fresh = lambda k: " ".join(vocab[rng.integers(0, len(vocab), k)].tolist())
    out = []
    for i in range(count):
        kind = i % 3
        w = works[int(rng.integers(0, len(works)))].split(" ")
        s = int(rng.integers(0, max(1, len(w) - 50)))
        if kind == 0:
            text = " ".join(w[s : s + 50])
        elif kind == 1:
            text = fresh(25) + " " + " ".join(w[s : s + 25])
        else:
            text = fresh(50)
        out.append((str(i), text, kind))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=100, help="corpus size for the index comparison")
    ap.add_argument("--check-mb", type=int, default=200, help="corpus size for the check timing")
    ap.add_argument("--outputs", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--probity", default=os.path.join(REPO, "target", "release", "probity"))
    ap.add_argument("--workdir", help="keep the corpora here (default: a temporary folder)")
    args = ap.parse_args()
    probity = os.environ.get("PROBITY", args.probity)
    work = args.workdir or tempfile.mkdtemp(prefix="corpus-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        sizes = sorted({args.mb, args.check_mb})
        info = {}
        for mb in sizes:
            root = os.path.join(work, f"corpus-{mb}")
            if not os.path.isdir(root):
                os.makedirs(root)
                info[mb] = generate(root, mb)
            else:
                info[mb] = (sum(len(t.encode()) for _, t in iter_works(root)), None)
            print(f"corpus {mb} MB: {info[mb][0] / 1e6:.1f} MB of text in {root}")

        root = os.path.join(work, f"corpus-{args.mb}")
        nbytes = info[args.mb][0]
        index = os.path.join(work, f"corpus-{args.mb}.idx")
        times, times1, cpus1 = [], [], []
        for _ in range(args.repeats):
            times.append(run([probity, "corpus", "index", root, "-o", index])[0])
            times1.append(
                run([probity, "corpus", "index", root, "-o", index, "--threads", "1"])[0]
            )
            cpus1.append(LAST_CPU[0])
        t_ds, cpu_ds, lsh, n_ds = datasketch_index(root)
        t_p, t_p1 = statistics.median(times), statistics.median(times1)
        cpu_p1 = statistics.median(cpus1)
        mbs = lambda t: nbytes / 1e6 / t
        print(f"\nindex of {nbytes / 1e6:.1f} MB ({n_ds} works), MinHash k=128 over word 5-grams, LSH 32 bands x 4 rows")
        print(f"  datasketch {t_ds:8.2f} s  {mbs(t_ds):8.1f} MB/s  (CPU {cpu_ds:.2f} s: {mbs(cpu_ds):.1f} MB per CPU-second)")
        print(f"  probity    {t_p:8.2f} s  {mbs(t_p):8.1f} MB/s  (all {os.cpu_count()} cores; ratio {t_ds / t_p:.1f}x)")
        print(f"  probity -1 {t_p1:8.2f} s  {mbs(t_p1):8.1f} MB/s  (--threads 1; ratio {t_ds / t_p1:.1f}x; CPU {cpu_p1:.2f} s: {mbs(cpu_p1):.1f} MB per CPU-second, ratio {cpu_ds / cpu_p1:.1f}x)")
        print(f"  index file {os.path.getsize(index) / 1e6:.1f} MB")

        outs = outputs_from(root, args.outputs)
        t_q, hits = datasketch_query(lsh, [t for _, t, _ in outs])
        print(f"  datasketch LSH query of {len(outs)} outputs: {t_q:.2f} s ({hits} with a candidate)")
        del lsh

        for mb in sizes:
            root = os.path.join(work, f"corpus-{mb}")
            index = os.path.join(work, f"corpus-{mb}.idx")
            t_build = run([probity, "corpus", "index", root, "-o", index])[0]
            outs = outputs_from(root, args.outputs)
            path = os.path.join(work, f"outputs-{mb}.jsonl")
            with open(path, "w") as f:
                for i, t, _ in outs:
                    f.write(json.dumps({"id": i, "text": t}) + "\n")
            checks = [
                run([probity, "corpus", "check", "--index", index, "--file", path, "--json"])
                for _ in range(args.repeats)
            ]
            t_check = statistics.median(t for t, _ in checks)
            result = json.loads(checks[0][1])["outputs"]
            found = sum(
                1 for (_, _, kind), r in zip(outs, result) if kind == 0 and r["longest_span_tokens"] >= 50
            )
            half = sum(
                1 for (_, _, kind), r in zip(outs, result) if kind == 1 and r["longest_span_tokens"] >= 25
            )
            clean = sum(
                1 for (_, _, kind), r in zip(outs, result) if kind == 2 and r["longest_span_tokens"] == 0
            )
            per_kind = [sum(1 for o in outs if o[2] == k) for k in range(3)]
            # Opening = sha256 of the body; time it alone with one tiny output.
            t_open = statistics.median(
                run([probity, "corpus", "check", "--index", index, "x"])[0] for _ in range(args.repeats)
            )
            size = os.path.getsize(index)
            print(f"\ncheck, {info[mb][0] / 1e6:.1f} MB corpus (index {size / 1e6:.1f} MB, built in {t_build:.2f} s):")
            print(f"  {len(outs)} outputs in {t_check:.2f} s (of which opening + body sha256 {t_open:.2f} s)")
            print(f"  copied 50 words: {found}/{per_kind[0]} spans >= 50; half copied: {half}/{per_kind[1]} spans >= 25; new words: {clean}/{per_kind[2]} no span")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
