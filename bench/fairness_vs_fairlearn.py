#!/usr/bin/env python3
"""Speed and memory of `probity fairness` against Fairlearn on the same CSV.

Not a test and never run in CI: run it by hand, ideally on an idle machine.

    python3 -m pip install fairlearn numpy scipy pandas
    cargo build --release
    python3 bench/fairness_vs_fairlearn.py [--rows 1000000] [--resamples 20]

It writes a seeded CSV of N rows (sex 2 x race 5 x age band 3 = 30
intersectional groups, a 0/1 label `y`, a 0/1 prediction `pred`) into a
temporary directory, then measures, side by side and interleaved so that a
busy machine slows both alike:

* Fairlearn, one pass: `pandas.read_csv` + `MetricFrame(selection_rate,
  true_positive_rate, false_positive_rate, accuracy_score)` over the three
  sensitive columns, `by_group`, `difference()`, `ratio()` and the six
  disparity functions (demographic parity, equalized odds, equal
  opportunity; difference and ratio). Timed inside a child process after its
  imports; the child's whole wall time (interpreter + imports) is shown too.
  Peak memory is the child's max RSS (from GNU time, `/usr/bin/time`).
* Fairlearn, per bootstrap resample: in another child, K times (`--resamples`):
  draw N row indices with replacement (NumPy), rebuild the MetricFrame and
  take `by_group`, `difference()` and `ratio()`; time per resample.
* probity, one pass: `probity fairness --data CSV --group sex --group race
  --group age --prediction pred --label y --n-boot 0 --json` (CSV read
  included), wall time and max RSS of the child process.
* probity, per resample: the same with `--n-boot B` (`--probity-boot`,
  default 1000); (time(B) - time(0)) / B.

Each one-pass measurement is repeated `--repeats` times (default 3) and the
median is reported; ratios are Fairlearn / probity. Note the work is not
identical, and the differences favour Fairlearn: probity audits every
grouping (3 single columns, 3 pairs and the triple), adds the AIF360,
Aequitas, LL144 and significance figures, and bootstraps all of them with a
stratified bootstrap; Fairlearn here does the triple intersection only and
its resamples are plain row resamples.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GROUPS = ["sex", "race", "age"]
GOAL_SPEED = 50.0
GOAL_MEMORY = 4.0
GOAL_RESAMPLE = 500.0


# --------------------------------------------------------------------------
# Data


def write_csv(path, rows, seed):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["F", "M"]), size=rows, p=[0.48, 0.52])
    race = rng.choice(
        np.array(["Asian", "Black", "Hispanic", "Other", "White"]),
        size=rows,
        p=[0.12, 0.18, 0.2, 0.1, 0.4],
    )
    age = rng.choice(np.array(["18-34", "35-54", "55+"]), size=rows, p=[0.35, 0.4, 0.25])
    # Base rates and model bias that differ by group, so disparities are real.
    logit = (
        -0.4
        + 0.3 * (sex == "M")
        + np.select([race == "White", race == "Asian", race == "Black"], [0.25, 0.15, -0.2], 0.0)
        + np.select([age == "35-54", age == "55+"], [0.2, -0.15], 0.0)
    )
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    bias = 0.4 * (sex == "M") + 0.3 * (race == "White") - 0.2 * (age == "55+")
    score = 1.6 * y - 0.8 + bias + rng.normal(0.0, 1.0, rows)
    pred = (score > 0).astype(np.int8)
    pd.DataFrame({"sex": sex, "race": race, "age": age, "y": y, "pred": pred}).to_csv(
        path, index=False
    )


# --------------------------------------------------------------------------
# Children (run in their own process so that max RSS is theirs alone)


def child_fairlearn_pass(csv):
    t_import = time.perf_counter()
    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equal_opportunity_difference,
        equal_opportunity_ratio,
        equalized_odds_difference,
        equalized_odds_ratio,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    t0 = time.perf_counter()
    df = pd.read_csv(csv)
    t_read = time.perf_counter()
    y, pred, sens = df["y"], df["pred"], df[GROUPS]
    mf = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "accuracy_score": accuracy_score,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=sens,
    )
    by_group = mf.by_group
    diff = mf.difference()
    ratio = mf.ratio()
    disparities = {
        f.__name__: f(y, pred, sensitive_features=sens)
        for f in (
            demographic_parity_difference,
            demographic_parity_ratio,
            equalized_odds_difference,
            equalized_odds_ratio,
            equal_opportunity_difference,
            equal_opportunity_ratio,
        )
    }
    t1 = time.perf_counter()
    return {
        "import_s": t0 - t_import,
        "read_s": t_read - t0,
        "compute_s": t1 - t_read,
        "total_s": t1 - t0,
        "n_groups": int(len(by_group)),
        "selection_rate_difference": float(diff["selection_rate"]),
        "selection_rate_ratio": float(ratio["selection_rate"]),
        **{k: float(v) for k, v in disparities.items()},
    }


def child_fairlearn_boot(csv, resamples, seed):
    import numpy as np
    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    df = pd.read_csv(csv)
    y = df["y"].to_numpy()
    pred = df["pred"].to_numpy()
    sens = {c: df[c].to_numpy() for c in GROUPS}
    n = len(y)
    rng = np.random.default_rng(seed)
    seconds = []
    for _ in range(resamples):
        t0 = time.perf_counter()
        idx = rng.integers(0, n, n)
        mf = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
                "accuracy_score": accuracy_score,
            },
            y_true=y[idx],
            y_pred=pred[idx],
            sensitive_features=pd.DataFrame({c: a[idx] for c, a in sens.items()}),
        )
        mf.by_group
        mf.difference()
        mf.ratio()
        seconds.append(time.perf_counter() - t0)
    return {"seconds": seconds}


# --------------------------------------------------------------------------
# Parent


TIME = "/usr/bin/time"


def run_child(argv, ok_codes=(0,)):
    """Runs argv; returns (wall seconds, max RSS in MiB, stdout text).

    The max RSS comes from GNU time, which forks the child from its own small
    process: a child forked straight from this Python process would count the
    pages it shares with it (numpy, pandas) until its exec.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss_file:  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(
            [TIME, "-o", rss_file.name, "-f", "%x %M", *argv], stdout=out, stderr=err
        )
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        status, rss_kib = rss_file.read().split()[-2:]
        if int(status) not in ok_codes:
            sys.exit(
                f"child failed ({status}): {' '.join(map(str, argv))}\n"
                + err.read().decode(errors="replace")[-3000:]
            )
        return wall, int(rss_kib) / 1024.0, out.read().decode()


