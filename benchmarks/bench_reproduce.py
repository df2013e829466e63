"""Benchmark: wall time of ``overlapcal reproduce`` and how closed-form sweep cells scale with k.

    python benchmarks/bench_reproduce.py            # scaling tables + reproduce --quick
    python benchmarks/bench_reproduce.py --full     # also the full configuration (long)

The scaling tables run single calibration-task cells in-process for the closed-form methods on
overlapping pairs (alpha = 0.5, 1000 validation and 2000 test points, 20000 Monte Carlo points
where a sum is not exact), after one untimed warm-up cell per method (imports, first calls).
Two designs, because a cell's cost is a sum of terms of different order in k:

* ``n_train = 4096`` fixed: every term (sampling, fitting, the exact population sum over the
  O(n_train + k) pieces of the predictor, the test metrics) is linear in k;
* ``n_per_class = 20`` (the experiments' design, n_train = 20 k): the exact population sum has
  O(20 k) pieces, each a dense k-vector of logits, so that term grows like k^2 and takes over
  at large k.

Each table reports seconds per cell (median of ``--repeats``), the slope of a log-log fit of
time against k over all k and the local slope between the two largest k.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import numpy as np

METHODS = ("hard_interpolator", "soft_interpolator", "mixup_optimum_local")
KS = (16, 64, 256, 1024)
BASE = {"overlap": 0.5, "recalibrations": ["none", "oracle"], "n_val": 1000, "n_test": 2000,
        "kl_samples": 20000}


def _cells(method: str, ks, design: dict):
    from overlapcal.experiments.config import config_from_dict, expand

    config = config_from_dict({
        "name": "scaling", "task": "calibration", "seed": 0, "grid": {"n_classes": list(ks)},
        "fixed": {"method": method, **BASE, **design},
    })
    return expand(config)


def scaling_table(design: dict, repeats: int) -> None:
    from overlapcal.experiments.sweep import run_cell

    print("| method | " + " | ".join(f"k = {k} (s)" for k in KS)
          + " | slope, all k | slope, last two k |")
    print("|---|" + "---:|" * (len(KS) + 2))
    for method in METHODS:
        run_cell(_cells(method, (8,), design)[0])  # warm-up, untimed
        seconds = []
        for cell in _cells(method, KS, design):
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                run_cell(cell)
                runs.append(time.perf_counter() - start)
            seconds.append(float(np.median(runs)))
        slope = np.polyfit(np.log(KS), np.log(seconds), 1)[0]
        last = np.log(seconds[-1] / seconds[-2]) / np.log(KS[-1] / KS[-2])
        print(f"| {method} | " + " | ".join(f"{s:.3f}" for s in seconds)
              + f" | {slope:.2f} | {last:.2f} |", flush=True)


def time_reproduce(quick: bool) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "overlapcal.cli", "reproduce", "--out", out,
                   "--no-progress"] + (["--quick"] if quick else [])
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also time the full configuration")
    parser.add_argument("--skip-reproduce", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per cell (median)")
    args = parser.parse_args()
    for label, design in (("n_train = 4096 fixed", {"n_train": 4096}),
                          ("n_per_class = 20 (the experiments' design)", {"n_per_class": 20})):
        print(f"\n**{label}**\n")
        scaling_table(design, args.repeats)
    if not args.skip_reproduce:
        print(f"\n`overlapcal reproduce --quick`: {time_reproduce(True):.0f} s wall")
        if args.full:
            print(f"`overlapcal reproduce` (full): {time_reproduce(False):.0f} s wall")


if __name__ == "__main__":
    main()