def wait_for_probity(binary, minutes):
    deadline = time.monotonic() + 60 * minutes
    while True:
        ok = (
            Path(binary).exists()
            and subprocess.run(
                [binary, "fairness", "--help"],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ).returncode
            == 0
        )
        if ok:
            return
        if time.monotonic() >= deadline:
            sys.exit(f"`{binary} fairness --help` does not succeed; build probity first")
        print("waiting for `probity fairness` to exist ...", file=sys.stderr, flush=True)
        time.sleep(60)


def probity_fairness_values(report):
    """Fairlearn-named disparities of the sex x race x age grouping."""
    for grouping in report.get("groupings", []):
        if grouping.get("columns") == GROUPS:
            return {
                d["name"]: d["value"]
                for d in grouping.get("disparities", [])
                if d.get("library") == "fairlearn" and d.get("method") == "between_groups"
            }, len(grouping.get("groups", []))
    return {}, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--resamples", type=int, default=20, help="Fairlearn bootstrap resamples timed (K)"
    )
    parser.add_argument(
        "--probity-boot", type=int, default=1000, help="probity --n-boot for the per-resample cost"
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each one-pass timing")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--probity", default=str(REPO / "target/release/probity"))
    parser.add_argument(
        "--wait-minutes",
        type=float,
        default=0,
        help="poll every 60 s up to this long for `probity fairness --help` to succeed",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        mode, csv, *rest = args.child
        if mode == "fairlearn-pass":
            result = child_fairlearn_pass(csv)
        else:
            result = child_fairlearn_boot(csv, int(rest[0]), int(rest[1]))
        print(json.dumps(result))
        return

    wait_for_probity(args.probity, args.wait_minutes)
    me = [sys.executable, str(Path(__file__).resolve())]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="probity-bench-") as tmp:
        csv = str(Path(tmp) / "decisions.csv")
        t0 = time.perf_counter()
        write_csv(csv, args.rows, args.seed)
        size_mib = Path(csv).stat().st_size / 2**20
        print(
            f"wrote {args.rows:,} rows ({size_mib:.1f} MiB) in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        probity = [
            args.probity, "fairness", "--data", csv,
            "--group", "sex", "--group", "race", "--group", "age",
            "--prediction", "pred", "--label", "y", "--json",
        ]  # fmt: skip

        fl_inner, fl_wall, fl_rss = [], [], []
        pb0_wall, pb0_rss, pbB_wall, pbB_rss = [], [], [], []
        fl_result = pb_report = None
        for r in range(args.repeats):
            wall, rss, out = run_child(me + ["--child", "fairlearn-pass", csv])
            fl_result = json.loads(out)
            fl_inner.append(fl_result["total_s"])
            fl_wall.append(wall)
            fl_rss.append(rss)
            # probity exits 1 when its verdict is "breach", as it is here.
            wall, rss, out = run_child(probity + ["--n-boot", "0"], ok_codes=(0, 1))
            pb_report = json.loads(out)
            pb0_wall.append(wall)
            pb0_rss.append(rss)
            wall, rss, _ = run_child(
                probity + ["--n-boot", str(args.probity_boot)], ok_codes=(0, 1)
            )
            pbB_wall.append(wall)
            pbB_rss.append(rss)
            print(
                f"repeat {r + 1}: fairlearn {fl_inner[-1]:.2f} s (process {fl_wall[-1]:.2f} s), "
                f"probity {pb0_wall[-1]:.3f} s, probity --n-boot {args.probity_boot} "
                f"{pbB_wall[-1]:.2f} s",
                file=sys.stderr,
                flush=True,
            )
        _, fl_boot_rss, out = run_child(
            me + ["--child", "fairlearn-boot", csv, str(args.resamples), str(args.seed)]
        )
        fl_boot = json.loads(out)["seconds"]
    load_after = os.getloadavg()

    med = statistics.median
    fl_s, fl_proc_s, pb_s = med(fl_inner), med(fl_wall), med(pb0_wall)
    pb_boot_s = med(pbB_wall)
    fl_mem, pb_mem = max(fl_rss), max(pb0_rss)
    fl_per = med(fl_boot)
    pb_per = (pb_boot_s - pb_s) / args.probity_boot

    # Cross-check: both tools must report the same disparities.
    pb_values, pb_groups = probity_fairness_values(pb_report)
    checks = []
    for name in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
    ):
        a, b = fl_result.get(name), pb_values.get(name)
        ok = b is not None and abs(a - b) <= 1e-9
        checks.append(f"{name}: fairlearn {a:.12g}, probity {b}, {'agree' if ok else 'DIFFER'}")

    def row(what, fl, pb, ratio, goal, met):
        return f"| {what} | {fl} | {pb} | {ratio} | {goal} | {'yes' if met else 'NO'} |"

    speed, memory, resample = fl_s / pb_s, fl_mem / pb_mem, fl_per / pb_per
    cpu = os.cpu_count()
    lines = [
        f"probity fairness vs Fairlearn: {args.rows:,} rows, "
        f"{fl_result['n_groups']} groups (probity: {pb_groups}), {cpu} CPUs, "
        f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after",
        "",
        "| measure | Fairlearn | probity | ratio | goal | met |",
        "|---|---|---|---|---|---|",
        row(
            "one pass, read + metrics + disparities (s, median of "
            f"{args.repeats})",
            f"{fl_s:.2f} (process incl. imports {fl_proc_s:.2f})",
            f"{pb_s:.3f}",
            f"{speed:.0f}x",
            f">= {GOAL_SPEED:.0f}x",
            speed >= GOAL_SPEED,
        ),
        row(
            "peak RSS (MiB)",
            f"{fl_mem:.0f}",
            f"{pb_mem:.1f} ({max(pbB_rss):.1f} with --n-boot {args.probity_boot})",
            f"{memory:.0f}x",
            f">= {GOAL_MEMORY:.0f}x (probity < 1/4)",
            memory >= GOAL_MEMORY,
        ),
        row(
            f"per bootstrap resample (ms; Fairlearn median of {args.resamples}, "
            f"probity (t[{args.probity_boot}] - t[0]) / {args.probity_boot})",
            f"{1e3 * fl_per:.0f}",
            f"{1e3 * pb_per:.2f}",
            f"{fl_per / pb_per:.0f}x",
            f">= {GOAL_RESAMPLE:.0f}x",
            resample >= GOAL_RESAMPLE,
        ),
        "",
        f"Fairlearn one pass: read_csv {fl_result['read_s']:.2f} s + compute "
        f"{fl_result['compute_s']:.2f} s; imports {fl_result['import_s']:.2f} s; "
        f"bootstrap child peak RSS {fl_boot_rss:.0f} MiB",
        f"probity --n-boot {args.probity_boot}: {pb_boot_s:.2f} s (median)",
        *checks,
        "Machine shared with other jobs: absolute times vary; the ratios are the figures.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
